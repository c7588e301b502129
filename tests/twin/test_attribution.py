"""Attribution: a case worked by hand, the rules, bad readings, gaps, counters, frames."""

from __future__ import annotations

import dataclasses
import gc
import json
import uuid
import weakref
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from carbontwin.twin.attribution import Rules, attribute
from carbontwin.twin.errors import AttributionError
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    MaterialUse,
    OrderStep,
    PowerSample,
    StateChange,
    StepKind,
)
from carbontwin.twin.factors import ANNUAL_GRID_FACTORS, FactorSet, HourlySeries
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import (
    BomItem,
    ElectricityContract,
    Factory,
    Line,
    Machine,
    Material,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Supplier,
    SupplyLink,
    Utility,
)

T0 = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)
REL = 1e-9


def at(h: int, m: int = 0, s: float = 0.0) -> datetime:
    return T0 + timedelta(hours=h, minutes=m, seconds=s)


def pm(off: float, stb: float, idle: float, setup: float, proc: float, fault: float = 0.0):
    return PowerModel(
        {
            State.OFF: off,
            State.STANDBY: stb,
            State.IDLE: idle,
            State.SETUP: setup,
            State.PROCESSING: proc,
            State.FAULT: fault,
        }
    )


def hand_factory() -> Factory:
    return Factory(
        id="hand",
        name="hand-worked plant",
        site=Site("s", "S", "DE", "UTC", "DE"),
        lines=(Line("L1", "L1", "s"),),
        machines=(
            Machine("A", "A", "L1", "cnc", pm(0, 1, 2, 5, 10, fault=1)),
            Machine("B", "B", "L1", "furnace", pm(0, 1, 4, 6, 20), capacity=2),
        ),
        meters=(Meter("M1", "M1", ("A", "B")), Meter("M2", "M2", ("C",))),
        utilities=(
            Utility(
                "C",
                "air",
                "compressed_air",
                pm(0, 3, 3, 3, 3),
                (ServesLink("A", 1.0), ServesLink("B", 2.0)),
            ),
        ),
        materials=(Material("steel", "steel"), Material("alu", "alu")),
        suppliers=(Supplier("sup", "sup", (SupplyLink("steel", 2.0), SupplyLink("alu", 8.0))),),
        products=(
            Product("P1", "P1", (Operation("op1", "A", 600, 360),), (BomItem("steel", 1.0),)),
            Product("P2", "P2", (Operation("op1", "B", 0, 720),), (BomItem("alu", 0.5),)),
        ),
        shifts=(Shift("early", "06:00", "14:00", (0, 1, 2, 3, 4, 5, 6)),),
        orders=(
            Order("O1", "P1", 10, at(0), at(4)),
            Order("O2", "P2", 5, at(0), at(4)),
            Order("O3", "P2", 15, at(0), at(4)),
        ),
        contracts=(ElectricityContract("ppa", 0.5, 0.0),),
    )


def hand_events() -> list:
    ev: list = [
        StateChange("A", at(0), State.IDLE),
        StateChange("A", at(0, 10), State.SETUP),
        StateChange("A", at(0, 20), State.PROCESSING),
        StateChange("A", at(1, 20), State.IDLE),
        StateChange("B", at(0), State.OFF),
        StateChange("B", at(0, 30), State.PROCESSING),
        StateChange("B", at(1, 30), State.IDLE),
        StateChange("C", at(0), State.PROCESSING),
        OrderStep("O1", "op1", "A", at(0, 10), at(0, 20), 10, StepKind.SETUP),
        OrderStep("O1", "op1", "A", at(0, 20), at(1, 20), 10),
        OrderStep("O2", "op1", "B", at(0, 30), at(1, 30), 5),
        OrderStep("O3", "op1", "B", at(0, 30), at(1, 30), 15),
        MaterialUse("O1", "steel", 10.0),
        PowerSample("M2", at(0), 6.0),
        PowerSample("M2", at(2), 6.0),
    ]
    for (h, m), p in [
        ((0, 0), 2),
        ((0, 10), 6),
        ((0, 20), 12),
        ((0, 30), 33),
        ((1, 20), 24),
        ((1, 30), 6),
        ((2, 0), 6),
    ]:
        ev.append(PowerSample("M1", at(h, m), float(p)))
    return ev


