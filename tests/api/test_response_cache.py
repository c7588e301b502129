"""Rendered PACT documents and labels are cached per worker: a repeated request reads
only the footprint's head from the store, and a new footprint version or factory
version is never hidden by the cache."""

from __future__ import annotations

from collections import Counter

import pytest
from api_helpers import events_json, get_token, make_settings
from db_helpers import postgres_schema
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.api._cache import CachedResponse, ResponseCache
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict


class CountingStore:
    """The store, counting the calls of each of its methods."""

    def __init__(self, store) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name):
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def issued(request, tmp_path, demo_batch):
    """(services, client, issued footprints) of the demo, the store counting its calls."""
    ctx = None
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    if request.param == "postgres":
        ctx = postgres_schema(request.getfixturevalue("postgres_url"))
        url = ctx.__enter__()
    app = create_app(make_settings(tmp_path, database_url=url))
    services = app.state.services
    try:
        with TestClient(app, base_url="https://testserver") as client:
            client.headers["Authorization"] = f"Bearer {get_token(client)}"
            assert client.put("/factory", json=factory_to_dict(demo_factory())).status_code == 200
            assert client.post("/events", json=events_json(demo_batch)).status_code == 200
            fps = client.post("/footprints/attribute").json()["issued"]
            assert len(fps) >= 2
            services._store = CountingStore(services.store)
            yield services, client, [f["payload"] for f in fps]
    finally:
        services.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)


@pytest.mark.parametrize("path", ["/3/footprints/{id}", "/2/footprints/{id}", "/labels/{order}"])
def test_a_second_request_reads_only_the_head(issued, path):
    services, client, fps = issued
    url = path.format(id=fps[0]["id"], order=fps[0]["order"])
    first = client.get(url)
    assert first.status_code == 200, first.text
    assert services.store.calls["get_footprint"] == 1  # rendered from the stored footprint
    services.store.calls.clear()
    second = client.get(url)
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == first.headers["content-type"]
    assert dict(services.store.calls) == {"footprint_head": 1}
    assert services.responses.hits == 1


def test_label_formats_and_hosts_are_cached_apart(issued):
    services, client, fps = issued
    order = fps[0]["order"]
    svg = client.get(f"/labels/{order}")
    doc = client.get(f"/labels/{order}", params={"format": "json"})
    assert svg.headers["content-type"] == "image/svg+xml"
    assert doc.json()["footprint"]["payload"]["id"] == fps[0]["id"]
    # the label's QR code links to the host it was asked from
    assert doc.json()["context"]["pact_url"].startswith("https://testserver/")
    other = client.get(f"https://other.example/labels/{order}", params={"format": "json"})
    assert other.json()["context"]["pact_url"].startswith("https://other.example/")
    assert svg.headers["x-carbontwin-signature"] == doc.headers["x-carbontwin-signature"] != ""
    assert services.responses.hits == 0


def test_a_new_version_is_not_hidden_by_the_cache(issued):
    services, client, fps = issued
    v1 = fps[0]
    before = client.get(f"/3/footprints/{v1['id']}").json()["data"]
    label = client.get(f"/labels/{v1['order']}", params={"format": "json"}).json()
    assert before["status"] == "Active"
    assert label["footprint"]["payload"]["version"] == 1
    v2 = services.store.withdraw_footprint(v1["order"], services.signer, "recalled")
    # PACT: a version with a later one is Deprecated; the withdrawal itself is Deprecated
    after = client.get(f"/3/footprints/{v1['id']}").json()["data"]
    assert after["status"] == "Deprecated"
    assert client.get(f"/3/footprints/{v2.id}").json()["data"]["status"] == "Deprecated"
    label = client.get(f"/labels/{v1['order']}", params={"format": "json"}).json()
    assert label["footprint"]["payload"]["id"] == v2.id
    assert label["footprint"]["payload"]["version"] == 2
    # the other orders' footprints are untouched and still answered from the cache
    client.get(f"/3/footprints/{fps[1]['id']}")
    services.store.calls.clear()
    hits = services.responses.hits
    assert client.get(f"/3/footprints/{fps[1]['id']}").json()["data"]["status"] == "Active"
    assert services.responses.hits == hits + 1


def test_a_new_factory_version_is_not_hidden_by_the_cache(issued):
    services, client, fps = issued
    fp = fps[0]
    name = demo_factory().name
    assert client.get(f"/3/footprints/{fp['id']}").json()["data"]["companyName"] == name
    renamed = factory_to_dict(demo_factory())
    renamed["name"] = "Renamed Works"
    assert client.put("/factory", json=renamed).status_code == 200
    assert client.get(f"/3/footprints/{fp['id']}").json()["data"]["companyName"] == "Renamed Works"
    label = client.get(f"/labels/{fp['order']}", params={"format": "json"}).json()
    assert label["context"]["company"] == "Renamed Works"


def test_missing_footprints_are_still_named(issued):
    _services, client, fps = issued
    r = client.get("/3/footprints/7d3f7a8e-0000-4000-8000-000000000000")
    assert (r.status_code, r.json()["code"]) == (404, "NotFound")
    r = client.get("/labels/no-such-order")
    assert r.status_code == 404
    r = client.get(f"/labels/{fps[1]['order']}", params={"footprint_id": fps[0]["id"]})
    assert r.status_code == 404
    assert "belongs to order" in r.json()["detail"][0]["msg"]


def _entry(n: int) -> CachedResponse:
    return CachedResponse(b"x" * n, "text/plain")


def test_the_response_cache_is_a_bounded_lru():
    # each entry counts its body plus 256 bytes: 3 x (100 + 256) > 800 >= 2 x 356
    cache = ResponseCache(800)
    cache.put("a", _entry(100))
    cache.put("b", _entry(100))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", _entry(100))
    assert cache.get("b") is None  # the least recently used went
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert cache.size_bytes == 712
    cache.put("big", _entry(600))  # larger than the whole cache: not kept
    assert cache.get("big") is None
    assert len(cache) == 2


def test_a_zero_size_cache_renders_every_time():
    cache = ResponseCache(0)
    rendered = []

    def render():
        rendered.append(1)
        return _entry(10)

    cache.get_or_render("k", render)
    cache.get_or_render("k", render)
    assert len(rendered) == 2
