"""PACT conformance-service test cases for v2 (docs/v2-test-cases-expected-results.md).

One test per table entry (#1 .. #21); every ProductFootprint returned is
validated against the v2.2 schema (``specs/openapi_v2_2.yaml``, MIT).
Note: table #8 names the v2.0 error code ``NoSuchFootprint``; the v2.2 schema
lists ``NotFound`` instead. carbontwin answers ``NoSuchFootprint`` on ``/2`` as
the table expects.
"""

from __future__ import annotations

import uuid

import pytest
from pact_helpers import assert_valid, basic

CE = {"Content-Type": "application/cloudevents+json; charset=UTF-8"}
INVALID = {"Authorization": "Bearer invalid-access-token"}
V2_SOURCE = "https://v2.example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(client, token, params=None) -> list[dict]:
    r = client.get("/2/footprints", params=params, headers=bearer(token))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for doc in data:
        assert_valid(doc, 2)
    return data


def test_01_token_valid_credentials(pact_host):
    client, _ = pact_host
    r = client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic())
    assert r.status_code == 200
    assert r.json()["token_type"] == "Bearer"


def test_02_token_invalid_credentials(pact_host):
    client, _ = pact_host
    r = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic("pact-client", "bad"),
    )
    assert r.status_code in (400, 401)
    assert r.json()["error"] == "invalid_client"


def test_03_get_footprint(pact_host, token):
    client, issued = pact_host
    fp = issued[1]
    r = client.get(f"/2/footprints/{fp.id}", headers=bearer(token))
    assert r.status_code == 200
    doc = r.json()["data"]
    assert_valid(doc, 2)
    assert doc["id"] == fp.id
    assert doc["version"] == fp.version
    # v2.2 declares per kilogram: piece value / mass per piece
    mass = float(doc["pcf"]["unitaryProductAmount"])
    assert float(doc["pcf"]["pCfExcludingBiogenic"]) * mass == pytest.approx(
        fp.co2e_kg / fp.quantity, rel=1e-4
    )


def test_04_list_footprints(pact_host, token):
    client, issued = pact_host
    data = listed(client, token)
    assert {d["id"] for d in data} == {fp.id for fp in issued}
    assert next(d for d in data if d["id"] == issued[0].id)["status"] == "Deprecated"


def test_05_pagination(pact_host, token):
    client, issued = pact_host
    r = client.get("/2/footprints?limit=4", headers=bearer(token))
    assert r.status_code == 200
    assert len(r.json()["data"]) == 4
    nxt = next(p for p in r.headers["link"].split(", ") if p.endswith('rel="next"'))
    r2 = client.get(nxt[1 : nxt.index(">")], headers=bearer(token))
    assert r2.status_code == 200
    ids = [d["id"] for d in r.json()["data"] + r2.json()["data"]]
    assert sorted(ids) == sorted(fp.id for fp in issued)


def test_06_list_invalid_token(pact_host):
    client, _ = pact_host
    r = client.get("/2/footprints", headers=INVALID)
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


def test_07_get_invalid_token(pact_host):
    client, issued = pact_host
    r = client.get(f"/2/footprints/{issued[0].id}", headers=INVALID)
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


@pytest.mark.parametrize("pf_id", ["non-existent-id", str(uuid.UUID(int=9))])
def test_08_get_nonexistent(pact_host, token, pf_id):
    client, _ = pact_host
    r = client.get(f"/2/footprints/{pf_id}", headers=bearer(token))
    assert r.status_code in (400, 404)
    assert r.json() == {
        "code": "NoSuchFootprint",
        "message": f"Footprint with ID '{pf_id}' does not exist",
    }


def test_09_auth_over_http(pact_host):
    client, _ = pact_host
    r = client.post(
        "http://testserver/auth/token", data={"grant_type": "client_credentials"}, headers=basic()
    )
    assert "access_token" not in r.json()


def test_10_list_over_http(pact_host, token):
    client, _ = pact_host
    r = client.get("http://testserver/2/footprints", headers=bearer(token))
    assert r.status_code >= 400
    assert "data" not in r.json()


def test_11_get_over_http(pact_host, token):
    client, issued = pact_host
    r = client.get(f"http://testserver/2/footprints/{issued[0].id}", headers=bearer(token))
    assert r.status_code >= 400
    assert "data" not in r.json()


def _event(type_: str, event_id: str, data: dict) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": V2_SOURCE,
        "time": "2023-05-19T10:30:00Z",
        "type": type_,
        "data": data,
    }


