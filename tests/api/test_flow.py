"""Factory -> events -> footprints -> labels through the HTTP API."""

from __future__ import annotations

import pytest
from api_helpers import events_json

from carbontwin.plugins.signing import load_public_key, verify_document


def test_factory_round_trip_and_versions(api):
    from carbontwin.twin.examples import demo_factory
    from carbontwin.twin.factory_file import factory_to_dict

    client, headers = api
    doc = factory_to_dict(demo_factory())
    r1 = client.put("/factory", json=doc, headers=headers)
    r2 = client.put("/factory", json=doc, headers=headers)
    assert (r1.json()["version"], r2.json()["version"]) == (1, 2)
    got = client.get("/factory", headers=headers).json()
    assert got == doc
    assert len(client.get("/orders", headers=headers).json()) == len(demo_factory().orders)
    assert client.get("/factory?version=7", headers=headers).status_code == 404


def test_invalid_factory_lists_every_problem(api):
    client, headers = api
    r = client.put(
        "/factory", json={"id": "x", "name": "x", "machines": [{"id": "m1"}]}, headers=headers
    )
    assert r.status_code == 422
    body = r.json()
    assert body["detail"][0]["type"] == "FactoryModelError"
    assert len(body["errors"]) >= 2  # site missing, machine incomplete, ...


def test_events_are_idempotent(loaded, demo_batch):
    client, headers, _ = loaded
    r = client.post("/events", json=events_json(demo_batch), headers=headers)
    assert r.status_code == 200
    n = len(demo_batch)
    assert r.json() == {"received": n, "stored": 0, "unchanged": n, "corrected": 0}


def test_bad_event_names_the_field(loaded):
    client, headers, _ = loaded
    body = {"power": [{"meter": "no-such-meter", "t": "2019-03-04T06:00:00Z", "power_kw": 3}]}
    r = client.post("/events", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["meter"]
    assert "no-such-meter" in r.json()["detail"][0]["msg"]
    r = client.post(
        "/events",
        json={"power": [{"meter": "m", "t": "2019-03-04T06:00:00", "power_kw": -1}]},
        headers=headers,
    )
    assert r.status_code == 422
    locs = [tuple(e["loc"]) for e in r.json()["detail"]]
    assert ("body", "power", 0, "t") in locs
    assert ("body", "power", 0, "power_kw") in locs


def test_events_before_factory_is_a_conflict(api):
    client, headers = api
    r = client.post("/events", json={}, headers=headers)
    assert r.status_code == 409
    assert r.json()["detail"][0]["loc"] == ["factory"]


def test_issued_footprints_and_versions(loaded):
    client, headers, issued = loaded
    assert sorted(d["payload"]["order"] for d in issued) == ["O-1001", "O-1002", "O-1003", "O-1004"]
    again = client.post("/footprints/attribute", headers=headers)
    assert again.json() == {"issued": [], "uncovered": []}  # nothing changed, nothing re-issued
    r = client.get("/orders/O-1001/footprint", headers=headers)
    assert r.status_code == 200
    versions = r.json()["versions"]
    assert [v["payload"]["version"] for v in versions] == [1]
    fp = versions[0]["payload"]
    parts = fp["scope1_kg"] + fp["scope2_location_kg"] + fp["scope3_kg"]
    assert parts == pytest.approx(fp["co2e_kg"], rel=1e-9)
    assert fp["factory"] == "demo-plant"
    assert client.get("/orders/O-9999/footprint", headers=headers).status_code == 404


def test_signature_served_key_and_verification(loaded):
    client, headers, issued = loaded
    key = client.get("/.well-known/carbontwin-signing-key").json()
    pub = load_public_key(key["public_key_pem"])
    doc = client.get(f"/footprints/{issued[0]['payload']['id']}", headers=headers).json()
    assert doc == issued[0]
    assert verify_document(doc, pub).valid
    r = client.post("/footprints/verify", json=doc, headers=headers).json()
    assert (r["valid"], r["matches_store"]) == (True, True)
    doc["payload"]["co2e_kg"] += 0.001
    r = client.post("/footprints/verify", json=doc, headers=headers).json()
    assert (r["valid"], r["matches_store"]) == (False, False)
    fid = issued[0]["payload"]["id"]
    r = client.get(f"/footprints/{fid}/verify", headers=headers).json()
    assert r["valid"] is True
    wrong = issued[1]["signature"]["value"]
    r = client.get(f"/footprints/{fid}/verify", params={"signature": wrong}, headers=headers).json()
    assert r["valid"] is False


@pytest.mark.parametrize(
    ("fmt", "ctype"),
    [
        ("svg", "image/svg+xml"),
        ("html", "text/html"),
        ("pdf", "application/pdf"),
        ("json", "application/json"),
    ],
)
def test_label_formats(loaded, fmt, ctype):
    client, headers, issued = loaded
    r = client.get("/labels/O-1003", params={"format": fmt}, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(ctype)
    assert r.headers["x-carbontwin-key-id"]
    if fmt == "json":
        doc = r.json()
        assert doc["footprint"]["signature"]["value"] == r.headers["x-carbontwin-signature"]
        label = doc["label"]
        fp = next(d["payload"] for d in issued if d["payload"]["order"] == "O-1003")
        assert label["per_unit_kg"] == pytest.approx(fp["co2e_kg"] / fp["quantity"], rel=1e-6)
        assert label["qr_url"] == f"https://testserver/public/footprints/{fp['id']}"
        assert label["product"] == "Aluminium gearbox housing"
    if fmt == "svg":
        assert "Aluminium gearbox housing" in r.text


def test_label_without_footprint_is_404(loaded):
    client, headers, _ = loaded
    r = client.get("/labels/O-1030", headers=headers)
    assert r.status_code == 404
    assert r.json()["detail"][0]["loc"] == ["order_id"]


def test_aas_submodel_of_an_issued_footprint(loaded):
    client, headers, issued = loaded
    fp = issued[0]["payload"]
    r = client.get(f"/footprints/{fp['id']}/aas", headers=headers)
    assert r.status_code == 200
    doc = r.json()
    assert doc["idShort"] == "CarbonFootprint"
    assert doc["id"] == f"urn:uuid:{fp['id']}"
    pcf = doc["submodelElements"][0]["value"][0]["value"]
    co2 = next(e for e in pcf if e.get("idShort") == "PcfCO2eq")
    assert float(co2["value"]) == pytest.approx(fp["co2e_kg"] / fp["quantity"], abs=1e-6)
    api = doc["submodelElements"][1]["value"][0]["value"][2]["value"][0]
    assert api["value"] == f"https://testserver/3/footprints/{fp['id']}"


def test_unknown_material_is_refused(loaded):
    client, headers, _ = loaded
    body = {
        "materials": [
            {"order": "O-1001", "material": "unobtainium", "quantity": 1.0, "booking": "B1"}
        ]
    }
    r = client.post("/events", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["material"]
    assert r.json()["rows"] == [
        {"kind": "materials", "row": 0, "msg": "materials[0]: unknown material 'unobtainium'"}
    ]
    # a booking without its own id is refused by the request's schema
    del body["materials"][0]["booking"]
    r = client.post("/events", json=body, headers=headers)
    assert r.status_code == 422
    assert ["body", "materials", 0, "booking"] in [e["loc"] for e in r.json()["detail"]]
