"""The schedule optimizer: a small NSGA-II run on the demo week (seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.simulation.optimizer import (
    OBJECTIVES,
    ScheduleSearch,
    as_is_kpis,
    decode_genes,
    optimize_scenario,
    scenario_evaluator,
)
from carbontwin.simulation.scenario import load_scenario
from carbontwin.simulation.schedule import FollowPlan
from carbontwin.simulation.sim import simulate
from carbontwin.twin.examples import example_path

SMALL = ScheduleSearch(population=16, generations=4, seed=3, due_dates="hard")


@pytest.fixture(scope="module")
def demo():
    return load_scenario(example_path("demo_week.yaml"), replications=1)


@pytest.fixture(scope="module")
def report(demo):
    return optimize_scenario(demo, SMALL, replications=0)


def test_front_is_feasible_non_dominated_and_measured_against_as_is(demo, report):
    base = report["baseline_kpis"]
    assert report["baseline"] == "as_is"
    assert base == pytest.approx(as_is_kpis(demo))
    front = report["front"]
    assert front
    limit = base["makespan_h"] * 1.05
    f = np.array([[k[o] for o in OBJECTIVES] for k in front])
    for i, k in enumerate(front):
        assert k["makespan_h"] <= limit + 1e-9
        assert k["total_tardiness_h"] <= base["total_tardiness_h"] + 1e-9
        others = np.delete(f, i, axis=0)
        assert not np.any(np.all(others <= f[i], axis=1) & np.any(others < f[i], axis=1))
    # the recommended schedule is the front's lowest CO2e, and saves against as-is
    pick = report["recommended_kpis"]
    assert pick["co2e_kg"] == min(k["co2e_kg"] for k in front)
    assert report["co2e_saving_pct"] == pytest.approx(
        (base["co2e_kg"] - pick["co2e_kg"]) / base["co2e_kg"] * 100.0
    )
    assert report["co2e_saving_pct"] > 0


def test_recommended_schedule_replays_to_the_same_kpis_in_simpy(demo, report):
    res = report["_result"]
    sim = simulate(
        demo.factory,
        demo.orders,
        FollowPlan(res.schedule),
        0,
        start=demo.start,
        end=demo.end,
        grid=demo.grid,
        tariff=demo.tariff,
        processing_cv=0.0,
        breakdowns=False,
        sample_period_s=None,
    )
    for k in ("co2e_kg", "energy_kwh", "cost", "makespan_h", "total_tardiness_h"):
        assert sim.kpis[k] == pytest.approx(report["recommended_kpis"][k], rel=1e-9), k
    # and the genes of the pick decode to that schedule
    ev = scenario_evaluator(demo)
    again = decode_genes(ev, res.front_genes[res.recommended], SMALL)
    assert ev.evaluate(again) == pytest.approx(report["recommended_kpis"])


def test_optimize_command_prints_the_savings_json_and_writes_the_plot(tmp_path):
    png = tmp_path / "front.png"
    result = CliRunner().invoke(
        app,
        [
            "optimize",
            str(example_path("demo_week.yaml")),
            "--json",
            "--generations",
            "3",
            "--population",
            "16",
            "-n",
            "2",
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
        "baseline",
        "co2e_saving_pct",
        "energy_saving_pct",
        "cost_saving_pct",
        "makespan_change_pct",
        "tardiness_change_h",
        "front",
    ):
        assert key in data, key
    assert data["baseline"] == "as_is"
    base, pick = data["baseline_kpis"], data["recommended_kpis"]
    assert data["energy_saving_pct"] == pytest.approx(
        (base["energy_kwh"] - pick["energy_kwh"]) / base["energy_kwh"] * 100.0
    )
    assert data["makespan_change_pct"] == pytest.approx(
        (pick["makespan_h"] - base["makespan_h"]) / base["makespan_h"] * 100.0
    )
    # the replay with random times and breakdowns: as-is and the pick, paired by seed
    assert data["replay"]["replications"] == 2
    assert set(data["replay"]["results"]) == {"As-is", "Optimized"}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_optimize_rejects_an_unknown_due_date_rule():
    result = CliRunner().invoke(
        app, ["optimize", str(example_path("demo_week.yaml")), "--due-dates", "soft"]
    )
    assert result.exit_code == 2
    assert "due_dates" in result.output


@pytest.mark.dask
def test_populations_on_dask_score_as_they_do_here(demo):
    """The same seeded search on a LocalCluster finds the same front as in this process."""
    distributed = pytest.importorskip("distributed")
    search = ScheduleSearch(population=12, generations=2, seed=5, due_dates="hard")
    here = optimize_scenario(demo, search, replications=0)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        there = optimize_scenario(
            demo, search, executor="dask", scheduler=cluster.scheduler_address, replications=0
        )
    assert there["front"] == here["front"]
    assert there["evaluations"] == here["evaluations"]