def hand_factors(factory: Factory) -> FactorSet:
    t = np.array([at(0).timestamp(), at(1).timestamp()])
    return FactorSet(
        HourlySeries(t, np.array([0.4, 0.5]), "hand", "v1"), contracts=factory.contracts
    )


HAND_RULES = Rules(max_sample_interval_s=7200.0)


def test_hand_worked_case():
    """Two machines A, B on one shared meter M1; compressed air C on meter M2; orders O1-O3.

    Expected power [kW]: A idle 2, setup 5, processing 10; B off 0, idle 4, processing 20.
    States: A IDLE 06:00, SETUP 06:10, PROCESSING 06:20, IDLE 07:20; B OFF 06:00,
    PROCESSING 06:30, IDLE 07:30; data to 08:00. Steps: O1 on A setup 06:10-06:20 and
    processing 06:20-07:20 (10 pcs); O2 (5 pcs) and O3 (15 pcs) together on B 06:30-07:30.
    M1 holds 2, 6, 12, 33, 24, 6 kW from 06:00, :10, :20, :30, 07:20, 07:30 (step-hold).

    M1 per segment (kWh) and split by expected power:
      06:00-06:10  2/6 = 1/3      A only (B expects 0)      A idle  -> O1 (only order on A)
      06:10-06:20  1              A                         setup   -> O1
      06:20-06:30  2              A                         proc    -> O1
      06:30-07:00  16.5           A 10/30 = 5.5, B 11       B: O2 11/4, O3 33/4 (by quantity)
      07:00-07:20  11             A 11/3, B 22/3            B: O2 11/6, O3 11/2
      07:20-07:30  4              A 4*2/22 = 4/11 (idle), B 40/11: O2 10/11, O3 30/11
      07:30-08:00  3              A 1 (idle -> O1), B 2 idle -> O2 1, O3 1 (equal time on B)
      total 37 5/6 kWh; O1 = 1/3+1+2+5.5+11/3+4/11+1 = 305/22 = 13.8636...,
      O2 = 11/4+11/6+10/11+1 = 6.4924..., O3 = 33/4+11/2+30/11+1 = 17.4773...
    M2 (C, 6 kW for 2 h = 12 kWh) by machine-hours (weights A 1, B 2, only when not OFF):
      06:00-06:30 3 kWh all to A (B OFF) -> O1 3; 06:30-07:00 3: A 1 -> O1, B 2 -> O2 .5, O3 1.5;
      07:00-07:20 2: A 2/3, B 4/3 -> O2 1/3, O3 1; 07:20-07:30 1: A 1/3 (idle -> O1),
      B 2/3 -> O2 1/6, O3 1/2; 07:30-08:00 3: A 1 (idle -> O1), B 2 (idle -> O2 1, O3 1).
      O1 = 6, O2 = 2, O3 = 4.
    Energy: O1 19.8636..., O2 8.4924..., O3 21.4773...; sum 49 5/6 = M1 + M2; overhead 0.
    CO2e (hour 06 at 0.4 kg/kWh, hour 07 at 0.5): O1 hour 06: 1/3+1+2+5.5 + 4 = 12 5/6 kWh,
    hour 07: 11/3+4/11+1 + 2 = 7.0303 kWh -> 0.4*12.8333 + 0.5*7.0303 = 8.64848 kg scope 2.
    Market-based (half the electricity from a PPA at 0): half of that. Scope 3: O1 10 kg steel
    (MaterialUse) x 2.0 = 20; O2 BOM 0.5 kg alu x 5 x 8.0 = 20; O3 0.5 x 15 x 8.0 = 60.
    """
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    e = {
        "O1": 305 / 22 + 6,
        "O2": 11 / 4 + 11 / 6 + 10 / 11 + 1 + 2,
        "O3": 33 / 4 + 11 / 2 + 30 / 11 + 1 + 4,
    }
    h6 = {"O1": 1 / 3 + 1 + 2 + 5.5 + 4, "O2": 11 / 4 + 0.5, "O3": 33 / 4 + 1.5}
    scope2 = {o: 0.4 * h6[o] + 0.5 * (e[o] - h6[o]) for o in e}
    scope3 = {"O1": 20.0, "O2": 20.0, "O3": 60.0}
    for o in e:
        fp = res.footprints[o]
        assert fp.energy_kwh == pytest.approx(e[o], rel=REL)
        assert fp.scope2_location_kg == pytest.approx(scope2[o], rel=REL)
        assert fp.scope2_market_kg == pytest.approx(scope2[o] / 2, rel=REL)
        assert fp.scope3_kg == pytest.approx(scope3[o], rel=REL)
        assert fp.co2e_kg == pytest.approx(scope2[o] + scope3[o], rel=REL)
        assert fp.scope1_kg == 0.0
        assert fp.primary_data_share == 1.0
    assert res.footprints["O1"].energy_by_asset_kwh["C"] == pytest.approx(6.0, rel=REL)
    assert res.footprints["O2"].energy_by_asset_kwh["C"] == pytest.approx(2.0, rel=REL)
    assert res.footprints["O1"].energy_by_asset_kwh["A"] == pytest.approx(305 / 22, rel=REL)
    assert res.metered_kwh == pytest.approx({"M1": 37 + 5 / 6, "M2": 12.0}, rel=REL)
    assert res.overhead_kwh == pytest.approx(0.0, abs=1e-12)
    assert res.total_kwh == pytest.approx(49 + 5 / 6, rel=REL)
    fp = res.footprints["O1"]
    assert fp.rules["idle"] == "processing_time_share"
    assert fp.factor_versions["electricity_location"] == "hand:v1"
    assert fp.period_start == at(0, 10)
    assert fp.period_end == at(1, 20)
    # the record's other fields, each where the factory and the run put it
    assert (fp.order, fp.product, fp.quantity, fp.declared_unit) == ("O1", "P1", 10.0, "piece")
    named = dataclasses.replace(f, company_id="urn:example:hand-co")
    again = attribute(named, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    assert (again.footprints["O1"].factory, again.footprints["O1"].company_id) == (
        "hand",
        "urn:example:hand-co",
    )
    assert fp.method == res.method
    assert len(fp.method) >= 1
    assert set(fp.lineage) == {"filled_gaps", "supplier_pcfs"}
    assert [p["material"] for p in fp.lineage["supplier_pcfs"]] == ["steel"]
    assert all(isinstance(x, str) for x in fp.flags)
    assert uuid.UUID(fp.id).version == 4
    assert (fp.status, fp.version, fp.replaces, fp.issued_at) == ("Active", 1, None, None)


def test_breakdowns_sum_to_totals_and_frames():
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    for fp in res.footprints.values():
        for bd in (fp.energy_by_asset_kwh, fp.energy_by_state_kwh, fp.energy_by_carrier_kwh):
            assert sum(bd.values()) == pytest.approx(fp.energy_kwh, rel=REL)
        assert sum(fp.co2e_by_asset_kg.values()) == pytest.approx(
            fp.scope1_kg + fp.scope2_location_kg, rel=REL
        )
        assert sum(fp.co2e_by_material_kg.values()) == pytest.approx(fp.scope3_kg, rel=REL)
    hourly = res.hourly_frame()
    assert str(hourly.index.tz) == "UTC"
    assert list(hourly.index) == [pd.Timestamp(at(0)), pd.Timestamp(at(1))]
    assert hourly["energy_kwh"].sum() == pytest.approx(res.total_kwh, rel=REL)
    assert hourly["co2e_kg"].iloc[0] == pytest.approx(0.4 * hourly["energy_kwh"].iloc[0], rel=REL)
    frame = res.orders_frame()
    assert frame.loc["O3", "co2e_per_unit_kg"] == pytest.approx(
        res.footprints["O3"].co2e_kg / 15, rel=REL
    )
    ast = res.asset_state_frame()
    assert ast["energy_kwh"].sum() == pytest.approx(res.total_kwh, rel=REL)
    b_proc = ast[(ast["order"] == "O3") & (ast["asset"] == "B") & (ast["state"] == "PROCESSING")]
    assert b_proc["energy_kwh"].sum() == pytest.approx(33 / 4 + 11 / 2 + 30 / 11, rel=REL)
    bal = res.balance_frame()
    assert (bal["orders_kwh"] + bal["overhead_kwh"]).to_dict() == pytest.approx(
        {"M1": 37 + 5 / 6, "M2": 12.0}, rel=REL
    )


def test_records_read_one_by_one_equal_records_read_together():
    """Footprints read by order id and footprints built together by iterating ``values()``
    carry the same figures, breakdowns, flags and lineage; every id is its own version-4
    UUID (RFC 4122), whichever way the record was built."""
    f = hand_factory()
    events = EventBatch.from_events(hand_events())
    one = attribute(f, events, hand_factors(f), HAND_RULES).footprints
    together = attribute(f, events, hand_factors(f), HAND_RULES).footprints
    singly = {o: one[o] for o in reversed(list(one))}  # out of order, one record at a time
    in_bulk = dict(together.items())
    assert list(in_bulk) == list(together) == sorted(singly)
    ids = [fp.id for fp in (*singly.values(), *in_bulk.values())]
    assert len(set(ids)) == len(ids)
    for i in ids:
        u = uuid.UUID(i)
        assert (str(u), u.version, u.variant) == (i, 4, uuid.RFC_4122)
    for o, fp in singly.items():
        a, b = fp.to_dict(), in_bulk[o].to_dict()
        a.pop("id"), b.pop("id")
        assert a == b
    # a mapping partly read one by one completes the rest together, in order
    mixed = attribute(f, events, hand_factors(f), HAND_RULES).footprints
    first = mixed["O2"]
    assert [fp.order for fp in mixed.values()] == ["O1", "O2", "O3"]
    assert mixed["O2"] is first


def test_idle_to_overhead_rule_moves_only_idle_energy():
    f = hand_factory()
    base = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    rules = dataclasses.replace(HAND_RULES, idle="overhead")
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), rules)
    idle_a = 1 / 3 + 4 / 11 + 1 + 1 + 1 / 3 + 1  # A's idle from M1 and from C via A's idle
    idle_b = 2 + 2  # B's idle 07:30-08:00 from M1 and from C
    assert res.footprints["O1"].energy_kwh == pytest.approx(
        base.footprints["O1"].energy_kwh - idle_a, rel=REL
    )
    assert res.overhead_kwh == pytest.approx(idle_a + idle_b, rel=REL)
    assert res.footprints["O1"].rules["idle"] == "overhead"
    assert res.total_kwh == pytest.approx(base.total_kwh, rel=REL)


