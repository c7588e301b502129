"""The plant views over a span (``start``/``end``), and one order's breakdown on a store
too large to attribute at once: read only the periods concerned, with the figures of
the whole-history attribution."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from api_helpers import events_json, get_token, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.twin.factory_file import factory_to_dict

BY = ("machine", "state", "utility", "material", "scope", "hour")


@pytest.fixture(scope="module")
def demo_day():
    from carbontwin.api.demo import simulate_day

    return simulate_day(seed=3)


def _client(tmp_path, limit):
    app = create_app(make_settings(tmp_path, max_history_events=limit))
    client = TestClient(app, base_url="https://testserver")
    client.__enter__()
    client.headers["Authorization"] = f"Bearer {get_token(client)}"
    return app, client


def _close(app, client):
    client.__exit__(None, None, None)
    app.state.services.close()


def _links(flow: dict) -> dict[tuple[str, str], float]:
    return {(x["source"], x["target"]): x["energy_kwh"] for x in flow["links"]}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_spans_add_up_and_the_whole_span_is_the_whole_history(tmp_path, demo_day):
    from carbontwin.twin.windows import window_bounds

    app, client = _client(tmp_path, 10**9)
    try:
        assert client.put("/factory", json=factory_to_dict(demo_day.factory)).status_code == 200
        assert client.post("/events", json=events_json(demo_day.events)).status_code == 200
        ev = demo_day.events
        t0, t1 = float(ev.power_t.min()), float(ev.power_t.max())
        whole = _links(client.get("/plant/energy-flow").json())
        span = client.get(
            "/plant/energy-flow", params={"start": _iso(t0), "end": _iso(t1 + 1)}
        ).json()
        # a span of centuries reads no more than the stored events (cut to their span)
        ages = client.get(
            "/plant/energy-flow",
            params={"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"},
        ).json()
        for got in (span, ages):
            assert _links(got).keys() == whole.keys()
            for k, e in whole.items():
                assert _links(got)[k] == pytest.approx(e, rel=1e-9, abs=1e-9), k
        # two spans that meet at a period bound add up to the span around them
        bounds = window_bounds(demo_day.factory, t0, t1, window="period")
        assert bounds.size >= 4
        a, m, b = (float(x) for x in bounds[[1, 2, 3]])
        parts = [
            _links(
                client.get("/plant/energy-flow", params={"start": _iso(x), "end": _iso(y)}).json()
            )
            for x, y in ((a, m), (m, b), (a, b))
        ]
        first, second, both = parts
        assert both
        for k, e in both.items():
            assert first.get(k, 0.0) + second.get(k, 0.0) == pytest.approx(e, rel=1e-9, abs=1e-9)
        assert sum(both.values()) < sum(whole.values())
        r = client.get("/plant/hotspots", params={"start": _iso(a), "end": _iso(b)})
        assert r.status_code == 200, r.text
        r = client.get("/plant/energy-flow", params={"start": _iso(a)})
        assert r.status_code == 422
        assert "both start and end" in r.text
    finally:
        _close(app, client)


def test_an_orders_breakdown_on_a_large_store_is_read_from_its_own_periods(tmp_path, demo_day):
    n = len(demo_day.events)
    app, client = _client(tmp_path, 10**9)
    try:
        assert client.put("/factory", json=factory_to_dict(demo_day.factory)).status_code == 200
        assert client.post("/events", json=events_json(demo_day.events)).status_code == 200
        whole = {
            by: client.get(f"/breakdowns/{by}", params={"order": "O-1003"}).json() for by in BY
        }
    finally:
        _close(app, client)
    app, client = _client(tmp_path, n - 1)  # the same store, now over the limit
    try:
        assert client.get("/plant/energy-flow").status_code == 413
        for by in BY:
            r = client.get(f"/breakdowns/{by}", params={"order": "O-1003"})
            assert r.status_code == 200, (by, r.text)
            rows, want = r.json()["rows"], whole[by]["rows"]
            assert len(rows) == len(want) > 0, by
            for got, exp in zip(rows, want, strict=True):
                for k, v in exp.items():
                    if isinstance(v, float):
                        assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (by, k)
                    else:
                        assert got[k] == v, (by, k)
        r = client.get("/breakdowns/machine", params={"order": "O-9999"})
        assert r.status_code == 404
    finally:
        _close(app, client)
    # a span holding more events than the limit is refused before it is read
    app, client = _client(tmp_path, 1000)
    try:
        year = {"start": "2019-01-01T00:00:00Z", "end": "2019-12-31T00:00:00Z"}
        r = client.get("/plant/hotspots", params=year)
        assert r.status_code == 413
        assert "that span holds more than 1,000 events" in r.text
    finally:
        _close(app, client)


def _breakdowns(client, order: str) -> dict[str, list[dict]]:
    out = {}
    for by in BY:
        r = client.get(f"/breakdowns/{by}", params={"order": order})
        assert r.status_code == 200, (by, r.text)
        out[by] = r.json()["rows"]
    return out


def _same_rows(got: dict[str, list[dict]], want: dict[str, list[dict]]) -> None:
    for by in BY:
        assert len(got[by]) == len(want[by]) > 0, by
        for g, w in zip(got[by], want[by], strict=True):
            for k, v in w.items():
                if isinstance(v, float):
                    assert g[k] == pytest.approx(v, rel=1e-9, abs=1e-9), (by, k)
                else:
                    assert g[k] == v, (by, k)


def test_an_issued_orders_breakdown_on_a_large_store_comes_from_its_windows(
    tmp_path, demo_day, monkeypatch
):
    from carbontwin.twin.store import Store

    n = len(demo_day.events)
    app, client = _client(tmp_path, 10**9)
    try:
        assert client.put("/factory", json=factory_to_dict(demo_day.factory)).status_code == 200
        assert client.post("/events", json=events_json(demo_day.events)).status_code == 200
        out = client.post("/footprints/issue", json={"window": "period"}).json()
        order = sorted(d["payload"]["order"] for d in out["issued"])[0]
        whole = _breakdowns(client, order)
    finally:
        _close(app, client)
    reads: list[str] = []
    for name in ("read_events", "read_window"):
        real = getattr(Store, name)

        def counted(self, *a, _real=real, _name=name, **k):
            reads.append(_name)
            return _real(self, *a, **k)

        monkeypatch.setattr(Store, name, counted)
    app, client = _client(tmp_path, n - 1)  # the same store, now over the limit
    try:
        # the pieces its windows hold: the whole history's figures, no event read
        _same_rows(_breakdowns(client, order), whole)
        assert reads == []
        # late data reaching its window: its periods are attributed again (events read),
        # with the new reading in the figures
        ev = demo_day.events
        asset = str(ev.step_asset[list(ev.step_order).index(order)])
        meter = next(m.id for m in demo_day.factory.meters if asset in m.measures)
        rows = ev.power_meter == meter
        t = float(ev.step_start[list(ev.step_order).index(order)]) + 0.5
        assert not (ev.power_t[rows] == t).any()
        late = {"power": [{"meter": meter, "t": _iso(t), "power_kw": 999.0}]}
        assert client.post("/events", json=late).json()["stored"] == 1
        after = _breakdowns(client, order)
        assert reads
        assert set(reads) == {"read_window"}
    finally:
        _close(app, client)
    reads.clear()
    app, client = _client(tmp_path, 10**9)
    try:
        _same_rows(after, _breakdowns(client, order))  # the whole history with it
        assert "read_events" in reads
        assert after["machine"][0]["energy_kwh"] != whole["machine"][0]["energy_kwh"]
    finally:
        _close(app, client)
