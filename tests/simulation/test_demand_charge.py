"""Peak-demand charge: worked by hand on one machine, and the same in evaluator and SimPy."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sim_helpers import MONDAY, one_line_plant, power

from carbontwin.simulation.evaluator import DEMAND_KPIS, KPI_NAMES, ScheduleEvaluator
from carbontwin.simulation.schedule import FollowPlan
from carbontwin.simulation.sim import simulate
from carbontwin.simulation.tariffs import TimeOfUseTariff, grid_intensity_fn
from carbontwin.twin.errors import SimulationError
from carbontwin.twin.model import (
    Factory,
    Machine,
    Operation,
    Order,
    Product,
)


def _one_machine() -> Factory:
    """Machine A idles at 5 kW and processes at 20 kW; one order of 30 min from 00:10."""
    a = Machine("A", "mill", "L", "cnc", power(0.0, 5.0, 5.0, 20.0))
    p = Product("p", "part", (Operation("o10", "A", 0.0, 60.0),))
    order = Order("O1", "p", 30.0, MONDAY + timedelta(minutes=10), MONDAY + timedelta(hours=1))
    return one_line_plant((a,), (p,), (order,))


# By hand, 00:00-01:00: IDLE 0:00-0:10, PROCESSING 0:10-0:40, IDLE 0:40-1:00.
# 15-min intervals: [0,15) 10 min x 5 kW + 5 min x 20 kW = 2.5 kWh -> 10 kW;
# [15,30) 5 kWh -> 20 kW; [30,45) 10 min x 20 + 5 min x 5 = 3.75 kWh -> 15 kW;
# [45,60) 1.25 kWh -> 5 kW. Peak 20 kW; over 60-min intervals 12.5 kWh -> 12.5 kW.
# Energy 12.5 kWh at 0.10 EUR/kWh = 1.25 EUR.
@pytest.mark.parametrize(("interval_s", "peak_kw"), [(900.0, 20.0), (1800.0, 15.0), (3600.0, 12.5)])
def test_demand_charge_by_hand(interval_s, peak_kw):
    # 30-min intervals: [0,30) 0.8333 + 6.6667 = 7.5 kWh -> 15 kW; [30,60) 3.3333+1.6667 = 5 -> 10
    f = _one_machine()
    tariff = TimeOfUseTariff(
        0.10, timezone="UTC", demand_charge_per_kw=3.0, demand_interval_s=interval_s
    )
    grid = grid_intensity_fn("0.4 kg/kWh")
    window = {"start": MONDAY.timestamp(), "end": MONDAY.timestamp() + 3600.0}
    ev = ScheduleEvaluator(f, None, grid=grid, tariff=tariff, **window)
    sched = ev.schedule_from_priority([0.0])
    fast = ev.evaluate(sched)
    res = simulate(
        f,
        None,
        FollowPlan(sched),
        0,
        grid=grid,
        tariff=tariff,
        processing_cv=0.0,
        breakdowns=False,
        **window,
    )
    for kp in (fast, res.kpis):
        assert kp["energy_kwh"] == pytest.approx(12.5)
        assert kp["peak_demand_kw"] == pytest.approx(peak_kw)
        assert kp["demand_charge"] == pytest.approx(3.0 * peak_kw)
        assert kp["energy_cost"] == pytest.approx(1.25)
        assert kp["cost"] == pytest.approx(1.25 + 3.0 * peak_kw)
    # a third method: the meter's own power samples, held, per 15 min
    if interval_s == 900.0:
        ev_ = res.events
        order = np.argsort(ev_.power_t, kind="stable")
        t = np.asarray(ev_.power_t, dtype=float)[order]
        kw = np.asarray(ev_.power_kw, dtype=float)[order]
        edges = MONDAY.timestamp() + 900.0 * np.arange(5)
        grid_t = np.arange(edges[0], edges[-1], 1.0)
        held = kw[np.searchsorted(t, grid_t, side="right") - 1]
        per_q = held.reshape(4, 900).mean(axis=1)
        assert per_q.max() == pytest.approx(peak_kw)


def test_no_demand_charge_keeps_cost_the_energy_cost():
    f = _one_machine()
    tariff = TimeOfUseTariff(0.10, timezone="UTC")
    ev = ScheduleEvaluator(
        f,
        None,
        grid=grid_intensity_fn("0.4 kg/kWh"),
        tariff=tariff,
        start=MONDAY.timestamp(),
        end=MONDAY.timestamp() + 3600.0,
    )
    k = ev.evaluate(ev.schedule_from_priority([0.0]))
    assert set(k) == set(KPI_NAMES)
    assert not set(DEMAND_KPIS) & set(k)
    assert k["cost"] == pytest.approx(1.25)


@pytest.mark.parametrize("interval_s", [0.0, 7.0 * 60, 7200.0, 900.5])
def test_demand_interval_must_divide_an_hour(interval_s):
    with pytest.raises(SimulationError, match="divide an hour"):
        TimeOfUseTariff(0.1, demand_charge_per_kw=1.0, demand_interval_s=interval_s)
