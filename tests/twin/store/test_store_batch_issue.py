"""Issuing a batch of footprints stores exactly what issuing them one by one stores
(versions, replaces, payloads, signatures, the log chain), raises the same errors,
and takes a constant number of statements however large the batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from db_helpers import postgres_schema
from test_store_records import footprint

from carbontwin.plugins.signing import verify_pem
from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.store import Store
from carbontwin.twin.store.models import FootprintRow, IssuanceLogRow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[Store, Store]]:
    """Two empty stores on one backend: one issues in batches, the other one by one."""
    if request.param == "sqlite":
        stores = (
            Store.open(f"sqlite:///{tmp_path / 'batch.db'}"),
            Store.open(f"sqlite:///{tmp_path / 'single.db'}"),
        )
        yield stores
        for s in stores:
            s.close()
        return
    base = request.getfixturevalue("postgres_url")
    with postgres_schema(base) as a, postgres_schema(base) as b:
        stores = (Store.open(a), Store.open(b))
        yield stores
        for s in stores:
            s.close()


def _fp(order: str, co2e_kg: float, **kw: Any) -> Footprint:
    return replace(footprint(order=order, co2e_kg=co2e_kg), **kw)


def _history() -> list[Footprint]:
    """Stored in both stores before the batch: O1 v1 and v2, O2 v1."""
    return [_fp("O1", 10.0), _fp("O1", 11.0), _fp("O2", 20.0)]


def _rows(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Footprint rows (payload without its issue time) and log entries, without what
    depends on the moment of issue."""
    F, L = FootprintRow, IssuanceLogRow
    with store.engine.connect() as conn:
        fps = conn.execute(
            sa.select(
                F.id,
                F.order_id,
                F.version,
                F.replaces_id,
                F.product,
                F.factory,
                F.co2e_kg,
                F.period_start,
                F.period_end,
                F.key_id,
                F.payload,
            ).order_by(F.order_id, F.version)
        ).all()
        log = conn.execute(
            sa.select(L.seq, L.footprint_id, L.order_id, L.version).order_by(L.seq)
        ).all()
    out = []
    for r in fps:
        payload = {k: v for k, v in r.payload.items() if k != "issued_at"}
        out.append((*r[:-1], payload))
    return out, [tuple(e) for e in log]


def test_a_batch_stores_what_one_by_one_stores(two_stores, signer):
    batched, single = two_stores
    history = _history()
    for s in (batched, single):
        for fp in history:
            s.issue_footprint(fp, signer)
    o1_v2 = batched.latest_footprint("O1")
    first = _fp("O3", 30.0)
    batch = [
        _fp("O1", 12.0),  # v3 of a stored order
        first,  # v1 of a new order
        _fp("O3", 31.0, replaces=first.id),  # v2, replacing the version just issued
        _fp("O4", 1e-5, lineage={"window": (1, 2.5), "share": 5.0e-7}),  # numbers JCS rewrites
        _fp("O1", 13.0, replaces=None),  # v4 of O1, in the same batch as v3
        _fp("O2", 21.0, replaces=single.latest_footprint("O2").id),  # the stored latest
    ]
    issued = batched.issue_footprints(batch, signer)
    one_by_one = [single.issue_footprint(fp, signer) for fp in batch]

    # hand-worked: the versions and what each replaces
    assert [(f.order, f.version) for f in issued] == [
        ("O1", 3),
        ("O3", 1),
        ("O3", 2),
        ("O4", 1),
        ("O1", 4),
        ("O2", 2),
    ]
    assert issued[0].replaces == o1_v2.id
    assert issued[2].replaces == first.id
    assert issued[4].replaces == issued[0].id
    assert [f.id for f in issued] == [f.id for f in batch]
    # the same as issuing one after the other, row for row
    assert [(f.id, f.version, f.replaces) for f in issued] == [
        (f.id, f.version, f.replaces) for f in one_by_one
    ]
    assert _rows(batched) == _rows(single)
    for s, n in ((batched, 9), (single, 9)):
        report = s.audit(verify_pem)  # log chain, documents, signatures
        assert (report.ok, report.entries, report.footprints) == (True, n, n), report.problems
        for fp in issued:
            assert s.stored_footprint(fp.id).problems == ()
    assert [f.version for f in batched.footprint_versions("O1")] == [1, 2, 3, 4]
    back = batched.get_footprint(issued[3].id)  # as JSON keeps it: the tuple is a list
    assert (back.co2e_kg, back.lineage) == (1e-5, {"window": [1, 2.5], "share": 5e-7})


def _one_by_one(store: Store, fps: list[Footprint], signer) -> None:
    for fp in fps:
        store.issue_footprint(fp, signer)


def _same_error(batched: Store, single: Store, batch: list[Footprint], signer) -> str:
    """The error the batch raises, checked to be the one issuing them one by one raises,
    with nothing of the batch stored."""
    before = len(batched.list_footprints())
    with pytest.raises((StoreError, ValueError)) as in_batch:
        batched.issue_footprints(batch, signer)
    with pytest.raises((StoreError, ValueError)) as alone:
        _one_by_one(single, batch, signer)
    assert type(in_batch.value) is type(alone.value)
    assert str(in_batch.value) == str(alone.value)
    assert len(batched.list_footprints()) == before  # all or none
    return str(in_batch.value)


