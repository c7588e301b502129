"""PACT conformance-service test cases for v3 (docs/v3-test-cases-expected-results.md).

One test per table entry (#1 .. #40), against the app over HTTPS (TestClient
``base_url="https://testserver"``); HTTP cases use ``http://testserver``.
Every returned ProductFootprint is validated against the v3.0 schema of the
MIT-licensed conformance-service OpenAPI file (``specs/openapi_v3_0.yaml``).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from pact_helpers import (
    CLASSIFICATION,
    PARTNER_SOURCE,
    PARTNER_TOKEN,
    assert_valid,
    basic,
)

CE = {"Content-Type": "application/cloudevents+json; charset=UTF-8"}
INVALID = {"Authorization": "Bearer invalid-access-token"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def listed(client, token, query: str = "") -> list[dict]:
    r = client.get(f"/3/footprints{query}", headers=bearer(token))
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for doc in data:
        assert_valid(doc, 3)
    return data


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_01_token_valid_credentials(pact_host):
    client, _ = pact_host
    r = client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic())
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert len(body["access_token"]) > 20


@pytest.mark.parametrize(
    ("client_id", "secret"), [("pact-client", "wrong"), ("other", "x"), ("", "")]
)
def test_02_token_invalid_credentials(pact_host, client_id, secret):
    client, _ = pact_host
    r = client.post(
        "/auth/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, secret)
    )
    assert r.status_code in (400, 401)
    assert r.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }


def test_03_get_footprint(pact_host, token):
    client, issued = pact_host
    fp = issued[2]
    r = client.get(f"/3/footprints/{fp.id}", headers=bearer(token))
    assert r.status_code == 200
    doc = r.json()["data"]
    assert_valid(doc, 3)
    assert doc["id"] == fp.id
    assert doc["status"] == "Active"
    assert float(doc["pcf"]["pcfExcludingBiogenicUptake"]) == pytest.approx(
        fp.co2e_kg / fp.quantity, rel=1e-5
    )


def test_04_list_footprints(pact_host, token):
    client, issued = pact_host
    data = listed(client, token)
    assert {d["id"] for d in data} == {fp.id for fp in issued}
    deprecated = [d for d in data if d["status"] == "Deprecated"]
    assert [d["id"] for d in deprecated] == [issued[0].id]
    correction = next(d for d in data if d["id"] == issued[-1].id)
    assert correction["precedingPfIds"] == [issued[0].id]


def test_05_pagination_links(pact_host, token):
    client, issued = pact_host
    r = client.get("/3/footprints?limit=2", headers={**bearer(token), "host": "api.example.com"})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 2
    link = r.headers["link"]
    assert 'rel="next"' in link
    assert 'rel="last"' in link
    nxt = next(p for p in link.split(", ") if p.endswith('rel="next"'))
    url = nxt[1 : nxt.index(">")]
    assert url.startswith("https://api.example.com/3/footprints?")
    seen = [d["id"] for d in r.json()["data"]]
    while url:  # follow every pagination link to the end
        r = client.get(url, headers=bearer(token))
        assert r.status_code == 200
        seen += [d["id"] for d in r.json()["data"]]
        nxt_links = [p for p in r.headers.get("link", "").split(", ") if p.endswith('rel="next"')]
        url = nxt_links[0][1 : nxt_links[0].index(">")] if nxt_links else ""
    assert sorted(seen) == sorted(fp.id for fp in issued)
    r = client.get("/3/footprints?offset=2", headers=bearer(token))
    assert r.status_code == 200
    assert len(r.json()["data"]) == len(issued) - 2
    assert 'rel="prev"' in r.headers["link"]


def test_06_list_invalid_token(pact_host):
    client, _ = pact_host
    r = client.get("/3/footprints", headers=INVALID)
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


def test_07_get_invalid_token(pact_host):
    client, issued = pact_host
    r = client.get(f"/3/footprints/{issued[1].id}", headers=INVALID)
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


@pytest.mark.parametrize("pf_id", ["non-existent-id", str(uuid.UUID(int=7))])
def test_08_get_nonexistent(pact_host, token, pf_id):
    client, _ = pact_host
    r = client.get(f"/3/footprints/{pf_id}", headers=bearer(token))
    assert r.status_code in (400, 404)
    assert r.json() == {
        "code": "NotFound",
        "message": f"Footprint with ID '{pf_id}' does not exist",
    }


def test_09_auth_over_http(pact_host):
    client, _ = pact_host
    r = client.post(
        "http://testserver/auth/token", data={"grant_type": "client_credentials"}, headers=basic()
    )
    assert r.status_code >= 400
    assert "access_token" not in r.json()


def test_10_list_over_http(pact_host, token):
    client, _ = pact_host
    r = client.get("http://testserver/3/footprints", headers=bearer(token))
    assert r.status_code >= 400
    assert "data" not in r.json()


def test_11_get_over_http(pact_host, token):
    client, issued = pact_host
    r = client.get(f"http://testserver/3/footprints/{issued[1].id}", headers=bearer(token))
    assert r.status_code >= 400
    assert "data" not in r.json()


def _request_event(product_ids: list[str], event_id: str) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": PARTNER_SOURCE,
        "time": "2023-05-19T10:30:00Z",
        "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
        "data": {"productId": product_ids, "comment": "Please send PCF data for this year."},
    }


def _callbacks(receiver, event_id: str) -> list[tuple[dict, dict]]:
    return [(h, b) for h, b in receiver.events if b["data"].get("requestEventId") == event_id]


def test_12_13_request_created_and_fulfilled(pact_host, token, receiver):
    client, issued = pact_host
    product_urn = listed(client, token)[1]["productIds"][0]
    r = client.post(
        "/3/events",
        json=_request_event([product_urn], "test-run-id-12345"),
        headers={**bearer(token), **CE},
    )
    assert r.status_code == 200  # 12
    assert r.content == b""
    ((headers, body),) = _callbacks(receiver, "test-run-id-12345")  # 13
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert headers["authorization"] == f"Bearer {PARTNER_TOKEN}"
    assert body["type"] == "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
    assert body["specversion"] == "1.0"
    assert_valid(body, 3, "RequestFulfilledEvent")
    assert body["data"]["pfs"]
    for pf in body["data"]["pfs"]:
        assert_valid(pf, 3)
        assert product_urn in pf["productIds"]


def test_14_request_rejected(pact_host, token, receiver):
    client, _ = pact_host
    r = client.post(
        "/3/events",
        json=_request_event(["urn:null"], "test-run-id-14"),
        headers={**bearer(token), **CE},
    )
    assert r.status_code == 200  # 14.A
    ((_, body),) = _callbacks(receiver, "test-run-id-14")  # 14.B
    assert body["type"] == "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
    assert body["data"]["error"] == {
        "code": "NotFound",
        "message": "The requested footprint could not be found.",
    }
    assert_valid(body, 3, "RequestRejectedEvent")


PUBLISHED = {
    "type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
    "specversion": "1.0",
    "id": "123e4567-e89b-12d3-a456-426614174000",
    "source": PARTNER_SOURCE,
    "time": "2023-05-19T11:30:00Z",
    "data": {"pfIds": ["3a6c14a7-4deb-498a-b5ea-16ce2535b576"]},
}


def test_15_published_event(pact_host, token):
    client, _ = pact_host
    r = client.post("/3/events", json=PUBLISHED, headers={**bearer(token), **CE})
    assert r.status_code == 200
    assert r.content == b""


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pfIds": ["urn:gtin:4712345060507"]}, "data.pfIds[0]"),  # the tool's #40
        ({"pfIds": []}, "data.pfIds"),
        ({}, "data.pfIds"),
    ],
)
def test_published_event_malformed(pact_host, token, data, field):
    """Conformance tool #40: a PublishedEvent whose pfIds are no UUIDs is a 400."""
    client, _ = pact_host
    r = client.post("/3/events", json={**PUBLISHED, "data": data}, headers={**bearer(token), **CE})
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"
    assert r.json()["message"].startswith(field)