def test_off_and_fault_go_to_overhead_unless_ruled_otherwise():
    f = hand_factory()
    ev = hand_events() + [
        StateChange("A", at(0, 40), State.FAULT),
        StateChange("A", at(0, 50), State.PROCESSING),
    ]
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    assert res.overhead_kwh > 0
    fault = res.asset_state_frame()
    fault = fault[(fault["state"] == "FAULT") & (fault["served_asset"] == "A")]
    # A's share of M1 (1 of 21 kW expected) and of the compressed air while A is in FAULT
    assert set(fault.loc[fault["energy_kwh"] > 0, "order"].astype(str)) == {"overhead"}
    assert set(fault.loc[fault["energy_kwh"] > 0, "asset"].astype(str)) == {"A", "C"}
    ruled = attribute(
        f,
        EventBatch.from_events(ev),
        hand_factors(f),
        dataclasses.replace(HAND_RULES, fault="occupying_order"),
    )
    fault = ruled.asset_state_frame()
    fault = fault[(fault["state"] == "FAULT") & (fault["served_asset"] == "A")]
    assert set(fault.loc[fault["energy_kwh"] > 0, "order"].astype(str)) == {"O1"}
    assert ruled.overhead_kwh == pytest.approx(0.0, abs=1e-12)


def test_batch_share_by_mass():
    f = hand_factory()
    heavy = dataclasses.replace(f.products[1], mass_kg=1.0)
    f2 = dataclasses.replace(
        f,
        products=(f.products[0], heavy),
        orders=(f.orders[0], f.orders[1], dataclasses.replace(f.orders[2], product="P1")),
    )
    # O3 is now product P1 (mass 1 kg) and O2 P2 (mass 1 kg): same split as by quantity
    res_q = attribute(f2, EventBatch.from_events(hand_events()), hand_factors(f2), HAND_RULES)
    p1_heavy = dataclasses.replace(f2.products[0], mass_kg=3.0)
    f3 = dataclasses.replace(f2, products=(p1_heavy, heavy))
    res_m = attribute(
        f3,
        EventBatch.from_events(hand_events()),
        hand_factors(f3),
        dataclasses.replace(HAND_RULES, batch_share="mass"),
    )
    # by mass O3 weighs 15*3 = 45 against O2's 5: B's processing splits 1:9 instead of 1:3
    b_q = res_q.footprints["O2"].energy_by_state_kwh["PROCESSING"]
    b_m = res_m.footprints["O2"].energy_by_state_kwh["PROCESSING"]
    b_total = 11 + 22 / 3 + 40 / 11 + 2 + 4 / 3 + 2 / 3  # B processing from M1 and C
    assert b_q == pytest.approx(b_total / 4, rel=REL)
    assert b_m == pytest.approx(b_total / 10, rel=REL)