def _cases(stored: Footprint) -> Iterator[tuple[list[Footprint], str]]:
    """Failing batches, each of its own orders (the one-by-one store keeps what it
    issued before the error)."""
    for i in range(10):
        o2, o3 = f"c{i}-O2", f"c{i}-O3"
        a, b = _fp(o2, 1.0), _fp(o3, 2.0)
        yield [
            ([a, replace(b, id=a.id)], "is already issued"),  # issued earlier in the batch
            ([a, replace(b, id=stored.id)], "is already issued"),
            ([a, _fp(o2, 1.5), _fp(o2, 2.0, replaces=a.id)], "the latest is version 2"),
            ([_fp(o3, 2.0, replaces=b.id), b], "which was never issued"),  # a later one
            ([a, _fp(o3, 2.0, replaces=a.id)], f"which belongs to order '{o2}'"),
            ([a, replace(b, id="fp-1")], "is not a UUID"),
            ([a, _fp(o3, 2.0, replaces="nope")], "is not a UUID"),
            ([a, _fp(o3, 2.0, lineage={"x": object()})], "does not serialise to JSON"),
            ([a, _fp(o3, 2.0, lineage={"big": 2**60})], "exceeds safe integer domain"),
            ([a, _fp(o3, 2.0, period_start=datetime(2019, 3, 4, 6))], "naive datetime"),
        ][i]


def test_a_batch_raises_what_one_by_one_raises(two_stores, signer):
    batched, single = two_stores
    stored = _fp("O1", 10.0)
    for s in (batched, single):
        s.issue_footprint(stored, signer)
    for batch, message in _cases(stored):
        assert message in _same_error(batched, single, batch, signer)
    assert batched.audit(verify_pem).ok
    assert [f.id for f in batched.list_footprints()] == [stored.id]


def test_a_batch_takes_the_same_statements_however_large(tmp_path, signer):
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    store.issue_footprint(_fp("first", 1.0), signer)  # the signing key is stored now
    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        sizes = {}
        for n in (3, 40, 1200):  # 1,200: three chunks of each IN list
            seen.clear()
            issued = store.issue_footprints([_fp(f"n{n}-{i}", 1.0 + i) for i in range(n)], signer)
            assert len(issued) == n
            sizes[n] = len([s for s in seen if not s.startswith(("BEGIN", "COMMIT"))])
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
        store.close()
    # ids and latest versions (read before the write lock, when the batch is signed,
    # and again inside it), the signing key, the rows, the log's last entry, the
    # entries; and two more reads per extra chunk of 500 ids, twice
    assert sizes == {3: 8, 40: 8, 1200: 8 + 2 * 2 * 2}


def test_a_batch_signed_before_another_issue_of_its_order_is_made_again(tmp_path, signer):
    """The batch is canonicalised and signed before the write lock; a version of one of
    its orders issued in between makes the transaction prepare it again: it becomes the
    next version, replacing the one issued meanwhile, and the log and signatures hold."""
    from carbontwin.twin.store import _footprints

    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    fps = [_fp("O1", 1.0), _fp("O2", 2.0)]
    with store._tx("reading") as conn:
        found = _footprints.plan(conn, fps, store.tenant)
    ready = _footprints.prepare(fps, found, signer, store.tenant)
    assert [f.version for f in ready[1][0]] == [1, 1]
    meanwhile = store.issue_footprint(_fp("O1", 5.0), signer)
    with store._tx("issuing", write=True) as conn:
        got = _footprints.issue_many(conn, fps, signer, store.tenant, ready)
    assert [(f.order, f.version, f.replaces) for f in got] == [
        ("O1", 2, meanwhile.id),
        ("O2", 1, None),
    ]
    assert store.latest_footprint("O1").co2e_kg == 1.0
    assert store.audit(verify_pem).ok
    store.close()


@pytest.mark.postgres
def test_a_batch_waits_for_an_issuer_of_one_of_its_orders(signer, postgres_url):
    with postgres_schema(postgres_url) as url:
        store = Store.open(url)
        try:
            other = sa.create_engine(url)
            done = threading.Event()
            with other.connect() as conn:
                key = f"carbontwin footprint {store.tenant}/O7"
                conn.execute(sa.select(sa.func.pg_advisory_lock(sa.func.hashtext(key))))
                t = threading.Thread(
                    target=lambda: (
                        store.issue_footprints([_fp("O6", 1.0), _fp("O7", 2.0)], signer),
                        done.set(),
                    ),
                    daemon=True,
                )
                t.start()
                assert not done.wait(1.0)  # O7 is held: the batch waits
                conn.execute(sa.select(sa.func.pg_advisory_unlock(sa.func.hashtext(key))))
                conn.commit()
            assert done.wait(30.0)
            t.join(5.0)
            other.dispose()
            assert [f.order for f in store.list_footprints()] == ["O6", "O7"]
        finally:
            store.close()
