"""Overtime after a working day's last shift: calendar, evaluator and SimPy, worked by hand."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sim_helpers import MONDAY, one_line_plant, power

from carbontwin.simulation.evaluator import OVERTIME_KPIS, ScheduleEvaluator
from carbontwin.simulation.optimizer import ScheduleSearch, decode_genes, n_genes
from carbontwin.simulation.plan import Calendar
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
    Shift,
)

H = 3600.0


def test_calendar_with_overtime_extends_and_merges():
    cal = Calendar(np.array([0.0, 24 * H]), np.array([10 * H, 34 * H]), False)
    longer = cal.with_overtime([2.0, 0.0])
    assert longer.starts.tolist() == [0.0, 24 * H]
    assert longer.ends.tolist() == [12 * H, 34 * H]
    merged = cal.with_overtime([14.0])
    assert merged.starts.tolist() == [0.0]
    assert merged.ends.tolist() == [34 * H]
    assert cal.with_overtime([0.0, 0.0]) is cal


def _plant() -> Factory:
    """One machine (idle 5 kW, processing 20 kW, off 0, no warm-up), shift 08:00-16:00 UTC;
    O1 8.5 h and O2 3 h of work, both released Monday 08:00."""
    a = Machine("A", "mill", "L", "cnc", power(0.0, 5.0, 5.0, 20.0))
    p = Product("p", "part", (Operation("o10", "A", 0.0, 60.0),))
    orders = (
        Order("O1", "p", 510.0, MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=40)),
        Order("O2", "p", 180.0, MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=40)),
    )
    return one_line_plant((a,), (p,), orders, shifts=(Shift("day", "08:00", "16:00"),))


# Scenario Monday 00:00 to Wednesday 00:00 (48 h); working windows Monday and Tuesday.
# Without overtime: O1 processes 08:00-16:30 (170 kWh); O2 cannot start after 16:00 and
#   runs Tuesday 08:00-11:00 (60 kWh), then A idles to 16:00 (25 kWh): 255 kWh, done at 35 h.
# One hour of overtime on Monday (open until 17:00): O2 runs 16:30-19:30 (60 kWh), A is
#   off overnight and idles all Tuesday shift (40 kWh): 270 kWh, done at 19.5 h.
# Grid 0.5 kg/kWh; tariff 0.10 EUR/kWh; overtime 50 EUR/h.
@pytest.mark.parametrize(
    ("overtime", "energy", "makespan", "ot_cost"),
    [((), 255.0, 35.0, 0.0), ((1.0, 0.0), 270.0, 19.5, 50.0)],
)
def test_overtime_by_hand(overtime, energy, makespan, ot_cost):
    f = _plant()
    t0 = MONDAY.timestamp()
    grid = grid_intensity_fn("0.5 kg/kWh")
    tariff = TimeOfUseTariff(0.10, timezone="UTC")
    ev = ScheduleEvaluator(
        f, None, grid=grid, tariff=tariff, start=t0, end=t0 + 48 * H, overtime_rate_per_h=50.0
    )
    assert ev.n_overtime_windows == 2
    sched = ev.schedule_from_priority([0.0, 1.0], overtime_h=overtime)
    fast = ev.evaluate(sched)
    res = simulate(
        f,
        None,
        FollowPlan(sched),
        0,
        grid=grid,
        tariff=tariff,
        start=t0,
        end=t0 + 48 * H,
        processing_cv=0.0,
        breakdowns=False,
        overtime_rate_per_h=50.0,
    )
    for k in (fast, res.kpis):
        assert set(OVERTIME_KPIS) <= set(k)
        assert k["energy_kwh"] == pytest.approx(energy)
        assert k["co2e_kg"] == pytest.approx(0.5 * energy)
        assert k["makespan_h"] == pytest.approx(makespan)
        assert k["overtime_h"] == pytest.approx(sum(overtime))
        assert k["overtime_cost"] == pytest.approx(ot_cost)
        assert k["cost"] == pytest.approx(0.10 * energy + ot_cost)
    assert fast["utilization"] == pytest.approx(res.kpis["utilization"])


def test_overtime_genes_and_limits():
    f = _plant()
    t0 = MONDAY.timestamp()
    ev = ScheduleEvaluator(
        f,
        None,
        grid=grid_intensity_fn("0.5 kg/kWh"),
        start=t0,
        end=t0 + 48 * H,
        overtime_rate_per_h=50.0,
    )
    search = ScheduleSearch(overtime_max_h=4.0, overtime_step_h=2.0)
    assert n_genes(ev, search) == n_genes(ev) + 2
    x = np.zeros(n_genes(ev, search))
    x[-2:] = [0.99, 0.4]  # steps 0, 2, 4 h: top third -> 4 h, middle -> 2 h
    assert decode_genes(ev, x, search).overtime_h == (4.0, 2.0)
    with pytest.raises(SimulationError, match="overtime for 3 working windows"):
        ev.evaluate(ev.schedule_from_priority([0.0, 1.0], overtime_h=(1.0, 1.0, 1.0)))