def test_gap_filled_from_power_state_model_and_flagged():
    f = hand_factory()
    ev = [e for e in hand_events() if not isinstance(e, PowerSample) or e.meter != "M1"]
    samples = [
        (at(0), 2),
        (at(0, 10), 6),
        (at(0, 20), 12),
        (at(0, 30), 33),
        (at(1, 20), 24),
        (at(1, 30), 6),
        (at(2), 6),
    ]
    ev += [PowerSample("M1", t, float(p)) for t, p in samples]
    ev.append(Gap("M1", at(0, 30), at(1, 0), "network"))
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    # the gap 06:30-07:00 is filled with the expected 10 + 20 kW for half an hour
    assert res.filled_kwh["M1"] == pytest.approx(15.0, rel=REL)
    assert res.metered_kwh["M1"] == pytest.approx(37 + 5 / 6 - 16.5, rel=REL)
    bal = res.balance_frame().loc["M1"]
    assert bal["orders_kwh"] + bal["overhead_kwh"] == pytest.approx(37 + 5 / 6 - 1.5, rel=REL)
    fp = res.footprints["O2"]
    assert 0.0 < fp.primary_data_share < 1.0
    assert any("filled from the power-state model" in x for x in fp.flags)


def test_bad_readings_cleaned_and_flagged_or_rejected():
    f = hand_factory()
    ev = hand_events() + [
        PowerSample("M1", at(0, 5), float("nan")),
        PowerSample("M1", at(0, 15), -3.0),
        PowerSample("M1", at(0, 20), 12.0),
    ]  # an exact duplicate
    ev = ev[::-1]  # and everything out of order
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    assert res.metered_kwh["M1"] == pytest.approx(37 + 5 / 6, rel=REL)
    flags = " ".join(res.flags)
    assert "2 invalid power reading(s) dropped" in flags
    assert "out of time order" in flags
    assert "duplicate" in flags
    with pytest.raises(AttributionError, match=r"meter 'M1' at 2019-03-04T06:15:00Z is -3.0"):
        attribute(
            f,
            EventBatch.from_events(ev),
            hand_factors(f),
            dataclasses.replace(HAND_RULES, bad_readings="reject"),
        )
    conflicting = hand_events() + [PowerSample("M1", at(0, 20), 99.0)]
    with pytest.raises(AttributionError, match=r"conflicting duplicate.*06:20:00Z"):
        attribute(
            f,
            EventBatch.from_events(conflicting),
            hand_factors(f),
            dataclasses.replace(HAND_RULES, bad_readings="reject"),
        )


