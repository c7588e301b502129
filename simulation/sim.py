"""``simulate()``: one replication of a factory and a plan under a policy.

>>> from carbontwin.twin.examples import demo_factory          # doctest: +SKIP
>>> res = simulate(demo_factory(), None, "fifo", seed=1)      # doctest: +SKIP
>>> res.kpis["energy_kwh"], res.energy_kwh_by_machine          # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.factors import FUEL_FACTORS
from carbontwin.twin.model import Carrier, Factory, Order, State

from .model import SimRun
from .plan import Calendar, Job, build_jobs, processing_multipliers
from .policies import Policy, ReleaseContext, combine, get_policy
from .results import AssetTrace, build_traces, energy_kwh, events_from_run, hourly_energy_kwh
from .tariffs import (
    HourlySignal,
    TimeOfUseTariff,
    grid_intensity_fn,
    held_series_fn,
    interval_edges,
    peak_demand_kw,
)

__all__ = ["SimResult", "processing_times", "resolve_policy", "simulate"]

FloatArray = npt.NDArray[np.float64]
PolicySpec = str | Policy | type[Policy] | Mapping[str, Any] | Sequence[Any]


@dataclass(slots=True)
class SimResult:
    """What one replication produced.

    Attributes
    ----------
    events : EventBatch
        The twin events, as a real line would send them.
    energy_kwh_by_machine : dict
        The simulator's own integral of power per machine [kWh].
    energy_kwh_by_asset : dict
        The same for machines and utilities [kWh].
    kpis : dict
        ``energy_kwh`` (all carriers), ``cost`` (electricity under the tariff, when
        given; with a demand charge also ``energy_cost``, ``peak_demand_kw`` and
        ``demand_charge``, and ``cost`` is their sum), ``co2e_kg`` (location-based,
        hourly grid), ``makespan_h``, ``total_tardiness_h``,
        ``max_tardiness_h``, ``late_orders``, ``utilization``, ``setups``,
        ``switch_offs``.
    t0, t_end : float
        Scenario start and end [epoch s].
    traces : dict
        Piecewise-constant state and power per asset (for plots and checks).
    jobs : list of Job
        The jobs with their completion times (simulation clock).
    hour_edges : ndarray
        Hour boundaries covering the run [epoch s]; ``hourly_kwh`` the
        electricity per hour, ``grid_kg_per_kwh`` and ``price_per_kwh`` per hour.
    """

    events: EventBatch
    energy_kwh_by_machine: dict[str, float]
    energy_kwh_by_asset: dict[str, float]
    kpis: dict[str, float]
    t0: float
    t_end: float
    traces: dict[str, AssetTrace] = field(repr=False)
    jobs: list[Job] = field(repr=False)
    hour_edges: FloatArray = field(repr=False)
    hourly_kwh: FloatArray = field(repr=False)
    grid_kg_per_kwh: FloatArray = field(repr=False)
    price_per_kwh: FloatArray | None = field(repr=False, default=None)
    seed: int | Sequence[int] = 0
    policy: str = ""

    def attribute(self, factory: Factory, factors: Any = None, rules: Any = None) -> Any:
        """Run the events through the twin's attribution engine (per-order footprints).

        ``factors`` defaults to ``FactorSet.default(factory)``.
        """
        from carbontwin.twin.attribution import attribute
        from carbontwin.twin.factors import FactorSet

        fs = factors if factors is not None else FactorSet.default(factory)
        return attribute(factory, self.events, fs, rules)


def resolve_policy(spec: PolicySpec) -> Policy:
    """A policy from a name, class, instance, ``{"name":..., "params":...}`` or a list of them."""
    if isinstance(spec, Policy | str | type):
        return get_policy(spec)
    if isinstance(spec, Mapping):
        return get_policy(spec["name"], **dict(spec.get("params") or {}))
    return combine([resolve_policy(s) for s in spec])


def _seed_sequence(seed: int | Sequence[int]) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed)


def simulate(
    factory: Factory,
    plan: Sequence[Order] | None,
    policy: PolicySpec = "fifo",
    seed: int | Sequence[int] = 0,
    *,
    sample_period_s: float | None = 60.0,
    signal: str = "meter",
    start: float | None = None,
    end: float | None = None,
    grid: Callable[[FloatArray], FloatArray] | str | None = None,
    tariff: TimeOfUseTariff | None = None,
    processing_cv: float = 0.1,
    breakdowns: bool = True,
    buffers: Mapping[str, float] | None = None,
    initial_state: State = State.IDLE,
    fuel_kg_per_kwh: Mapping[str, float] | None = None,
    overtime_rate_per_h: float | None = None,
) -> SimResult:
    """Simulate ``plan`` (default: the factory's orders) on ``factory`` under ``policy``.

    Parameters
    ----------
    factory : Factory
        Machines, routings, meters, utilities, shifts.
    plan : sequence of Order, optional
        Orders to produce; ``None`` takes ``factory.orders``.
    policy : str or Policy or list
        Entry-point name(s) in ``carbontwin.policies`` (``"fifo"``,
        ``["fifo", "idle_shutdown"]``) or Policy objects.
    seed : int or sequence of int
        Seed of this replication's :class:`numpy.random.SeedSequence`.
    sample_period_s : float or None
        Period of the meters' samples in addition to one at every change [s].
        Keep it at most the attribution engine's ``Rules.max_sample_interval_s``
        (900 s by default): readings further apart count as a gap there. ``None``
        samples only at changes.
    signal : str
        ``"meter"`` (default: each meter sends what it declares, power samples or
        a cumulative counter), ``"power"`` or ``"energy"`` for every meter.
    start, end : float, optional
        Scenario window [epoch s]; default the earliest release and the latest
        due date. The run lasts at least until ``end``.
    grid : callable or str, optional
        Location-based factor [kg CO2e/kWh] of epoch seconds, or a series name
        (default: ``FactorSet.default(factory)`` when available, else DE_2019).
    tariff : TimeOfUseTariff, optional
        Energy price for the ``cost`` KPI and price-aware release.
    processing_cv : float
        Coefficient of variation of processing times (lognormal, mean = nominal).
    breakdowns : bool
        Simulate MTBF/MTTR failures where the machines declare them.
    buffers : mapping, optional
        Input buffer size per machine id (``"default"`` for the rest) [jobs];
        unlimited by default.
    initial_state : State
        State of every machine at the start (IDLE: warmed up).
    overtime_rate_per_h : float, optional
        Labour cost of an overtime hour [currency/h]: adds the KPIs
        ``overtime_h`` and ``overtime_cost`` (part of ``cost``) for a policy
        that keeps shifts open longer (a schedule's ``overtime_h``).

    Returns
    -------
    SimResult
    """
    orders = list(factory.orders if plan is None else plan)
    pol = resolve_policy(policy)
    if start is not None:
        t0 = float(start)
    else:
        t0 = min((o.release.timestamp() for o in orders), default=0.0)
    if end is not None:
        t_stop = float(end) - t0
    else:
        t_stop = max((o.due.timestamp() for o in orders), default=t0) - t0
    t_stop = max(t_stop, 0.0)
    children = _seed_sequence(seed).spawn(2 + len(factory.machines))
    mult = _multipliers(factory, len(orders), seed, processing_cv)
    machine_index = {m.id: i for i, m in enumerate(factory.machines)}
    jobs = build_jobs(factory, orders, t0, mult, machine_index)
    margin = 120 * 86400.0
    calendar = Calendar.build(factory.shifts, factory.site.timezone, t0, t_stop + margin)
    overtime = tuple(getattr(pol, "overtime_h", ()) or ())
    calendar = calendar.with_overtime(overtime)
    grid_fn = _grid_function(factory, grid)
    grid_sig = HourlySignal.sample(grid_fn, t0, t_stop + margin)
    price_sig = (
        HourlySignal.sample(tariff.price_per_kwh, t0, t_stop + margin)
        if tariff is not None
        else None
    )
    ctx = ReleaseContext(grid_sig, price_sig, calendar)
    rngs = [np.random.default_rng(c) for c in children[2:]]
    run = SimRun(
        factory,
        jobs,
        pol,
        calendar,
        ctx,
        rngs,
        buffers=buffers,
        initial_state=initial_state,
        breakdowns=breakdowns,
    )
    t_done = run.run(until=t_stop)
    t_end = t0 + max(t_stop, t_done)
    traces = build_traces(run, t0)
    events = events_from_run(run, traces, t0, t_end, sample_period_s=sample_period_s, signal=signal)
    by_asset = {a: energy_kwh(tr, t_end) for a, tr in traces.items()}
    by_machine = {m.id: by_asset[m.id] for m in factory.machines}
    # -- hourly electricity, emissions, cost
    h0 = math.floor(t0 / 3600.0) * 3600.0
    edges = np.arange(h0, t_end + 3600.0, 3600.0)
    edges[0], edges[-1] = t0, t_end
    elec = np.zeros(len(edges) - 1)
    fuel_co2e = 0.0
    fuels = {k: f.factor_kg_per_kwh for k, f in FUEL_FACTORS.items()}
    fuels.update(fuel_kg_per_kwh or {})
    for a, tr in traces.items():
        if tr.carrier == Carrier.ELECTRICITY.value:
            elec += hourly_energy_kwh(tr, edges)
        else:
            fuel_co2e += by_asset[a] * fuels.get(tr.carrier, 0.0)
    factor = np.asarray(grid_fn(edges[:-1]), dtype=np.float64)
    price = tariff.price_per_kwh(edges[:-1]) if tariff is not None else None
    kpis = _kpis(run, jobs, by_asset, elec, factor, price, fuel_co2e, calendar, t_end - t0)
    if tariff is not None and tariff.has_demand_charge:
        iv = float(tariff.demand_interval_s)
        q_edges = interval_edges(t0, t_end, iv)
        elec_q = np.zeros(len(q_edges) - 1)
        for tr in traces.values():
            if tr.carrier == Carrier.ELECTRICITY.value:
                elec_q += hourly_energy_kwh(tr, q_edges)
        _demand_kpis(kpis, peak_demand_kw(elec_q, iv), tariff)
    if overtime_rate_per_h is not None:
        overtime_kpis(kpis, sum(overtime), overtime_rate_per_h)
    return SimResult(
        events,
        by_machine,
        by_asset,
        kpis,
        t0,
        t_end,
        traces,
        jobs,
        edges,
        elec,
        factor,
        price,
        seed,
        repr(pol),
    )


def processing_times(
    factory: Factory,
    plan: Sequence[Order] | None,
    seed: int | Sequence[int] = 0,
    processing_cv: float = 0.1,
) -> FloatArray:
    """The processing times ``simulate`` draws for ``seed``: shape (orders, routing steps) [s].

    Steps beyond an order's routing are NaN. For benchmarks and checks that must
    replay exactly the same random numbers outside carbontwin.
    """
    orders = list(factory.orders if plan is None else plan)
    mult = _multipliers(factory, len(orders), seed, processing_cv)
    products = {p.id: p for p in factory.products}
    out = np.full(mult.shape, np.nan)
    for i, o in enumerate(orders):
        for k, op in enumerate(products[o.product].routing):
            out[i, k] = op.processing_s_per_unit * o.quantity * float(mult[i, k])
    return out


def _multipliers(
    factory: Factory, n_orders: int, seed: int | Sequence[int], processing_cv: float
) -> FloatArray:
    children = _seed_sequence(seed).spawn(2 + len(factory.machines))
    n_ops = max((len(p.routing) for p in factory.products), default=1)
    return processing_multipliers(
        n_orders, n_ops, np.random.default_rng(children[0]), processing_cv
    )


def _grid_function(
    factory: Factory, grid: Callable[[FloatArray], FloatArray] | str | None
) -> Callable[[FloatArray], FloatArray]:
    """Grid factor of epoch seconds: a callable as given, a series name or CSV path, or
    (``None``) the location-based factor of ``FactorSet.default(factory)``."""
    if callable(grid):
        return grid
    if grid is not None:
        return grid_intensity_fn(grid)
    from carbontwin.twin.factors import FactorSet, HourlySeries

    fs = FactorSet.default(factory)
    if isinstance(fs.location, HourlySeries):
        return held_series_fn(fs.location)
    # a zone's factors: its series, and the documented fallbacks outside them
    return fs.electricity_location_kg_per_kwh


def overtime_kpis(kpis: dict[str, float], hours: float, rate_per_h: float) -> None:
    """Add the overtime hours and their labour cost; ``cost`` includes it."""
    kpis["overtime_h"] = float(hours)
    kpis["overtime_cost"] = float(hours) * float(rate_per_h)
    kpis["cost"] = kpis.get("cost", 0.0) + kpis["overtime_cost"]


def _demand_kpis(kpis: dict[str, float], peak_kw: float, tariff: TimeOfUseTariff) -> None:
    """Add the peak demand and its charge; ``cost`` becomes energy cost plus demand charge."""
    charge = peak_kw * float(tariff.demand_charge_per_kw)
    kpis["energy_cost"] = kpis["cost"]
    kpis["peak_demand_kw"] = peak_kw
    kpis["demand_charge"] = charge
    kpis["cost"] = kpis["energy_cost"] + charge


def _kpis(
    run: SimRun,
    jobs: list[Job],
    by_asset: dict[str, float],
    elec: FloatArray,
    factor: FloatArray,
    price: FloatArray | None,
    fuel_co2e: float,
    calendar: Calendar,
    duration_s: float,
) -> dict[str, float]:
    done = np.array([j.done_s for j in jobs]) if jobs else np.zeros(0)
    due = np.array([j.due_s for j in jobs]) if jobs else np.zeros(0)
    if np.any(np.isnan(done)):
        msg = "some orders did not finish; KPIs would be wrong"
        raise SimulationError(msg)
    tardy = np.maximum(done - due, 0.0)
    if run.steps:
        st = np.asarray(run.steps)
        proc = st[st[:, 5] == 1]
        busy_s = float(np.sum(proc[:, 4] - proc[:, 3]))
    else:
        busy_s = 0.0
    if calendar.always_open:
        open_s = duration_s
    else:
        open_s = float(
            np.sum(np.clip(np.minimum(calendar.ends, duration_s) - calendar.starts, 0.0, None))
        )
    n_m = max(len(run.machines), 1)
    kpis = {
        "energy_kwh": float(sum(by_asset.values())),
        "co2e_kg": float(np.sum(elec * factor) + fuel_co2e),
        "makespan_h": float(done.max() / 3600.0) if len(done) else 0.0,
        "total_tardiness_h": float(tardy.sum() / 3600.0),
        "max_tardiness_h": float(tardy.max() / 3600.0) if len(tardy) else 0.0,
        "late_orders": float(np.count_nonzero(tardy > 0)),
        "utilization": busy_s / (n_m * open_s) if open_s > 0 else 0.0,
        "setups": float(sum(m.n_setups for m in run.machines)),
        "switch_offs": float(sum(m.n_switch_offs for m in run.machines)),
    }
    if price is not None:
        kpis["cost"] = float(np.sum(elec * price))
    return kpis
