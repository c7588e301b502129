"""Tenants in the store: one database, rows kept apart by tenant (SQLite and PostgreSQL),
and on PostgreSQL row-level security for a query that forgot its filter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_store_records import footprint

from carbontwin.plugins.signing import Signer, verify_pem
from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import EventBatch, MaterialUse, OrderStep, PowerSample
from carbontwin.twin.model import Order
from carbontwin.twin.store import NotFoundError, Store

T = datetime(2019, 3, 4, 6, tzinfo=UTC)
T0 = T.timestamp()


def _events(kw: float) -> EventBatch:
    """The same keys in every tenant (meter M1, order O-1), values told apart by ``kw``."""
    return EventBatch.from_events(
        [
            PowerSample("M1", T, kw),
            PowerSample("M1", T + timedelta(minutes=1), kw),
            OrderStep("O-1", "op10", "cnc-1", T, T + timedelta(minutes=1), 5.0),
            MaterialUse("O-1", "steel", kw, "kg", booking="GI-1"),
        ]
    )


def _order(qty: float) -> Order:
    t = datetime(2019, 3, 4, 6, tzinfo=UTC)
    return Order("O-1", "bracket", qty, t, t)


@pytest.fixture
def two(store: Store) -> tuple[Store, Store]:
    store.admin.add_tenant("plant-a")
    store.admin.add_tenant("plant-b")
    return store.for_tenant("plant-a"), store.for_tenant("plant-b")


def test_same_keys_in_two_tenants_stay_apart(two: tuple[Store, Store]):
    a, b = two
    assert a.write_events(_events(10.0)) == 4
    # the same natural keys in tenant B are new rows there, not re-sends or conflicts
    assert b.write_events(_events(20.0)) == 4
    assert a.read_events().power_kw.tolist() == [10.0, 10.0]
    assert b.read_events().power_kw.tolist() == [20.0, 20.0]
    assert b.read_events().material_quantity.tolist() == [20.0]
    assert a.count_events()["power_samples"] == 2
    a.save_orders([_order(40.0)])
    b.save_orders([_order(7.0)])
    assert [o.quantity for o in a.list_orders()] == [40.0]
    assert b.get_order("O-1").quantity == 7.0
    # the default tenant, which every pre-tenant row belongs to, sees none of it
    d = a.for_tenant("default")
    assert d.count_events()["power_samples"] == 0
    assert d.list_orders() == []


def test_footprints_versions_and_chains_are_per_tenant(two: tuple[Store, Store], signer):
    a, b = two
    other = Signer(Ed25519PrivateKey.generate())
    a1 = a.issue_footprint(footprint("O-1", 10.0), signer)
    b1 = b.issue_footprint(footprint("O-1", 99.0), other)
    a2 = a.issue_footprint(footprint("O-1", 11.0), signer)
    # each tenant numbers its own versions, and B's first is version 1 although A has two
    assert (a1.version, a2.version, b1.version) == (1, 2, 1)
    assert [f.co2e_kg for f in a.footprint_versions("O-1")] == [10.0, 11.0]
    assert [f.co2e_kg for f in b.list_footprints()] == [99.0]
    with pytest.raises(NotFoundError):
        a.get_footprint(b1.id)
    with pytest.raises(NotFoundError):
        a.stored_footprint(b1.id)
    with pytest.raises(NotFoundError):
        b.publish_footprint(a1.id)
    # one hash chain per tenant: A's has entries 1, 2 and B's entry 1, each intact
    ra, rb = a.audit(verify_pem), b.audit(verify_pem)
    assert (ra.entries, ra.footprints, ra.problems) == (2, 2, [])
    assert (rb.entries, rb.footprints, rb.problems) == (1, 1, [])
    assert ra.head_sha256 != rb.head_sha256
    # each footprint is stored with its own tenant's key
    assert b.stored_footprint(b1.id).public_key_pem == other.public_key_pem
    assert a.stored_footprint(a1.id).public_key_pem == signer.public_key_pem
    # publishing is B's act on B's footprint; whose it is can be found without a tenant
    b.publish_footprint(b1.id)
    assert a.publisher(b1.id) == "plant-b"
    assert a.publisher(a1.id) is None
    assert a.published_at(b1.id) is None


def test_factory_versions_and_factor_series_are_per_tenant(two: tuple[Store, Store]):
    from carbontwin.twin.examples import demo_factory
    from carbontwin.twin.factors import HourlySeries

    a, b = two
    va = a.save_factory(demo_factory())
    with pytest.raises(NotFoundError):
        b.load_factory()
    with pytest.raises(NotFoundError):
        b.factory_document(va)
    assert [v for v, _, _ in a.factory_versions()] == [va]
    assert b.factory_versions() == []
    series = HourlySeries(
        t_start=np.array([T0, T0 + 3600]),
        values=np.array([0.4, 0.5]),
        name="DE",
        version="1",
        source="test",
    )
    a.save_factor_series(series)
    # B stores other values under the same name and version: no conflict with A's
    b.save_factor_series(
        HourlySeries(
            t_start=np.array([T0]), values=np.array([0.9]), name="DE", version="1", source="b"
        )
    )
    assert a.load_factor_series("DE").values.tolist() == [0.4, 0.5]
    assert b.load_factor_series("DE").values.tolist() == [0.9]


def test_tenant_names_are_checked(store: Store):
    for bad in ("", "Plant", "a b", "x" * 64, "-a", "a;drop"):
        with pytest.raises(StoreError, match="tenant name"):
            store.for_tenant(bad)
    store.admin.add_tenant("ok_1")
    with pytest.raises(StoreError, match="exists already"):
        store.admin.add_tenant("ok_1")
    assert [n for n, _, _ in store.admin.tenants()] == ["default", "ok_1"]


def test_clients_belong_to_a_tenant(store: Store):
    with pytest.raises(NotFoundError, match="no tenant 'plant-a'"):
        store.admin.add_client("c1", "plant-a", "$argon2id$x", ("read",))
    store.admin.add_tenant("plant-a")
    store.admin.add_client("c1", "plant-a", "$argon2id$x", ("write", "read"))
    with pytest.raises(StoreError, match="exists already"):
        store.admin.add_client("c1", "default", "$argon2id$y", ("read",))
    with pytest.raises(StoreError, match="unknown scopes 'root'"):
        store.admin.add_client("c2", "plant-a", "$argon2id$y", ("root",))
    c = store.admin.client("c1")
    assert (c.tenant, c.scopes, c.secret_hash) == ("plant-a", ("read", "write"), "$argon2id$x")
    assert "argon2" not in repr(c)
    assert [(x.client_id, x.secret_hash) for x in store.admin.clients()] == [("c1", "")]
    assert [(n, k) for n, _, k in store.admin.tenants()] == [("default", 0), ("plant-a", 1)]
    store.admin.remove_client("c1")
    assert store.admin.client("c1") is None
    with pytest.raises(NotFoundError):
        store.admin.remove_client("c1")


# --- PostgreSQL row-level security --------------------------------------------------------


@pytest.fixture
def app_role(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A schema migrated by the superuser, and the URL of a plain login role (no
    superuser, no BYPASSRLS) that owns nothing and may read and write its tables, as
    the service should run."""
    from db_helpers import postgres_schema

    role = f"ct_app_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url)
    with postgres_schema(postgres_url) as url:
        schema = sa.make_url(url).query["options"].split("=", 1)[1]
        Store.open(url).close()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.exec_driver_sql(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
            )
            conn.exec_driver_sql(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
        try:
            yield url, sa.make_url(url).set(username=role).render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP OWNED BY {role}")
                conn.exec_driver_sql(f"DROP ROLE {role}")
            admin.dispose()


@pytest.mark.postgres
def test_row_level_security_hides_other_tenants_from_a_raw_query(app_role, signer):
    owner_url, app_url = app_role
    Store(owner_url).admin.add_tenant("plant-a")
    Store(owner_url).admin.add_tenant("plant-b")
    a = Store(app_url, tenant="plant-a")
    b = a.for_tenant("plant-b")
    a.write_events(_events(10.0))
    b.write_events(_events(20.0))
    fa = a.issue_footprint(footprint("O-1", 10.0), signer)
    b.issue_footprint(footprint("O-1", 99.0), signer)
    a.save_orders([_order(40.0)])
    b.save_orders([_order(7.0)])

    def raw(store: Store, sql: str) -> list[tuple[object, ...]]:
        # through the store's own transaction (so its tenant setting), no WHERE tenant
        with store._tx("a raw query") as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).all()]

    assert raw(a, "SELECT power_kw FROM power_samples") == [(10.0,), (10.0,)]
    assert raw(b, "SELECT power_kw FROM power_samples") == [(20.0,), (20.0,)]
    assert raw(a, "SELECT co2e_kg FROM footprints") == [(10.0,)]
    assert raw(a, "SELECT quantity FROM orders") == [(40.0,)]
    assert raw(a, "SELECT count(*) FROM issuance_log") == [(1,)]
    # a transaction that names no tenant sees no tenant's rows
    plain = sa.create_engine(app_url)
    with plain.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM power_samples").scalar() == 0
        assert conn.exec_driver_sql("SELECT count(*) FROM footprints").scalar() == 0
    # a write into another tenant, or an update of its rows, is refused or reaches nothing
    with (
        pytest.raises(StoreError, match="row-level security"),
        a._tx("a raw insert", write=True) as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO orders (tenant, id, product, quantity, release, due) VALUES "
            "('plant-b', 'X', 'p', 1, now(), now())"
        )
    with a._tx("a raw update", write=True) as conn:
        touched = conn.exec_driver_sql("UPDATE orders SET quantity = 1 WHERE id = 'O-1'")
        assert touched.rowcount == 1  # A's own order only
    assert b.get_order("O-1").quantity == 7.0
    # the superuser (who bypasses row-level security) sees both tenants' rows
    with Store(owner_url)._tx("as owner") as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM power_samples").scalar() == 4
    # publications are readable across tenants: the public page finds the owner
    a.publish_footprint(fa.id)
    assert b.publisher(fa.id) == "plant-a"
    plain.dispose()
    a.close()
