"""Event writes: idempotent by natural key, one transaction per batch, exact read-back."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbontwin.twin.errors import EventConflictError, EventError, StoreError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import State
from carbontwin.twin.store import Store
from carbontwin.twin.store._events import KINDS

T0 = 1_551_657_600.0  # 2019-03-04 00:00 UTC


# --- building batches -------------------------------------------------------------


def _obj(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def make_batch(rows: dict[str, list[tuple[Any, ...]]]) -> EventBatch:
    """A batch from per-kind row tuples in ``KINDS`` column order, sorted by (source, time)."""
    arrays: dict[str, np.ndarray] = {}
    for kind in KINDS:
        attrs = [a for a, _ in kind.columns]
        kind_rows = sorted(rows.get(kind.label, []), key=lambda r: (str(r[0]), r[1]))
        cols = list(zip(*kind_rows, strict=True)) if kind_rows else [() for _ in attrs]
        for (attr, col), values in zip(kind.columns, cols, strict=True):
            is_float = isinstance(kind.table.c[col].type, sa.Double)
            arrays[attr] = np.asarray(values, dtype=np.float64) if is_float else _obj(list(values))
    return EventBatch(**arrays)


def key_of(kind: Any) -> list[int]:
    names = [c for _, c in kind.columns]
    return [names.index(c.name) for c in kind.table.primary_key.columns if c.name != "tenant"]


def stored_rows(batch: EventBatch) -> dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]:
    """Per kind: natural key -> row, one row per key (the batch must hold no conflict)."""
    out: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    for kind in KINDS:
        key_idx = key_of(kind)
        cols = [kind.values(batch, a).tolist() for a, _ in kind.columns]
        seen: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for row in zip(*cols, strict=True):
            seen.setdefault(tuple(row[i] for i in key_idx), row)
        out[kind.label] = seen
    return out


def without_conflicts(
    rows: dict[str, list[tuple[Any, ...]]], before: dict[str, list[tuple[Any, ...]]] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """``rows`` less every row whose key was seen (in ``before`` or earlier) with other values."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for kind in KINDS:
        key_idx = key_of(kind)
        seen = {tuple(r[i] for i in key_idx): r for r in (before or {}).get(kind.label, [])}
        keep = []
        for r in rows.get(kind.label, []):
            k = tuple(r[i] for i in key_idx)
            if k in seen and seen[k] != r:
                continue
            seen.setdefault(k, r)
            keep.append(r)
        out[kind.label] = keep
    return out


def new_rows(
    rows: dict[str, list[tuple[Any, ...]]], before: dict[str, list[tuple[Any, ...]]]
) -> dict[str, int]:
    """Per kind: how many distinct keys of ``rows`` are not in ``before``."""
    out = {}
    for kind in KINDS:
        key_idx = key_of(kind)
        old = {tuple(r[i] for i in key_idx) for r in before.get(kind.label, [])}
        out[kind.label] = len(
            {tuple(r[i] for i in key_idx) for r in rows.get(kind.label, [])} - old
        )
    return out


ids = st.sampled_from(["M1", "M2", "press-1", "Ofen ä"]) | st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=("Cs",)),
    min_size=1,
    max_size=6,
)
times = st.sampled_from([T0, T0 + 60.0, T0 + 0.125]) | st.floats(T0, T0 + 7 * 86400)
values = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)
reasons = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FFF, exclude_categories=("Cs",)), max_size=5
)