def test_energy_counter_with_reset_and_rollover():
    f = hand_factory()
    f = dataclasses.replace(
        f,
        meters=(
            Meter("M1", "M1", ("A", "B")),
            Meter("M2", "M2", ("C",), signal="energy", rollover_kwh=1000.0),
        ),
    )
    ev = [e for e in hand_events() if not isinstance(e, PowerSample) or e.meter != "M2"]
    # 3 kWh per 30 min: 995 -> 998 -> (wraps at 1000) 1 -> 4 -> reset -> 3
    for k, v in enumerate([995.0, 998.0, 1.0, 4.0, 3.0]):
        ev.append(EnergyCounter("M2", at(0, 30 * k), v))
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    assert res.metered_kwh["M2"] == pytest.approx(12.0, rel=REL)
    flags = " ".join(res.flags)
    assert "rolled over 1 time" in flags
    assert "reset 1 time" in flags
    # same allocation as the power meter of the hand-worked case
    assert res.footprints["O1"].energy_by_asset_kwh["C"] == pytest.approx(6.0, rel=REL)


def test_unknown_ids_and_outside_series_are_errors():
    f = hand_factory()
    with pytest.raises(AttributionError, match="unknown meter 'M9'"):
        attribute(
            f,
            EventBatch.from_events(hand_events() + [PowerSample("M9", at(0), 1.0)]),
            hand_factors(f),
            HAND_RULES,
        )
    with pytest.raises(AttributionError, match="'press-9'"):
        attribute(
            f,
            EventBatch.from_events(
                hand_events() + [OrderStep("O1", "x", "press-9", at(0), at(1), 1)]
            ),
            hand_factors(f),
            HAND_RULES,
        )
    late = hand_events() + [PowerSample("M2", at(5), 6.0)]
    with pytest.raises(
        AttributionError, match=r"2019-03-04T0[89].*outside the hourly grid series 'hand'"
    ):
        attribute(
            f,
            EventBatch.from_events(late),
            hand_factors(f),
            dataclasses.replace(HAND_RULES, max_sample_interval_s=1e6),
        )


