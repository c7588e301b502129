"""Scenarios: a baseline and candidate policies, N seeded replications each, KPIs with CIs.

A scenario file (YAML) names a factory, a plan, a grid series, a tariff, the
baseline policy and the candidates::

    name: Demo week
    factory: demo                 # bundled demo factory, or a path relative to this file
    plan: factory                 # the factory's orders (or a CSV: id,product,quantity,release,due)
    start: 2019-03-04T00:00:00Z
    end: 2019-03-11T00:00:00Z
    grid: DE_2019                 # bundled hourly series, or a CSV path
    tariff:
      currency: EUR
      default_per_kwh: 0.16
      periods: [{start: "08:00", end: "20:00", weekdays: [0, 1, 2, 3, 4], price_per_kwh: 0.24}]
      demand_charge_per_kw: 2.0   # on the highest 15-min mean demand of the simulated period
      demand_interval_min: 15
    overtime:                     # optional: optimize may keep shifts open longer
      rate_per_h: 180             # labour cost of an overtime hour of the crew [currency/h]
      max_h: 4                    # at most this much after a working day's last shift [h]
      step_h: 1
    replications: 10
    seed: 20190304
    baseline: {name: As-is, policy: as_is}   # the default: the plant's shift practice
    candidates:
      - {name: Idle shutdown, policy: [as_is, idle_shutdown]}

Replication ``r`` of every scenario uses the seed ``[seed, r]``, so candidates
and baseline see the same random processing times and breakdowns and their
difference is paired by seed. The 95 % confidence intervals use Student's t.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import stats

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.model import Factory, Order
from carbontwin.twin.quantities import to_epoch, utc

from .sim import SimResult, simulate
from .tariffs import TariffPeriod, TimeOfUseTariff

__all__ = [
    "Candidate",
    "KpiStat",
    "Scenario",
    "ScenarioReport",
    "load_scenario",
    "replication_task",
    "run_replication",
    "run_scenario",
    "summarize",
]

#: KPIs shown in tables, with units; "lower is better" for all.
KPI_UNITS: dict[str, str] = {
    "energy_kwh": "kWh",
    "cost": "currency",
    "energy_cost": "currency",
    "demand_charge": "currency",
    "peak_demand_kw": "kW",
    "co2e_kg": "kg CO2e",
    "attributed_co2e_kg": "kg CO2e",
    "makespan_h": "h",
    "total_tardiness_h": "h",
    "max_tardiness_h": "h",
    "late_orders": "orders",
    "utilization": "-",
    "setups": "-",
    "switch_offs": "-",
    "overtime_h": "h",
    "overtime_cost": "currency",
}


# -- the file, validated at the boundary ------------------------------------------------
class _Period(BaseModel):
    model_config = ConfigDict(extra="forbid")
    price_per_kwh: float = Field(ge=0)
    start: str = "00:00"
    end: str = "24:00"
    weekdays: list[int] = [0, 1, 2, 3, 4, 5, 6]


class _Tariff(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = "EUR"
    default_per_kwh: float = Field(ge=0)
    periods: list[_Period] = []
    demand_charge_per_kw: float = Field(default=0.0, ge=0)
    demand_interval_min: float = Field(default=15.0, gt=0, le=60)


class _Overtime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_per_h: float = Field(ge=0)
    max_h: float = Field(default=4.0, gt=0, le=16)
    step_h: float = Field(default=1.0, gt=0)


class _Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    policy: str | dict[str, Any] | list[str | dict[str, Any]]


class _ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "scenario"
    factory: str
    plan: str = "factory"
    start: datetime | None = None
    end: datetime | None = None
    grid: str = "DE_2019"
    tariff: _Tariff | None = None
    overtime: _Overtime | None = None
    replications: int = Field(default=10, ge=1)
    seed: int = Field(default=0, ge=0)
    sample_period_s: float = Field(default=300.0, gt=0)
    processing_cv: float = Field(default=0.1, ge=0)
    breakdowns: bool = True
    buffers: dict[str, float] = {}
    attribute: bool = False
    baseline: _Candidate = _Candidate(name="As-is", policy="as_is")
    candidates: list[_Candidate] = []


@dataclass(frozen=True, slots=True)
class Candidate:
    """A named policy (an entry-point name, ``{"name", "params"}``, or a list of them)."""

    name: str
    policy: Any


@dataclass(frozen=True, slots=True)
class Scenario:
    """A resolved scenario: everything a replication needs, picklable."""

    name: str
    factory: Factory
    orders: tuple[Order, ...]
    baseline: Candidate
    candidates: tuple[Candidate, ...] = ()
    start: float | None = None
    end: float | None = None
    grid: str = "DE_2019"
    tariff: TimeOfUseTariff | None = None
    replications: int = 10
    seed: int = 0
    sample_period_s: float = 300.0
    processing_cv: float = 0.1
    breakdowns: bool = True
    buffers: Mapping[str, float] = field(default_factory=dict)
    attribute: bool = False
    factor_series: tuple[Any, ...] = ()  # hourly series the factory file names, loaded
    #: overtime: labour cost of an overtime hour [currency/h] (None: no overtime),
    #: the most overtime after a working day's last shift and its step [h]
    overtime_rate_per_h: float | None = None
    overtime_max_h: float = 0.0
    overtime_step_h: float = 1.0

    @property
    def policies(self) -> tuple[Candidate, ...]:
        """Baseline first, then the candidates."""
        return (self.baseline, *self.candidates)


def _load_orders(path: Path) -> tuple[Order, ...]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return tuple(
            Order(r["id"], r["product"], float(r["quantity"]), utc(r["release"]), utc(r["due"]))
            for r in rows
        )
    except (OSError, KeyError, ValueError) as exc:
        msg = (
            f"cannot read the plan {path}: {exc} (expected columns id,product,quantity,release,due)"
        )
        raise SimulationError(msg, field="plan") from None


def load_scenario(path: str | Path, *, replications: int | None = None) -> Scenario:
    """Read and resolve a scenario YAML file (paths inside are relative to it).

    Raises
    ------
    SimulationError
        Naming the file and the field that is wrong.
    """
    from carbontwin.twin.examples import demo_factory
    from carbontwin.twin.factory_file import load_factory

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read scenario {path}: {exc}"
        raise SimulationError(msg) from None
    try:
        spec = _ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        msg = f"{path}: {loc}: {first['msg']}"
        raise SimulationError(msg, field=loc) from None
    base = path.parent
    factory = demo_factory() if spec.factory == "demo" else load_factory(base / spec.factory)
    series: tuple[Any, ...] = ()
    if spec.factory != "demo":
        from carbontwin.twin.factors import factory_series

        series = factory_series(factory, (base / spec.factory).parent)
    orders = factory.orders if spec.plan == "factory" else _load_orders(base / spec.plan)
    grid = spec.grid if (base / spec.grid).suffix != ".csv" else str(base / spec.grid)
    tariff = None
    if spec.tariff is not None:
        tariff = TimeOfUseTariff(
            spec.tariff.default_per_kwh,
            tuple(
                TariffPeriod(p.price_per_kwh, p.start, p.end, tuple(p.weekdays))
                for p in spec.tariff.periods
            ),
            spec.tariff.currency,
            factory.site.timezone,
            spec.tariff.demand_charge_per_kw,
            spec.tariff.demand_interval_min * 60.0,
        )
    return Scenario(
        name=spec.name,
        factory=factory,
        orders=tuple(orders),
        baseline=Candidate(spec.baseline.name, spec.baseline.policy),
        candidates=tuple(Candidate(c.name, c.policy) for c in spec.candidates),
        start=to_epoch(spec.start) if spec.start else None,
        end=to_epoch(spec.end) if spec.end else None,
        grid=grid,
        tariff=tariff,
        replications=replications or spec.replications,
        seed=spec.seed,
        sample_period_s=spec.sample_period_s,
        processing_cv=spec.processing_cv,
        breakdowns=spec.breakdowns,
        buffers=dict(spec.buffers),
        attribute=spec.attribute,
        factor_series=series,
        overtime_rate_per_h=spec.overtime.rate_per_h if spec.overtime else None,
        overtime_max_h=spec.overtime.max_h if spec.overtime else 0.0,
        overtime_step_h=spec.overtime.step_h if spec.overtime else 1.0,
    )


# -- one replication ----------------------------------------------------------------------
def replication_seed(scenario: Scenario, replication: int) -> list[int]:
    """Seed of replication ``replication``: the same for every policy (paired)."""
    return [scenario.seed, replication]


def simulate_one(scenario: Scenario, policy_index: int, replication: int) -> SimResult:
    """Simulate one policy of ``scenario`` for one replication."""
    cand = scenario.policies[policy_index]
    return simulate(
        scenario.factory,
        scenario.orders,
        cand.policy,
        replication_seed(scenario, replication),
        sample_period_s=scenario.sample_period_s,
        start=scenario.start,
        end=scenario.end,
        grid=scenario.grid,
        tariff=scenario.tariff,
        processing_cv=scenario.processing_cv,
        breakdowns=scenario.breakdowns,
        buffers=scenario.buffers,
        overtime_rate_per_h=scenario.overtime_rate_per_h,
    )


@dataclass(frozen=True, slots=True)
class ReplicationTask:
    scenario: Scenario
    policy_index: int
    replication: int


def replication_task(scenario: Scenario, policy_index: int, replication: int) -> ReplicationTask:
    return ReplicationTask(scenario, policy_index, replication)


def run_replication(task: ReplicationTask) -> dict[str, float]:
    """KPIs of one (policy, replication); a top-level function, so pools can pickle it."""
    res = simulate_one(task.scenario, task.policy_index, task.replication)
    kpis = dict(res.kpis)
    if task.scenario.attribute:
        att = res.attribute(task.scenario.factory, scenario_factors(task.scenario))
        kpis["attributed_co2e_kg"] = float(att.total_co2e_kg)
    return kpis


def scenario_factors(scenario: Scenario) -> Any:
    """The factor set attribution uses for ``scenario``: its ``grid`` (a CSV series or a
    constant such as ``"0.35 kg/kWh"``) over the factory's own factors."""
    from carbontwin.twin.factors import ConstantFactor, FactorSet, load_hourly_csv
    from carbontwin.twin.quantities import parse_quantity

    grid, own = scenario.grid, scenario.factor_series
    if Path(grid).suffix == ".csv":
        return FactorSet.for_factory(
            scenario.factory, series=own, grid_series=load_hourly_csv(grid, source=f"grid {grid}")
        )
    if "/" in grid:
        value = parse_quantity(grid, "emission_factor")
        return FactorSet.for_factory(
            scenario.factory, grid_factor=ConstantFactor(value, f"grid {grid}")
        )
    return FactorSet.for_factory(scenario.factory, series=own)


