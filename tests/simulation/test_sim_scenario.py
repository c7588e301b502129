"""Scenarios: the demo week file, paired replications, confidence intervals, executors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from carbontwin.simulation.scenario import KpiStat, load_scenario, run_scenario
from carbontwin.twin.errors import SimulationError
from carbontwin.twin.examples import example_path


@pytest.fixture(scope="module")
def demo_week():
    return load_scenario(example_path("demo_week.yaml"), replications=3)


@pytest.fixture(scope="module")
def report(demo_week):
    return run_scenario(demo_week, workers=1)


def test_demo_week_file_resolves(demo_week):
    assert demo_week.factory.id == "demo-plant"
    assert len(demo_week.orders) == len(demo_week.factory.orders)
    assert [c.name for c in demo_week.policies] == [
        "As-is",
        "FIFO, always on",
        "Idle shutdown",
        "Carbon-aware release",
    ]
    assert demo_week.tariff is not None
    assert demo_week.tariff.currency == "EUR"
    assert demo_week.end - demo_week.start == 7 * 86400.0


def test_ci_is_students_t_and_differences_are_paired_by_seed(report):
    base = report.values["As-is"]["energy_kwh"]
    cand = report.values["Idle shutdown"]["energy_kwh"]
    assert len(base) == 3
    s = report.stats["As-is"]["energy_kwh"]
    hw = stats.t.ppf(0.975, 2) * np.std(base, ddof=1) / math.sqrt(3)
    assert s.mean == pytest.approx(base.mean())
    assert s.half_width == pytest.approx(hw)
    d = report.diffs["Idle shutdown"]["energy_kwh"]
    assert d.mean == pytest.approx((cand - base).mean())
    assert d.half_width == pytest.approx(
        stats.t.ppf(0.975, 2) * np.std(cand - base, ddof=1) / math.sqrt(3)
    )


def test_idle_shutdown_saves_energy_cost_and_co2e_with_confidence(report):
    for kpi in ("energy_kwh", "cost", "co2e_kg", "attributed_co2e_kg"):
        d = report.diffs["Idle shutdown"][kpi]
        assert d.high < 0, kpi  # the whole 95 % interval is a saving
    # against as-is (machines already off outside shifts) only idle time inside shifts is left
    assert report.relative["Idle shutdown"]["energy_kwh"] < -0.1
    # the named extreme, always on, draws more than as-is
    assert report.diffs["FIFO, always on"]["energy_kwh"].low > 0


def test_carbon_aware_release_lowers_location_based_co2e(report):
    d = report.diffs["Carbon-aware release"]["co2e_kg"]
    assert d.mean < 0
    # it only moves work in time: same work, so energy changes little
    assert abs(report.relative["Carbon-aware release"]["energy_kwh"]) < 0.02


def test_report_is_json(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["replications"] == 3
    assert data["seeds"] == [[20190304, 0], [20190304, 1], [20190304, 2]]
    assert set(data["differences"]) == {"FIFO, always on", "Idle shutdown", "Carbon-aware release"}
    # always on never switches off: -100 % of the as-is switch-offs
    assert data["differences"]["FIFO, always on"]["switch_offs"]["relative"] == -1.0


def test_kpistat_of_one_value_has_no_interval():
    s = KpiStat.of([4.0])
    assert s.mean == 4.0
    assert math.isnan(s.half_width)


def test_a_wrong_field_is_named(tmp_path: Path):
    bad = tmp_path / "s.yaml"
    bad.write_text("factory: demo\nbaseline: {name: x, policy: fifo}\nreplications: 0\n")
    with pytest.raises(SimulationError, match="replications"):
        load_scenario(bad)


@pytest.mark.slow
def test_local_process_pool_gives_the_same_numbers(demo_week, report):
    pooled = run_scenario(demo_week, workers=2)
    for n in report.names:
        for k in report.kpis:
            assert np.array_equal(pooled.values[n][k], report.values[n][k]), (n, k)


def test_factory_and_plan_paths_are_relative_to_the_scenario_file(tmp_path: Path):
    from carbontwin.twin.examples import demo_factory_path

    (tmp_path / "plant.yaml").write_text(
        demo_factory_path().read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "plan.csv").write_text(
        "id,product,quantity,release,due\n"
        "X1,bracket,100,2019-03-04T05:00:00Z,2019-03-05T05:00:00Z\n"
        "X2,shaft,20,2019-03-04T06:00:00Z,2019-03-06T06:00:00Z\n",
        encoding="utf-8",
    )
    (tmp_path / "s.yaml").write_text(
        "name: two orders\nfactory: plant.yaml\nplan: plan.csv\nreplications: 2\n"
        "baseline: {name: EDD, policy: edd}\n"
        "candidates: [{name: Batching, policy: {name: batching, params: {max_wait_h: 2}}}]\n",
        encoding="utf-8",
    )
    sc = load_scenario(tmp_path / "s.yaml")
    assert [o.id for o in sc.orders] == ["X1", "X2"]
    rep = run_scenario(sc, workers=1)
    assert rep.names == ("EDD", "Batching")
    assert "cost" not in rep.kpis  # no tariff, no cost
    assert rep.stats["EDD"]["late_orders"].mean == 0.0
