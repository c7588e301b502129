"""Footprints attributed from the simulated demo line render as valid PACT documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pact_helpers import assert_valid, basic

from carbontwin.api import Settings, create_app
from carbontwin.simulation import simulate
from carbontwin.twin.examples import demo_factory


@pytest.fixture(scope="module")
def attributed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp / 'twin.db'}",
            client_id="c",
            client_secret="s",
            key_path=tmp / "k.pem",
        )
    )
    factory = demo_factory()
    store = app.state.services.store
    store.save_factory(factory)
    store.save_orders(factory.orders)
    store.write_events(simulate(factory, factory.orders[:6], "fifo", 3, sample_period_s=300).events)
    with TestClient(app, base_url="https://testserver") as client:
        r = client.post(
            "/auth/token", data={"grant_type": "client_credentials"}, headers=basic("c", "s")
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        issued = client.post("/footprints/attribute", headers=headers).json()["issued"]
        yield client, headers, issued
    app.state.services.close()


@pytest.mark.parametrize("spec", [3, 2])
def test_every_attributed_footprint_validates(attributed, spec):
    client, headers, issued = attributed
    assert len(issued) == 6
    docs = client.get(f"/{spec}/footprints", headers=headers).json()["data"]
    assert {d["id"] for d in docs} == {d["payload"]["id"] for d in issued}
    for doc in docs:
        assert_valid(doc, spec)
    for d in issued:
        r = client.get(
            f"/footprints/{d['payload']['id']}/pact", params={"spec": spec}, headers=headers
        )
        assert r.status_code == 200
        assert_valid(r.json(), spec)
        assert r.json()["pcf"]["geographyCountry"] == "DE"
