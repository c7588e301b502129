"""The SimPy factory: determinism, exact energy, shifts, warm-up, breakdowns, buffers, batches."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sim_helpers import MONDAY, power, small_factory

from carbontwin.simulation import simulate
from carbontwin.simulation.plan import Calendar
from carbontwin.twin.errors import SimulationError
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.model import Factory, Line, Machine, Meter, Operation, Order, Product, Site


def test_same_seed_same_event_stream_event_by_event():
    f = demo_factory()
    a = list(simulate(f, None, ["fifo", "idle_shutdown"], seed=11).events.events())
    b = list(simulate(f, None, ["fifo", "idle_shutdown"], seed=11).events.events())
    assert len(a) == len(b) > 1000
    for x, y in zip(a, b, strict=True):
        assert x == y
    c = list(simulate(f, None, ["fifo", "idle_shutdown"], seed=12).events.events())
    assert a != c


def test_events_are_valid_twin_events(small):
    res = simulate(small, None, ["fifo", "idle_shutdown"], seed=3)
    ev = res.events
    ev.validate(
        assets=small.asset_ids,
        meters=[m.id for m in small.meters],
        orders=[o.id for o in small.orders],
    )
    assert set(ev.power_meter) == {"M-AB", "M-air"}  # declared power meters
    assert set(ev.counter_meter) == {"M-C"}  # the counter meter
    assert set(ev.step_kind) == {"setup", "processing"}
    assert set(ev.material_order) <= {o.id for o in small.orders}
    # every order is processed on every step of its routing
    for o in small.orders:
        ops = {
            op
            for oo, op, k in zip(ev.step_order, ev.step_operation, ev.step_kind, strict=True)
            if oo == o.id and k == "processing"
        }
        assert ops == {op.id for op in small.product(o.product).routing}


def _one_machine(**pm) -> Factory:
    m = Machine("X", "x", "L", "cnc", power(0.0, 5.0, 7.0, 20.0, **pm))
    prod = Product("p", "p", (Operation("op", "X", 600.0, 36.0),))
    order = Order("O1", "p", 100.0, MONDAY, MONDAY + timedelta(hours=10))
    return Factory(
        "one",
        "one",
        Site("S", "s", "DE"),
        lines=(Line("L", "l", "S"),),
        machines=(m,),
        meters=(Meter("MX", "mx", ("X",)),),
        products=(prod,),
        orders=(order,),
    )


def test_energy_is_the_exact_integral_of_the_power_states():
    f = _one_machine()
    res = simulate(f, None, "fifo", seed=0, processing_cv=0.0)
    # setup 600 s at 7 kW, processing 3,600 s at 20 kW, idle the rest of the 10 h at 5 kW
    expected = (7.0 * 600 + 20.0 * 3600 + 5.0 * (36000 - 4200)) / 3600.0
    assert res.energy_kwh_by_machine["X"] == pytest.approx(expected, rel=1e-12)
    assert res.kpis["energy_kwh"] == pytest.approx(expected, rel=1e-12)
    assert res.kpis["makespan_h"] == pytest.approx(4200 / 3600)
    assert res.kpis["total_tardiness_h"] == 0.0
    # the step-hold integral of the meter's power samples is the same number
    t, p = res.events.power_t, res.events.power_kw
    assert float(np.sum(p[:-1] * np.diff(t)) / 3600.0) == pytest.approx(expected, rel=1e-12)


def test_warm_up_is_reported_as_setup_at_warmup_power():
    f = _one_machine(warmup_s=1200.0, warmup_energy_kwh=4.0)
    from carbontwin.twin.model import State

    res = simulate(f, None, "fifo", seed=0, processing_cv=0.0, initial_state=State.OFF)
    states = list(res.events.state)
    # released at the start: OFF lasts 0 s; warm-up and the order's setup are both SETUP
    assert states[:3] == ["SETUP", "PROCESSING", "IDLE"]
    tr = res.traces["X"]
    assert tr.power_kw[0] == pytest.approx(4.0 * 3600 / 1200)  # 12 kW for 20 min
    assert tr.t[1] - tr.t[0] == pytest.approx(1200.0)
    expected = 4.0 + 7.0 * 600 / 3600 + 20.0 + 5.0 * (36000 - 1200 - 4200) / 3600
    assert res.energy_kwh_by_machine["X"] == pytest.approx(expected, rel=1e-12)


def test_operations_start_only_inside_shifts():
    f = demo_factory()
    res = simulate(f, None, "fifo", seed=2)
    cal = Calendar.build(f.shifts, f.site.timezone, res.t0, res.t_end - res.t0)
    starts = res.events.step_start - res.t0
    setup = res.events.step_kind == "setup"
    # a setup, or a processing step not right after its setup, starts inside a shift
    assert cal.open_mask(starts[setup]).all()
    assert not cal.always_open
    # early + late shift merge into one window per weekday, 06:00-22:00 Berlin time
    assert len(cal.starts) == 5
    assert np.allclose(cal.ends - cal.starts, 16 * 3600.0)


def test_breakdowns_split_processing_and_show_fault_states():
    f = small_factory(mtbf_s=3600.0)
    res = simulate(f, None, "fifo", seed=4)
    b_states = res.events.state[res.events.state_asset == "B"]
    assert "FAULT" in set(b_states)
    none = simulate(small_factory(mtbf_s=3600.0), None, "fifo", seed=4, breakdowns=False)
    assert "FAULT" not in set(none.events.state)


def test_finite_buffers_hold_jobs_upstream(small):
    from carbontwin.simulation import model as model_mod

    seen: list[int] = []
    orig = model_mod.SimRun.run

    def spy(self, until=0.0):
        out = orig(self, until)
        seen.extend(m.max_queue for m in self.machines)
        return out

    model_mod.SimRun.run = spy
    try:
        simulate(small, None, "fifo", seed=1, buffers={"default": 1})
        capped = list(seen)
        seen.clear()
        simulate(small, None, "fifo", seed=1)
    finally:
        model_mod.SimRun.run = orig
    assert max(capped) <= 1
    assert max(seen) > 1  # without the cap queues do build up


def test_batch_machine_runs_orders_together():
    base = _one_machine()
    furnace = Machine("X", "furnace", "L", "furnace", base.machines[0].power, capacity=2)
    orders = tuple(
        Order(f"O{i}", "p", 10.0 + i, MONDAY, MONDAY + timedelta(hours=10)) for i in range(3)
    )
    f = Factory(
        "b",
        "b",
        base.site,
        lines=base.lines,
        machines=(furnace,),
        meters=base.meters,
        products=base.products,
        orders=orders,
    )
    res = simulate(f, None, "fifo", seed=0, processing_cv=0.0)
    ev = res.events
    proc = ev.step_kind == "processing"
    starts, ends = ev.step_start[proc], ev.step_end[proc]
    # O0 and O1 run together for the longer of their times, O2 after them
    assert starts[0] == starts[1] < starts[2]
    assert ends[0] == ends[1] == starts[0] + 11 * 36.0
    assert list(ev.step_order[proc]) == ["O0", "O1", "O2"]


def test_unknown_product_is_a_simulation_error(small):
    bad = Order("Z", "nope", 1.0, MONDAY, MONDAY + timedelta(hours=1))
    with pytest.raises(SimulationError, match="unknown product 'nope'"):
        simulate(small, [bad], "fifo", seed=0)


def test_no_shifts_means_around_the_clock():
    f = small_factory(shifts=False)
    res = simulate(f, None, "fifo", seed=1)
    assert res.kpis["makespan_h"] > 0
    assert res.kpis["late_orders"] >= 0
