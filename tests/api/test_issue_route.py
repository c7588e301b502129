"""``POST /footprints/issue``: windowed issuing over HTTP gives the footprints a
whole-history attribution gives, issues each order once, and says what waits."""

from __future__ import annotations

import pytest
from api_helpers import events_json

from carbontwin.twin.factory_file import factory_to_dict

FIGURES = ("energy_kwh", "co2e_kg", "scope1_kg", "scope2_location_kg", "scope3_kg")


@pytest.fixture(scope="module")
def demo_day():
    from carbontwin.api.demo import simulate_day

    return simulate_day(seed=3)


def test_windowed_issuing_over_http(db_client, demo_day):
    from carbontwin.api.issuing import attribute_inputs, read_inputs

    client = db_client
    r = client.post("/footprints/issue")
    assert r.status_code == 409, r.text  # no factory yet
    assert "PUT /factory" in r.text
    assert client.put("/factory", json=factory_to_dict(demo_day.factory)).status_code == 200
    body = [
        {"id": o.id, "product": o.product, "quantity": o.quantity,
         "release": o.release.isoformat(), "due": o.due.isoformat()}
        for o in demo_day.orders
    ]  # fmt: skip
    assert client.put("/orders", json=body).status_code == 200
    assert client.post("/events", json=events_json(demo_day.events)).status_code == 200
    r = client.post("/footprints/issue", json={"window": "period"})
    assert r.status_code == 200, r.text
    out = r.json()
    issued = {d["payload"]["order"]: d["payload"] for d in out["issued"]}
    assert out["windows_attributed"] >= 2
    # the orders whose last step ended by the last closed window, and only those
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    ev = demo_day.events
    for o, s, e in zip(ev.step_order, ev.step_start, ev.step_end, strict=True):
        first[str(o)] = min(first.get(str(o), float(s)), float(s))
        last[str(o)] = max(last.get(str(o), 0.0), float(e))
    from datetime import datetime

    closed = datetime.fromisoformat(out["closed_until"]).timestamp()
    assert set(issued) == {o for o, e in last.items() if e <= closed}
    # begun in the closed time, not ended in it
    assert set(out["waiting"]) == {o for o, e in last.items() if e > closed and first[o] < closed}
    assert out["waiting"]
    assert all(d["signature"] for d in out["issued"])
    # the figures of a whole-history attribution of the same store (another path)
    store = client.app.state.services.for_tenant("default").store
    whole = attribute_inputs(read_inputs(store)).footprints
    for o, fp in issued.items():
        for f in FIGURES:
            assert fp[f] == pytest.approx(getattr(whole[o], f), rel=1e-9, abs=1e-9), (o, f)
    # nothing new: nothing attributed, nothing issued
    again = client.post("/footprints/issue", json={"window": "period"}).json()
    assert (again["windows_attributed"], again["issued"]) == (0, [])
    # a bad body names its field
    r = client.post("/footprints/issue", json={"window": "week"})
    assert r.status_code == 422
    assert "window" in r.text


def test_a_store_too_large_to_attribute_at_once_is_refused_with_the_way_out(tmp_path, demo_day):
    from api_helpers import get_token, make_settings
    from fastapi.testclient import TestClient

    from carbontwin.api import create_app

    n = len(demo_day.events)
    app = create_app(make_settings(tmp_path, max_history_events=n - 1))
    with TestClient(app, base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {get_token(client)}"
        assert client.put("/factory", json=factory_to_dict(demo_day.factory)).status_code == 200
        assert client.post("/events", json=events_json(demo_day.events)).status_code == 200
        store = app.state.services.for_tenant("default").store
        # counted up to a limit, whatever is stored
        assert store.count_events_upto(10) == 10
        assert store.count_events_upto(10 * n) == sum(store.count_events().values()) == n
        for method, path in (
            ("post", "/footprints/attribute"),
            ("post", "/orders/O-1001/footprint"),
            ("get", "/plant/energy-flow"),
            ("get", "/plant/hotspots"),
        ):
            r = getattr(client, method)(path)
            assert r.status_code == 413, (path, r.text)
            assert f"more than {n - 1:,} events" in r.text
            assert "POST /footprints/issue" in r.text
        # window by window it goes through
        r = client.post("/footprints/issue")
        assert r.status_code == 200, r.text
        assert r.json()["issued"]
    app.state.services.close()
    # at the limit, the whole-history route works
    app = create_app(make_settings(tmp_path, max_history_events=n))
    with TestClient(app, base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {get_token(client)}"
        assert client.get("/plant/energy-flow").status_code == 200
    app.state.services.close()
