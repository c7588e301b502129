"""``optimize``: search schedules for a Pareto front of CO2e, cost, makespan and tardiness.

The metaheuristic is pymoo's NSGA-II (Deb et al. 2002) over a random-key
encoding, seeded with the dispatch rules (release order as FIFO, EDD, SPT):

* one key per order: the order in which every machine runs its operations
  (one global order, so machine sequences never deadlock);
* one release delay per order [h], up to ``max_delay_h``: work moves into
  hours with a cleaner grid or a cheaper tariff;
* one gene per machine: keep it off while it would wait past its break-even
  time inside shifts (and not warm it for a shift with no work for it);
* one gene for the batch window of batch machines [h]: jobs of one product
  whose orders are released within it share a batch;
* one gene per operation whose routing step lists ``alternatives``: the
  machine that runs it (the routing's machine or one of the alternatives);
* with overtime allowed (``overtime_max_h`` > 0), one gene per working window
  of the scenario: hours of overtime after it, in steps of ``overtime_step_h``,
  paid at the scenario's overtime rate (part of ``cost``).

Every candidate is scored by :class:`~.evaluator.ScheduleEvaluator`
(deterministic times) — in this process, or on a Dask cluster population by
population. Constraints: the makespan may grow at most ``max_makespan_increase``
over as-is; due dates are either penalised (tardiness is an objective) or hard
(no more tardiness than as-is). The recommended schedule is the front's
lowest-CO2e feasible one; it replays in the SimPy model as a
:class:`~.schedule.FollowPlan` policy with random processing times and
breakdowns, paired by seed with as-is, for confidence intervals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError

from .evaluator import ScheduleEvaluator
from .schedule import Schedule

__all__ = ["OptimizeResult", "ScheduleSearch", "decode_genes", "optimize_schedules"]

FloatArray = npt.NDArray[np.float64]
OBJECTIVES = ("co2e_kg", "cost", "makespan_h", "total_tardiness_h")


@dataclass(frozen=True, slots=True)
class ScheduleSearch:
    """What the search may change and how it is bounded."""

    max_delay_h: float = 24.0
    max_makespan_increase: float = 0.05
    due_dates: str = "penalised"  # or "hard"
    population: int = 48
    generations: int = 60
    time_limit_s: float | None = None
    seed: int = 1
    max_batch_window_h: float = 48.0
    #: what to minimise; the recommended schedule is the front's best in the first one
    objectives: tuple[str, ...] = OBJECTIVES
    #: overtime after each working window: at most this much, in these steps [h]
    overtime_max_h: float = 0.0
    overtime_step_h: float = 1.0


def n_genes(ev: ScheduleEvaluator, search: ScheduleSearch = ScheduleSearch()) -> int:
    """Length of a gene vector for ``ev``'s plan."""
    return 2 * len(ev.jobs) + len(ev.machine_ids) + 1 + len(ev.choice_ops) + _n_ot(ev, search)


def _n_ot(ev: ScheduleEvaluator, search: ScheduleSearch) -> int:
    return ev.n_overtime_windows if search.overtime_max_h > 0 else 0


@dataclass(frozen=True, slots=True)
class _Decoded:
    keys: FloatArray
    release: FloatArray
    off: npt.NDArray[np.bool_]
    window_s: float
    machines: npt.NDArray[np.int64] | None
    overtime_h: FloatArray | None


def decode_genes(
    ev: ScheduleEvaluator, x: FloatArray, search: ScheduleSearch = ScheduleSearch()
) -> Schedule:
    """The schedule a gene vector stands for (values in [0, 1])."""
    d = _genes(ev, x, search)
    sched = ev.schedule_from_priority(
        d.keys,
        d.release,
        batch_window_s=d.window_s,
        machines=d.machines,
        overtime_h=() if d.overtime_h is None else d.overtime_h.tolist(),
    )
    if d.off.any():
        sched = ev.keep_off_where_it_pays(sched, d.off.tolist())
    return sched


