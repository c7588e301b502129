"""From what a run recorded to arrays: power, energy, meter signals and twin events.

Everything here is vectorised numpy over the recorded tuples. Power is piecewise
constant between state changes, so every meter gets a sample at each change of
any asset it measures (and periodically, and at both ends); the step-hold
integral of those samples is then exactly the simulator's own integral.
Times become epoch seconds (``t0 + t``) *before* integrating, so the simulator
and the attribution engine integrate the very same float times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import STATES, Factory, State, Utility

from .model import IDLE, OFF, PROC, WARMUP, SimRun
from .plan import Job

__all__ = [
    "AssetTrace",
    "build_traces",
    "cumulative_energy_kwh",
    "events_from_run",
    "hourly_energy_kwh",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Value = TypeVar("_Value", bound=np.generic)

#: Reported state name per internal code (warm-up is reported as SETUP).
_REPORTED = np.array([s.value for s in STATES] + [State.SETUP.value], dtype=object)
_REPORTED_CODE = np.array(list(range(len(STATES))) + [STATES.index(State.SETUP)])


@dataclass(frozen=True, slots=True)
class AssetTrace:
    """Piecewise-constant state and power of one asset.

    ``t`` epoch seconds of each change (first = scenario start), ``code``
    internal state code (6 = warm-up), ``power_kw`` from ``t[i]`` to ``t[i+1]``
    (the last one until the end of the run) [kW].
    """

    asset: str
    kind: str  # "machine" or "utility"
    carrier: str
    t: FloatArray
    code: IntArray
    power_kw: FloatArray


def _machine_power_table(power: object) -> FloatArray:
    pm = power  # PowerModel
    table = np.array([pm.power_kw[s] for s in STATES] + [0.0], dtype=np.float64)  # type: ignore[attr-defined]
    if pm.warmup_s > 0:  # type: ignore[attr-defined]
        table[WARMUP] = pm.warmup_energy_kwh * 3600.0 / pm.warmup_s  # type: ignore[attr-defined]
    return table


def _collapse(t: FloatArray, code: IntArray) -> tuple[FloatArray, IntArray]:
    """Keep the last of several changes at the same time (zero-length states)."""
    keep = np.ones(len(t), dtype=bool)
    keep[:-1] = t[1:] != t[:-1]
    return t[keep], code[keep]


def _at(tr_t: FloatArray, values: npt.NDArray[_Value], t: FloatArray) -> npt.NDArray[_Value]:
    """Value of a step function (changes at ``tr_t``) at times ``t``."""
    return values[np.searchsorted(tr_t, t, side="right") - 1]


def _utility_trace(u: Utility, machines: dict[str, AssetTrace], t0: float) -> AssetTrace:
    """Utility power: base (IDLE) plus the running share of what it serves.

    ``P = P_idle + (P_processing - P_idle) * sum(w_i [machine i processing]) / sum(w_i)``;
    state PROCESSING while any served machine processes, OFF when every served
    machine is OFF, IDLE otherwise.
    """
    pm = u.power
    served = [(machines[s.asset], s.weight) for s in u.serves if s.asset in machines]
    if not served:
        return AssetTrace(
            u.id,
            "utility",
            pm.carrier.value,
            np.array([t0]),
            np.array([IDLE]),
            np.array([pm.power_kw[State.IDLE]]),
        )
    t = np.unique(np.concatenate([tr.t for tr, _ in served]))
    wsum = sum(w for _, w in served) or 1.0
    frac = np.zeros(len(t))
    on = np.zeros(len(t), dtype=bool)
    for tr, w in served:
        c = _at(tr.t, tr.code, t)
        frac += w * (c == PROC)
        on |= c != OFF
    frac /= wsum
    code = np.where(frac > 0, PROC, np.where(on, IDLE, OFF)).astype(np.int64)
    p_idle, p_proc = pm.power_kw[State.IDLE], pm.power_kw[State.PROCESSING]
    power = np.where(code == OFF, pm.power_kw[State.OFF], p_idle + (p_proc - p_idle) * frac)
    # drop rows where nothing changed
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = (code[1:] != code[:-1]) | (power[1:] != power[:-1])
    return AssetTrace(u.id, "utility", pm.carrier.value, t[keep], code[keep], power[keep])


def build_traces(run: SimRun, t0: float) -> dict[str, AssetTrace]:
    """State and power traces of every machine and utility, on epoch seconds."""
    traces: dict[str, AssetTrace] = {}
    for m in run.machines:
        arr = np.asarray(m.rec, dtype=np.float64)
        t, code = _collapse(arr[:, 0], arr[:, 1].astype(np.int64))
        power = _machine_power_table(m.power)[code]
        traces[m.id] = AssetTrace(m.id, "machine", m.power.carrier.value, t0 + t, code, power)
    machines = dict(traces)
    for u in run.factory.utilities:
        traces[u.id] = _utility_trace(u, machines, t0)
    return traces


def cumulative_energy_kwh(tr: AssetTrace, t: FloatArray) -> FloatArray:
    """Energy of ``tr`` from its start to each time in ``t`` (epoch s) [kWh]."""
    seg = np.concatenate(([0.0], np.cumsum(tr.power_kw[:-1] * np.diff(tr.t))))
    i = np.clip(np.searchsorted(tr.t, t, side="right") - 1, 0, None)
    return (seg[i] + tr.power_kw[i] * (t - tr.t[i])) / 3600.0


def energy_kwh(tr: AssetTrace, t_end: float) -> float:
    """Integral of the trace's power from its start to ``t_end`` (epoch s) [kWh]."""
    dt = np.diff(np.append(tr.t, t_end))
    return float(np.sum(tr.power_kw * dt) / 3600.0)