def test_unmetered_asset_is_modelled():
    f = hand_factory()
    f = dataclasses.replace(f, meters=(f.meters[0],))  # compressed air C has no meter now
    ev = [e for e in hand_events() if not isinstance(e, PowerSample) or e.meter != "M2"]
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    # C runs at its expected 3 kW from its first state (06:00) to the end of the data (08:00)
    assert res.filled_kwh["model:C"] == pytest.approx(6.0, rel=REL)
    assert "model:C" not in res.metered_kwh
    assert res.footprints["O1"].primary_data_share < 1.0


def test_rules_from_mapping_rejects_unknown_names():
    assert Rules.from_mapping({"idle": "overhead"}).idle == "overhead"
    with pytest.raises(AttributionError, match="unknown rule"):
        Rules.from_mapping({"idel": "overhead"})
    with pytest.raises(AttributionError, match="off="):
        Rules(off="sometimes")
    # idle rules and utility keys are objects of carbontwin.allocation, resolved on use
    f = hand_factory()
    with pytest.raises(AttributionError, match=r"idle='sometimes' is not one of \["):
        attribute(
            f, EventBatch.from_events(hand_events()), hand_factors(f), Rules(idle="sometimes")
        )
    with pytest.raises(AttributionError, match="utility_key='idle_time'"):
        attribute(f, EventBatch(), hand_factors(f), Rules(utility_key="idle_time"))


def test_factor_fallback_and_filled_hours_are_flagged():
    f = hand_factory()
    t = np.array([at(0).timestamp()])  # the series covers 06:00-07:00 only
    short = HourlySeries(t, np.array([0.4]), "short", "v1")
    with pytest.raises(
        AttributionError, match=r"07:00:00\+00:00 is outside the hourly grid series"
    ):
        attribute(f, EventBatch.from_events(hand_events()), FactorSet(short), HAND_RULES)
    annual = ANNUAL_GRID_FACTORS["DE_2019"]
    res = attribute(
        f, EventBatch.from_events(hand_events()), FactorSet(short, fallback=annual), HAND_RULES
    )
    assert any("annual fallback" in x for x in res.footprints["O1"].flags)
    h6 = 1 / 3 + 1 + 2 + 5.5 + 4
    e = res.footprints["O1"].energy_kwh
    assert res.footprints["O1"].scope2_location_kg == pytest.approx(
        0.4 * h6 + 0.401 * (e - h6), rel=REL
    )
    filled = HourlySeries(
        np.array([at(0).timestamp(), at(1).timestamp()]),
        np.array([0.4, 0.5]),
        "gappy",
        "v1",
        filled=np.array([False, True]),
    )
    res = attribute(f, EventBatch.from_events(hand_events()), FactorSet(filled), HAND_RULES)
    assert any("filled by interpolation" in x for x in res.flags)
    assert any("interpolated factors" in x for x in res.footprints["O1"].flags)


def test_footprints_serialise_for_the_store():
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    fp = res.footprints["O3"]
    d = json.loads(json.dumps(fp.to_dict()))
    back = Footprint.from_dict(d)
    assert back.co2e_kg == fp.co2e_kg
    assert dict(back.energy_by_asset_kwh) == dict(fp.energy_by_asset_kwh)
    assert back.factor_versions == fp.factor_versions
    assert back.period_start == fp.period_start
    assert fp.factory == "hand"
    assert res.footprints["O3"] is fp  # records are built once, then kept