# -- statistics -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KpiStat:
    """Mean and 95 % CI half-width (Student's t) of a KPI; ``n`` replications."""

    mean: float
    half_width: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray, level: float = 0.95) -> KpiStat:
        x = np.asarray(values, dtype=np.float64)
        n = len(x)
        if n == 0:
            return cls(math.nan, math.nan, 0)
        if n == 1:
            return cls(float(x[0]), math.nan, 1)
        q = float(stats.t.ppf(0.5 + level / 2.0, n - 1))
        return cls(float(x.mean()), q * float(x.std(ddof=1)) / math.sqrt(n), n)

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    def as_dict(self) -> dict[str, float]:
        return {
            "mean": self.mean,
            "ci95_low": self.low,
            "ci95_high": self.high,
            "half_width": self.half_width,
            "n": self.n,
        }


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    """All replications' KPIs and their summaries.

    ``values[name][kpi]`` is the array over replications (seed order);
    ``stats[name][kpi]`` its :class:`KpiStat`; ``diffs[name][kpi]`` the paired
    difference candidate - baseline, with ``relative`` = mean difference /
    baseline mean.
    """

    scenario: str
    baseline: str
    names: tuple[str, ...]
    kpis: tuple[str, ...]
    values: dict[str, dict[str, np.ndarray]]
    stats: dict[str, dict[str, KpiStat]]
    diffs: dict[str, dict[str, KpiStat]]
    relative: dict[str, dict[str, float]]
    seeds: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (undefined values, such as a CI of one replication, are None)."""
        return {
            "scenario": self.scenario,
            "baseline": self.baseline,
            "replications": len(self.seeds),
            "seeds": self.seeds,
            "kpis": {k: KPI_UNITS.get(k, "") for k in self.kpis},
            "results": {
                n: {
                    k: {
                        **_finite(self.stats[n][k].as_dict()),
                        "values": [_num(v) for v in self.values[n][k]],
                    }
                    for k in self.kpis
                }
                for n in self.names
            },
            "differences": {
                n: {
                    k: {
                        **_finite(self.diffs[n][k].as_dict()),
                        "relative": _num(self.relative[n][k]),
                    }
                    for k in self.kpis
                }
                for n in self.names[1:]
            },
        }


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _finite(d: Mapping[str, float]) -> dict[str, float | int | None]:
    return {k: v if isinstance(v, int) else _num(v) for k, v in d.items()}


def summarize(
    scenario: Scenario, results: Sequence[Sequence[Mapping[str, float]]]
) -> ScenarioReport:
    """Statistics of ``results[policy][replication]`` (KPI dicts)."""
    names = tuple(c.name for c in scenario.policies)
    kpis = tuple(k for k in KPI_UNITS if all(k in r for rs in results for r in rs))
    values = {
        n: {k: np.array([r[k] for r in rs]) for k in kpis}
        for n, rs in zip(names, results, strict=True)
    }
    st = {n: {k: KpiStat.of(values[n][k]) for k in kpis} for n in names}
    base = names[0]
    diffs: dict[str, dict[str, KpiStat]] = {}
    rel: dict[str, dict[str, float]] = {}
    for n in names[1:]:
        diffs[n] = {k: KpiStat.of(values[n][k] - values[base][k]) for k in kpis}
        rel[n] = {
            k: (diffs[n][k].mean / st[base][k].mean if st[base][k].mean else math.nan) for k in kpis
        }
    seeds = [replication_seed(scenario, r) for r in range(scenario.replications)]
    return ScenarioReport(scenario.name, base, names, kpis, values, st, diffs, rel, seeds)


def run_scenario(
    scenario: Scenario,
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> ScenarioReport:
    """Run every policy of ``scenario`` for its replications and summarise.

    Parameters
    ----------
    executor : str
        ``"local"`` (process pool; ``workers=1`` runs in this process) or
        ``"dask"`` (a ``distributed`` cluster at ``scheduler``).
    on_done : callable, optional
        Called as ``on_done(finished, total)`` after each replication.
    """
    from .executors import run_tasks

    tasks = [
        ReplicationTask(scenario, p, r)
        for p in range(len(scenario.policies))
        for r in range(scenario.replications)
    ]
    flat = run_tasks(
        run_replication,
        tasks,
        executor=executor,
        scheduler=scheduler,
        workers=workers,
        on_done=on_done,
    )
    n = scenario.replications
    results = [flat[p * n : (p + 1) * n] for p in range(len(scenario.policies))]
    return summarize(scenario, results)
