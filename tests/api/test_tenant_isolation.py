"""Tenant A's token never reads or changes tenant B's data, on any route (PostgreSQL).

Tenants A and B share one PostgreSQL schema. B has a factory, events, orders,
issued and published footprints, a simulation job, a factor series and a PACT
partner client; A has its own (other order ids, so B's are unknown to A). With A's
token (every scope) the test walks every route of the app, putting B's ids in
every path parameter (and B's factory version, order and footprint ids in the
query), and checks that no answer carries any of B's ids or figures and that
B's rows, compared table by table, are as before.

The service here connects as the superuser, which bypasses row-level security:
what keeps B's rows out is the store's own tenant filter
(``test_store_tenants.py`` tests row-level security with a plain role).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from api_helpers import events_json, make_settings
from db_helpers import postgres_schema
from fastapi.testclient import TestClient
from test_scopes import PUBLIC, routes

from carbontwin.api import create_app
from carbontwin.api.clients import create_client
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict

pytestmark = pytest.mark.postgres

TENANT_TABLES = (
    "factory_versions",
    "state_changes",
    "power_samples",
    "energy_counters",
    "order_steps",
    "material_uses",
    "event_history",
    "gaps",
    "orders",
    "footprints",
    "signing_keys",
    "issuance_log",
    "issuance_inputs",
    "publications",
    "factor_series",
    "factor_points",
)

CSV = "hour_start_utc,g_co2e_per_kwh\n2019-03-04T00:00:00Z,410\n2019-03-04T01:00:00Z,390\n"


def _token(client: TestClient, cid: str, secret: str) -> dict[str, str]:
    r = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _renamed(prefix: str, seed: int):
    """The demo factory with every order id prefixed, and its simulated events (another
    ``seed``, other figures: a figure of B's in A's answers is B's)."""
    from carbontwin.simulation import simulate

    factory = demo_factory()
    factory = replace(
        factory, orders=tuple(replace(o, id=f"{prefix}{o.id}") for o in factory.orders)
    )
    events = simulate(factory, factory.orders[:2], "fifo", seed, sample_period_s=300).events
    return factory, events


def _snapshot(engine: sa.Engine, tenant: str) -> dict[str, str]:
    """Per tenant table: row count and a digest of every row of ``tenant``."""
    out = {}
    with engine.connect() as conn:
        for table in TENANT_TABLES:
            out[table] = conn.exec_driver_sql(
                f"SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                f"ORDER BY t::text)), '') FROM {table} t WHERE tenant = %(t)s",
                {"t": tenant},
            ).scalar()
        out["clients"] = conn.exec_driver_sql(
            "SELECT string_agg(client_id || scopes || secret_hash, '|' ORDER BY client_id) "
            "FROM clients WHERE tenant = %(t)s",
            {"t": tenant},
        ).scalar()
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import os

    base = os.environ.get("CARBONTWIN_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("CARBONTWIN_TEST_POSTGRES_URL is not set")
    tmp = tmp_path_factory.mktemp("isolation")
    with postgres_schema(base) as url:
        app = create_app(make_settings(tmp, database_url=url))
        store = app.state.services.store
        store.admin.add_tenant("plant-a")
        store.admin.add_tenant("plant-b")
        a_id, a_secret = create_client(store, "plant-a", ("read", "write", "admin"))
        b_id, b_secret = create_client(store, "plant-b", ("read", "write", "admin"))
        partner_id, _ = create_client(store, "plant-b", ("read",))  # B's PACT partner
        fa, ea = _renamed("A-", 1)
        fb, eb = _renamed("B-", 0)
        with TestClient(app, base_url="https://testserver") as client:
            ha, hb = _token(client, a_id, a_secret), _token(client, b_id, b_secret)
            b: dict[str, object] = {"clients": [b_id, partner_id]}
            for h, f, e in ((hb, fb, eb), (ha, fa, ea)):
                r = client.put("/factory", json=factory_to_dict(f), headers=h)
                assert r.status_code == 200, r.text
                version = r.json()["version"]
                assert client.post("/events", json=events_json(e), headers=h).status_code == 200
                r = client.put(
                    "/factors/series/grid-x", content=CSV, headers={**h, "content-type": "text/csv"}
                )
                assert r.status_code == 200, r.text
                r = client.post("/footprints/attribute", headers=h)
                assert r.status_code == 200, r.text
                issued = [d["payload"] for d in r.json()["issued"]]
                assert issued
                if h is hb:
                    b["version"] = version
                    b["footprints"] = [p["id"] for p in issued]
                    b["orders"] = [o.id for o in fb.orders]
                    b["co2e"] = [repr(p["co2e_kg"]) for p in issued]
                    b["documents"] = r.json()["issued"]
                    pub = client.post(f"/footprints/{issued[0]['id']}/publish", headers=h)
                    assert pub.status_code == 200
                    job = client.post("/simulations", json={"policy": "fifo"}, headers=h)
                    assert job.status_code == 202, job.text
                    b["job"] = job.json()["id"]
            engine = sa.create_engine(url)
            yield {"client": client, "app": app, "a": ha, "b": b, "engine": engine}
            engine.dispose()
        app.state.services.close()


def _fill(path: str, b: dict, k: int) -> str:
    fps, orders = b["footprints"], b["orders"]
    return (
        path.replace("{order_id}", orders[k % len(orders)])
        .replace("{footprint_id}", fps[k % len(fps)])
        .replace("{job_id}", b["job"])
        .replace("{client_id}", b["clients"][k % 2])
        .replace("{by}", "machine")
        .replace("{name}", "grid-x")
    )


def test_tenant_a_never_reads_or_changes_tenant_b(world):
    client, app, ha, b = world["client"], world["app"], world["a"], world["b"]
    engine = world["engine"]
    before = _snapshot(engine, "plant-b")
    assert before["footprints"].split(":")[0] == str(len(b["footprints"]))
    secret_marks = [*b["footprints"], *b["orders"], b["job"], *b["clients"]]
    query = {
        "version": str(b["version"]),
        "order": b["orders"][0],
        "footprint_id": b["footprints"][0],
        "productIds": "urn:x",
        "period": "2019-03",
    }
    walked = 0
    for k, (method, path) in enumerate(routes(app)):
        if (method, path) in PUBLIC:
            continue
        url = _fill(path, b, k)
        bodies = [None]
        if method != "GET":
            # an empty body, and B's own documents where a route takes a document
            bodies = [{}, b["documents"][0]] if path == "/footprints/verify" else [{}]
        for body in bodies:
            r = client.request(method, url, headers=ha, params=query, json=body)
            walked += 1
            text = r.text
            for mark in secret_marks:
                if mark in text:
                    # only an id we sent, echoed in an error ("no order 'B-O-1001'")
                    sent = mark in url or mark in query.values()
                    assert sent, (method, url, mark, text[:300])
                    assert r.status_code >= 400, (method, url, r.status_code, text[:300])
            for figure in b["co2e"]:
                assert f'"co2e_kg":{figure}' not in text.replace(" ", ""), (method, url)
            if path == "/footprints/verify" and body:
                assert r.json()["valid"] is False  # B's document, A's key
    assert walked >= 40
    # nothing of B's changed, table by table (and its clients)
    assert _snapshot(engine, "plant-b") == before


def test_tenant_a_sees_its_own_data(world):
    """The walk above means something: A's token does see A's footprints and orders."""
    client, ha, b = world["client"], world["a"], world["b"]
    mine = client.get("/footprints", headers=ha).json()
    assert mine
    assert all(f["order"].startswith("A-") for f in mine)
    assert {f["id"] for f in mine}.isdisjoint(b["footprints"])
    pact = client.get("/3/footprints", headers=ha).json()["data"]
    assert pact
    assert {d["id"] for d in pact}.isdisjoint(b["footprints"])
    # B's footprint verifies with B's key, served by the key route for B
    key_b = client.get("/.well-known/carbontwin-signing-key", params={"tenant": "plant-b"})
    key_a = client.get("/.well-known/carbontwin-signing-key", params={"tenant": "plant-a"})
    assert key_b.json()["key_id"] == b["documents"][0]["signature"]["key_id"]
    assert key_a.json()["key_id"] != key_b.json()["key_id"]
    unknown = client.get("/.well-known/carbontwin-signing-key", params={"tenant": "nope"})
    assert unknown.status_code == 404


def test_a_pact_partner_of_b_sees_only_b(world):
    client, app, b = world["client"], world["app"], world["b"]
    store = app.state.services.store
    pid, psecret = create_client(store, "plant-b", ("read",))
    h = _token(client, pid, psecret)
    data = client.get("/3/footprints", headers=h).json()["data"]
    assert {d["id"] for d in data} <= set(b["footprints"])
    assert data
    v2 = client.get("/2/footprints", headers=h).json()["data"]
    assert {d["id"] for d in v2} <= set(b["footprints"])
    a_first = client.get("/footprints", headers=world["a"]).json()[0]
    a_fp = a_first["id"]
    # A's PACT document and label are now in the worker's rendering cache; B still
    # gets nothing of them
    assert client.get(f"/3/footprints/{a_fp}", headers=world["a"]).status_code == 200
    assert client.get(f"/labels/{a_first['order']}", headers=world["a"]).status_code == 200
    assert client.get(f"/labels/{a_first['order']}", headers=h).status_code == 404
    r = client.get(f"/3/footprints/{a_fp}", headers=h)
    assert r.status_code == 404
    assert r.json()["code"] == "NotFound"
    assert client.get(f"/3/footprints/{uuid.uuid4()}", headers=h).status_code == 404