def _genes(ev: ScheduleEvaluator, x: FloatArray, search: ScheduleSearch) -> _Decoded:
    n = len(ev.jobs)
    n_m = len(ev.machine_ids)
    keys = x[:n]
    delays_h = np.round(x[n : 2 * n] * search.max_delay_h * 4.0) / 4.0  # quarter hours
    off = x[2 * n : 2 * n + n_m] > 0.5
    window_s = float(x[2 * n + n_m]) * search.max_batch_window_h * 3600.0
    i = 2 * n + n_m + 1
    n_c = len(ev.choice_ops)
    machines = ev.machines_from_genes(x[i : i + n_c]) if n_c else None
    n_ot = _n_ot(ev, search)
    overtime = None
    if n_ot:
        step = search.overtime_step_h
        overtime = np.floor(x[i + n_c : i + n_c + n_ot] * (search.overtime_max_h / step + 1))
        overtime = np.minimum(overtime * step, search.overtime_max_h)
    return _Decoded(keys, ev.release0 + delays_h * 3600.0, off, window_s, machines, overtime)


def score_genes(
    ev: ScheduleEvaluator, xs: FloatArray, search: ScheduleSearch = ScheduleSearch()
) -> list[dict[str, float]]:
    """KPIs of each gene vector (a module-level function, so Dask can ship it)."""
    out = []
    for x in xs:
        d = _genes(ev, x, search)
        p = ev.prepare_priority(d.keys, d.release, d.window_s, d.off, d.machines, d.overtime_h)
        out.append(ev.evaluate(p))
    return out


def _seed_genes(
    ev: ScheduleEvaluator, rng: np.random.Generator, search: ScheduleSearch
) -> FloatArray:
    """Dispatch rules as genes: FIFO (release), EDD, SPT; each with and without keep-off."""
    n = len(ev.jobs)
    n_m = len(ev.machine_ids)
    n_c = len(ev.choice_ops) + _n_ot(ev, search)  # the routings' machines, no overtime
    spt = ev.job_proc.sum(axis=1)
    rows = []
    for key in (ev.release0, ev.due, spt):
        k = np.argsort(np.argsort(key, kind="stable"), kind="stable") / max(n - 1, 1)
        for off in (0.0, 1.0):
            for window in (0.0, 0.25):
                rows.append(
                    np.concatenate([k, np.zeros(n), np.full(n_m, off), [window], np.zeros(n_c)])
                )
    # as-is order with small random release delays, keep-off everywhere, random machines
    for _ in range(4):
        k = np.argsort(np.argsort(ev.release0, kind="stable")) / max(n - 1, 1)
        d = rng.random(n) * 0.3
        rows.append(np.concatenate([k, d, np.ones(n_m), [rng.random() * 0.3], rng.random(n_c)]))
    return np.array(rows)


@dataclass(slots=True)
class OptimizeResult:
    """The front, the recommended schedule and the as-is baseline they are measured against."""

    baseline: dict[str, float]
    front: list[dict[str, float]]
    front_genes: FloatArray = field(repr=False)
    recommended: int
    schedule: Schedule = field(repr=False)
    evaluations: int = 0
    seconds: float = 0.0
    history: list[float] = field(default_factory=list)

    @property
    def kpis(self) -> dict[str, float]:
        return self.front[self.recommended]

    def savings(self) -> dict[str, float]:
        """Relative changes of the recommended schedule against as-is (percent, hours)."""
        b, k = self.baseline, self.kpis

        def pct(name: str) -> float:
            return (b[name] - k[name]) / b[name] * 100.0 if b.get(name) else math.nan

        return {
            "co2e_saving_pct": pct("co2e_kg"),
            "energy_saving_pct": pct("energy_kwh"),
            "cost_saving_pct": pct("cost") if "cost" in b else math.nan,
            "makespan_change_pct": -pct("makespan_h"),
            "tardiness_change_h": k["total_tardiness_h"] - b["total_tardiness_h"],
        }