def test_shared_meter_split_matches_the_simulated_machines():
    """The simulator draws each machine's model power; the shared meter over cnc-2 and cnc-3
    must be split back into exactly what each machine drew."""
    from carbontwin.simulation import simulate
    from carbontwin.twin.examples import demo_factory

    f = demo_factory()
    sim = simulate(f, list(f.orders[:8]), seed=5)
    res = attribute(f, sim.events, FactorSet.default(f))
    p = res.pieces
    split = p[p["source"] == "M-cnc-23"].groupby("asset", observed=True)["energy_kwh"].sum()
    for m in ("cnc-2", "cnc-3"):
        assert split[m] == pytest.approx(sim.energy_kwh_by_machine[m], rel=REL)
    assert res.total_kwh == pytest.approx(
        sum(fp.energy_kwh for fp in res.footprints.values()) + res.overhead_kwh, rel=REL
    )


def test_counter_interval_spread_by_expected_power():
    """M1 as a counter read only at 06:00 and 08:00 (37 5/6 kWh between): the model
    expects A+B to draw 2, 5, 10, 30, 22, 6 kW over 10, 10, 10, 50, 10, 30 min = 34.5 kWh,
    so each stretch gets its model energy x 37.8333/34.5. A's own expected energy is
    2/6 + 5/6 + 10 + 2*40/60 = 12.5 kWh, all of it O1's (A's idle goes to its only order)."""
    f = hand_factory()
    f = dataclasses.replace(f, meters=(Meter("M1", "M1", ("A", "B"), signal="energy"), f.meters[1]))
    ev = [e for e in hand_events() if not isinstance(e, PowerSample) or e.meter != "M1"]
    ev += [EnergyCounter("M1", at(0), 100.0), EnergyCounter("M1", at(2), 100.0 + 37 + 5 / 6)]
    res = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    scale = (37 + 5 / 6) / 34.5
    assert res.metered_kwh["M1"] == pytest.approx(37 + 5 / 6, rel=REL)
    assert res.footprints["O1"].energy_by_asset_kwh["A"] == pytest.approx(12.5 * scale, rel=REL)


def test_reattribution_issues_a_new_version_through_the_store(sqlite_url, signer):
    """Attribution stays pure; the store issues its footprints as immutable versions."""
    from carbontwin.twin.store import Store

    f = hand_factory()
    store = Store.open(sqlite_url)
    first = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    v1 = store.issue_footprint(first.footprints["O2"], signer)
    # a corrected reading changes O2's footprint: the next issue replaces the first
    ev = [e for e in hand_events() if not (isinstance(e, PowerSample) and e.t == at(1, 30))]
    ev.append(PowerSample("M1", at(1, 30), 8.0))
    second = attribute(f, EventBatch.from_events(ev), hand_factors(f), HAND_RULES)
    assert second.footprints["O2"].energy_kwh > first.footprints["O2"].energy_kwh
    v2 = store.issue_footprint(second.footprints["O2"], signer)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.replaces == v1.id
    versions = store.footprint_versions("O2")
    assert [fp.co2e_kg for fp in versions] == pytest.approx(
        [first.footprints["O2"].co2e_kg, second.footprints["O2"].co2e_kg], rel=REL
    )


@pytest.mark.parametrize("bad", ["RUNING", None])
def test_a_state_change_with_an_unknown_state_is_an_error_naming_it(bad):
    f = hand_factory()
    batch = EventBatch.from_events(hand_events())
    state = batch.state.copy()
    state[-1] = bad  # the last state change of some asset
    asset = batch.state_asset[-1]
    batch = dataclasses.replace(batch, state=state)
    with pytest.raises(AttributionError, match=rf"asset '{asset}' has unknown state '{bad}'"):
        attribute(f, batch, hand_factors(f), HAND_RULES)


def test_a_missing_state_beside_the_text_nan_is_an_unknown_state_not_a_crash():
    # the state names are coded by one factorize, where a missing name reads as NaN
    f = hand_factory()
    batch = EventBatch.from_events(hand_events())
    state = batch.state.copy()
    state[-2], state[-1] = "nan", None
    batch = dataclasses.replace(batch, state=state)
    with pytest.raises(AttributionError, match=r"has unknown state 'nan'"):
        attribute(f, batch, hand_factors(f), HAND_RULES)