@st.composite
def event_rows(draw: st.DrawFn) -> dict[str, list[tuple[Any, ...]]]:
    def some(row: st.SearchStrategy[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return draw(st.lists(row, max_size=8))

    steps = []
    for asset, order, op, start, dur, q, kind in some(
        st.tuples(
            ids,
            ids,
            ids,
            times,
            st.floats(0, 7200),
            positive,
            st.sampled_from(["setup", "processing"]),
        )
    ):
        steps.append((asset, order, op, start, start + dur, q, kind))
    gaps = [
        (s, t0, t0 + d, r)
        for s, t0, d, r in some(st.tuples(ids, times, st.floats(0, 3600), reasons))
    ]
    return {
        "state changes": some(st.tuples(ids, times, st.sampled_from([s.value for s in State]))),
        "power samples": some(st.tuples(ids, times, values)),
        "energy counters": some(st.tuples(ids, times, values)),
        "order steps": steps,
        "material uses": some(
            st.tuples(
                ids,
                ids,
                values,
                st.sampled_from(["kg", "t", "m"]),
                st.sampled_from(["", "b1", "GI-7"]),
            )
        ),
        "gaps": gaps,
    }


def clear(store: Store) -> None:
    with store.engine.begin() as conn:
        for kind in KINDS:
            conn.execute(kind.table.delete())


def assert_stored(
    store: Store, expected: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]
) -> None:
    back = store.read_events()
    got = stored_rows(back)
    assert got == expected
    counts = store.count_events()
    assert counts == {k.table.name: len(expected[k.label]) for k in KINDS}
    back.validate()  # read-back is sorted by source and time


# --- module-scoped stores for the property tests ------------------------------------


@pytest.fixture(scope="module")
def memory_store() -> Iterator[Store]:
    s = Store.open("sqlite://")
    yield s
    s.close()


@pytest.fixture(scope="module")
def pg_store(pg_schema) -> Iterator[Store]:
    url = os.environ.get("CARBONTWIN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CARBONTWIN_TEST_POSTGRES_URL is not set")
    with pg_schema(url) as schema_url:
        s = Store.open(schema_url)
        yield s
        s.close()


def _idempotent(store: Store, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    clear(store)
    clean = without_conflicts(rows)
    if clean != rows:  # the same key with other values: refused whole, nothing stored
        with pytest.raises(EventConflictError, match="send it as a correction"):
            store.write_events(make_batch(rows))
        assert sum(store.count_events().values()) == 0
    batch = make_batch(clean)
    expected = stored_rows(batch)
    n_unique = sum(len(v) for v in expected.values())
    assert store.write_events(batch) == n_unique
    assert store.write_events(batch) == 0
    assert_stored(store, expected)


def _atomic(
    store: Store,
    first: dict[str, list[tuple[Any, ...]]],
    second: dict[str, list[tuple[Any, ...]]],
    fail_at: int,
) -> None:
    """A failure injected before the ``fail_at``-th INSERT of ``second`` stores none of it."""
    clear(store)
    first = without_conflicts(first)
    second = without_conflicts(second, first)
    n_inserts = sum(-(-n // 2) for n in new_rows(second, first).values())
    if n_inserts == 0:
        return
    fail_at = (fail_at - 1) % n_inserts + 1
    before = make_batch(first)
    store.write_events(before)
    inserts = 0

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal inserts
        if statement.lstrip().upper().startswith("INSERT"):
            inserts += 1
            if inserts == fail_at:
                raise RuntimeError("simulated crash in the middle of a batch")

    batch = make_batch(second)
    sa.event.listen(store.engine, "before_cursor_execute", fail)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            store.write_events(batch, chunk_rows=2)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", fail)
    assert_stored(store, stored_rows(before))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows())
def test_same_batch_twice_is_stored_once_sqlite(memory_store, rows):
    _idempotent(memory_store, rows)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=event_rows(), second=event_rows(), fail_at=st.integers(1, 30))
def test_failure_in_the_middle_of_a_batch_stores_none_of_it_sqlite(
    memory_store, first, second, fail_at
):
    _atomic(memory_store, first, second, fail_at)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows())
def test_same_batch_twice_is_stored_once_postgres(pg_store, rows):
    _idempotent(pg_store, rows)


@pytest.mark.postgres
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=event_rows(), second=event_rows(), fail_at=st.integers(1, 30))
def test_failure_in_the_middle_of_a_batch_stores_none_of_it_postgres(
    pg_store, first, second, fail_at
):
    _atomic(pg_store, first, second, fail_at)


# --- examples on both backends ----------------------------------------------------------


def demo_rows() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "state changes": [("cnc-1", T0, "IDLE"), ("cnc-1", T0 + 60, "PROCESSING")],
        "power samples": [("M1", T0 + i * 10.0, 5.0 + i) for i in range(6)],
        "energy counters": [("M2", T0, 100.0), ("M2", T0 + 900, 101.5)],
        "order steps": [("cnc-1", "O1", "op10", T0 + 60, T0 + 600, 10.0, "processing")],
        "material uses": [("O1", "steel", 12.5, "kg", "GI-1")],
        "gaps": [("M1", T0 + 3600, T0 + 3700, "server lost")],
    }


def test_a_batch_of_many_statements_counts_and_stores_every_row(store):
    """1,000 samples of two meters (several multi-row statements on SQLite, with a
    remainder), then a batch of 600 of them again and 400 new ones: 1,000 stored, then
    400; the rows read back are the 1,400 sent."""
    first = {
        "power samples": [(m, T0 + 10.0 * i, 1.0 + i) for m in ("M1", "M2") for i in range(500)]
    }
    assert store.write_events(make_batch(first)) == 1000
    again = [(m, T0 + 10.0 * i, 1.0 + i) for m in ("M1", "M2") for i in range(200, 700)]
    assert store.write_events(make_batch({"power samples": again})) == 400
    everything = {"power samples": first["power samples"] + again}  # one row per key kept
    assert_stored(store, stored_rows(make_batch(everything)))


