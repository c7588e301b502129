"""A correction: new events change an order's footprint -> version 2 replaces version 1.

Runs on SQLite and on PostgreSQL (its own schema in the shared test database).
"""

from __future__ import annotations

from api_helpers import events_json

from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict


def test_correction_deprecates_the_first_version(db_client, demo_batch):
    client = db_client
    assert client.put("/factory", json=factory_to_dict(demo_factory())).status_code == 200
    assert client.post("/events", json=events_json(demo_batch)).json()["stored"] > 0
    v1 = client.post("/orders/O-1001/footprint").json()["issued"]
    assert [d["payload"]["version"] for d in v1] == [1]
    # nothing new: nothing issued
    assert client.post("/orders/O-1001/footprint").json() == {"issued": [], "uncovered": []}
    # a late material booking changes the footprint
    extra = {
        "materials": [
            {
                "order": "O-1001",
                "material": "al-6082-primary",
                "quantity": 25.0,
                "unit": "kg",
                "booking": "GI-late-1",
            }
        ]
    }
    r = client.post("/events", json=extra)
    assert r.json()["stored"] == 1, r.text
    v2 = client.post("/orders/O-1001/footprint").json()["issued"]
    assert [d["payload"]["version"] for d in v2] == [2]
    first, second = v1[0]["payload"], v2[0]["payload"]
    assert second["replaces"] == first["id"]
    assert second["co2e_kg"] > first["co2e_kg"]
    versions = client.get("/orders/O-1001/footprint").json()["versions"]
    assert [v["payload"]["id"] for v in versions] == [first["id"], second["id"]]
    old = client.get(f"/3/footprints/{first['id']}").json()["data"]
    new = client.get(f"/3/footprints/{second['id']}").json()["data"]
    assert old["status"] == "Deprecated"
    assert new["status"] == "Active"
    assert new["precedingPfIds"] == [first["id"]]
    label = client.get("/labels/O-1001", params={"format": "json"}).json()["label"]
    assert label["footprint_id"] == second["id"]
    assert label["version"] == 2
