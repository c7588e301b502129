"""Attribution: from events to the energy and CO2e each production order carries.

:func:`attribute` is a pure function of (factory graph, events, emission
factors, rules). It works in this order (docs/architecture.md, "Attribution"):

1. **Meter energy over time.** Power samples are integrated step-hold (a
   sample's power holds until the next one; the simulator emits a sample at
   every state change, so this is exact); cumulative counters, with resets and
   rollovers, are spread over each reading interval in proportion to the
   power-state model's expected power (evenly where it expects none). A gap — a
   :class:`~carbontwin.twin.events.Gap` of the meter, a reading interval longer
   than ``Rules.max_sample_interval_s``, or the stretch of a meter without
   readings — is filled from the power-state model (expected power of each
   measured asset in its state), flagged, and counts as secondary data.
2. **Meter -> assets.** Each meter's time is cut into segments at every state
   change, order step start/end, hour boundary, allocation-period boundary and
   gap boundary of the assets it reaches; a meter over one asset gives it all,
   a meter over several splits each segment's energy by the assets' expected
   power in their states (equally when all expect zero), so the meter's energy
   is kept exactly. SETUP while no order step is on the asset is its warm-up
   after OFF and is expected at warm-up power (warm-up energy / warm-up time).
3. **Assets -> orders** (see :mod:`._attribution_assets`): SETUP/PROCESSING
   to the occupying orders (shared by quantity or mass), IDLE/STANDBY by the
   idle rule, OFF/FAULT to overhead unless a rule says otherwise.
4. **Utilities -> assets -> orders.** A utility's energy in each segment goes
   to the assets it serves by its allocation key — ``machine_hours``: weight x
   time the served asset is not OFF; ``declared``: the fixed weights — and then
   on as that asset's energy in its state; or, with ``processing_hours``, per
   period straight to the orders by their processing machine-hours on the
   served assets. Segments (periods) where no served asset runs (processes) go
   to overhead. The idle rule and the utility key are objects of the
   entry-point group ``carbontwin.allocation`` (:mod:`.allocation`).
5. **Emissions.** Electricity x the location-based hourly factor of the hour
   it was used in (segments never cross an hour boundary), and x the
   market-based factor beside it (scope 2); fuels x their factor (scope 1);
   materials x supplier PCF (scope 3, cradle-to-gate): MaterialUse events of an
   order, or when an order has none, its product's BOM x the order quantity
   (flagged).

Assets on no meter are modelled from the power-state model between their first
event and the end of the data, flagged as secondary data.

Invariant (checked on every call, raised as :class:`AttributionError` if
broken): per meter and in total, energy to orders + overhead == metered +
filled energy, to 1e-9 relative.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ._attribution_assets import VIA_OVERHEAD, Pieces, allocate, straight_to_orders, view
from ._attribution_inputs import Inputs, merge_intervals, prepare
from ._attribution_readings import (
    MeterProfile,
    Workspace,
    counter_profile,
    group_rows,
    power_profile,
    take,
)
from ._attribution_result import QUALITY, Attribution, PieceTable, assemble
from .allocation import AllocationRule, UtilityKey, idle_rule, utility_key
from .errors import AttributionError
from .events import EventBatch
from .factors import FactorSet
from .model import Carrier, Factory, Meter

__all__ = ["Attribution", "Rules", "attribute"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# idle and utility_key name rule objects (carbontwin.allocation), checked by attribute()
_CHOICES: Mapping[str, tuple[str, ...]] = {
    "off": ("overhead", "occupying_order"),
    "fault": ("overhead", "occupying_order"),
    "batch_share": ("quantity", "mass"),
    "idle_period": ("shift", "day"),
    "bad_readings": ("clean", "reject"),
}


@dataclass(frozen=True, slots=True)
class Rules:
    """Named allocation rules (recorded in every footprint).

    Attributes
    ----------
    idle : str
        Name of the :class:`~carbontwin.twin.allocation.IdleRule` for
        IDLE/STANDBY energy: ``"processing_time_share"`` (to the orders by the
        time their setup and processing steps occupied the asset within the
        same period), ``"processing_time_only"`` (by processing time only,
        setup not counted), ``"overhead"``, or a plugin's rule.
    off, fault : str
        OFF / FAULT energy: ``"overhead"`` or ``"occupying_order"``.
    batch_share : str
        Orders on one asset at once share by ``"quantity"`` or ``"mass"``.
    utility_key : str
        ``""`` uses each utility's own key; the name of a
        :class:`~carbontwin.twin.allocation.UtilityKey` (``"machine_hours"``,
        ``"declared"``, ``"processing_hours"``, or a plugin's) overrides them all.
    idle_period : str
        Period of the idle rule: ``"shift"`` (shifts and the off-shift time
        between them) or ``"day"`` (site-local days).
    max_sample_interval_s : float
        Power readings further apart than this are a gap [s].
    bad_readings : str
        ``"clean"``: drop and flag NaN/negative readings, sort, de-duplicate;
        ``"reject"``: raise naming the meter and the time.
    """

    idle: str = "processing_time_share"
    off: str = "overhead"
    fault: str = "overhead"
    batch_share: str = "quantity"
    utility_key: str = ""
    idle_period: str = "shift"
    max_sample_interval_s: float = 900.0
    bad_readings: str = "clean"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                msg = f"rule {name}={value!r} is not one of {list(allowed)}"
                raise AttributionError(msg, field=name)
        if not self.max_sample_interval_s > 0:
            msg = f"rule max_sample_interval_s={self.max_sample_interval_s} must be positive"
            raise AttributionError(msg, field="max_sample_interval_s")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Rules:
        """Rules from a config mapping (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            msg = f"unknown rule(s) {unknown}; known: {sorted(names)}"
            raise AttributionError(msg)
        kw: dict[str, Any] = dict(data)
        if "max_sample_interval_s" in kw:
            kw["max_sample_interval_s"] = float(kw["max_sample_interval_s"])
        return cls(**kw)

    def names(self) -> dict[str, str]:
        """Rule name -> value, as recorded in footprints."""
        return {k: str(v) for k, v in asdict(self).items()}

    def method(
        self, factory: Factory, allocation: Mapping[str, AllocationRule] | None = None
    ) -> tuple[str, ...]:
        """What these rules do on ``factory``, one sentence each, from the rule objects
        (``allocation``: the rules of ``carbontwin.allocation``; default the built-ins)."""
        period = "shift" if self.idle_period == "shift" and factory.shifts else "day"
        idle = idle_rule(allocation, self.idle)
        out = [f"{self.idle}: {idle.text.format(period=period)}"]
        if self.utility_key:
            key = utility_key(allocation, self.utility_key)
            out.append(f"{self.utility_key}: {key.text.format(period=period)}")
        else:
            for u in sorted(factory.utilities, key=lambda x: x.id):
                key = utility_key(allocation, u.allocation_key)
                out.append(
                    f"utility {u.id!r}, {u.allocation_key}: {key.text.format(period=period)}"
                )
        off = {"overhead": "to plant overhead", "occupying_order": "to the order on the asset"}
        if self.off == self.fault:
            out.append(f"off and fault energy {off[self.off]}")
        else:
            out.append(f"off energy {off[self.off]}; fault energy {off[self.fault]}")
        out.append(f"orders on an asset at once share its energy by {self.batch_share}")
        if self.bad_readings == "clean":
            out.append("invalid meter readings dropped and flagged")
        else:
            out.append("invalid meter readings rejected")
        out.append(
            f"power readings more than {self.max_sample_interval_s:g} s apart, and gaps, "
            "filled from the power-state model and flagged as secondary data"
        )
        return tuple(out)


class _HasFactory(Protocol):
    @property
    def factory(self) -> Factory: ...


@dataclass(slots=True)
class _Acc:
    """Pieces of all sources, collected before one concatenation."""

    parts: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        p: Pieces,
        lo: FloatArray,
        gap: BoolArray,
        *,
        origin: int | None,
        targets: list[int],
        source: int,
        carrier: int,
    ) -> None:
        """Add pieces; ``targets`` maps ``p.target`` to asset codes; ``origin`` None means
        the energy is the target asset's own."""
        if p.seg.size == 0:
            return
        n = p.seg.size
        target = np.asarray(targets, dtype=np.int64)[p.target]
        self.parts.append(
            {
                "order": p.order,
                "energy_kwh": p.energy_kwh,
                "state": p.state,
                "via": p.via,
                "t": lo[p.seg],
                "primary": ~gap[p.seg],
                "origin": target if origin is None else np.full(n, origin, np.int64),
                "target": target,
                "source": np.full(n, source, np.int64),
                "carrier": np.full(n, carrier, np.int64),
            }
        )


def attribute(
    graph: _HasFactory | Factory,
    events: EventBatch,
    factors: FactorSet,
    rules: Rules | None = None,
    *,
    allocation: Mapping[str, AllocationRule] | None = None,
    clip: tuple[float, float] | None = None,
) -> Attribution:
    """Attribute metered energy and emissions to production orders.

    Parameters
    ----------
    graph : FactoryGraph or Factory
        The factory (a ``FactoryGraph`` is read through its ``.factory``).
    events : EventBatch
        States, power samples [kW] and/or energy counters [kWh], order steps,
        material uses and gaps; any order, duplicates and bad readings allowed
        (cleaned and flagged, or rejected with ``Rules(bad_readings="reject")``).
    factors : FactorSet
        Emission factors (versions recorded in every footprint).
    rules : Rules, optional
        Allocation rules; default :class:`Rules`.
    allocation : Mapping[str, AllocationRule], optional
        The rule objects ``rules.idle`` and ``rules.utility_key`` name, by
        name: the entry-point group ``carbontwin.allocation``
        (``carbontwin.plugins.registry.allocation_rules()``); default the
        built-ins of :mod:`carbontwin.twin.allocation`.
    clip : (float, float), optional
        Attribute only the time ``[clip[0], clip[1])`` [epoch s] of ``events``: a
        window of windowed issuing (:mod:`carbontwin.twin.windows`). The window's
        bounds must be allocation-period bounds, and ``events`` must hold each
        meter's last reading before the window and first reading after it, each
        asset's state before the earliest of them, and every order step
        overlapping; the result is then exactly the window's part of attributing
        the whole history (energy, emissions and breakdowns per order; the
        balance is checked on the window).

    Returns
    -------
    Attribution
        Footprints per order, overhead, per-meter metered energy, frames.
    """
    rules = rules or Rules()
    factory: Factory = graph if isinstance(graph, Factory) else graph.factory
    reject = rules.bad_readings == "reject"
    idle = idle_rule(allocation, rules.idle)
    keys = {
        u.id: utility_key(allocation, rules.utility_key or u.allocation_key)
        for u in factory.utilities
    }
    inp = prepare(
        factory,
        events,
        reject=reject,
        idle_period=rules.idle_period,
        batch_share=rules.batch_share,
        idle_weight=idle.weight,
        processing_tables=any(k.straight for k in keys.values()),
    )
    method = rules.method(factory, allocation)
    carriers = [c.value for c in Carrier]
    power_rows = group_rows(events.power_meter)
    counter_rows = group_rows(events.counter_meter)
    known = {m.id for m in factory.meters}
    for m in sorted((set(power_rows) | set(counter_rows)) - known):
        msg = f"readings name unknown meter {m!r}; the factory has {sorted(known)}"
        raise AttributionError(msg, field="meter")
    acc = _Acc()
    workspace = Workspace()
    sources: list[str] = []
    metered: list[float] = []
    filled: list[float] = []
    source_flags: list[list[str]] = []
    fills: list[tuple[FloatArray, FloatArray]] = []  # per source: merged filled intervals
    metered_assets: set[str] = set()
    quality: dict[str, list[str]] = {k: [] for k in QUALITY}
    done: dict[str, _Done] = {}
    parents = {m.id: m.parent for m in factory.meters}
    # each meter's sub-meters by id, found once (not a scan of all meters per meter)
    subs_of: dict[str, list[Meter]] = {}
    for mt in sorted(factory.meters, key=lambda x: x.id):
        if mt.parent is not None:
            subs_of.setdefault(mt.parent, []).append(mt)

    def depth(m: Meter) -> int:
        d, cur = 0, m.parent
        while cur is not None and d <= len(parents):
            d, cur = d + 1, parents.get(cur)
        return d

    # sub-meters before their main meters: a main meter's rest needs theirs
    for meter in sorted(factory.meters, key=lambda m: (-depth(m), m.id)):
        flags: list[str] = []
        prof = _profile(meter, events, power_rows, counter_rows, rules, flags, workspace)
        if prof is not None and meter.parent is not None:  # kept for the main meter
            prof = MeterProfile(
                prof.meter,
                prof.t.copy(),
                prof.p_kw.copy(),
                prof.e_kws.copy(),
                prof.long_lo,
                prof.long_hi,
            )
        metered_assets.update(meter.measures)
        subs = subs_of.get(meter.id, [])
        below = {a for sub in subs for a in sub.measures}
        measures = tuple(a for a in meter.measures if a not in below) if subs else meter.measures
        k = len(sources)
        sources.append(f"rest:{meter.id}" if subs else meter.id)
        res = _source(
            acc,
            inp,
            k,
            meter.id,
            measures,
            carriers.index(meter.carrier.value),
            prof,
            counter=meter.signal == "energy",
            rules=rules,
            keys=keys,
            flags=flags,
            fills=fills,
            subtract=[(done[s.id], s.measures) for s in subs],
            clip=clip,
        )
        done[meter.id] = res
        metered.append(res.metered_kwh)
        filled.append(res.filled_kwh)
        source_flags.append(flags)
        if prof is None or prof.t.size < 2:
            quality["meters_without_readings"].append(meter.id)
        elif res.filled_kwh:
            quality["meters_partly_filled"].append(
                f"{meter.id} ({res.filled_s / 3600:.3g} h of {(res.d1 - res.d0) / 3600:.3g} h "
                f"filled, {res.filled_kwh:.6g} kWh)"
            )
        if res.below_kwh:
            quality["main_below_sub_meters"].append(
                f"{meter.id} ({res.below_kwh:.6g} kWh less than its sub-meters)"
            )
    plan = {o.id for o in factory.orders}
    quality["orders_not_in_plan"] = sorted({str(o) for o in set(events.step_order.tolist())} - plan)
    models = {u.id: u.power for u in factory.utilities} | {m.id: m.power for m in factory.machines}
    for a in sorted(set(factory.asset_ids) - metered_assets):
        carrier = models[a].carrier.value
        k = len(sources)
        sources.append(f"model:{a}")
        flags = [f"asset {a!r} has no meter; its energy is modelled from its power-state model"]
        res = _source(
            acc,
            inp,
            k,
            f"model:{a}",
            (a,),
            carriers.index(carrier),
            None,
            counter=False,
            rules=rules,
            keys=keys,
            flags=flags,
            fills=fills,
            clip=clip,
        )
        metered.append(res.metered_kwh)
        filled.append(res.filled_kwh)
        source_flags.append(flags if res.filled_kwh else [])
    table = PieceTable.concat(acc.parts)
    if clip is not None:
        table = table.within(*clip)
    return assemble(
        inp,
        table,
        factors,
        rules.names(),
        method=method,
        sources=sources,
        metered=metered,
        filled=filled,
        source_flags=source_flags,
        fills=fills,
        carriers=carriers,
        quality={k: tuple(v) for k, v in quality.items()},
    )


def _sorted_unique(x: FloatArray) -> FloatArray:
    """``np.unique(x)`` for times: one sort and a mask."""
    x = np.sort(x)
    if x.size and np.isnan(x[-1]):
        return np.unique(x)
    keep = np.ones(x.size, dtype=bool)
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _shape_counter(
    t: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    gap: BoolArray,
    seg_e: FloatArray,
    total_kw: FloatArray,
) -> FloatArray:
    """Spread each counter interval's energy over its segments by expected power.

    A counter says how much energy flowed between two readings, not when; the
    power-state model says when it most likely did. Intervals where the model
    expects nothing keep the even spread. The interval totals are unchanged.
    """
    iv = np.searchsorted(t, lo, side="right") - 1
    inside = ~gap & (iv >= 0) & (iv < t.size - 1)
    ivc = np.clip(iv, 0, t.size - 1)
    model = total_kw * (hi - lo)
    m_sum = np.bincount(ivc[inside], weights=model[inside], minlength=t.size)
    e_sum = np.bincount(ivc[inside], weights=seg_e[inside], minlength=t.size)
    ok = inside & (m_sum[ivc] > 0)
    shaped: FloatArray = np.where(ok, e_sum[ivc] * (model / np.where(ok, m_sum[ivc], 1.0)), seg_e)
    return shaped


def _profile(
    meter: Meter,
    events: EventBatch,
    power_rows: Mapping[str, list[tuple[int, int]]],
    counter_rows: Mapping[str, list[tuple[int, int]]],
    rules: Rules,
    flags: list[str],
    workspace: Workspace,
) -> MeterProfile | None:
    """The meter's readings as an energy function (counters when it is one, else power)."""
    reject = rules.bad_readings == "reject"
    counter = meter.signal == "energy" or (meter.id in counter_rows and meter.id not in power_rows)
    ignored, used = (power_rows, counter_rows) if counter else (counter_rows, power_rows)
    if meter.id in ignored:
        kind = ("power samples", "a counter") if counter else ("counter readings", "power")
        flags.append(f"meter {meter.id!r} reports {kind[1]}; its {kind[0]} are ignored")
    if meter.id not in used:
        return None
    runs = used[meter.id]
    if counter:
        return counter_profile(
            meter.id,
            take(events.counter_t, runs),
            take(events.counter_kwh, runs),
            reject=reject,
            rollover_kwh=meter.rollover_kwh,
            flags=flags,
        )
    return power_profile(
        meter.id,
        take(events.power_t, runs),
        take(events.power_kw, runs),
        reject=reject,
        max_interval_s=rules.max_sample_interval_s,
        flags=flags,
        workspace=workspace,
    )


def _source(
    acc: _Acc,
    inp: Inputs,
    k: int,
    name: str,
    measures: tuple[str, ...],
    carrier: int,
    prof: MeterProfile | None,
    *,
    counter: bool,
    rules: Rules,
    keys: Mapping[str, UtilityKey],
    flags: list[str],
    fills: list[tuple[FloatArray, FloatArray]],
    subtract: Sequence[tuple[_Done, tuple[str, ...]]] = (),
    clip: tuple[float, float] | None = None,
) -> _Done:
    """Attribute one meter (or a modelled asset) to ``measures``.

    ``subtract`` holds the meter's sub-meters (what they attributed, and the
    assets behind them): then ``measures`` are the meter's rest assets and
    they get the meter's energy minus its sub-meters' (its virtual rest meter).
    Appends the source's merged filled intervals [epoch s] to ``fills``.
    ``clip`` keeps only that window's energy (its bounds cut the segment grid).
    """
    none: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0))
    fills.append(none)
    tls = inp.timelines
    utilities = inp.utilities
    served = inp.served
    reached: list[str] = []
    for a in measures:
        if a not in tls:
            msg = f"meter {name!r} measures unknown asset {a!r}"
            raise AttributionError(msg)
        reached.append(a)
        for b, _ in served.get(a, ()):
            if b not in tls:
                msg = f"utility {a!r} serves unknown asset {b!r}"
                raise AttributionError(msg)
            reached.append(b)
    # --- domain and gaps ------------------------------------------------------------
    g_lo, g_hi = inp.gaps.get(name, (np.empty(0), np.empty(0)))
    has_readings = prof is not None and prof.t.size >= 2
    if has_readings:
        assert prof is not None
        r0, r1 = float(prof.t[0]), float(prof.t[-1])
        if counter and g_lo.size:
            # the counter measured everything between its first and last reading: only
            # the parts of a gap before or after them are missing data
            inside = (g_lo < r1) & (g_hi > r0)
            if inside.any():
                flags.append(
                    f"meter {name!r}: {int(inside.sum())} gap(s) within the counter's "
                    "range; the counter measured their energy"
                )
            before = g_lo < r0
            after = g_hi > r1
            g_lo, g_hi = (
                np.concatenate([g_lo[before], np.maximum(g_lo[after], r1)]),
                np.concatenate([np.minimum(g_hi[before], r0), g_hi[after]]),
            )
        d0 = min([r0, *g_lo.tolist()])
        d1 = max([r1, *g_hi.tolist()])
        fill_lo = np.concatenate([g_lo, prof.long_lo])
        fill_hi = np.concatenate([g_hi, prof.long_hi])
    else:
        r0 = r1 = np.nan
        starts = [inp.first_event[a] for a in reached if a in inp.first_event]
        if g_lo.size:
            d0, d1 = float(g_lo.min()), float(g_hi.max())
        elif starts:
            # a closed window's data goes on past its end
            d0, d1 = min(starts), max(inp.window[1], clip[1] if clip else -np.inf)
            if not name.startswith("model:"):
                flags.append(
                    f"meter {name!r} has no readings; its assets are modelled from "
                    "their power-state models"
                )
        else:
            return _Done()
        fill_lo, fill_hi = np.array([d0]), np.array([d1])
    if not d1 > d0:
        return _Done()
    # --- segment grid ----------------------------------------------------------------
    hours = np.arange(np.ceil(d0 / 3600.0), np.floor(d1 / 3600.0) + 1.0) * 3600.0
    parts = [np.array([d0, d1]), fill_lo, fill_hi, hours, inp.period_bounds]
    if clip is not None:
        parts.append(np.asarray(clip, dtype=np.float64))
    if has_readings:
        assert prof is not None
        # a counter's readings cut the grid, so each segment lies in one reading interval
        parts.append(prof.t if counter else np.array([r0, r1]))
    for a in reached:
        tl = tls[a]
        parts += [tl.state_t, tl.step_start, tl.step_end]
    for sub, _ in subtract:
        parts += [sub.fill_lo, sub.fill_hi]
    bp = _sorted_unique(np.minimum(np.maximum(np.concatenate(parts), d0), d1))
    lo, hi = bp[:-1], bp[1:]
    mid = 0.5 * (lo + hi)
    gap = np.zeros(lo.size, dtype=bool)
    if has_readings:
        gap |= (mid < r0) | (mid > r1)
    if fill_lo.size:
        f_lo, f_hi = merge_intervals(fill_lo, fill_hi)
        fills[-1] = (np.clip(f_lo, d0, d1), np.clip(f_hi, d0, d1))
        j = np.searchsorted(f_lo, mid, side="right") - 1
        gap |= (j >= 0) & (mid < f_hi[np.clip(j, 0, None)])
    seg_hour = np.floor(lo / 3600.0).astype(np.int64)
    seg_period = inp.period_bounds.searchsorted(lo, side="right") - 1
    if has_readings:
        assert prof is not None
        seg_e = prof.segment_energy(bp)
    else:
        seg_e = np.zeros(lo.size)
    # --- meter -> measured assets by expected power -------------------------------------
    views = {a: view(tls[a], lo) for a in dict.fromkeys(reached)}
    expected = np.stack([views[a].expected_kw for a in measures])
    total_kw = expected.sum(axis=0)
    sub_kw = [
        np.sum([view(tls[a], lo).expected_kw for a in assets], axis=0) for _, assets in subtract
    ]
    if counter and has_readings:
        assert prof is not None
        # the whole meter's assets say when its counter's energy flowed
        seg_e = _shape_counter(
            prof.t, lo, hi, gap, seg_e, total_kw + sum(sub_kw, np.zeros(lo.size))
        )
    below_kwh = 0.0
    if subtract and has_readings:
        read = float(seg_e[~gap].sum())
        seg_e, below_kwh = _rest(seg_e, gap, lo, hi, bp, subtract, sub_kw)
        rest = float(seg_e[~gap].sum())
        flags.append(
            f"main meter {name!r} read {read:.6g} kWh, its sub-meters "
            f"{read - rest + below_kwh:.6g} kWh: the rest, {rest:.6g} kWh, goes to "
            f"{', '.join(measures)}"
        )
        if below_kwh:
            flags.append(
                f"main meter {name!r} read {below_kwh:.6g} kWh less than its sub-meters in "
                "some stretches; its rest is taken as 0 there"
            )
    if gap.any():
        model = total_kw * (hi - lo) * (1.0 / 3600.0)
        seg_e = np.where(gap, model, seg_e)
    inside = np.ones(lo.size, dtype=bool)
    if clip is not None:
        inside = (lo >= clip[0]) & (lo < clip[1])
    metered_kwh = float(seg_e[~gap & inside].sum())
    filled_kwh = float(seg_e[gap & inside].sum())
    if filled_kwh and not name.startswith("model:"):
        flags.append(
            f"meter {name!r}: {filled_kwh:.6g} kWh in gaps filled from the power-state model"
        )
    safe = np.where(total_kw > 0, total_kw, 1.0)
    alloc_kw = {"idle_rule": rules.idle, "off_rule": rules.off, "fault_rule": rules.fault}
    machines: list[str] = []
    machine_e: list[FloatArray] = []
    for i, a in enumerate(measures):
        if len(measures) == 1:
            e_a = seg_e
        else:
            e_a = seg_e * np.where(total_kw > 0, expected[i] / safe, 1.0 / len(measures))
        if a not in utilities:
            machines.append(a)
            machine_e.append(e_a)
            continue
        code_a = tls[a].code
        key = keys[a]
        links = served.get(a, ())
        if key.straight:
            served_ids = [b for b, _ in links]
            p = straight_to_orders(
                [tls[b] for b in served_ids],
                [w for _, w in links],
                seg_period,
                seg_hour,
                gap,
                views[a].state,
                e_a,
            )
            acc.add(
                p,
                lo,
                gap,
                origin=code_a,
                targets=[*(tls[b].code for b in served_ids), code_a],  # -1: the utility
                source=k,
                carrier=carrier,
            )
            continue
        running = key.running or (lambda st, cov: np.ones(st.shape))
        weights = [
            w * np.asarray(running(views[b].state, views[b].covered), dtype=np.float64)
            for b, w in links
        ]
        wsum = np.sum(weights, axis=0) if weights else np.zeros(lo.size)
        nobody = ~(wsum > 0)
        if nobody.any():
            seg = np.flatnonzero(nobody & (e_a != 0))
            z = np.full(seg.size, -1, dtype=np.int64)
            via = np.full(seg.size, VIA_OVERHEAD, dtype=np.int64)
            p = Pieces(seg, z, e_a[seg], views[a].state[seg], via, np.zeros(seg.size, np.int64))
            acc.add(p, lo, gap, origin=code_a, targets=[code_a], source=k, carrier=carrier)
        if links:
            safe_w = np.where(nobody, 1.0, wsum)
            e_b = np.stack([np.where(nobody, 0.0, e_a * (w / safe_w)) for w in weights])
            served_ids = [b for b, _ in links]
            p = allocate(
                [tls[b] for b in served_ids],
                [views[b] for b in served_ids],
                seg_period,
                seg_hour,
                gap,
                e_b,
                **alloc_kw,
            )
            acc.add(
                p,
                lo,
                gap,
                origin=code_a,
                targets=[tls[b].code for b in served_ids],
                source=k,
                carrier=carrier,
            )
    if machines:
        p = allocate(
            [tls[a] for a in machines],
            [views[a] for a in machines],
            seg_period,
            seg_hour,
            gap,
            np.stack(machine_e),
            **alloc_kw,
        )
        codes = [tls[a].code for a in machines]
        acc.add(p, lo, gap, origin=None, targets=codes, source=k, carrier=carrier)
    f_lo, f_hi = merge_intervals(fill_lo, fill_hi) if fill_lo.size else (fill_lo, fill_hi)
    if clip is not None:
        fl, fh = fills[-1]
        keep = (fh > clip[0]) & (fl < clip[1])
        fills[-1] = (np.maximum(fl[keep], clip[0]), np.minimum(fh[keep], clip[1]))
    return _Done(
        metered_kwh,
        filled_kwh,
        float(np.sum(hi[gap & inside] - lo[gap & inside])),
        d0,
        d1,
        prof,
        np.clip(f_lo, d0, d1),
        np.clip(f_hi, d0, d1),
        below_kwh,
    )