def test_write_read_round_trip_and_resend(store):
    batch = make_batch(demo_rows())
    assert store.write_events(batch) == len(batch) == 13
    assert store.write_events(batch) == 0
    assert_stored(store, stored_rows(batch))
    # a re-sent batch that overlaps and extends: only the new rows count
    more = demo_rows()
    more["power samples"].append(("M1", T0 + 60.0, 11.0))
    assert store.write_events(make_batch(more)) == 1


def test_keys_another_writer_stored_after_the_read_store_nothing(store, monkeypatch):
    # another writer commits the same keys between this transaction's read of the
    # stored keys and its insert: simulated by a read that finds nothing stored
    rows = demo_rows()
    store.write_events(make_batch(rows))
    more = demo_rows()
    more["power samples"].append(("M1", T0 + 60.0, 11.0))  # one new key beside the stored
    empty = make_batch({})
    monkeypatch.setattr(
        "carbontwin.twin.store._events.stored_for", lambda conn, batch, tenant: empty
    )
    with pytest.raises(StoreError, match="another writer stored events with the same keys"):
        store.write_events(make_batch(more))
    monkeypatch.undo()
    assert_stored(store, stored_rows(make_batch(rows)))  # the new key was not stored either
    assert store.write_events(make_batch(more)) == 1  # sent again: settled on what is stored


def test_read_window(store):
    store.write_events(make_batch(demo_rows()))
    w = store.read_events(T0 + 30, T0 + 70)
    assert w.power_t.tolist() == [T0 + 30, T0 + 40, T0 + 50]
    assert w.state.tolist() == ["PROCESSING"]
    assert w.step_order.tolist() == ["O1"]  # step T0+60..T0+600 overlaps the window
    assert w.material_id.tolist() == ["steel"]  # belongs to an order with a step in it
    assert w.gap_start.size == 0
    assert w.counter_t.size == 0
    late = store.read_events(T0 + 3650)
    assert late.gap_source.tolist() == ["M1"]
    assert late.step_start.size == 0
    assert late.material_id.size == 0


def test_a_bad_row_late_in_the_batch_stores_nothing(store):
    rows = demo_rows()
    rows["gaps"].append(("M3", T0 + 50, T0 + 10, "end before start"))  # violates a CHECK
    with pytest.raises(StoreError, match=r"gaps \(batch rows 0\.\.1\) to table 'gaps'"):
        store.write_events(make_batch(rows))
    assert sum(store.count_events().values()) == 0
    rows = demo_rows()
    rows["order steps"].append((None, "O2", "op20", T0, T0 + 1, 1.0, "setup"))  # NOT NULL
    with pytest.raises(StoreError, match="order steps"):
        store.write_events(make_batch(rows))
    assert sum(store.count_events().values()) == 0


def test_invalid_batch_is_refused_before_writing(store):
    rows = demo_rows()
    rows["power samples"].append(("M9", T0, float("nan")))
    with pytest.raises(EventError, match="non-finite power_kw"):
        store.write_events(make_batch(rows))
    assert sum(store.count_events().values()) == 0


def test_empty_batch(store):
    assert store.write_events(EventBatch()) == 0
    assert len(store.read_events()) == 0


@pytest.mark.slow
def test_hundred_thousand_samples_write_in_seconds(store):
    n = 100_000
    meters = _obj([f"M{i % 20}" for i in range(n)])
    t = T0 + np.repeat(np.arange(n // 20, dtype=np.float64), 20)
    batch = EventBatch(power_meter=meters, power_t=t, power_kw=np.linspace(0, 50, n))
    t0 = time.perf_counter()
    assert store.write_events(batch) == n
    took = time.perf_counter() - t0
    assert store.write_events(batch) == 0
    back = store.read_events()
    assert back.power_kw.sum() == pytest.approx(batch.power_kw.sum(), rel=1e-12)
    assert took < 30.0, f"100k rows took {took:.1f} s"


def test_settling_a_batch_reads_the_steps_of_its_own_orders_only(store):
    """A machine's history of steps is not read to settle a batch with a new order on it:
    only the batch's orders' stored steps can share a key with it."""
    from carbontwin.twin.store._events import stored_for

    empty: dict[str, list[tuple[Any, ...]]] = {k: [] for k in demo_rows()}
    old = {
        **empty,
        "order steps": [
            ("cnc-1", f"O{i}", "op10", T0 + 900.0 * i, T0 + 900.0 * i + 600, 1.0, "setup")
            for i in range(20)
        ],
    }
    store.write_events(make_batch(old))
    new = {
        **empty,
        "order steps": [
            ("cnc-1", "N1", "op10", T0 + 90_000.0, T0 + 90_600.0, 1.0, "setup"),
            ("cnc-1", "O3", "op10", T0 + 2700.0, T0 + 3300.0, 1.0, "setup"),
        ],
    }
    with store._tx("test") as conn:
        found = stored_for(conn, make_batch(new), store.tenant)
    assert sorted(found.step_order.tolist()) == ["O3"]
