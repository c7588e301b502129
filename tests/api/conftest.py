"""Fixtures: an app on a fresh SQLite file, a token, the demo factory's simulated events."""

from __future__ import annotations

import pytest
from api_helpers import events_json, get_token, make_settings
from db_helpers import postgres_schema
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.twin.events import EventBatch
from carbontwin.twin.examples import demo_factory


@pytest.fixture
def api(tmp_path):
    """(client, auth headers) of a fresh app."""
    app = create_app(make_settings(tmp_path))
    with TestClient(app, base_url="https://testserver") as client:
        yield client, {"Authorization": f"Bearer {get_token(client)}"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_client(request, tmp_path):
    """An authorised client of a fresh app on SQLite and on PostgreSQL (own schema)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'twin.db'}"
        ctx = None
    else:
        ctx = postgres_schema(request.getfixturevalue("postgres_url"))
        url = ctx.__enter__()
    app = create_app(make_settings(tmp_path, database_url=url))
    try:
        with TestClient(app, base_url="https://testserver") as c:
            c.headers["Authorization"] = f"Bearer {get_token(c)}"
            yield c
    finally:
        app.state.services.close()
        if ctx is not None:
            ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def demo_batch() -> EventBatch:
    from carbontwin.simulation import simulate

    factory = demo_factory()
    return simulate(factory, factory.orders[:4], "fifo", 0, sample_period_s=300).events


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, demo_batch):
    """(client, headers, issued footprints) after PUT /factory, POST /events, attribution."""
    from carbontwin.twin.factory_file import factory_to_dict

    tmp = tmp_path_factory.mktemp("api")
    app = create_app(make_settings(tmp))
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {get_token(client)}"}
        r = client.put("/factory", json=factory_to_dict(demo_factory()), headers=headers)
        assert r.status_code == 200, r.text
        r = client.post("/events", json=events_json(demo_batch), headers=headers)
        assert r.status_code == 200, r.text
        r = client.post("/footprints/attribute", headers=headers)
        assert r.status_code == 200, r.text
        yield client, headers, r.json()["issued"]