@dataclass(frozen=True, slots=True)
class _Done:
    """What attributing one source did: energy, domain, filled stretches, its readings."""

    metered_kwh: float = 0.0
    filled_kwh: float = 0.0
    filled_s: float = 0.0
    d0: float = 0.0
    d1: float = 0.0
    profile: MeterProfile | None = None
    fill_lo: FloatArray = field(default_factory=lambda: np.empty(0))
    fill_hi: FloatArray = field(default_factory=lambda: np.empty(0))
    below_kwh: float = 0.0


def _rest(
    seg_e: FloatArray,
    gap: BoolArray,
    lo: FloatArray,
    hi: FloatArray,
    bp: FloatArray,
    subtract: Sequence[tuple[_Done, tuple[str, ...]]],
    sub_kw: Sequence[FloatArray],
) -> tuple[FloatArray, float]:
    """A main meter's energy per segment minus its sub-meters' (its virtual rest meter).

    A sub-meter's energy is its readings' where it has them and its power-state
    model's in the stretches it filled, so the rest never counts it twice. Where
    the main meter read less than its sub-meters (meter tolerance, clocks) the
    rest is 0; returns the energy so cut [kWh].
    """
    mid = 0.5 * (lo + hi)
    sub_e = np.zeros(lo.size)
    for (sub, _), kw in zip(subtract, sub_kw, strict=True):
        e = np.zeros(lo.size)
        if sub.profile is not None and sub.profile.t.size >= 2:
            e = sub.profile.segment_energy(bp)
        if sub.fill_lo.size:
            j = np.searchsorted(sub.fill_lo, mid, side="right") - 1
            in_fill = (j >= 0) & (mid < sub.fill_hi[np.clip(j, 0, None)])
            e = np.where(in_fill, kw * (hi - lo) * (1.0 / 3600.0), e)
        sub_e += e
    rest = np.where(gap, seg_e, seg_e - sub_e)
    below = ~gap & (rest < 0)
    cut = float(-rest[below].sum())
    return np.where(below, 0.0, rest), cut