def _feasible(k: dict[str, float], base: dict[str, float], search: ScheduleSearch) -> bool:
    if k["makespan_h"] > base["makespan_h"] * (1.0 + search.max_makespan_increase) + 1e-9:
        return False
    return k["total_tardiness_h"] <= base["total_tardiness_h"] + 1e-9


def optimize_schedules(
    ev: ScheduleEvaluator,
    baseline: dict[str, float],
    search: ScheduleSearch = ScheduleSearch(),
    *,
    map_population: Callable[[FloatArray], list[dict[str, float]]] | None = None,
    on_generation: Callable[[int, int, float], None] | None = None,
) -> OptimizeResult:
    """Run NSGA-II over schedules of ``ev``'s plan; ``baseline`` holds as-is's KPIs.

    ``map_population(X)`` scores a population (default: here, one by one);
    ``on_generation(done, total, best_co2e)`` reports progress.
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.core.termination import Termination
    from pymoo.optimize import minimize

    if search.due_dates not in ("penalised", "hard"):
        msg = f"due_dates {search.due_dates!r}: expected 'penalised' or 'hard'"
        raise SimulationError(msg, field="due_dates")
    score = map_population or (lambda xs: score_genes(ev, xs, search))
    objectives = [o for o in search.objectives if o in baseline]
    hard = search.due_dates == "hard"
    n_var = n_genes(ev, search)
    count = [0]
    best = [math.inf]
    history: list[float] = []
    archive: list[tuple[FloatArray, dict[str, float]]] = []
    limit_mk = baseline["makespan_h"] * (1.0 + search.max_makespan_increase)

    class _Problem(Problem):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(
                n_var=n_var, n_obj=len(objectives), n_ieq_constr=2 if hard else 1, xl=0.0, xu=1.0
            )

        def _evaluate(self, x: FloatArray, out: dict[str, Any], *args: Any, **kw: Any) -> None:
            ks = score(np.asarray(x))
            count[0] += len(ks)
            out["F"] = np.array([[k[o] for o in objectives] for k in ks])
            g = [[k["makespan_h"] - limit_mk] for k in ks]
            if hard:
                for row, k in zip(g, ks, strict=True):
                    row.append(k["total_tardiness_h"] - baseline["total_tardiness_h"])
            out["G"] = np.array(g)
            for xi, k in zip(x, ks, strict=True):
                if _feasible(k, baseline, search):
                    archive.append((np.array(xi), k))
                    best[0] = min(best[0], k["co2e_kg"])

    t_start = time.perf_counter()

    class _Budget(Termination):  # type: ignore[misc]
        def _update(self, algorithm: Any) -> float:
            gen = algorithm.n_gen or 0
            history.append(best[0])
            if on_generation is not None:
                on_generation(min(gen, search.generations), search.generations, best[0])
            done = gen / search.generations
            if search.time_limit_s is not None:
                done = max(done, (time.perf_counter() - t_start) / search.time_limit_s)
            return min(done, 1.0)

    rng = np.random.default_rng(search.seed)
    seeds = _seed_genes(ev, rng, search)
    pop = rng.random((max(search.population, len(seeds)), n_var))
    pop[: len(seeds)] = seeds
    algorithm = NSGA2(pop_size=search.population, sampling=pop, eliminate_duplicates=True)
    minimize(_Problem(), algorithm, _Budget(), seed=search.seed, verbose=False)
    seconds = time.perf_counter() - t_start
    return _front(ev, baseline, search, archive, objectives, count[0], seconds, history)


def _front(
    ev: ScheduleEvaluator,
    baseline: dict[str, float],
    search: ScheduleSearch,
    archive: list[tuple[FloatArray, dict[str, float]]],
    objectives: Sequence[str],
    evaluations: int,
    seconds: float,
    history: list[float],
) -> OptimizeResult:
    """Non-dominated feasible schedules of everything scored, best in the first objective first."""
    if not archive:
        msg = (
            "no schedule met the constraints (makespan at most "
            f"{search.max_makespan_increase:.0%} over as-is, due dates); loosen them"
        )
        raise SimulationError(msg, field="max_makespan_increase")
    f = np.array([[k[o] for o in objectives] for _, k in archive])
    f_rounded = np.round(f, 6)
    _, uniq = np.unique(f_rounded, axis=0, return_index=True)
    f = f[uniq]
    items = [archive[i] for i in uniq]
    keep = []
    for i in range(len(f)):
        dominated = np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
        if not dominated:
            keep.append(i)
    keep.sort(key=lambda i: f[i][0])
    front = [items[i][1] for i in keep]
    genes = np.array([items[i][0] for i in keep])
    return OptimizeResult(
        baseline=baseline,
        front=front,
        front_genes=genes,
        recommended=0,
        schedule=decode_genes(ev, genes[0], search),
        evaluations=evaluations,
        seconds=seconds,
        history=history,
    )


class DaskPopulation:
    """Scores populations on a Dask cluster: the evaluator is sent once, rows in chunks."""

    def __init__(self, ev: ScheduleEvaluator, search: ScheduleSearch, scheduler: str) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - dask is an optional extra
            msg = "the dask executor needs the 'dask' extra: pip install 'carbontwin[dask]'"
            raise SimulationError(msg, field="executor") from None
        try:
            self.client = Client(scheduler, timeout=30, set_as_default=False)  # type: ignore[no-untyped-call]  # not annotated in distributed
        except OSError as exc:
            msg = f"cannot reach the Dask scheduler at {scheduler}: {exc}"
            raise SimulationError(msg, field="scheduler") from None
        self.search = search
        self.ev = self.client.scatter(ev, broadcast=True)  # type: ignore[no-untyped-call]  # not annotated in distributed
        n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        self.chunks = 2 * n_workers

    def __call__(self, xs: FloatArray) -> list[dict[str, float]]:
        parts = np.array_split(np.asarray(xs), min(self.chunks, len(xs)))
        futures = self.client.map(
            score_genes, [self.ev] * len(parts), parts, [self.search] * len(parts), pure=False
        )
        out: list[dict[str, float]] = []
        for fut in futures:
            out.extend(fut.result())
        return out

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]  # not annotated in distributed


def scenario_evaluator(scenario: Any) -> ScheduleEvaluator:
    """The evaluator of a :class:`~.scenario.Scenario`'s plant, plan, grid and tariff."""
    from .sim import _grid_function

    return ScheduleEvaluator(
        scenario.factory,
        scenario.orders,
        grid=_grid_function(scenario.factory, scenario.grid),
        start=scenario.start,
        end=scenario.end,
        tariff=scenario.tariff,
        overtime_rate_per_h=getattr(scenario, "overtime_rate_per_h", None),
    )


