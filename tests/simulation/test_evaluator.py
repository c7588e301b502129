"""The fast evaluator agrees with the SimPy model and the attribution engine on every KPI.

Random schedules (job order, machine choices among alternatives, batches,
release delays, keep-off flags, overtime after working days) are
scored by :class:`ScheduleEvaluator` and replayed in the SimPy model with
:class:`FollowPlan` (nominal times, no breakdowns); the simulated events then
go through the unchanged attribution engine. Three independent computations
of one schedule: they must agree to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import small_factory

from carbontwin.simulation.evaluator import DEMAND_KPIS, KPI_NAMES, ScheduleEvaluator
from carbontwin.simulation.scenario import load_scenario
from carbontwin.simulation.schedule import FollowPlan, Schedule
from carbontwin.simulation.sim import simulate
from carbontwin.simulation.tariffs import TariffPeriod, TimeOfUseTariff, grid_intensity_fn
from carbontwin.twin.errors import SimulationError
from carbontwin.twin.examples import example_path

RTOL = 1e-9


@pytest.fixture(scope="module")
def demo():
    sc = load_scenario(example_path("demo_week.yaml"), replications=1)
    ev = ScheduleEvaluator(
        sc.factory,
        sc.orders,
        grid=grid_intensity_fn(sc.grid),
        start=sc.start,
        end=sc.end,
        tariff=sc.tariff,
    )
    return sc, ev


def _random_schedule(ev: ScheduleEvaluator, rng: np.random.Generator) -> Schedule:
    n = len(ev.jobs)
    # a random order, releases held back by 0-12 h (not on the half hour: no ties)
    delays = rng.integers(0, 25, n) * 1800.0 + rng.random(n) * 60.0
    delays[rng.random(n) < 0.5] = 0.0
    base = ev.schedule_from_priority(rng.random(n), batch_window_s=rng.choice([0.0, 8 * 3600.0]))
    keep = [list(rng.random(len(s) + 1) < 0.3) for s in base.sequence]
    # the routing's machine or one of its alternatives, at random
    machines = ev.machines_from_genes(rng.random(len(ev.choice_ops)))
    base = ev.schedule_from_priority(np.arange(n), machines=machines)
    keep = [list(rng.random(len(s) + 1) < 0.3) for s in base.sequence]
    return ev.schedule_from_priority(
        rng.random(n) if rng.random() < 0.5 else np.arange(n),
        ev.release0 + delays,
        keep,
        batch_window_s=rng.choice([0.0, 8 * 3600.0, 48 * 3600.0]),
        machines=machines,
        # overtime after some working days (0-4 h)
        overtime_h=tuple(rng.choice([0.0, 0.0, 1.0, 4.0], ev.n_overtime_windows).tolist()),
    )


def _on_alternatives(ev: ScheduleEvaluator, sched: Schedule) -> int:
    return sum(m != ev.job_mach[j, k] for m, seq in enumerate(sched.sequence) for j, k in seq)


def _replay(sc, sched, **kw):
    return simulate(
        sc.factory,
        sc.orders,
        FollowPlan(sched),
        0,
        start=sc.start,
        end=sc.end,
        grid=sc.grid,
        tariff=sc.tariff,
        processing_cv=0.0,
        breakdowns=False,
        **kw,
    )


@pytest.mark.parametrize("seed", range(6))
def test_evaluator_agrees_with_simpy_and_attribution_on_random_schedules(demo, seed):
    sc, ev = demo
    sched = _random_schedule(ev, np.random.default_rng(seed))
    assert _on_alternatives(ev, sched) > 0  # the demo's routings list alternative machines
    fast = ev.evaluate(sched)
    res = _replay(sc, sched, sample_period_s=600.0)
    assert set(fast) == set(KPI_NAMES) | set(DEMAND_KPIS)  # the demo week has a demand charge
    for k in fast:
        assert fast[k] == pytest.approx(res.kpis[k], rel=RTOL, abs=1e-9), k
    att = res.attribute(sc.factory)
    assert fast["energy_kwh"] == pytest.approx(att.total_kwh, rel=RTOL)
    energy_co2e = float(att.pieces["co2e_kg"].sum())  # scopes 1 and 2, location-based
    assert fast["co2e_kg"] == pytest.approx(energy_co2e, rel=RTOL)


def test_evaluator_agrees_on_a_small_plant_with_a_shared_compressor_and_gas():
    f = small_factory(mtbf_s=None)
    tariff = TimeOfUseTariff(
        0.1, (TariffPeriod(0.3, "08:00", "18:00", (0, 1, 2, 3, 4)),), timezone="UTC"
    )
    ev = ScheduleEvaluator(f, None, grid=grid_intensity_fn("DE_2019"), tariff=tariff)
    rng = np.random.default_rng(11)
    for _ in range(4):
        n = len(ev.jobs)
        keep = [
            list(rng.random(len(s) + 1) < 0.5)
            for s in ev.schedule_from_priority(np.arange(n)).sequence
        ]
        sched = ev.schedule_from_priority(
            rng.random(n), ev.release0 + rng.random(n) * 7200.0, keep, batch_window_s=6 * 3600.0
        )
        fast = ev.evaluate(sched)
        res = simulate(
            f,
            None,
            FollowPlan(sched),
            0,
            grid="DE_2019",
            tariff=tariff,
            processing_cv=0.0,
            breakdowns=False,
        )
        for k in KPI_NAMES:
            assert fast[k] == pytest.approx(res.kpis[k], rel=RTOL, abs=1e-9), k


def test_as_is_order_scores_like_the_as_is_baseline(demo):
    """The plan order, releases as planned, nothing kept off: the shop runs FIFO as-is."""
    sc, ev = demo
    fast = ev.evaluate(ev.schedule_from_priority(ev.release0))
    res = simulate(
        sc.factory,
        sc.orders,
        "as_is",
        0,
        start=sc.start,
        end=sc.end,
        grid=sc.grid,
        tariff=sc.tariff,
        processing_cv=0.0,
        breakdowns=False,
    )
    # FIFO and the release order differ only where a job overtakes another in
    # a queue; both run the same work under the same shift practice
    assert fast["energy_kwh"] == pytest.approx(res.kpis["energy_kwh"], rel=0.02)


def test_crossed_sequences_are_a_deadlock_error():
    """p1 runs A then B, p2 runs B then A: A waiting for p2 and B waiting for p1 never ends."""
    ev = ScheduleEvaluator(small_factory(mtbf_s=None), None, grid=grid_intensity_fn("DE_2019"))
    s = ev.schedule_from_priority(np.arange(len(ev.jobs)))
    x = next(i for i, j in enumerate(ev.jobs) if j.product == "p1")
    y = next(i for i, j in enumerate(ev.jobs) if j.product == "p2")
    a, b = ev.machine_ids.index("A"), ev.machine_ids.index("B")
    seq = [list(q) for q in s.sequence]
    for m, first in ((a, (y, 1)), (b, (x, 1))):
        seq[m].remove(first)
        seq[m].insert(0, first)
    dead = Schedule(
        tuple(tuple(q) for q in seq),
        tuple(tuple(range(len(q))) for q in seq),
        s.release_s,
        s.keep_off,
    )
    with pytest.raises(SimulationError, match="deadlock"):
        ev.evaluate(dead)
    assert ev.evaluate(s)["makespan_h"] > 0  # the uncrossed one scores