def test_request_from_unconfigured_source_answered_at_its_events_endpoint(
    pact_host, token, receiver, monkeypatch
):
    """A requester with no partner entry gets its answer at {source}/3/events, where that
    is a private address (the receiver on 127.0.0.1) only when the settings allow it."""
    client, issued = pact_host
    product_urn = listed(client, token)[1]["productIds"][0]
    event = {**_request_event([product_urn], "unconfigured-12"), "source": receiver.url}
    r = client.post("/3/events", json=event, headers={**bearer(token), **CE})
    assert r.status_code == 400
    assert (
        f"event source '{receiver.url}/3/events' is not a public address (127.0.0.1)"
        in (r.json()["message"])
    )
    assert _callbacks(receiver, "unconfigured-12") == []
    settings = client.app.state.services.settings
    monkeypatch.setattr(settings, "pact_answer_private_sources", True)
    r = client.post("/3/events", json=event, headers={**bearer(token), **CE})
    assert r.status_code == 200
    ((headers, body),) = _callbacks(receiver, "unconfigured-12")
    assert "authorization" not in headers
    assert receiver.paths[-1] == "/3/events"
    assert body["type"] == "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
    assert body["source"].endswith("/3/events")


def test_request_from_unreachable_source_is_400(pact_host, token):
    client, _ = pact_host
    event = {**_request_event(["urn:x"], "bad-source"), "source": "urn:not-a-host"}
    r = client.post("/3/events", json=event, headers={**bearer(token), **CE})
    assert r.status_code == 400
    assert "source" in r.json()["message"]


