"""Lineage written by attribution: the gap intervals that filled energy of an order (and
only of those orders), the supplier PCFs behind its materials; digests of the inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_allocation_rules import at, factors, two_machine_events, two_machines
from test_attribution import HAND_RULES, hand_events, hand_factors, hand_factory

from carbontwin.twin.attribution import Rules, attribute
from carbontwin.twin.events import EventBatch, Gap
from carbontwin.twin.lineage import (
    EVENT_KINDS,
    events_digest,
    events_from_dict,
    events_from_parquet,
    events_to_dict,
    events_to_parquet,
)


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


_TEXT = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["M-1", "press-1", "IDLE"]),
    st.none(),
    st.integers(-5, 5),  # objects that are not text: kept as their text, as in the JSON
    st.just(float("nan")),
)
_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def _batches(draw) -> EventBatch:
    """Any columns of any kinds: texts with None, numbers and NaN among them, floats with
    NaN, infinities, -0.0 and subnormals, kinds empty or not, corrections or none."""
    kw = {}
    for kind in EVENT_KINDS:
        n = draw(st.integers(0, 5))
        for f in dataclasses.fields(EventBatch):
            if f.name.split("_", 1)[0] != kind:
                continue
            if f.name.endswith("_correction"):
                flags = draw(st.lists(st.booleans(), min_size=n, max_size=n)) if n else []
                kw[f.name] = np.array(flags if draw(st.booleans()) else [], dtype=bool)
            elif np.asarray(getattr(EventBatch(), f.name)).dtype.kind == "f":
                kw[f.name] = np.array(draw(st.lists(_FLOAT, min_size=n, max_size=n)))
            else:
                arr = np.empty(n, dtype=object)
                arr[:] = draw(st.lists(_TEXT, min_size=n, max_size=n))
                kw[f.name] = arr
    return EventBatch(**kw)


@settings(max_examples=150, deadline=None)
@given(_batches())
def test_events_round_trip_through_parquet_as_through_json(batch):
    """The pack's Parquet form gives back what its JSON form gives (the second method):
    the same digest as the batch, and the same columns written as JSON."""
    import json

    again = events_from_parquet(events_to_parquet(batch))
    assert events_digest(again) == events_digest(batch)
    assert json.dumps(events_to_dict(again)) == json.dumps(events_to_dict(batch))
    assert json.dumps(events_to_dict(events_from_dict(events_to_dict(batch)))) == json.dumps(
        events_to_dict(again)
    )
    # floats bit for bit: -0.0 and each NaN payload's sign as written
    for f in dataclasses.fields(EventBatch):
        a, b = np.asarray(getattr(batch, f.name)), np.asarray(getattr(again, f.name))
        if a.dtype.kind == "f":
            assert a.astype("<f8").tobytes() == b.astype("<f8").tobytes(), f.name
