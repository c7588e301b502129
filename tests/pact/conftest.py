"""Fixtures of the PACT tests: a host app with footprints, a token, a partner receiver."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from pact_helpers import (
    CLASSIFICATION,
    CLIENT_ID,
    CLIENT_SECRET,
    PARTNER_SOURCE,
    PARTNER_TOKEN,
    Receiver,
    basic,
    make_footprint,
)

from carbontwin.api import Settings, create_app
from carbontwin.api.settings import PactPartner
from carbontwin.twin.examples import demo_factory


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def pact_host(tmp_path_factory, receiver):
    """(client, issued footprints) of an app with 5 orders' footprints, one corrected."""
    tmp = tmp_path_factory.mktemp("pact")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'twin.db'}",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        key_path=tmp / "key.pem",
        product_classifications={"bracket": [CLASSIFICATION]},
        pact_partners={
            PARTNER_SOURCE: PactPartner(events_url=f"{receiver.url}/3/events", token=PARTNER_TOKEN),
            # configured with its v3 endpoint: v2 answers still go to its /2/events
            "https://v2.example.com": PactPartner(events_url=f"{receiver.url}/3/events"),
        },
    )
    app = create_app(settings)
    store = app.state.services.store
    factory = demo_factory()
    store.save_factory(factory)
    store.save_orders(factory.orders)
    orders = factory.orders[:5]
    issued = [
        store.issue_footprint(
            make_footprint(o.id, o.product, co2e_kg=50.0 + 10 * i, quantity=o.quantity)
        )
        for i, o in enumerate(orders)
    ]
    first = issued[0]
    correction = replace(
        make_footprint(first.order, first.product, co2e_kg=48.0, quantity=first.quantity),
        replaces=first.id,
    )
    issued.append(store.issue_footprint(correction))
    with TestClient(app, base_url="https://testserver") as client:
        yield client, issued
    app.state.services.close()


@pytest.fixture(scope="module")
def token(pact_host) -> str:
    client, _ = pact_host
    r = client.post("/auth/token", data={"grant_type": "client_credentials"}, headers=basic())
    assert r.status_code == 200, r.text
    return r.json()["access_token"]
