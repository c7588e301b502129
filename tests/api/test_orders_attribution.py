"""Orders in the store are the orders attribution uses: ``PUT /orders`` changes the footprints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api_helpers import events_json

from carbontwin.twin.events import EventBatch, OrderStep, StepKind
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict

WASH_START = datetime(2019, 3, 4, 8, 0, tzinfo=UTC)  # washer-1 is free then in the simulated day
WASH_END = datetime(2019, 3, 4, 8, 10, tzinfo=UTC)


def _latest(client, headers, order):
    r = client.get(f"/orders/{order}/footprint", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["versions"][-1]["payload"]


def test_put_orders_is_what_attribution_uses(api, demo_batch):
    client, headers = api
    factory = demo_factory()
    assert client.put("/factory", json=factory_to_dict(factory), headers=headers).status_code == 200
    extra = EventBatch.from_events(
        [
            OrderStep(
                "O-7001", "op40-wash", "washer-1", WASH_START, WASH_END, 300, StepKind.PROCESSING
            )
        ]
    )
    body = events_json(EventBatch.concat([demo_batch, extra]))
    assert client.post("/events", json=body, headers=headers).status_code == 200
    r = client.post("/footprints/attribute", headers=headers)
    assert r.status_code == 200, r.text
    first = {d["payload"]["order"]: d["payload"] for d in r.json()["issued"]}
    v1 = _latest(client, headers, "O-1001")
    assert v1["quantity"] == 240  # the factory file's order
    unknown = first["O-7001"]
    assert unknown["product"] == ""  # no order O-7001 anywhere yet
    assert unknown["scope3_kg"] == 0

    orders = [
        {
            "id": "O-1001",
            "product": "bracket",
            "quantity": 480,
            "release": "2019-03-04T05:00:00Z",
            "due": "2019-03-05T05:00:00Z",
        },
        {
            "id": "O-7001",
            "product": "cover",
            "quantity": 300,
            "release": "2019-03-04T07:00:00Z",
            "due": "2019-03-05T07:00:00Z",
        },
    ]
    assert client.put("/orders", json=orders, headers=headers).json() == {"saved": 2}
    r = client.post("/footprints/attribute", headers=headers)
    assert r.status_code == 200, r.text
    issued = {d["payload"]["order"]: d["payload"] for d in r.json()["issued"]}
    assert {"O-1001", "O-7001"} <= set(issued)

    v2 = _latest(client, headers, "O-1001")
    assert v2["version"] == 2
    assert v2["replaces"] == v1["id"]
    assert v2["quantity"] == 480
    # the same events and material bookings: the same kg CO2e, over twice the pieces
    assert v2["co2e_kg"] == pytest.approx(v1["co2e_kg"], rel=1e-12)

    cover = _latest(client, headers, "O-7001")
    assert cover["product"] == "cover"
    assert cover["quantity"] == 300
    # no material use reported: the cover's BOM, 0.8 kg recycled aluminium at
    # 0.7 kg CO2e/kg (examples/demo_factory.yaml), x 300 pieces = 168 kg
    assert cover["scope3_kg"] == pytest.approx(0.8 * 0.7 * 300, rel=1e-12)
    assert any("BOM of 'cover'" in f for f in cover["flags"])