def test_material_rows_worked_by_hand_and_shaped_like_a_frame_of_lists():
    # O1 reports 10 kg of steel (2.0 kg CO2e/kg); O2 and O3 report none: their product's
    # BOM, 0.5 kg aluminium per piece (8.0 kg CO2e/kg), x 5 and x 15 pieces
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    want = pd.DataFrame(
        {
            "order": ["O1", "O2", "O3"],
            "material": ["steel", "alu", "alu"],
            "quantity": [10.0, 2.5, 7.5],
            "unit": ["kg", "kg", "kg"],
            "supplier": ["sup", "sup", "sup"],
            "pcf_kg_per_unit": [2.0, 8.0, 8.0],
            "co2e_kg": [20.0, 20.0, 60.0],
            "primary": [True, True, True],  # a supply link's default
            "basis": ["material_use", "bom", "bom"],
            "primary_share": [1.0, 1.0, 1.0],
        }
    )
    got = res.materials.sort_values("order", ignore_index=True)
    pd.testing.assert_frame_equal(got, want)  # values and dtypes
    assert [res.footprints[o].scope3_kg for o in ("O1", "O2", "O3")] == [20.0, 20.0, 60.0]
    pcfs = [res.footprints[o].lineage["supplier_pcfs"] for o in ("O1", "O2", "O3")]
    assert [[p["material"] for p in x] for x in pcfs] == [["steel"], ["alu"], ["alu"]]
    assert pcfs[1] == pcfs[2] != pcfs[0]


def test_a_result_is_freed_as_soon_as_it_is_dropped():
    # a reference cycle would keep every record and array of a run in memory until the
    # garbage collector's next full collection
    f = hand_factory()
    events = EventBatch.from_events(hand_events())
    gc.disable()
    try:
        res = attribute(f, events, hand_factors(f), HAND_RULES)
        assert len(list(res.footprints.values())) == 3
        assert res.filled_gaps("O1") == []
        records, pieces = weakref.ref(res.footprints), weakref.ref(res.pieces)
        del res
        assert records() is None
        assert pieces() is None
    finally:
        gc.enable()


def test_orders_alike_share_their_lineage_part_and_copies_are_their_own():
    # O2 and O3 (product P2) have the same supplier PCF and no filled gap: one lineage
    # dict serves both records; O1 (steel) has its own
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    o1, o2, o3 = res.footprints.values()  # read together, built together
    assert [o1.order, o2.order, o3.order] == ["O1", "O2", "O3"]
    assert o2.lineage is o3.lineage
    assert o1.lineage is not o2.lineage
    assert o2.lineage == {
        "filled_gaps": [],
        "supplier_pcfs": [
            {
                "material": "alu",
                "supplier": "sup",
                "pcf_kg_per_unit": 8.0,
                "primary": True,
                "source": "",
                "pcf_id": "",
                "pcf_version": "",
            }
        ],
    }
    # a record's dict is a copy: changing it leaves the shared part alone
    d = o2.to_dict()
    d["lineage"]["supplier_pcfs"][0]["pcf_kg_per_unit"] = 0.0
    d["lineage"]["filled_gaps"].append({"source": "x"})
    assert o3.lineage["supplier_pcfs"][0]["pcf_kg_per_unit"] == 8.0
    assert o3.lineage["filled_gaps"] == [] == o1.lineage["filled_gaps"]


def test_records_read_by_a_list_of_orders_are_those_read_one_by_one():
    f = hand_factory()
    events = EventBatch.from_events(hand_events())
    one = attribute(f, events, hand_factors(f), HAND_RULES)
    some = attribute(f, events, hand_factors(f), HAND_RULES)
    first = some.footprints["O2"]  # built alone before
    got = some.footprints.many(["O3", "O1", "O2"])
    assert [fp.order for fp in got] == ["O3", "O1", "O2"]
    assert got[2] is first  # not built again
    for fp in got:
        want = one.footprints[fp.order].to_dict()
        assert {**fp.to_dict(), "id": ""} == {**want, "id": ""}
    assert [fp.energy_kwh for fp in got] == [
        one.footprints[o].energy_kwh for o in ("O3", "O1", "O2")
    ]
    with pytest.raises(KeyError):
        some.footprints.many(["O1", "O9"])
