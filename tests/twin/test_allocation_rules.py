"""The ``processing_time_only`` idle rule and the ``processing_hours`` utility key,
checked against a two-machine case worked by hand; method text from the rules applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carbontwin.twin.allocation import BUILTIN, IdleRule
from carbontwin.twin.attribution import Rules, attribute
from carbontwin.twin.errors import AttributionError
from carbontwin.twin.events import EventBatch, OrderStep, PowerSample, StateChange, StepKind
from carbontwin.twin.factors import FactorSet, HourlySeries
from carbontwin.twin.model import (
    Factory,
    Line,
    Machine,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Utility,
)

T0 = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)
REL = 1e-12


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def pm(idle: float, setup: float, proc: float) -> PowerModel:
    return PowerModel(
        {
            State.OFF: 0.0,
            State.STANDBY: idle,
            State.IDLE: idle,
            State.SETUP: setup,
            State.PROCESSING: proc,
            State.FAULT: 0.0,
        }
    )


def two_machines() -> Factory:
    return Factory(
        id="two",
        name="two machines, one meter, compressed air",
        site=Site("s", "S", "DE", "UTC", "DE"),
        lines=(Line("L", "L", "s"),),
        machines=(
            Machine("X", "X", "L", "cnc", pm(2, 4, 10)),
            Machine("Y", "Y", "L", "cnc", pm(4, 6, 8)),
        ),
        meters=(Meter("M", "M", ("X", "Y")), Meter("MA", "MA", ("AIR",))),
        utilities=(
            Utility(
                "AIR",
                "air",
                "compressed_air",
                pm(3, 3, 3),
                (ServesLink("X", 1.0), ServesLink("Y", 1.0)),
            ),
        ),
        materials=(),
        suppliers=(),
        products=(
            Product("P1", "P1", (Operation("op1", "X", 1800, 180),), ()),
            Product("P2", "P2", (Operation("op1", "Y", 0, 720), Operation("op2", "X", 0, 360)), ()),
        ),
        shifts=(Shift("early", "06:00", "14:00", (0, 1, 2, 3, 4, 5, 6)),),
        orders=(Order("O1", "P1", 10, at(0), at(240)), Order("O2", "P2", 5, at(0), at(240))),
    )


def two_machine_events() -> EventBatch:
    ev: list = [
        StateChange("X", at(0), State.SETUP),
        StateChange("X", at(30), State.PROCESSING),
        StateChange("X", at(90), State.IDLE),
        StateChange("Y", at(0), State.PROCESSING),
        StateChange("Y", at(60), State.IDLE),
        StateChange("AIR", at(0), State.PROCESSING),
        OrderStep("O1", "op1", "X", at(0), at(30), 10, StepKind.SETUP),
        OrderStep("O1", "op1", "X", at(30), at(60), 10),
        OrderStep("O2", "op2", "X", at(60), at(90), 5),
        OrderStep("O2", "op1", "Y", at(0), at(60), 5),
    ]
    # a reading every 10 minutes (well within the 15 minutes after which readings are a gap)
    m_kw = {0: 12.0, 30: 18.0, 60: 14.0, 90: 6.0}
    for minute in range(0, 121, 10):
        ev.append(PowerSample("M", at(minute), m_kw[min(30 * (minute // 30), 90)]))
        ev.append(PowerSample("MA", at(minute), 3.0))
    return EventBatch.from_events(ev)


def factors() -> FactorSet:
    t = np.array([at(0).timestamp(), at(60).timestamp()])
    return FactorSet(HourlySeries(t, np.array([0.4, 0.5]), "two", "v1"))


def test_processing_time_only_and_processing_hours_by_hand():
    """Worked by hand (times in minutes from 06:00; one shift holds the whole window).

    Machines on the shared meter M (kW): X: SETUP 0-30 (O1's setup, 4), PROCESSING
    30-60 (O1, 10) and 60-90 (O2, 10), IDLE 90-120 (2); Y: PROCESSING 0-60 (O2, 8),
    IDLE 60-120 (4). M reads 12, 18, 14, 6 kW over the four half hours = 25 kWh,
    exactly the modelled sum, so each machine gets its own model energy:
    X: setup 2 (O1), processing 5 (O1) + 5 (O2), idle 1; Y: processing 8 (O2), idle 4.

    ``idle: processing_time_only``: X's idle 1 kWh by processing time on X in the
    shift, O1 30 min : O2 30 min -> 0.5 / 0.5 (setup not counted; the old
    ``processing_time_share`` would count O1's 30 min setup: 2/3 : 1/3). Y's idle
    4 kWh: only O2 processed on Y -> 4 to O2.
    Machines: O1 = 2 + 5 + 0.5 = 7.5 kWh; O2 = 5 + 8 + 0.5 + 4 = 17.5 kWh.

    ``utility_key: processing_hours``: compressed air, meter MA 3 kW x 2 h = 6 kWh,
    straight to the orders by processing machine-hours on the served X and Y in the
    shift: O1 0.5 h (X), O2 0.5 h (X) + 1 h (Y) = 1.5 h -> O1 6 x 0.5/2 = 1.5 kWh,
    O2 6 x 1.5/2 = 4.5 kWh.
    Totals: O1 9.0 kWh, O2 22.0 kWh, together 31 = 25 + 6 metered; no overhead.
    (Readings every 10 minutes: all of it measured, nothing filled from the model.)
    """
    rules = Rules(idle="processing_time_only", utility_key="processing_hours")
    res = attribute(two_machines(), two_machine_events(), factors(), rules)
    o1, o2 = res.footprints["O1"], res.footprints["O2"]
    assert o1.energy_kwh == pytest.approx(9.0, rel=REL)
    assert o2.energy_kwh == pytest.approx(22.0, rel=REL)
    assert o1.energy_by_asset_kwh["AIR"] == pytest.approx(1.5, rel=REL)
    assert o2.energy_by_asset_kwh["AIR"] == pytest.approx(4.5, rel=REL)
    assert o1.energy_by_asset_kwh["X"] == pytest.approx(7.5, rel=REL)
    assert o2.energy_by_asset_kwh["X"] == pytest.approx(5.5, rel=REL)
    assert o2.energy_by_asset_kwh["Y"] == pytest.approx(12.0, rel=REL)
    assert res.overhead_kwh == pytest.approx(0.0, abs=1e-12)
    assert (res.metered_kwh["M"], res.metered_kwh["MA"]) == pytest.approx((25.0, 6.0), rel=REL)
    assert res.filled_kwh["M"] == res.filled_kwh["MA"] == 0.0
    # the air went straight to the orders, not through the machines' idle rule
    air = res.pieces[res.pieces["asset"] == "AIR"]
    assert set(air["via"].astype(str)) == {"utility_key"}
    # emissions: 06-07 at 0.4, 07-08 at 0.5 kg/kWh. O1's hour 06-07: setup 2 + proc 5
    # on X, air 3 x 0.5/2 = 0.75; hour 07-08: idle share 0.5, air 0.75 ->
    # (2 + 5 + 0.75) x 0.4 + (0.5 + 0.75) x 0.5 = 3.1 + 0.625 = 3.725 kg
    assert o1.scope2_location_kg == pytest.approx(3.725, rel=REL)


def test_the_old_rules_on_the_same_case_by_hand():
    """Same case, ``processing_time_share`` and the air's own ``machine_hours`` key.

    X's idle 1 kWh by occupied time (setup counted): O1 60 min, O2 30 min ->
    O1 2/3, O2 1/3. Air 6 kWh: each moment to X and Y by time not OFF (both always
    on) -> 3 kWh each, then as the machine's energy in its state: X 0.75 kWh per half
    hour: SETUP O1, PROCESSING O1, PROCESSING O2, IDLE (-> 2/3 O1, 1/3 O2);
    Y 1.5 kWh PROCESSING O2, 1.5 kWh IDLE (-> O2).
    O1 = 2 + 5 + 2/3 + 0.75 + 0.75 + 0.5 = 9 2/3 kWh; O2 = 31 - 9 2/3 = 21 1/3 kWh.
    """
    res = attribute(two_machines(), two_machine_events(), factors(), Rules())
    assert res.footprints["O1"].energy_kwh == pytest.approx(9 + 2 / 3, rel=REL)
    assert res.footprints["O2"].energy_kwh == pytest.approx(21 + 1 / 3, rel=REL)


def test_method_text_comes_from_the_rules_applied():
    new = attribute(
        two_machines(),
        two_machine_events(),
        factors(),
        Rules(idle="processing_time_only", utility_key="processing_hours"),
    ).footprints["O1"]
    old = attribute(two_machines(), two_machine_events(), factors()).footprints["O1"]
    assert new.rules["idle"] == "processing_time_only"
    assert new.rules["utility_key"] == "processing_hours"
    assert new.method[0] == "processing_time_only: " + BUILTIN["processing_time_only"].text.format(
        period="shift"
    )
    assert "setup not counted" in new.method[0]
    assert "straight to the orders by their processing machine-hours" in new.method[1]
    assert "(setup counted)" in old.method[0]
    assert old.method[1].startswith("utility 'AIR', machine_hours:")
    assert "idle and standby included" in old.method[1]


def test_a_plugin_idle_rule_is_applied():
    """An idle rule that is not built in: equal shares per order in the period."""

    def equal(seconds, processing, quantity):
        return np.where(seconds > 0, 1.0, 0.0)

    rule = IdleRule("per_step", "idle energy in equal parts per order step in the {period}", equal)
    res = attribute(
        two_machines(),
        two_machine_events(),
        factors(),
        Rules(idle="per_step", utility_key="processing_hours"),
        allocation={**BUILTIN, "per_step": rule},
    )
    # X's idle 1 kWh: O1 has two steps on X (setup, processing), O2 one -> 2/3, 1/3
    assert res.footprints["O1"].energy_kwh == pytest.approx(7 + 2 / 3 + 1.5, rel=REL)
    assert res.footprints["O1"].method[0].startswith("per_step: idle energy in equal parts")
    with pytest.raises(AttributionError, match="per_step"):
        attribute(two_machines(), two_machine_events(), factors(), Rules(idle="per_step"))
