"""CP-SAT on a small instance: its objective is the evaluator's KPI of its schedule, and it
is no worse than NSGA-II's best."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sim_helpers import MONDAY, one_line_plant, power

from carbontwin.simulation.cpsat_schedule import small_instance, solve_schedule
from carbontwin.simulation.evaluator import ScheduleEvaluator
from carbontwin.simulation.optimizer import ScheduleSearch, decode_genes, optimize_schedules
from carbontwin.simulation.schedule import FollowPlan
from carbontwin.simulation.sim import simulate
from carbontwin.simulation.tariffs import TariffPeriod, TimeOfUseTariff, grid_intensity_fn
from carbontwin.twin.errors import SimulationError
from carbontwin.twin.model import (
    Factory,
    Machine,
    Operation,
    Order,
    Product,
    ServesLink,
    Shift,
    Utility,
)

TARIFF = TimeOfUseTariff(
    0.12, (TariffPeriod(0.30, "07:00", "12:00", (0, 1, 2, 3, 4)),), "EUR", "UTC"
)


def _plant() -> Factory:
    """Three machines (no warm-up: switching off never pays), a compressor, two products;
    p1's first step may run on A or B. Shifts 06:00-22:00 UTC."""
    a = Machine("A", "mill", "L", "cnc", power(4.0, 4.0, 6.0, 20.0))
    b = Machine("B", "lathe", "L", "cnc", power(3.0, 3.0, 5.0, 14.0))
    c = Machine(
        "C", "oven", "L", "oven", power(6.0, 6.0, 6.0, 30.0), setup_matrix_s={("p1", "p2"): 1200.0}
    )
    air = Utility(
        "air", "compressor", "compressed_air", power(0.0, 2.0, 2.0, 8.0), (ServesLink("A", 1.0),)
    )
    p1 = Product(
        "p1",
        "part 1",
        (Operation("o10", "A", 600.0, 60.0, ("B",)), Operation("o20", "C", 300.0, 30.0)),
    )
    p2 = Product(
        "p2", "part 2", (Operation("o10", "B", 300.0, 120.0), Operation("o20", "C", 0.0, 60.0))
    )
    orders = tuple(
        Order(
            f"O{i}",
            "p1" if i % 2 else "p2",
            30.0 + 10 * (i % 3),
            MONDAY + timedelta(hours=6 + 2 * i),
            MONDAY + timedelta(hours=46),
        )
        for i in range(5)
    )
    return one_line_plant(
        (a, b, c), (p1, p2), orders, shifts=(Shift("day", "06:00", "22:00"),), utilities=(air,)
    )


@pytest.fixture(scope="module")
def tiny():
    t0 = MONDAY.timestamp()
    return ScheduleEvaluator(
        _plant(),
        None,
        grid=grid_intensity_fn("DE_2019"),
        tariff=TARIFF,
        start=t0,
        end=t0 + 48 * 3600.0,
    )


@pytest.mark.parametrize("objective", ["co2e_kg", "cost"])
def test_cpsat_objective_is_the_evaluators_kpi_of_its_schedule(tiny, objective):
    assert small_instance(tiny) == (True, "")
    cp = solve_schedule(tiny, objective, time_limit_s=10.0)
    assert cp.status in ("OPTIMAL", "FEASIBLE")
    assert cp.bound <= cp.objective + 1e-6
    kpis = tiny.evaluate(cp.schedule)
    # the model is exact up to its integer scales (signal 1e-5, power 0.01 kW)
    assert kpis[objective] == pytest.approx(cp.objective, rel=1e-6)
    # and the SimPy model replaying the plan agrees (a second computation)
    t0 = MONDAY.timestamp()
    res = simulate(
        tiny.factory,
        None,
        FollowPlan(cp.schedule),
        0,
        grid="DE_2019",
        tariff=TARIFF,
        start=t0,
        end=t0 + 48 * 3600.0,
        processing_cv=0.0,
        breakdowns=False,
    )
    assert res.kpis[objective] == pytest.approx(cp.objective, rel=1e-6)