def test_12_13_request_created_and_fulfilled(pact_host, token, receiver):
    client, issued = pact_host
    urn = listed(client, token)[2]["productIds"][0]
    ev = _event(
        "org.wbcsd.pathfinder.ProductFootprintRequest.Created.v1",
        "v2-run-12",
        {"pf": {"productIds": [urn]}, "comment": "Please send PCF data for this year."},
    )
    r = client.post("/2/events", json=ev, headers={**bearer(token), **CE})
    assert r.status_code == 200  # 12
    ((i, headers, body),) = [
        (i, h, b)
        for i, (h, b) in enumerate(receiver.events)
        if b["data"].get("requestEventId") == "v2-run-12"
    ]  # 13
    assert receiver.paths[i] == "/2/events"
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert "authorization" not in headers  # no token registered for this partner
    assert body["type"] == "org.wbcsd.pathfinder.ProductFootprintRequest.Fulfilled.v1"
    assert_valid(body, 2, "RequestFulfilledEvent")
    assert body["data"]["pfs"]
    for pf in body["data"]["pfs"]:
        assert_valid(pf, 2)
        assert urn in pf["productIds"]


def test_14_request_rejected(pact_host, token, receiver):
    client, _ = pact_host
    ev = _event(
        "org.wbcsd.pathfinder.ProductFootprintRequest.Created.v1",
        "v2-run-14",
        {"pf": {"productIds": ["urn:pact:null"]}, "comment": "Please send PCF data."},
    )
    r = client.post("/2/events", json=ev, headers={**bearer(token), **CE})
    assert r.status_code == 200  # 14.A
    ((_, body),) = [
        (h, b) for h, b in receiver.events if b["data"].get("requestEventId") == "v2-run-14"
    ]  # 14.B
    assert body["type"] == "org.wbcsd.pathfinder.ProductFootprintRequest.Rejected.v1"
    assert body["data"]["error"]["code"] == "NotFound"
    assert_valid(body, 2, "RequestRejectedEvent")


PUBLISHED = _event(
    "org.wbcsd.pathfinder.ProductFootprint.Published.v1",
    "123e4567-e89b-12d3-a456-426614174000",
    {"pfIds": ["3a6c14a7-4deb-498a-b5ea-16ce2535b576"]},
)


def test_15_published_event(pact_host, token):
    client, _ = pact_host
    r = client.post("/2/events", json=PUBLISHED, headers={**bearer(token), **CE})
    assert r.status_code == 200
    assert r.content == b""


def test_published_event_malformed(pact_host, token):
    """Conformance tool v2 #21: pfIds that are no UUIDs are a 400."""
    client, _ = pact_host
    event = {**PUBLISHED, "data": {"pfIds": ["urn:gtin:4712345060507"]}}
    r = client.post("/2/events", json=event, headers={**bearer(token), **CE})
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"
    assert r.json()["message"].startswith("data.pfIds[0]")


def test_request_without_pf_is_400(pact_host, token):
    client, _ = pact_host
    event = _event(
        "org.wbcsd.pathfinder.ProductFootprintRequest.Created.v1", "no-pf", {"comment": "x"}
    )
    r = client.post("/2/events", json=event, headers={**bearer(token), **CE})
    assert r.status_code == 400
    assert r.json()["message"].startswith("data.pf")


def test_16_events_invalid_token(pact_host):
    client, _ = pact_host
    r = client.post("/2/events", json=PUBLISHED, headers={**INVALID, **CE})
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


def test_17_events_over_http(pact_host, token):
    client, _ = pact_host
    r = client.post("http://testserver/2/events", json=PUBLISHED, headers={**bearer(token), **CE})
    assert r.status_code >= 400
    assert "data" not in r.json()


def test_18_openid_connect_flow(pact_host):
    client, _ = pact_host
    endpoint = client.get("/.well-known/openid-configuration").json()["token_endpoint"]
    r = client.post(endpoint, data={"grant_type": "client_credentials"}, headers=basic())
    assert r.status_code == 200
    assert r.json()["expires_in"] == 3600


def test_19_openid_connect_wrong_credentials(pact_host):
    client, _ = pact_host
    endpoint = client.get("/.well-known/openid-configuration").json()["token_endpoint"]
    r = client.post(
        endpoint, data={"grant_type": "client_credentials"}, headers=basic("nobody", "x")
    )
    assert r.status_code in (400, 401)


def test_20_odata_filter(pact_host, token):
    client, issued = pact_host
    everything = listed(client, token)
    created = sorted(d["created"] for d in everything)
    data = listed(client, token, {"$filter": f"created ge '{created[2]}'"})
    assert {d["id"] for d in data} == {d["id"] for d in everything if d["created"] >= created[2]}
    assert len(data) == len(issued) - 2
    urn = everything[1]["productIds"][0]
    data = listed(
        client,
        token,
        {"$filter": f"productIds/any(p:(p eq '{urn}')) and pcf/geographyCountry eq 'DE'"},
    )
    assert data
    assert all(urn in d["productIds"] for d in data)
    r = client.get("/2/footprints", params={"$filter": "created wibble 'x'"}, headers=bearer(token))
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"


def test_21_post_footprints_malformed(pact_host, token):
    client, _ = pact_host
    r = client.post(
        "/2/footprints",
        params={"$filter": "created ge '2023-01-15T10:15:30Z'"},
        headers=bearer(token),
    )
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"