def as_is_kpis(scenario: Any) -> dict[str, float]:
    """KPIs of the as-is baseline in the SimPy model, with nominal times and no breakdowns."""
    from .sim import simulate

    res = simulate(
        scenario.factory,
        scenario.orders,
        "as_is",
        0,
        start=scenario.start,
        end=scenario.end,
        grid=scenario.grid,
        tariff=scenario.tariff,
        processing_cv=0.0,
        breakdowns=False,
        sample_period_s=None,
        overtime_rate_per_h=getattr(scenario, "overtime_rate_per_h", None),
    )
    return dict(res.kpis)


def optimize_scenario(
    scenario: Any,
    search: ScheduleSearch = ScheduleSearch(),
    *,
    executor: str = "local",
    scheduler: str | None = None,
    replications: int = 0,
    on_generation: Callable[[int, int, float], None] | None = None,
    on_replication: Callable[[int, int], None] | None = None,
    solver: str = "auto",
    cpsat_time_limit_s: float = 30.0,
    on_cpsat: Callable[[float, float], None] | None = None,
) -> dict[str, Any]:
    """Optimise a scenario's schedule against as-is; replay the recommended one.

    ``solver``: ``"nsga2"`` (the metaheuristic), ``"cpsat"`` (the exact model of
    :mod:`.cpsat_schedule`; small instances only) or ``"auto"``: NSGA-II, and on
    a small instance (:func:`~.cpsat_schedule.small_instance`) also CP-SAT,
    hinted with NSGA-II's best schedule, for ``cpsat_time_limit_s``. CP-SAT's
    schedule is scored by the same evaluator and joins the front;
    ``on_cpsat(seconds, incumbent)`` reports CP-SAT's progress.

    Returns a JSON-ready report: ``baseline`` ("as_is") and its KPIs, the
    recommended schedule's KPIs and savings, the ``front`` (each point names the
    ``solver`` that found it), ``solver``, CP-SAT's ``bound`` and ``gap_pct``
    (None without CP-SAT) and its details under ``cpsat``, and with
    ``replications`` > 0 the SimPy replay (random times, breakdowns) of as-is
    and the recommended schedule, paired by seed, with 95 % intervals.
    """
    from dataclasses import replace

    from .cpsat_schedule import small_instance, solve_schedule
    from .scenario import Candidate, run_scenario
    from .schedule import FollowPlan

    ev = scenario_evaluator(scenario)
    base = as_is_kpis(scenario)
    if getattr(scenario, "overtime_rate_per_h", None) is not None and search.overtime_max_h == 0:
        search = replace(
            search,
            overtime_max_h=scenario.overtime_max_h,
            overtime_step_h=scenario.overtime_step_h,
        )
    pop_map = None
    dask_pop = None
    if executor == "dask":
        if not scheduler:
            msg = "the dask executor needs --scheduler tcp://HOST:PORT"
            raise SimulationError(msg, field="scheduler")
        dask_pop = DaskPopulation(ev, search, scheduler)
        pop_map = dask_pop
    elif executor != "local":
        msg = f"unknown executor {executor!r}; expected 'local' or 'dask'"
        raise SimulationError(msg, field="executor")
    if solver not in ("auto", "cpsat", "nsga2"):
        msg = f"unknown solver {solver!r}; expected auto, cpsat or nsga2"
        raise SimulationError(msg, field="solver")
    small, why = small_instance(ev)
    if solver == "cpsat" and not small:
        msg = f"the cpsat solver models small instances only: {why}; use --solver nsga2 or auto"
        raise SimulationError(msg, field="solver")
    res = None
    if solver != "cpsat":
        try:
            res = optimize_schedules(
                ev, base, search, map_population=pop_map, on_generation=on_generation
            )
        finally:
            if dask_pop is not None:
                dask_pop.close()
    elif dask_pop is not None:
        dask_pop.close()
    cp_info: dict[str, Any] = {"used": False, "reason": why or "--solver nsga2"}
    points: list[tuple[dict[str, float], str, Any]] = []
    if res is not None:
        points = [(k, "nsga2", g) for k, g in zip(res.front, res.front_genes, strict=True)]
    if solver == "cpsat" or (solver == "auto" and small):
        cp_obj = next((o for o in search.objectives if o in ("co2e_kg", "cost")), "co2e_kg")
        if cp_obj == "cost" and "cost" not in base:
            cp_obj = "co2e_kg"
        cp = solve_schedule(
            ev,
            cp_obj,
            time_limit_s=cpsat_time_limit_s,
            max_makespan_h=base["makespan_h"] * (1.0 + search.max_makespan_increase),
            max_total_tardiness_h=(
                base["total_tardiness_h"] if search.due_dates == "hard" else None
            ),
            hint=res.schedule if res is not None else ev.schedule_from_priority(ev.release0),
            seed=search.seed,
            on_progress=on_cpsat,
        )
        cp_info = {
            "used": True,
            "status": cp.status,
            "objective_name": cp.objective_name,
            "objective": cp.objective,
            "bound": cp.bound,
            "gap_pct": cp.gap_pct,
            "seconds": cp.seconds,
            "class": "no switching off in shifts, one order per batch, operations within a shift",
        }
        if cp.schedule is not None:
            k = ev.evaluate(cp.schedule)
            cp_info["evaluator_value"] = k[cp_obj]
            points.append((k, "cpsat", cp.schedule))
    if not points:
        msg = f"CP-SAT found no schedule within {cpsat_time_limit_s:g} s; give it more time"
        raise SimulationError(msg, field="solver")
    front, schedule = _merge_front(ev, points, search, base)
    orders = [o.id for o in ev.orders]
    result = OptimizeResult(
        baseline=base,
        front=[k for k, _ in front],
        front_genes=res.front_genes if res is not None else np.zeros((0, n_genes(ev, search))),
        recommended=0,
        schedule=schedule,
        evaluations=res.evaluations if res is not None else 0,
        seconds=res.seconds if res is not None else 0.0,
        history=res.history if res is not None else [],
    )
    used_cp = bool(cp_info["used"])
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "baseline": "as_is",
        **result.savings(),
        "baseline_kpis": base,
        "recommended_kpis": result.kpis,
        "recommended_solver": front[0][1],
        "solver": "cpsat" if res is None else ("nsga2+cpsat" if used_cp else "nsga2"),
        "bound": cp_info.get("bound") if used_cp else None,
        "gap_pct": cp_info.get("gap_pct") if used_cp else None,
        "cpsat": cp_info,
        "front": [
            {
                **k,
                "co2e_saving_pct": (base["co2e_kg"] - k["co2e_kg"]) / base["co2e_kg"] * 100.0,
                "solver": who,
            }
            for k, who in front
        ],
        "constraints": {
            "max_makespan_increase_pct": search.max_makespan_increase * 100.0,
            "due_dates": search.due_dates,
        },
        "evaluations": result.evaluations,
        "seconds": result.seconds + float(cp_info.get("seconds", 0.0)),
        "schedule": schedule.to_dict(ev.machine_ids, orders),
        "overtime_h": {ev.window_label(i): h for i, h in enumerate(schedule.overtime_h) if h > 0},
        "release_delay_h": {
            o: (r - r0) / 3600.0
            for o, r, r0 in zip(orders, schedule.release_s, ev.release0.tolist(), strict=True)
        },
    }
    if replications > 0:
        sc = replace(
            scenario,
            baseline=Candidate("As-is", "as_is"),
            candidates=(Candidate("Optimized", FollowPlan(schedule)),),
            replications=replications,
            attribute=False,
        )
        rep = run_scenario(
            sc, executor=executor, scheduler=scheduler, workers=1, on_done=on_replication
        )
        report["replay"] = rep.to_dict()
    report["_result"] = result
    return report


def _merge_front(
    ev: ScheduleEvaluator,
    points: list[tuple[dict[str, float], str, Any]],
    search: ScheduleSearch,
    base: dict[str, float],
) -> tuple[list[tuple[dict[str, float], str]], Schedule]:
    """The non-dominated points of NSGA-II's front and CP-SAT's schedule, best first in
    the first objective; and the schedule of the best (decoded from its genes)."""
    objectives = [o for o in search.objectives if o in base]
    f = np.array([[k[o] for o in objectives] for k, _, _ in points])
    keep = [
        i
        for i in range(len(points))
        if not np.any(np.all(f <= f[i], axis=1) & np.any(f < f[i], axis=1))
    ]
    keep.sort(key=lambda i: (f[i][0], points[i][1] != "cpsat"))
    best = points[keep[0]]
    schedule = best[2] if isinstance(best[2], Schedule) else decode_genes(ev, best[2], search)
    return [(points[i][0], points[i][1]) for i in keep], schedule