def test_cpsat_is_no_worse_than_nsga2(tiny):
    asis = tiny.evaluate(tiny.schedule_from_priority(tiny.release0))
    search = ScheduleSearch(
        max_makespan_increase=0.5, population=24, generations=40, seed=3, max_delay_h=12.0
    )
    res = optimize_schedules(tiny, asis, search)
    best = decode_genes(tiny, res.front_genes[0], search)  # the front's lowest CO2e
    cp = solve_schedule(
        tiny,
        "co2e_kg",
        time_limit_s=15.0,
        max_makespan_h=asis["makespan_h"] * 1.5,
        max_total_tardiness_h=asis["total_tardiness_h"],
        hint=best,
    )
    assert cp.status in ("OPTIMAL", "FEASIBLE")
    assert res.front[0]["co2e_kg"] == pytest.approx(tiny.evaluate(best)["co2e_kg"])
    assert cp.objective <= res.front[0]["co2e_kg"] + 1e-6
    assert cp.bound <= cp.objective + 1e-6
    k = tiny.evaluate(cp.schedule)
    assert k["makespan_h"] <= asis["makespan_h"] * 1.5 + 1e-9
    assert k["total_tardiness_h"] <= asis["total_tardiness_h"] + 1e-9


def test_a_large_or_fractional_instance_is_refused():
    f = _plant()
    t0 = MONDAY.timestamp()
    ev = ScheduleEvaluator(
        f, None, grid=grid_intensity_fn("DE_2019"), start=t0 + 30.0, end=t0 + 48 * 3600.0
    )
    ok, why = small_instance(ev)
    assert not ok
    with pytest.raises(SimulationError, match="small instances only"):
        solve_schedule(ev)
    assert np.isfinite(ev.t_stop)


def _scenario():
    from carbontwin.simulation.scenario import Candidate, Scenario

    f = _plant()
    t0 = MONDAY.timestamp()
    return Scenario(
        "tiny",
        f,
        f.orders,
        Candidate("As-is", "as_is"),
        start=t0,
        end=t0 + 48 * 3600.0,
        grid="DE_2019",
        tariff=TARIFF,
    )


def test_optimize_runs_cpsat_on_a_small_instance_and_puts_it_on_the_front():
    from carbontwin.simulation.optimizer import optimize_scenario

    search = ScheduleSearch(population=16, generations=8, max_makespan_increase=0.5)
    seen: list[tuple[float, float]] = []
    rep = optimize_scenario(
        _scenario(),
        search,
        solver="auto",
        cpsat_time_limit_s=8.0,
        on_cpsat=lambda s, v: seen.append((s, v)),
    )
    assert rep["solver"] == "nsga2+cpsat"
    cp = rep["cpsat"]
    assert seen[0] == (0.0, float("inf"))  # progress: started, incumbents, done
    assert seen[-1][1] == pytest.approx(cp["objective"])
    assert [v for _, v in seen] == sorted((v for _, v in seen), reverse=True)
    assert cp["status"] in ("OPTIMAL", "FEASIBLE")
    assert cp["evaluator_value"] == pytest.approx(cp["objective"], rel=1e-6)
    assert rep["bound"] == cp["bound"] <= cp["objective"] + 1e-6
    assert rep["gap_pct"] == pytest.approx((cp["objective"] - cp["bound"]) / cp["objective"] * 100)
    on_front = [p for p in rep["front"] if p["solver"] == "cpsat"]
    assert on_front
    assert on_front[0]["co2e_kg"] == pytest.approx(cp["objective"], rel=1e-6)
    nsga = [p["co2e_kg"] for p in rep["front"] if p["solver"] == "nsga2"]
    assert all(cp["objective"] <= x + 1e-6 for x in nsga)  # hinted with NSGA-II's best
    assert rep["recommended_kpis"]["co2e_kg"] == min(p["co2e_kg"] for p in rep["front"])


def test_solver_cpsat_alone_and_its_refusal_on_a_large_instance():
    from carbontwin.simulation.optimizer import optimize_scenario
    from carbontwin.simulation.scenario import load_scenario
    from carbontwin.twin.examples import example_path

    rep = optimize_scenario(_scenario(), ScheduleSearch(), solver="cpsat", cpsat_time_limit_s=5.0)
    assert rep["solver"] == "cpsat"
    assert [p["solver"] for p in rep["front"]] == ["cpsat"]
    assert rep["evaluations"] == 0
    week = load_scenario(example_path("demo_week.yaml"), replications=1)
    with pytest.raises(SimulationError, match="185 operations"):
        optimize_scenario(week, ScheduleSearch(), solver="cpsat")
