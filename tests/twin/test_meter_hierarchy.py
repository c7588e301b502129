"""Meter hierarchy: main meters, sub-meters and the virtual rest meter (main minus
its sub-meters); an asset on two meters is refused unless they form a hierarchy.

The plant: m1 (10 kW processing) and m2 (20 kW processing) behind main meter
M0; sub-meter M1 (parent M0) measures m1. From 06:00 to 07:00 O1 runs on m1 and
O2 on m2; M0 and M1 read every 10 minutes. Every figure below is worked by hand.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontwin.twin.attribution import attribute
from carbontwin.twin.errors import FactoryModelError
from carbontwin.twin.events import EventBatch, Gap, OrderStep, PowerSample, StateChange
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.factory_file import factory_from_dict, load_factory
from carbontwin.twin.graph import FactoryGraph
from carbontwin.twin.model import State

T0 = datetime(2019, 3, 4, 6, tzinfo=UTC)
MIN = timedelta(minutes=1)

DOC: dict[str, Any] = {
    "id": "hall",
    "site": {"id": "s1", "country": "DE", "timezone": "UTC", "grid_zone": "DE"},
    "lines": [{"id": "l1"}],
    "machines": [
        {"id": "m1", "line": "l1", "type": "cnc", "power": {"idle": 1, "processing": 10}},
        {"id": "m2", "line": "l1", "type": "cnc", "power": {"idle": 2, "processing": 20}},
    ],
    "meters": [
        {"id": "M0", "measures": ["m1", "m2"]},
        {"id": "M1", "measures": ["m1"], "parent": "M0"},
    ],
    "products": [{"id": "p1", "routing": [{"id": "op10", "machine": "m1", "processing": 60}]}],
    "orders": [
        {
            "id": o,
            "product": "p1",
            "quantity": 1,
            "release": "2019-03-04T00:00:00Z",
            "due": "2019-03-05T00:00:00Z",
        }
        for o in ("O1", "O2")
    ],
}


def hall(**changes: Any):
    doc = copy.deepcopy(DOC)
    doc.update(changes)
    return factory_from_dict(doc)


def readings(main_kw: float, sub_kw: float, extra: list[Any] | None = None) -> EventBatch:
    ev: list[Any] = [
        StateChange("m1", T0, State.PROCESSING),
        StateChange("m2", T0, State.PROCESSING),
        OrderStep("O1", "op10", "m1", T0, T0 + 60 * MIN, 1.0),
        OrderStep("O2", "op10", "m2", T0, T0 + 60 * MIN, 1.0),
    ]
    for m in range(0, 61, 10):
        ev.append(PowerSample("M0", T0 + m * MIN, main_kw if m < 60 else 0.0))
        ev.append(PowerSample("M1", T0 + m * MIN, sub_kw if m < 60 else 0.0))
    return EventBatch.from_events(ev + (extra or []))


def run(factory, batch):
    res = attribute(factory, batch, FactorSet.default(factory))
    bal = res.balance_frame()
    # the invariant, per source: orders + overhead == metered + filled
    np.testing.assert_allclose(
        bal["orders_kwh"] + bal["overhead_kwh"], bal["metered_kwh"] + bal["filled_kwh"], rtol=1e-9
    )
    return res


def test_the_rest_meter_is_main_minus_sub_and_nothing_counts_twice():
    res = run(hall(), readings(35.0, 10.0))
    e = {o: fp.energy_kwh for o, fp in res.footprints.items()}
    assert e["O1"] == pytest.approx(10.0, rel=1e-12)  # M1: 10 kW for an hour
    assert e["O2"] == pytest.approx(25.0, rel=1e-12)  # M0 minus M1
    assert res.total_kwh == pytest.approx(35.0, rel=1e-12)  # M0's reading, not 35 + 10
    assert dict(res.metered_kwh) == pytest.approx({"M1": 10.0, "rest:M0": 25.0}, rel=1e-12)
    assert "main meter 'M0' read 35 kWh, its sub-meters 10 kWh: the rest, 25 kWh, goes to m2" in (
        res.flags
    )
    assert res.quality_summary() == []


def test_a_sub_meter_gap_is_filled_once_and_taken_out_of_the_rest():
    gap = Gap("M1", T0 + 20 * MIN, T0 + 40 * MIN, "link down")
    res = run(hall(), readings(35.0, 12.0, [gap]))
    e = {o: fp.energy_kwh for o, fp in res.footprints.items()}
    # M1: 40 minutes read at 12 kW, 20 minutes filled from m1's model (10 kW)
    o1 = 12.0 * 40 / 60 + 10.0 * 20 / 60
    assert e["O1"] == pytest.approx(o1, rel=1e-12)
    assert e["O2"] == pytest.approx(35.0 - o1, rel=1e-12)
    assert res.total_kwh == pytest.approx(35.0, rel=1e-12)
    assert res.quality["meters_partly_filled"] == ("M1 (0.333 h of 1 h filled, 3.33333 kWh)",)


def test_a_main_meter_below_its_sub_meters_is_counted_and_its_rest_is_zero():
    res = run(hall(), readings(8.0, 10.0))
    e = {o: fp.energy_kwh for o, fp in res.footprints.items()}
    assert e["O1"] == pytest.approx(10.0, rel=1e-12)
    assert e["O2"] == pytest.approx(0.0, abs=1e-12)
    assert res.quality["main_below_sub_meters"] == ("M0 (2 kWh less than its sub-meters)",)
    assert res.quality_summary() == [
        "1 main meter(s) reading less than their sub-meters: M0 (2 kWh less than its sub-meters)"
    ]


@settings(max_examples=40, deadline=None)
@given(
    main=st.lists(st.floats(0, 80), min_size=6, max_size=6),
    sub=st.lists(st.floats(0, 40), min_size=6, max_size=6),
    gap_at=st.none() | st.integers(0, 50),
)
def test_balance_holds_with_a_hierarchy(main, sub, gap_at):
    """Random readings: the per-source balance holds (checked in ``run``) and the total is
    the main meter's reading plus what was filled, minus what its rest could not be."""
    ev: list[Any] = [StateChange("m1", T0, State.PROCESSING), StateChange("m2", T0, State.IDLE)]
    ev.append(OrderStep("O1", "op10", "m1", T0, T0 + 60 * MIN, 1.0))
    for k in range(7):
        ev.append(PowerSample("M0", T0 + 10 * k * MIN, main[k] if k < 6 else 0.0))
        ev.append(PowerSample("M1", T0 + 10 * k * MIN, sub[k] if k < 6 else 0.0))
    if gap_at is not None:
        ev.append(Gap("M1", T0 + gap_at * MIN, T0 + (gap_at + 10) * MIN, "lost"))
    res = run(hall(), EventBatch.from_events(ev))
    main_kwh = sum(main) * 10 / 60
    cut = res.quality["main_below_sub_meters"]
    if not cut and gap_at is None:
        assert res.total_kwh == pytest.approx(main_kwh, rel=1e-9, abs=1e-9)


