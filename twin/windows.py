"""Windowed attribution: one closed period at a time, combined per order when it is issued.

A plant runs for years; attributing its whole history for every issue does not
scale. Windowed issuing (``docs/architecture.md``, "Issuing";
``docs/scaling.md``) cuts time into windows whose bounds are allocation-period
bounds (a day: from the first period bound at or after each local midnight; or
each shift), and

1. attributes each closed window alone (:func:`attribute_window`) from the
   events it needs — its own, plus the state carried in and out: each meter's
   last reading before it and first after it, each asset's state before them,
   the order steps overlapping (``Store.read_window``) — with
   :func:`~carbontwin.twin.attribution.attribute`'s ``clip``, keeping the
   energy pieces of its orders;
2. combines an order's pieces of all its windows into its footprint
   (:func:`combine`) when the window of its last step has closed, with its
   steps and material uses.

Because every window bound is a segment bound of the whole-history run (a
period bound) and each window sees every reading interval and state that
reaches into it, the pieces of a window are exactly the whole-history pieces
inside it, so the footprints equal those of attributing the whole history
(checked by the property tests in ``tests/twin/test_windows.py``). Flags name
what happened in each window the order was in.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import VIA_NAMES
from ._attribution_inputs import merge_intervals, prepare, shift_bounds
from ._attribution_records import LazyFootprints
from ._attribution_result import OVERHEAD, Attribution, PieceTable, assemble
from .allocation import AllocationRule
from .attribution import Rules, attribute
from .errors import AttributionError
from .events import EventBatch
from .factors import FactorSet
from .footprint import Footprint
from .lineage import events_digest
from .model import STATES, Carrier, Factory

__all__ = [
    "WINDOWS",
    "WindowResult",
    "attribute_window",
    "combine",
    "combined_attribution",
    "slice_reach",
    "window_bounds",
]

FloatArray = npt.NDArray[np.float64]

#: window lengths: ``day`` (from the first period bound at or after each local
#: midnight) or ``period`` (each allocation period: a shift or the time between)
WINDOWS = ("day", "period")

#: piece columns kept per window (names, not codes: codes differ between runs)
_COLUMNS = (
    "order",
    "asset",
    "served_asset",
    "state",
    "via",
    "source",
    "carrier",
    "primary",
    "t",
    "energy_kwh",
)


def window_bounds(
    factory: Factory, t0: float, t1: float, *, window: str = "day", idle_period: str = "shift"
) -> FloatArray:
    """Window bounds [epoch s] covering ``[t0, t1]``, each an allocation-period bound.

    ``window="day"``: the first period bound at or after each local midnight of
    the site (with shifts ``22:00-06:00`` the windows run from 06:00 to 06:00);
    ``"period"``: every period bound (each shift, and the off-shift time between).
    """
    if window not in WINDOWS:
        msg = f"window {window!r} is not one of {', '.join(WINDOWS)}"
        raise AttributionError(msg, field="window")
    periods = shift_bounds(factory, t0, t1, idle_period)
    periods = periods[(periods > t0 - 2 * 86400.0) & (periods < t1 + 2 * 86400.0)]  # no sentinels
    if window == "period":
        bounds = periods
    else:
        midnights = shift_bounds(factory, t0, t1, "day")
        idx = np.searchsorted(periods, midnights, side="left")
        bounds = np.unique(periods[idx[idx < periods.size]])
    inner = (bounds > t0) & (bounds < t1)
    # the first window starts at the last bound before the data (or at the data: nothing
    # lies before it, so its start cuts no segment of the whole history)
    first = bounds[bounds <= t0][-1:] if (bounds <= t0).any() else np.array([t0])
    last = bounds[bounds >= t1][:1]
    out: FloatArray = np.concatenate([first, bounds[inner], last])
    return out


@dataclass(frozen=True, slots=True, eq=False)
class WindowResult:
    """One attributed window: its orders' pieces and what the issue needs of it."""

    start: float
    end: float
    pieces: pd.DataFrame  # the window's pieces of orders (columns _COLUMNS)
    orders: tuple[tuple[str, float], ...]  # (order, its last step end seen)
    meta: dict[str, Any]  # per order: flags, filled stretches; window totals
    slice_sha256: str
    slice_count: int
    reach: tuple[float, float] = (-np.inf, np.inf)  # see slice_reach

    def pieces_parquet(self) -> bytes:
        """The pieces as Parquet bytes (stored with the window)."""
        buf = io.BytesIO()
        self.pieces.to_parquet(buf, index=False, compression="zstd")
        return buf.getvalue()


