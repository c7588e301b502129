"""Lineage written by attribution: the gap intervals that filled energy of an order (and
only of those orders), the supplier PCFs behind its materials; digests of the inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_allocation_rules import at, factors, two_machine_events, two_machines
from test_attribution import HAND_RULES, hand_events, hand_factors, hand_factory

from carbontwin.twin.attribution import Rules, attribute
from carbontwin.twin.events import EventBatch, Gap
from carbontwin.twin.lineage import events_digest, events_from_dict, events_to_dict


def test_filled_gaps_are_listed_only_on_the_orders_that_got_filled_energy():
    """Gap on meter M 07:05-07:25 (minutes 65-85). There X processes O2's step (10 kW)
    and Y idles (4 kW); with ``idle: overhead`` Y's filled idle energy goes to overhead,
    X's to O2: 10 kW x 20 min = 10/3 kWh. O1 gets no filled energy and lists no gap."""
    gap = EventBatch.from_events([Gap("M", at(65), at(85), "connector down")])
    batch = EventBatch.concat([two_machine_events(), gap])
    res = attribute(
        two_machines(), batch, factors(), Rules(idle="overhead", utility_key="processing_hours")
    )
    o1, o2 = res.footprints["O1"], res.footprints["O2"]
    assert o1.lineage["filled_gaps"] == []
    assert len(o2.lineage["filled_gaps"]) == 1
    g = o2.lineage["filled_gaps"][0]
    assert (g["source"], g["start"], g["end"]) == (
        "M",
        "2019-03-04T07:05:00Z",
        "2019-03-04T07:25:00Z",
    )
    assert g["energy_kwh"] == pytest.approx(10 / 3, rel=1e-12)
    assert res.filled_kwh["M"] == pytest.approx(10 / 3 + 4 / 3, rel=1e-12)


def test_supplier_pcfs_behind_the_materials():
    """Hand factory: O1 books steel (supplier 'sup', 2.0 kg/kg); O2 has no booking and
    is charged its BOM, alu from 'sup' at 8.0 kg/kg."""
    f = hand_factory()
    sup = f.suppliers[0]
    steel = dataclasses.replace(sup.supplies[0], pact_id="urn:uuid:5e1c0a", pact_version="2")
    f = dataclasses.replace(
        f, suppliers=(dataclasses.replace(sup, supplies=(steel, *sup.supplies[1:])),)
    )
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    pcfs = {o: res.footprints[o].lineage["supplier_pcfs"] for o in ("O1", "O2")}
    assert [(p["material"], p["supplier"], p["pcf_kg_per_unit"]) for p in pcfs["O1"]] == [
        ("steel", "sup", 2.0)
    ]
    assert [(p["material"], p["supplier"], p["pcf_kg_per_unit"]) for p in pcfs["O2"]] == [
        ("alu", "sup", 8.0)
    ]
    assert pcfs["O1"][0]["primary"] is True
    assert (pcfs["O1"][0]["pcf_id"], pcfs["O1"][0]["pcf_version"]) == ("urn:uuid:5e1c0a", "2")
    assert (pcfs["O2"][0]["pcf_id"], pcfs["O2"][0]["pcf_version"]) == ("", "")


def test_events_round_trip_bit_for_bit_and_any_changed_bit_changes_the_digest():
    batch = EventBatch.from_events(hand_events())
    again = events_from_dict(events_to_dict(batch))
    assert events_digest(again) == events_digest(batch)
    assert np.array_equal(again.power_kw, batch.power_kw)
    bumped = dataclasses.replace(batch, power_kw=np.nextafter(batch.power_kw, np.inf))
    assert events_digest(bumped) != events_digest(batch)
