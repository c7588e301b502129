"""Request limits answer 4xx naming what was too big, never 500.

Body size (``max_body_bytes``, 413), events per batch (``max_events_per_request``,
413), paging and version bounds (422; PACT 400 with its error body), and the
hostile factory bodies of ``PUT /factory`` within time and memory bounds.
"""

from __future__ import annotations

import json
import time
import tracemalloc

import pytest
from api_helpers import get_token, make_settings
from fastapi.testclient import TestClient
from hostile_inputs import BOMB, DEEP_JSON

from carbontwin.api import create_app

BIG = 2**63  # one past the largest signed 64-bit integer: what broke the store before


@pytest.fixture
def small(tmp_path):
    """(client, headers) of an app with a 4 KiB body limit and 3 events per batch."""
    app = create_app(make_settings(tmp_path, max_body_bytes=4096, max_events_per_request=3))
    with TestClient(app, base_url="https://testserver") as client:
        yield client, {"Authorization": f"Bearer {get_token(client)}"}
    app.state.services.close()


def _power(n: int) -> dict[str, list[dict[str, object]]]:
    return {
        "power": [
            {
                "meter": "M-press",
                "t": f"2019-03-04T{6 + i // 60:02d}:{i % 60:02d}:00Z",
                "power_kw": 5.0,
            }
            for i in range(n)
        ]
    }


def test_body_over_the_limit_is_413_naming_the_setting(small):
    client, headers = small
    body = json.dumps(_power(100)).encode()
    assert len(body) > 4096
    r = client.post(
        "/events", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body"]
    assert "4,096 bytes" in err["msg"]
    assert "max_body_bytes" in err["msg"]


def test_streamed_body_without_length_is_cut_at_the_limit(small):
    client, headers = small

    def chunks():
        for _ in range(10):
            yield b" " * 1000  # whitespace: valid JSON padding, 10 kB in all

    r = client.put(
        "/factory", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "max_body_bytes" in r.json()["detail"][0]["msg"]


def test_pact_body_over_the_limit_is_a_pact_error(small):
    client, headers = small
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "https://partner.example",
        "type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
        "time": "2026-01-01T00:00:00Z",
        "data": {"pfIds": ["x" * 5000]},
    }
    r = client.post(
        "/3/events",
        content=json.dumps(event),
        headers={**headers, "Content-Type": "application/cloudevents+json"},
    )
    assert r.status_code == 413
    assert r.json()["code"] == "BadRequest"
    assert "max_body_bytes" in r.json()["message"]


def test_events_per_batch_are_bounded(small):
    client, headers = small
    r = client.post("/events", json=_power(4), headers=headers)
    assert r.status_code == 413
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body"]
    assert err["msg"].startswith("4 events in one batch; at most 3")


@pytest.mark.parametrize(
    ("url", "param"),
    [
        (f"/footprints?offset={BIG}", "offset"),
        ("/footprints?offset=-1", "offset"),
        (f"/footprints?limit={BIG}", "limit"),
        (f"/factory?version={BIG}", "version"),
        ("/factory?version=0", "version"),
        (f"/plant/hotspots?limit={BIG}", "limit"),
    ],
)
def test_paging_and_version_bounds_are_422(api, url, param):
    client, headers = api
    r = client.get(url, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", param]


@pytest.mark.parametrize("spec", [2, 3])
@pytest.mark.parametrize("param", ["offset", "limit"])
def test_pact_paging_bounds_are_pact_400(api, spec, param):
    client, headers = api
    r = client.get(f"/{spec}/footprints?{param}={BIG}", headers=headers)
    assert r.status_code == 400
    assert r.json()["code"] == "BadRequest"
    assert f"query.{param}" in r.json()["message"]


@pytest.mark.parametrize(
    ("body", "ctype", "needle"),
    [
        (BOMB, "application/yaml", "aliases (*name) repeat more than"),
        (DEEP_JSON, "application/json", "nests deeper than 64 levels"),
    ],
)
def test_hostile_factory_bodies_within_time_and_memory(api, body, ctype, needle):
    client, headers = api
    client.get("/health")  # the app's first request warms imports outside the measurement
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        r = client.put("/factory", content=body, headers={**headers, "Content-Type": ctype})
        wall = time.perf_counter() - t0
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert wall < 1.0
    assert peak_mb < 20.0


def _published(i: int) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{i}",
            "source": "https://partner.example",
            "type": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
            "time": "2026-01-01T00:00:00Z",
            "data": {"pfIds": [f"00000000-0000-4000-8000-00000000000{i}"]},
        }
    )


def test_stored_partner_events_are_bounded_and_expire(tmp_path, monkeypatch):
    from carbontwin.api import deps

    clock = [1_000_000.0]
    monkeypatch.setattr(deps.time, "time", lambda: clock[0])
    app = create_app(make_settings(tmp_path, max_stored_events=2, max_event_age_s=60.0))
    with TestClient(app, base_url="https://testserver") as client:
        headers = {
            "Authorization": f"Bearer {get_token(client)}",
            "Content-Type": "application/cloudevents+json",
        }
        for i in range(3):
            assert (
                client.post("/3/events", content=_published(i), headers=headers).status_code == 200
            )
        kept = app.state.services.received_events.items()
        assert [e["id"] for e in kept] == ["e-1", "e-2"]  # the oldest of three went
        clock[0] += 61.0
        assert app.state.services.received_events.items() == []  # all older than 60 s
    app.state.services.close()


def test_finished_simulation_jobs_are_bounded(tmp_path):
    from carbontwin.api.deps import Services

    services = Services(make_settings(tmp_path, max_stored_events=3, max_event_age_s=100.0))
    for i in range(3):
        services.add_job({"id": f"j{i}", "finished_at": 10.0 + i}, now=20.0)
    services.add_job({"id": "run", "finished_at": None}, now=20.0)  # drops j0, the oldest done
    assert list(services.jobs) == ["j1", "j2", "run"]
    services.add_job({"id": "late", "finished_at": None}, now=200.0)  # j1, j2 older than 100 s
    assert list(services.jobs) == ["run", "late"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"productId": 5}, "data.productId"),
        ({"productId": [5]}, "data.productId[0]"),
        ({"companyId": {"a": 1}}, "data.companyId"),
        ({"validOn": 5}, "data.validOn"),
        ({"status": ["Active"]}, "data.status"),
        ({"validAfter": "yesterday"}, "validAfter"),
    ],
)
def test_wrongly_typed_pact_request_criteria_are_pact_400(api, data, field):
    client, headers = api
    event = {
        "specversion": "1.0",
        "id": "r-1",
        "source": "https://buyer.example",
        "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
        "time": "2026-01-01T00:00:00Z",
        "data": data,
    }
    r = client.post(
        "/3/events",
        content=json.dumps(event),
        headers={**headers, "Content-Type": "application/cloudevents+json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "BadRequest"
    assert r.json()["message"].startswith(field)


def test_wrongly_typed_pact_list_filter_is_pact_400(api):
    client, headers = api
    r = client.get("/3/footprints?validOn=not-a-time", headers=headers)
    assert r.status_code == 400
    assert r.json() == {
        "code": "BadRequest",
        "message": "validOn 'not-a-time' is not an ISO 8601 date-time",
    }