def hourly_energy_kwh(tr: AssetTrace, edges: FloatArray) -> FloatArray:
    """Energy of ``tr`` in each interval between consecutive ``edges`` (epoch s) [kWh]."""
    return np.diff(cumulative_energy_kwh(tr, edges))


def _meter_series(
    factory: Factory,
    traces: dict[str, AssetTrace],
    t0: float,
    t_end: float,
    sample_period_s: float | None,
) -> list[tuple[str, str, FloatArray, FloatArray]]:
    """Per meter: (id, signal, sample times, summed power) with samples at every change."""
    periodic = (
        t0 + np.arange(0.0, t_end - t0, float(sample_period_s))
        if sample_period_s
        else np.array([t0])
    )
    out = []
    for mt in factory.meters:
        missing = [a for a in mt.measures if a not in traces]
        if missing:
            msg = f"meter {mt.id!r} measures {missing}, which the simulator does not model"
            raise SimulationError(msg, field=f"meters.{mt.id}.measures")
        trs = [traces[a] for a in mt.measures]
        t = np.unique(np.concatenate([periodic, [t_end], *[tr.t for tr in trs]]))
        t = t[t <= t_end]
        p = np.zeros(len(t))
        for tr in trs:
            p += _at(tr.t, tr.power_kw, t)
        out.append((mt.id, mt.signal, t, p))
    return out


def _obj(values: Sequence[object] | npt.NDArray[np.generic]) -> npt.NDArray[np.object_]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values) if not isinstance(values, np.ndarray) else values
    return arr