def test_16_events_invalid_token(pact_host):
    client, _ = pact_host
    r = client.post("/3/events", json=PUBLISHED, headers={**INVALID, **CE})
    assert r.status_code in (400, 401)
    assert r.json() == {"code": "BadRequest", "message": "Invalid token provided"}


def test_17_events_over_http(pact_host, token):
    client, _ = pact_host
    r = client.post("http://testserver/3/events", json=PUBLISHED, headers={**bearer(token), **CE})
    assert r.status_code >= 400
    assert "data" not in r.json()


def test_18_openid_connect_flow(pact_host):
    client, _ = pact_host
    conf = client.get("/.well-known/openid-configuration").json()
    assert conf["token_endpoint"] == "https://testserver/auth/token"
    r = client.post(
        conf["token_endpoint"], data={"grant_type": "client_credentials"}, headers=basic()
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "Bearer"
    assert "scope" in r.json()


def test_19_openid_connect_wrong_credentials(pact_host):
    client, _ = pact_host
    conf = client.get("/.well-known/openid-configuration").json()
    r = client.post(
        conf["token_endpoint"],
        data={"grant_type": "client_credentials"},
        headers=basic("pact-client", "nope"),
    )
    assert r.status_code in (400, 401)
    assert r.json()["error"] == "invalid_client"


def test_20_filter_product_id(pact_host, token):
    client, issued = pact_host
    urn = listed(client, token)[2]["productIds"][0]
    data = listed(client, token, f"?productId={urn.upper()}")  # case-insensitive
    assert data
    assert all(urn in d["productIds"] for d in data)
    # product ids are per batch (order): every version of that order, and only those
    order = urn.rsplit(":batch:", 1)[1]
    assert {d["id"] for d in data} == {fp.id for fp in issued if fp.order == order}
    # the product itself is a classification
    product = urn.split(":product-id:", 1)[1].split(":batch:")[0]
    family = f"urn:pact:productclassification:carbontwin.local:product:{product}"
    data = listed(client, token, f"?classification={family}")
    assert {d["id"] for d in data} == {fp.id for fp in issued if fp.product == product}


def test_21_filter_company_id(pact_host, token):
    client, issued = pact_host
    company = listed(client, token)[0]["companyIds"][0]
    assert len(listed(client, token, f"?companyId={company}")) == len(issued)


def test_22_filter_geography(pact_host, token):
    client, issued = pact_host
    data = listed(client, token, "?geography=DE")
    assert len(data) == len(issued)
    assert all(d["pcf"]["geographyCountry"] == "DE" for d in data)


def test_23_filter_classification(pact_host, token):
    client, issued = pact_host
    data = listed(client, token, "?classification=" + CLASSIFICATION.replace("#", "%23"))
    assert {d["id"] for d in data} == {fp.id for fp in issued if fp.product == "bracket"}
    assert all(CLASSIFICATION in d["productClassifications"] for d in data)


def test_24_filter_valid_on(pact_host, token):
    client, issued = pact_host
    # validity: 3 years from the reference period end (the spec's default)
    on = (issued[3].period_end + timedelta(days=400)).isoformat().replace("+00:00", "Z")
    data = listed(client, token, f"?validOn={on}")
    assert issued[3].id in {d["id"] for d in data}
    assert all(
        _time(d["validityPeriodStart"]) <= _time(on) <= _time(d["validityPeriodEnd"]) for d in data
    )


def test_25_filter_valid_after(pact_host, token):
    client, issued = pact_host
    first_end = min(fp.period_end for fp in issued)
    after = (first_end - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert len(listed(client, token, f"?validAfter={after}")) == len(issued)


def test_26_filter_valid_before(pact_host, token):
    client, issued = pact_host
    last_end = max(fp.period_end for fp in issued)
    before = (last_end + timedelta(days=4 * 365)).isoformat().replace("+00:00", "Z")
    assert len(listed(client, token, f"?validBefore={before}")) == len(issued)


def test_27_filter_status(pact_host, token):
    client, issued = pact_host
    data = listed(client, token, "?status=Active")
    assert len(data) == len(issued) - 1
    assert issued[0].id not in {d["id"] for d in data}
    assert [d["id"] for d in listed(client, token, "?status=deprecated")] == [issued[0].id]


def test_28_filter_status_and_product(pact_host, token):
    client, issued = pact_host
    urn = next(d for d in listed(client, token) if d["id"] == issued[0].id)["productIds"][0]
    data = listed(client, token, f"?status=Active&productId={urn}")
    # the batch's Active version is the correction only: one Active per product id
    assert {d["id"] for d in data} == {fp.id for fp in issued[1:] if fp.order == issued[0].order}


def test_29_filter_company_or(pact_host, token):
    client, issued = pact_host
    company = listed(client, token)[0]["companyIds"][0]
    q = f"?companyId={company}&companyId=urn:uuid:other-company&companyId=urn:uuid:another-company"
    assert len(listed(client, token, q)) == len(issued)


@pytest.mark.parametrize(
    "query",
    [
        "?productId=urn:bogus:product:nonexistent123",  # 30
        "?companyId=urn:bogus:company:nonexistent456",  # 31
        "?geography=XX",  # 32
        "?classification=urn:bogus:classification:nonexistent789",  # 33
        "?validOn=1900-01-01T00:00:00Z",  # 34
        "?validAfter=2099-12-31T23:59:59Z",  # 35
        "?validBefore=1900-01-01T00:00:00Z",  # 36
        "?status=BogusStatusValue",  # 37
        "?companyId=urn:bogus:company:5FIi8zS3&productId=urn:bogus:product:nonexistent123",  # 38
        "?companyId=urn:bogus:company:nonexistent1&companyId=urn:bogus:company:nonexistent2"
        "&companyId=urn:bogus:company:nonexistent3",  # 39
    ],
    ids=[f"case_{n}" for n in range(30, 40)],
)
def test_30_39_filters_negative(pact_host, token, query):
    client, _ = pact_host
    r = client.get(f"/3/footprints{query}", headers=bearer(token))
    assert r.status_code == 200
    assert r.json() == {"data": []}


def test_40_odata_filter_rejected(pact_host, token):
    client, _ = pact_host
    r = client.get(
        "/3/footprints",
        params={"$filter": "created ge '2023-01-15T10:15:30Z'"},
        headers=bearer(token),
    )
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"