def slice_reach(events: EventBatch, start: float, end: float) -> tuple[float, float]:
    """The time a window's slice depends on: ``(lo, hi)`` such that a stored event outside
    ``[lo, hi]`` cannot change what attributing ``[start, end)`` reads.

    Per source of ``events`` (the slice ``Store.read_window`` read): a meter's readings
    reach from its last one before the window (``-inf`` when it has none before: an
    earlier reading would become its carried one) to its first at or after the end
    (``+inf`` when it has none yet); an asset's states from its last one before the
    window (``-inf`` when none). Sources with no event in the slice do not count.
    Steps and gaps overlapping the slice lie inside it.
    """
    lo, hi = float(start), float(end)
    for src, t, later in (
        (events.power_meter, events.power_t, True),
        (events.counter_meter, events.counter_t, True),
        (events.state_asset, events.state_t, False),
    ):
        if not t.size:
            continue
        frame = pd.DataFrame({"s": pd.Series(src, dtype=object), "t": t})
        g = frame.groupby("s", sort=False)["t"].agg(["min", "max"])
        first, last = g["min"].to_numpy(), g["max"].to_numpy()
        lo = min(lo, float(np.where(first < start, first, -np.inf).min()))
        if later:
            hi = max(hi, float(np.where(last >= end, last, np.inf).max()))
    return lo, hi


