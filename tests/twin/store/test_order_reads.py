"""Reads by order and by window seek their keys, whatever the history holds.

Issuing reads the steps and material uses of the orders it issues
(``Store.order_events``) and the orders of the windows it goes through
(``Store.window_order_ids``). On SQLite, without statistics, a statement that an
index covers, or whose ``ORDER BY`` an index serves, may be run by walking that
index through every row of the tenant: the cost of one issue then grows with the
history. Each statement these reads run must seek the key of what is asked for
(SQLite's ``EXPLAIN QUERY PLAN``), and the rows must be those asked for, in the
order of their kind's source and key.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa

from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store
from carbontwin.twin.store._windows import StoredWindow

T0 = 1_700_000_000.0


def _obj(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _steps(n_orders: int, seed: int) -> list[tuple[str, str, str, float, float, float, str]]:
    """(order, operation, asset, start, end, quantity, kind) rows, in shuffled order."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_orders):
        t = T0 + 3600.0 * k
        for op in ("op10", "op20"):
            asset = f"A{int(rng.integers(0, 5))}"
            rows.append((f"O{k:02d}", op, asset, t, t + 600.0, 10.0 + k, "setup"))
            rows.append((f"O{k:02d}", op, asset, t + 600.0, t + 1800.0, 10.0 + k, "processing"))
            t += 1800.0
    return [rows[i] for i in rng.permutation(len(rows))]


def _plans(db: str, statements: list[tuple[str, object]]) -> list[str]:
    raw = sqlite3.connect(db)
    try:
        return [
            " | ".join(str(r[-1]) for r in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]
    finally:
        raw.close()


def _selects(store: Store) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def grab(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    return seen


def test_order_events_seek_the_orders_and_come_sorted(tmp_path):
    db = tmp_path / "twin.db"
    store = Store.open(f"sqlite:///{db}")
    steps = _steps(30, seed=3)
    o, op, a, s, e, q, k = (list(c) for c in zip(*steps, strict=True))
    store.write_events(
        EventBatch(
            step_order=_obj(o),
            step_operation=_obj(op),
            step_asset=_obj(a),
            step_start=np.asarray(s),
            step_end=np.asarray(e),
            step_quantity=np.asarray(q),
            step_kind=_obj(k),
            material_order=_obj(["O07", "O03", "O11", "O07"]),
            material_id=_obj(["steel", "alu", "steel", "alu"]),
            material_quantity=np.asarray([2.0, 1.5, 4.0, 0.5]),
            material_unit=_obj(["kg"] * 4),
            material_booking=_obj(["b2", "b1", "b3", "b4"]),
        )
    )
    seen = _selects(store)
    got = store.order_events(["O07", "O03"])
    store.close()
    # the steps of the two orders, by asset, then order, operation, start and kind
    want = sorted(
        (r for r in steps if r[0] in ("O07", "O03")), key=lambda r: (r[2], r[0], r[1], r[3], r[6])
    )
    assert len(want) == 8
    assert list(got.step_asset) == [r[2] for r in want]
    assert list(got.step_order) == [r[0] for r in want]
    assert list(got.step_start) == [r[3] for r in want]
    assert list(got.step_kind) == [r[6] for r in want]
    # material uses by order, material and booking
    assert list(got.material_order) == ["O03", "O07", "O07"]
    assert list(got.material_id) == ["alu", "alu", "steel"]
    assert list(got.material_quantity) == [1.5, 0.5, 2.0]
    plans = [p for p in _plans(str(db), seen) if "order_steps" in p or "material_uses" in p]
    assert len(plans) == 2
    for plan in plans:
        assert "order_id=?" in plan, plan


def test_window_orders_seek_the_windows(tmp_path):
    db = tmp_path / "twin.db"
    store = Store.open(f"sqlite:///{db}")
    day = 86_400.0
    orders_of = {
        T0: [("O01", T0 + 100.0), ("O02", T0 + 200.0)],
        T0 + day: [("O02", T0 + day + 50.0), ("O03", T0 + day + 70.0)],
        T0 + 2 * day: [("O04", T0 + 2 * day + 10.0)],
    }
    for start, orders in orders_of.items():
        window = StoredWindow(start, start + day, "key", "0" * 64, 1)
        store.save_window(window, b"", orders)
    seen = _selects(store)
    assert store.window_order_ids([T0 + day]) == {"O02", "O03"}
    assert store.window_order_ids([T0, T0 + 2 * day]) == {"O01", "O02", "O04"}
    store.close()
    plans = [p for p in _plans(str(db), seen) if "window_orders" in p]
    assert len(plans) == 2
    for plan in plans:
        assert "window_start=?" in plan, plan


@pytest.mark.postgres
def test_postgresql_plans_each_read_by_ids_for_its_own_ids(postgres_url):
    """psycopg prepares a statement run five times, and the server may then keep one
    generic plan for any ids: on a growing history such a plan scanned every order of
    the tenant. The store's connections plan each execution for its own parameters."""
    from datetime import UTC, datetime

    from db_helpers import postgres_schema

    from carbontwin.twin.model import Order

    t = datetime(2024, 1, 1, tzinfo=UTC)
    with postgres_schema(postgres_url) as url:
        store = Store.open(url)
        store.save_orders([Order(f"O{k:04d}", "p", 1.0, t, t) for k in range(1200)])
        for day in range(8):  # a window's orders, day after day: the same statement text
            ids = [f"O{k:04d}" for k in range(100 * day, 100 * day + 480)]
            assert [o.id for o in store.orders_by_id(ids)] == sorted(ids)
        with store._tx("reading the session's prepared statements") as conn:
            plans = conn.exec_driver_sql(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'SELECT orders.id%%'"
            ).all()
            mode = conn.exec_driver_sql("SHOW plan_cache_mode").scalar()
        store.close()
    assert mode == "force_custom_plan"
    # prepared after five runs; each later run planned for its ids, none generic
    assert [(g, c >= 3) for g, c in plans] == [(0, True)]