def test_an_asset_on_two_meters_is_refused_unless_they_form_a_hierarchy(tmp_path):
    meters = [{"id": "M0", "measures": ["m1", "m2"]}, {"id": "M1", "measures": ["m1"]}]
    path = tmp_path / "hall.yaml"
    doc = copy.deepcopy(DOC)
    doc["meters"] = meters
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(FactoryModelError) as err:
        load_factory(path)
    assert len(err.value.errors) == 1
    (line,) = err.value.errors
    # the dumped file has "- id: M0" on line 23 and M1's "- m1" on line 29
    assert line == (
        f"{path}:29: meter 'M1': measures: asset 'm1' is also measured by meter 'M0' "
        "(line 23); an asset is behind one meter only, unless one is a sub-meter of the "
        "other (then give the sub-meter 'parent: M0', or this one's id as parent of 'M0')"
    )
    assert path.read_text(encoding="utf-8").splitlines()[22] == "- id: M0"
    # declared as a hierarchy, the same meters are valid
    f = hall()
    assert [m.parent for m in f.meters] == [None, "M0"]
    assert f.rest_assets("M0") == ("m2",)
    g = FactoryGraph(f)
    assert g.graph.nodes["M1"]["parent"] == "M0"
    assert (g.sub_meters_of("M0"), g.rest_assets_of("M0"), g.meters_of("m1")) == (
        ("M1",),
        ("m2",),
        ("M0", "M1"),
    )


def test_hierarchy_faults_are_named():
    bad = [
        {"id": "M0", "measures": ["m1"]},
        {"id": "M1", "measures": ["m1"], "parent": "M0"},  # leaves M0 no rest asset
        {"id": "M2", "measures": ["m2"], "parent": "M9"},  # unknown main meter
    ]
    with pytest.raises(FactoryModelError) as err:
        hall(meters=bad)
    text = "\n".join(err.value.errors)
    assert len(err.value.errors) == 2, text
    assert "unknown main meter 'M9'" in text
    assert "every asset of main meter 'M0' is behind a sub-meter" in text
    outside = [{"id": "M0", "measures": ["m1"]}, {"id": "M1", "measures": ["m2"], "parent": "M0"}]
    with pytest.raises(FactoryModelError, match="'m2' is not behind its main meter 'M0'"):
        hall(meters=outside)
