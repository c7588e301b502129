"""Machine choice among a routing step's alternatives: factory file, evaluator, SimPy replay."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import numpy as np
import pytest
from sim_helpers import MONDAY, one_line_plant, power

from carbontwin.simulation.evaluator import ScheduleEvaluator
from carbontwin.simulation.optimizer import ScheduleSearch, decode_genes, n_genes
from carbontwin.simulation.schedule import FollowPlan, Schedule
from carbontwin.simulation.sim import simulate
from carbontwin.simulation.tariffs import grid_intensity_fn
from carbontwin.twin.errors import FactoryModelError, SimulationError
from carbontwin.twin.factory_file import dumps_factory, loads_factory
from carbontwin.twin.model import Factory, Machine, Operation, Order, Product

FILE = textwrap.dedent(
    """\
    id: alt
    name: Two mills
    site: {id: s, country: DE}
    lines: [{id: L}]
    machines:
      - {id: A, line: L, type: cnc, power: {idle: 5 kW, processing: 20 kW}}
      - {id: B, line: L, type: cnc, power: {idle: 2 kW, processing: 10 kW}}
    meters: [{id: M, measures: [A, B]}]
    products:
      - id: p
        routing:
          - {id: op10, machine: A, processing: 60 s, alternatives: [B]}
    """
)


def test_factory_file_reads_and_writes_alternatives():
    f = loads_factory(FILE)
    op = f.product("p").routing[0]
    assert op.machines == ("A", "B")
    again = loads_factory(dumps_factory(f))
    assert again.product("p").routing[0].alternatives == ("B",)


@pytest.mark.parametrize(
    ("alts", "message"),
    [
        ("[C]", "operation 'op10' has an alternative missing machine 'C'"),
        ("[B, B]", "operation 'op10' lists machine 'B' twice"),
        ("[A]", "operation 'op10' lists machine 'A' twice"),
    ],
)
def test_a_bad_alternative_names_file_line_and_field(alts, message):
    text = FILE.replace("alternatives: [B]", f"alternatives: {alts}")
    with pytest.raises(FactoryModelError) as info:
        loads_factory(text, "plant.yaml")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "alternatives:" in t)
    (err,) = info.value.errors
    assert err.startswith(f"plant.yaml:{line}: product 'p': routing[0].alternatives[")
    assert message in err


def _two_mills() -> Factory:
    """Two 1 h orders at 00:00 for one step that A (default) or B may run; no shifts."""
    a = Machine("A", "mill A", "L", "cnc", power(0.0, 5.0, 5.0, 20.0))
    b = Machine("B", "mill B", "L", "cnc", power(0.0, 2.0, 2.0, 10.0))
    p = Product("p", "part", (Operation("op10", "A", 0.0, 60.0, ("B",)),))
    orders = tuple(Order(f"O{i}", "p", 60.0, MONDAY, MONDAY + timedelta(hours=3)) for i in (1, 2))
    return one_line_plant((a, b), (p,), orders)


def test_moving_an_order_to_the_alternative_machine_by_hand():
    # Scenario 00:00-03:00, grid 0.5 kg/kWh.
    # Both on A: A processes 0-2 h (20 kW), idles 2-3 h (5 kW): 45 kWh; B idles 3 h: 6 kWh.
    #   energy 51 kWh, makespan 2 h.
    # O2 on B: A 1 h at 20 + 2 h at 5 = 30 kWh; B 1 h at 10 + 2 h at 2 = 14 kWh.
    #   energy 44 kWh, makespan 1 h.
    f = _two_mills()
    grid = grid_intensity_fn("0.5 kg/kWh")
    t0 = MONDAY.timestamp()
    ev = ScheduleEvaluator(f, None, grid=grid, start=t0, end=t0 + 3 * 3600.0)
    assert ev.choice_ops.tolist() == [0, 1]
    both_a = ev.schedule_from_priority([0.0, 1.0])
    split = ev.schedule_from_priority([0.0, 1.0], machines=[0, 1])
    assert split.sequence == (((0, 0),), ((1, 0),))
    expected = {id(both_a): (51.0, 2.0), id(split): (44.0, 1.0)}
    for sched in (both_a, split):
        energy, makespan = expected[id(sched)]
        fast = ev.evaluate(sched)
        res = simulate(
            f,
            None,
            FollowPlan(sched),
            0,
            grid=grid,
            start=t0,
            end=t0 + 3 * 3600.0,
            processing_cv=0.0,
            breakdowns=False,
        )
        for k in (fast, res.kpis):
            assert k["energy_kwh"] == pytest.approx(energy)
            assert k["co2e_kg"] == pytest.approx(0.5 * energy)
            assert k["makespan_h"] == pytest.approx(makespan)
        # the replay's order steps ran where the schedule said
        steps = res.events
        on = {str(o): str(a) for o, a in zip(steps.step_order, steps.step_asset, strict=True)}
        assert on == ({"O1": "A", "O2": "A"} if sched is both_a else {"O1": "A", "O2": "B"})


def test_genes_choose_the_machine():
    f = _two_mills()
    t0 = MONDAY.timestamp()
    ev = ScheduleEvaluator(
        f, None, grid=grid_intensity_fn("0.5 kg/kWh"), start=t0, end=t0 + 3 * 3600.0
    )
    search = ScheduleSearch()
    x = np.zeros(n_genes(ev))
    assert len(x) == 2 * 2 + 2 + 1 + 2
    x[1] = 0.5  # job 1 after job 0
    x[-1] = 0.9  # job 1's step on its alternative (B)
    sched = decode_genes(ev, x, search)
    assert sched.sequence == (((0, 0),), ((1, 0),))


def test_a_schedule_on_a_machine_the_routing_does_not_list_is_refused():
    f = _two_mills()
    f2 = Factory(
        f.id,
        f.name,
        f.site,
        lines=f.lines,
        machines=f.machines,
        meters=f.meters,
        products=(Product("p", "part", (Operation("op10", "A", 0.0, 60.0),)),),
        orders=f.orders,
    )
    ev = ScheduleEvaluator(f2, None, grid=grid_intensity_fn("0.5 kg/kWh"))
    bad = Schedule((((0, 0),), ((1, 0),)), ((0,), (0,)), (0.0, 0.0), ((False,) * 2,) * 2)
    with pytest.raises(SimulationError, match="routing step does not list"):
        ev.evaluate(bad)
    with pytest.raises(SimulationError, match="routing does not list"):
        simulate(f2, None, FollowPlan(bad), 0, processing_cv=0.0, breakdowns=False)
