"""Event batch -> validated, indexed inputs of attribution (private helper).

Turns the columnar :class:`~carbontwin.twin.events.EventBatch` into per-asset
timelines, per-meter gap intervals and the allocation periods (shifts), and
checks that every id is known. Rejections name the item and the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import Timeline, idle_tables
from ._attribution_readings import group_rows, take
from .errors import AttributionError
from .events import EventBatch, StepKind
from .model import STATE_INDEX, STATES, Factory, PowerModel, State, Utility
from .quantities import from_epoch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_DAY_S = 86400.0


def _when(t: float) -> str:
    return from_epoch(t).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class Inputs:
    factory: Factory
    orders: list[str]  # order code -> id
    timelines: dict[str, Timeline]
    period_bounds: FloatArray
    gaps: dict[str, tuple[FloatArray, FloatArray]]  # source -> merged (lo, hi)
    window: tuple[float, float]
    first_event: dict[str, float]  # asset -> first state change or step start
    flags: list[str]
    order_t0: FloatArray  # per order code: first step start [epoch s] (nan without steps)
    order_t1: FloatArray  # last step end
    order_step_qty: FloatArray  # largest quantity summed over one operation's steps
    materials: list[tuple[str, str, float, str]]  # (order, material, quantity, unit)
    served: Mapping[str, Sequence[tuple[str, float]]]  # utility -> (asset, weight)
    utilities: Mapping[str, Utility]


def shift_bounds(factory: Factory, t0: float, t1: float, period: str) -> FloatArray:
    """Allocation period boundaries [epoch s] covering ``[t0, t1]``.

    ``period="shift"``: every start and end of a shift (site local time, on
    its weekdays), so the periods are the shifts and the off-shift stretches
    between them; without shifts, local days. ``"day"``: local midnights.
    """
    try:
        tz = ZoneInfo(factory.site.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"site {factory.site.id!r} has an unknown timezone {factory.site.timezone!r}"
        raise AttributionError(msg) from None
    start = from_epoch(t0).astimezone(tz).date() - timedelta(days=1)
    days = int((t1 - t0) // _DAY_S) + 3
    out: list[float] = []
    for k in range(days):
        day = start + timedelta(days=k)
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        if period == "day" or not factory.shifts:
            out.append(midnight.timestamp())
            continue
        for sh in factory.shifts:
            if day.weekday() not in sh.weekdays:
                continue
            h0, m0 = (int(x) for x in sh.start.split(":")[:2])
            h1, m1 = (int(x) for x in sh.end.split(":")[:2])
            a = datetime(day.year, day.month, day.day, h0, m0, tzinfo=tz)
            b = datetime(day.year, day.month, day.day, h1, m1, tzinfo=tz)
            if b <= a:
                b += timedelta(days=1)
            out += [a.timestamp(), b.timestamp()]
    b_arr = np.unique(np.asarray(out + [t0 - _DAY_S * 8, t1 + _DAY_S * 8], dtype=np.float64))
    return b_arr


def _processing_seconds(
    seconds: FloatArray, processing: BoolArray, quantity: FloatArray
) -> FloatArray:
    return np.where(processing, seconds, 0.0)


def merge_intervals(lo: FloatArray, hi: FloatArray) -> tuple[FloatArray, FloatArray]:
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    run_hi = np.maximum.accumulate(hi)
    new = np.ones(lo.size, dtype=bool)
    new[1:] = lo[1:] > run_hi[:-1]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], lo.size] - 1
    return lo[starts], run_hi[ends]


def prepare(
    factory: Factory,
    ev: EventBatch,
    *,
    reject: bool,
    idle_period: str,
    batch_share: str,
    idle_weight: Callable[[FloatArray, BoolArray, FloatArray], FloatArray] | None = None,
    processing_tables: bool = False,
) -> Inputs:
    """Check ids and times, build timelines, periods and gaps.

    ``idle_weight`` is the idle rule's step weight (default: occupied seconds);
    ``processing_tables`` also builds each asset's processing seconds per period
    (for the ``processing_hours`` utility key).
    """
    flags: list[str] = []
    machines = {m.id: m for m in factory.machines}
    utilities = {u.id: u for u in factory.utilities}
    meters = {m.id for m in factory.meters}
    assets = set(machines) | set(utilities)
    # --- window -------------------------------------------------------------------
    lows: list[float] = []
    highs: list[float] = []
    for arr in (
        ev.state_t,
        ev.power_t,
        ev.counter_t,
        ev.step_start,
        ev.step_end,
        ev.gap_start,
        ev.gap_end,
    ):
        if arr.size == 0:
            continue
        lo, hi = float(arr.min()), float(arr.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):  # rare: NaN or infinite times
            fin = arr[np.isfinite(arr)]
            if fin.size == 0:
                continue
            lo, hi = float(fin.min()), float(fin.max())
        lows.append(lo)
        highs.append(hi)
    window = (min(lows), max(highs)) if lows else (0.0, 0.0)
    # --- steps --------------------------------------------------------------------
    for name, arr in (
        ("start", ev.step_start),
        ("end", ev.step_end),
        ("quantity", ev.step_quantity),
    ):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            i = int(bad[0])
            msg = (
                f"order step of order {ev.step_order[i]!r} on {ev.step_asset[i]!r} has {name} "
                f"{arr[i]!r}"
            )
            raise AttributionError(msg, field=name)
    bad = np.flatnonzero((ev.step_end < ev.step_start) | (ev.step_quantity <= 0))
    if bad.size:
        i = int(bad[0])
        msg = (
            f"order step of order {ev.step_order[i]!r} on {ev.step_asset[i]!r} at "
            f"{_when(float(ev.step_start[i]))}: end before start or quantity "
            f"{ev.step_quantity[i]} not positive"
        )
        raise AttributionError(msg)
    order_ids = sorted(set(ev.step_order.tolist()) | set(ev.material_order.tolist()))
    order_code = {o: k for k, o in enumerate(order_ids)}
    # order code of every step row, through one hash pass over the ids
    s_codes, s_uniq = pd.factorize(ev.step_order)
    step_code = (
        np.array([order_code[str(u)] for u in s_uniq], dtype=np.int64)[s_codes]
        if ev.step_order.size
        else np.empty(0, dtype=np.int64)
    )
    products = {p.id: p for p in factory.products}
    order_mass = (
        {
            o.id: products[o.product].mass_kg
            if o.product in products and products[o.product].declared_unit == "piece"
            else 1.0
            for o in factory.orders
        }
        if batch_share == "mass"
        else {}
    )
    step_rows = group_rows(ev.step_asset)
    for a in step_rows:
        if a not in machines:
            kind = "a utility" if a in utilities else "not an asset of the factory"
            msg = f"order steps name asset {a!r}, which is {kind}"
            raise AttributionError(msg, field="asset")
    state_rows = group_rows(ev.state_asset)
    for a in state_rows:
        if a not in assets:
            msg = f"state changes name unknown asset {a!r}"
            raise AttributionError(msg, field="asset")
    # --- periods --------------------------------------------------------------------
    bounds = shift_bounds(factory, window[0], window[1], idle_period)
    n_periods = bounds.size - 1
    # --- timelines -----------------------------------------------------------------
    timelines: dict[str, Timeline] = {}
    first_event: dict[str, float] = {}
    state_codes = {s.value: STATE_INDEX[s] for s in State}
    # the state code of every state change, through one hash pass over the names
    n_codes, n_uniq = pd.factorize(ev.state, use_na_sentinel=False)
    code_of_name = [state_codes.get(str(u), -1) for u in n_uniq]  # -1: not a state
    change_code = np.array(code_of_name, dtype=np.int64)[n_codes]
    built: list[tuple[str, int, FloatArray, FloatArray, IntArray, PowerModel]] = []
    steps: list[tuple[FloatArray, FloatArray, IntArray, BoolArray, FloatArray]] = []
    for code, a in enumerate(sorted(assets)):
        pm = machines[a].power if a in machines else utilities[a].power
        power = np.array([pm.power_kw[s] for s in STATES], dtype=np.float64)
        st_t = np.empty(0)
        st_c = np.empty(0, dtype=np.int64)
        if a in state_rows:
            rows = np.concatenate([np.arange(x, y) for x, y in state_rows[a]])
            st_t = ev.state_t[rows]
            st_c = change_code[rows]
            if (st_c < 0).any():
                name = str(ev.state[rows][int(np.argmax(st_c < 0))])
                msg = f"state change of asset {a!r} has unknown state {name!r}"
                raise AttributionError(msg, field="state")
            st_t, st_c = _clean_states(a, st_t, st_c, reject, flags)
        s_lo = s_hi = np.empty(0)
        s_ord = np.empty(0, dtype=np.int64)
        s_w = np.empty(0)
        s_proc = np.empty(0, dtype=bool)
        if a in step_rows:
            rows = np.concatenate([np.arange(x, y) for x, y in step_rows[a]])
            order = np.argsort(ev.step_start[rows], kind="stable")
            rows = rows[order]
            s_lo, s_hi = ev.step_start[rows], ev.step_end[rows]
            oid = ev.step_order[rows]
            s_ord = step_code[rows]
            s_w = ev.step_quantity[rows].astype(np.float64)
            if batch_share == "mass":
                s_w = s_w * np.array([order_mass.get(str(o), 1.0) for o in oid])
            s_proc = ev.step_kind[rows] == StepKind.PROCESSING.value
        firsts = [x[0] for x in (st_t, s_lo) if x.size]
        if firsts:
            first_event[a] = float(min(firsts))
        s_proc = np.asarray(s_proc, dtype=bool)
        built.append((a, code, power, st_t, st_c, pm))
        steps.append((s_lo, s_hi, s_ord, s_proc, s_w))
    # the idle rule's (and processing_hours') tables of all assets at once
    tables = idle_tables(steps, bounds, n_periods, idle_weight)
    proc_tables = (
        idle_tables(steps, bounds, n_periods, _processing_seconds) if processing_tables else []
    )
    for k, ((a, code, power, st_t, st_c, pm), (s_lo, s_hi, s_ord, s_proc, s_w)) in enumerate(
        zip(built, steps, strict=True)
    ):
        ptr, p_ord, p_w = tables[k]
        timelines[a] = tl = Timeline(
            a,
            code,
            power,
            st_t,
            st_c,
            s_lo,
            s_hi,
            s_ord,
            s_w,
            s_proc,
            ptr,
            p_ord,
            p_w,
            pm.warmup_energy_kwh * 3600.0 / pm.warmup_s if pm.warmup_s > 0 else 0.0,
        )
        if processing_tables:
            tl.proc_ptr, tl.proc_order, tl.proc_weight = proc_tables[k]
    # --- gaps -----------------------------------------------------------------------
    gaps: dict[str, tuple[FloatArray, FloatArray]] = {}
    for src, runs in group_rows(ev.gap_source).items():
        if src not in meters and src not in assets:
            msg = f"gap names unknown source {src!r} (neither a meter nor an asset)"
            raise AttributionError(msg, field="source")
        g_lo, g_hi = take(ev.gap_start, runs), take(ev.gap_end, runs)
        if not (np.isfinite(g_lo).all() and np.isfinite(g_hi).all()) or (g_hi < g_lo).any():
            msg = f"gap of {src!r} has a non-finite time or ends before it starts"
            raise AttributionError(msg, field="gap")
        gaps[src] = merge_intervals(g_lo, g_hi)
        if src in assets:
            flags.append(
                f"asset {src!r}: {g_lo.size} gap(s) in its state data; states are held across them"
            )
    # --- per order --------------------------------------------------------------------
    n_o = len(order_ids)
    t0 = np.full(n_o, np.inf)
    t1 = np.full(n_o, -np.inf)
    qty = np.zeros(n_o)
    if ev.step_start.size:
        codes = step_code
        np.minimum.at(t0, codes, ev.step_start)
        np.maximum.at(t1, codes, ev.step_end)
        op_c = pd.factorize(ev.step_operation)[0].astype(np.int64)
        kind_c = (ev.step_kind == StepKind.PROCESSING.value).astype(np.int64)
        op_key = (codes * (int(op_c.max()) + 1) + op_c) * 2 + kind_c
        _, op_codes = np.unique(op_key, return_inverse=True)
        op_codes = op_codes.reshape(-1)
        per_op = np.bincount(op_codes, weights=ev.step_quantity)
        first = np.full(per_op.size, -1, dtype=np.int64)
        first[op_codes[::-1]] = codes[::-1]
        np.maximum.at(qty, first, per_op)
    t0[~np.isfinite(t0)] = np.nan
    t1[~np.isfinite(t1)] = np.nan
    mats = [
        (str(o), str(m), float(q), str(u))
        for o, m, q, u in zip(
            ev.material_order, ev.material_id, ev.material_quantity, ev.material_unit, strict=True
        )
    ]
    for o, m, q, _u in mats:
        if not (np.isfinite(q) and q >= 0):
            msg = f"material use of order {o!r}, material {m!r}: quantity {q!r} is not valid"
            raise AttributionError(msg, field="quantity")
    return Inputs(
        factory,
        order_ids,
        timelines,
        bounds,
        gaps,
        window,
        first_event,
        flags,
        t0,
        t1,
        qty,
        mats,
        served_by(factory),
        {u.id: u for u in factory.utilities},
    )


def _clean_states(
    asset: str, t: FloatArray, c: IntArray, reject: bool, flags: list[str]
) -> tuple[FloatArray, IntArray]:
    ok = np.isfinite(t)
    if not ok.all():
        if reject:
            msg = f"state change of asset {asset!r} has a non-finite time"
            raise AttributionError(msg, field=asset)
        flags.append(
            f"asset {asset!r}: {int((~ok).sum())} state change(s) without a valid time dropped"
        )
        t, c = t[ok], c[ok]
    if t.size > 1 and not (np.diff(t) > 0).all():
        order = np.argsort(t, kind="stable")
        if (np.diff(t) < 0).any():
            flags.append(f"asset {asset!r}: state changes out of time order; sorted")
        t, c = t[order], c[order]
        dup = np.flatnonzero(np.diff(t) == 0)
        if dup.size:
            flags.append(
                f"asset {asset!r}: {dup.size} state change(s) at the same time as "
                "another; the last one received is kept"
            )
            keep = np.ones(t.size, dtype=bool)
            keep[dup] = False
            t, c = t[keep], c[keep]
    return t, c


def served_by(factory: Factory) -> Mapping[str, Sequence[tuple[str, float]]]:
    """Utility id -> (served asset, weight) pairs, sorted by asset id."""
    return {u.id: sorted((s.asset, s.weight) for s in u.serves) for u in factory.utilities}