def events_from_run(
    run: SimRun,
    traces: dict[str, AssetTrace],
    t0: float,
    t_end: float,
    *,
    sample_period_s: float | None,
    signal: str,
) -> EventBatch:
    """The twin events of a run: states, meter signal, order steps, material use.

    ``signal``: ``"power"`` (PowerSample for every meter), ``"energy"``
    (cumulative EnergyCounter, wrapped at the meter's ``rollover_kwh``), or
    ``"meter"`` (each meter's own ``signal``).
    """
    if signal not in ("power", "energy", "meter"):
        msg = f"signal {signal!r}: expected 'power', 'energy' or 'meter'"
        raise SimulationError(msg, field="signal")
    factory = run.factory
    # -- state changes (reported state; repeats of the same reported state dropped)
    s_asset, s_t, s_state = [], [], []
    for tr in traces.values():
        rep = _REPORTED_CODE[tr.code]
        keep = np.ones(len(rep), dtype=bool)
        keep[1:] = rep[1:] != rep[:-1]
        s_asset.append(np.full(int(keep.sum()), tr.asset, dtype=object))
        s_t.append(tr.t[keep])
        s_state.append(_REPORTED[tr.code[keep]])
    # -- meters
    p_m, p_t, p_kw, c_m, c_t, c_kwh = [], [], [], [], [], []
    rollover = {mt.id: mt.rollover_kwh for mt in factory.meters}
    for mid, msig, t, p in _meter_series(factory, traces, t0, t_end, sample_period_s):
        kind = msig if signal == "meter" else signal
        if kind == "energy":
            e = np.concatenate(([0.0], np.cumsum(p[:-1] * np.diff(t)) / 3600.0))
            if rollover[mid]:
                e = np.mod(e, float(rollover[mid]))  # type: ignore[arg-type]
            c_m.append(np.full(len(t), mid, dtype=object))
            c_t.append(t)
            c_kwh.append(e)
        else:
            p_m.append(np.full(len(t), mid, dtype=object))
            p_t.append(t)
            p_kw.append(p)
    # -- order steps
    jobs: list[Job] = run.jobs
    if run.steps:
        st = np.asarray(run.steps, dtype=np.float64)
        ji = st[:, 0].astype(np.int64)
        oi = st[:, 1].astype(np.int64)
        mi = st[:, 2].astype(np.int64)
        order_ids = _obj([j.order for j in jobs])
        qty = np.array([j.quantity for j in jobs], dtype=np.float64)
        mids = _obj([m.id for m in run.machines])
        step_order = order_ids[ji]
        step_op = _obj(
            [jobs[j].operations[o] for j, o in zip(ji.tolist(), oi.tolist(), strict=True)]
        )
        step_asset = mids[mi]
        step_start = t0 + st[:, 3]
        step_end = t0 + st[:, 4]
        step_q = qty[ji]
        step_kind = np.where(st[:, 5] == 0, "setup", "processing").astype(object)
    else:
        step_order = step_op = step_asset = step_kind = _obj([])
        step_start = step_end = step_q = np.zeros(0)
    # -- materials of every finished order
    units = {m.id: m.unit for m in factory.materials}
    boms = {p.id: p.bom for p in factory.products}
    mo, mm, mq, mu, mb = [], [], [], [], []
    for j in jobs:
        if np.isnan(j.done_s):
            continue
        for k, item in enumerate(boms[j.product]):
            mo.append(j.order)
            mm.append(item.material)
            mq.append(item.quantity_per_unit * j.quantity)
            mu.append(units.get(item.material, "kg"))
            mb.append(f"{j.order}/bom-{k + 1}")  # one booking per BOM line

    def cat(parts: Sequence[npt.NDArray[Any]], obj: bool) -> Any:
        if parts:
            return np.concatenate(parts)
        return _obj([]) if obj else np.zeros(0)

    return EventBatch(
        state_asset=cat(s_asset, True),
        state_t=cat(s_t, False),
        state=cat(s_state, True),
        power_meter=cat(p_m, True),
        power_t=cat(p_t, False),
        power_kw=cat(p_kw, False),
        counter_meter=cat(c_m, True),
        counter_t=cat(c_t, False),
        counter_kwh=cat(c_kwh, False),
        step_order=step_order,
        step_operation=step_op,
        step_asset=step_asset,
        step_start=step_start,
        step_end=step_end,
        step_quantity=step_q,
        step_kind=step_kind,
        material_order=_obj(mo),
        material_id=_obj(mm),
        material_quantity=np.array(mq, dtype=float),
        material_unit=_obj(mu),
        material_booking=_obj(mb),
    )