def attribute_window(
    factory: Factory,
    events: EventBatch,
    factors: FactorSet,
    rules: Rules,
    start: float,
    end: float,
    *,
    allocation: Mapping[str, AllocationRule] | None = None,
) -> WindowResult:
    """Attribute the window ``[start, end)`` of ``events`` (``Store.read_window``'s slice).

    The energy balance is checked on the window (per meter: to orders +
    overhead == metered + filled, inside the window).
    """
    from .coverage import hold_uncovered

    reach = slice_reach(events, start, end)
    events, uncovered = hold_uncovered(factory, events, factors)
    att = attribute(factory, events, factors, rules, allocation=allocation, clip=(start, end))
    df = att.pieces
    df = df.loc[df["order"] != OVERHEAD, list(_COLUMNS)].reset_index(drop=True)
    # each order's sources, from the categorical codes (before the names are written out)
    o_codes = df["order"].cat.codes.to_numpy(dtype=np.int64)
    s_codes = df["source"].cat.codes.to_numpy(dtype=np.int64)
    s_names = df["source"].cat.categories
    n_s = max(len(s_names), 1)
    pairs = np.unique(o_codes * n_s + s_codes)
    o_names = df["order"].cat.categories
    by_order: dict[str, list[str]] = {}
    for o, s in zip(
        o_names.take(pairs // n_s).tolist(),
        s_names.take(pairs % n_s).tolist(),
        strict=True,
    ):
        by_order.setdefault(str(o), []).append(str(s))
    for c in ("order", "asset", "served_asset", "state", "via", "source", "carrier"):
        cat = df[c].cat  # the names as strings: each category written once, then taken
        df[c] = pd.Series(cat.categories.astype(str).take(cat.codes.to_numpy()), index=df.index)
    last_end: dict[str, float] = {}
    in_window = (events.step_start < end) & (
        (events.step_end > start) | (events.step_start >= start)
    )
    for o, e in zip(events.step_order[in_window], events.step_end[in_window], strict=True):
        last_end[str(o)] = max(last_end.get(str(o), -np.inf), float(e))
    for o in by_order:
        last_end.setdefault(o, start)
    meta_orders: dict[str, Any] = {}
    for o in sorted(last_end):
        srcs = sorted(by_order.get(o, []))
        flags = list(dict.fromkeys(x for s in srcs for x in att.source_flags.get(s, ())))
        fills = [[g["source"], g["start"], g["end"]] for g in att.filled_gaps(o)]
        meta_orders[o] = {"flags": flags, "fills": fills}
    meta = {
        "orders": meta_orders,
        "metered_kwh": float(sum(att.metered_kwh.values())),
        "filled_kwh": float(sum(att.filled_kwh.values())),
        "overhead_kwh": att.overhead_kwh,
        "flags": list(att.flags),
        # orders on a meter with readings no factor covers: held back, as a whole issue does
        "held": sorted({o for u in uncovered for o in u.orders}),
        "uncovered": [u.message for u in uncovered],
    }
    return WindowResult(
        start,
        end,
        df,
        tuple(sorted(last_end.items())),
        meta,
        events_digest(events),
        len(events),
        reach,
    )


def read_pieces(data: bytes) -> pd.DataFrame:
    """Pieces stored by :meth:`WindowResult.pieces_parquet`."""
    return pd.read_parquet(io.BytesIO(data))


def _epoch(iso: str) -> float:
    return float(pd.Timestamp(iso).timestamp())


def combine(
    factory: Factory,
    order_events: EventBatch,
    pieces: pd.DataFrame,
    metas: Sequence[Mapping[str, Any]],
    factors: FactorSet,
    rules: Rules,
    *,
    allocation: Mapping[str, AllocationRule] | None = None,
    orders: Sequence[str] | None = None,
) -> dict[str, Footprint]:
    """The footprints of ``orders`` (default: those in ``pieces``) from their pieces of
    all their windows (an order without pieces carried no energy).

    ``order_events`` holds every step and material use of those orders,
    ``metas`` the meta of every window they were in. Energy, emissions (each
    piece's hourly factor), breakdowns, primary-data share and periods are
    computed exactly as for the whole history; scope 3 from the orders'
    material uses (or BOMs); flags are those of each window's sources.
    """
    wanted_orders = sorted(set(pieces["order"].unique()) if orders is None else set(orders))
    if not wanted_orders:
        return {}
    att = combined_attribution(
        factory, order_events, pieces, metas, factors, rules, allocation=allocation
    )
    flags: dict[str, list[str]] = {o: [] for o in wanted_orders}
    for meta in metas:  # each window's flags of its orders
        for o, m in meta.get("orders", {}).items():
            if o in flags:
                flags[o] += m.get("flags", [])
    out: dict[str, Footprint] = {}
    unknown = [o for o in wanted_orders if o not in att.footprints]
    if unknown:
        msg = f"order {unknown[0]!r} has no stored order step"
        raise AttributionError(msg, field="order")
    assert isinstance(att.footprints, LazyFootprints)  # assemble's records
    for o, fp in zip(wanted_orders, att.footprints.many(wanted_orders), strict=True):
        bom = [f for f in fp.flags if f.startswith("no material use reported")]
        rest = [f for f in fp.flags if f not in bom]
        out[o] = replace(fp, flags=tuple(dict.fromkeys([*bom, *flags[o], *rest])))
    return out


def combined_attribution(
    factory: Factory,
    order_events: EventBatch,
    pieces: pd.DataFrame,
    metas: Sequence[Mapping[str, Any]],
    factors: FactorSet,
    rules: Rules,
    *,
    allocation: Mapping[str, AllocationRule] | None = None,
) -> Attribution:
    """The orders' part of the attribution of the windows their ``pieces`` come from,
    combined as :func:`combine` combines them (arguments as there): their pieces (with
    emissions), material rows and records, for breakdowns without reading an event.
    Records carry the flags of their own data; :func:`combine` adds each window's."""
    inp = prepare(
        factory,
        order_events,
        reject=False,
        idle_period=rules.idle_period,
        batch_share=rules.batch_share,
    )
    code_of = {o: k for k, o in enumerate(inp.orders)}
    missing = sorted(set(pieces["order"].unique()) - set(code_of))
    if missing:
        msg = f"order(s) {', '.join(missing[:5])} have energy but no stored order step"
        raise AttributionError(msg, field="order")
    asset_ids = sorted(factory.asset_ids)
    carriers = [c.value for c in Carrier]
    sources = sorted(pieces["source"].unique().tolist())

    def codes(col: str, names: Sequence[str]) -> npt.NDArray[np.int64]:
        # each distinct value looked up once: factorize the column, then place its uniques
        found, uniques = pd.factorize(pieces[col])
        place = np.asarray(pd.Index(list(names)).get_indexer(uniques), dtype=np.int64)
        out = np.where(found < 0, -1, place[found])
        if (out < 0).any():
            bad = pieces[col][out < 0].iloc[0]
            msg = f"stored piece names unknown {col} {bad!r} (was the factory changed?)"
            raise AttributionError(msg, field=col)
        return out

    table = PieceTable(
        order=codes("order", inp.orders),
        energy_kwh=pieces["energy_kwh"].to_numpy(dtype=np.float64),
        state=codes("state", [s.value for s in STATES]),
        via=codes("via", list(VIA_NAMES)),
        t=pieces["t"].to_numpy(dtype=np.float64),
        primary=pieces["primary"].to_numpy(dtype=bool),
        origin=codes("asset", asset_ids),
        target=codes("served_asset", asset_ids),
        source=codes("source", sources),
        carrier=codes("carrier", carriers),
    )
    metered = np.bincount(table.source, weights=table.energy_kwh, minlength=len(sources))
    wanted = set(code_of)
    spans: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in sources}
    for meta in metas:
        for o, m in meta.get("orders", {}).items():
            if o not in wanted:
                continue
            for src, lo, hi in m.get("fills", []):
                if src in spans:
                    spans[src][0].append(_epoch(lo))
                    spans[src][1].append(_epoch(hi))
    fills: list[tuple[FloatArray, FloatArray]] = []
    for s in sources:
        lo_l, hi_l = spans[s]
        if lo_l:
            fills.append(merge_intervals(np.asarray(lo_l), np.asarray(hi_l)))
        else:
            fills.append((np.empty(0), np.empty(0)))
    att = assemble(
        inp,
        table,
        factors,
        rules.names(),
        method=rules.method(factory, allocation),
        sources=sources,
        metered=metered.tolist(),
        filled=[0.0] * len(sources),
        source_flags=[[] for _ in sources],
        fills=fills,
        carriers=carriers,
    )
    return att
