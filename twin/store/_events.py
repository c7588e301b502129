"""Event tables <-> :class:`~carbontwin.twin.events.EventBatch` columns.

A write first reads what is stored under the batch's keys, settles the batch
on it (:func:`carbontwin.twin.events.settle`: re-sent events are no-ops, other
values under a stored key are a conflict unless sent as corrections), then
inserts the new keys in bulk (driver ``executemany`` in chunks), updates the
corrected ones and appends the replaced values to ``event_history``. The
caller holds the one transaction around all of it. Reads return a batch
sorted by (source, time).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from carbontwin.twin._attribution_readings import group_rows
from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import INSERT, UPDATE, EventBatch, Settlement
from carbontwin.twin.events import KINDS as EVENT_KINDS

from ._copy import binary_rows
from .models import (
    EnergyCounterRow,
    EventHistoryRow,
    GapRow,
    MaterialUseRow,
    OrderStepRow,
    PowerSampleRow,
    StateChangeRow,
)

#: Rows per chunk of an insert (one COPY on PostgreSQL; on SQLite, multi-row statements)
CHUNK_ROWS = 20_000
#: bound parameters per statement on SQLite (the limit of its builds before 3.32)
_SQLITE_PARAMS = 999


@dataclass(frozen=True, slots=True)
class EventKind:
    """How one event kind maps between batch columns and its table.

    ``columns`` pairs each batch attribute with its table column; the first
    pair is the source (asset or meter), ``time`` names the time column and
    ``end`` the interval end for steps and gaps.
    """

    label: str
    name: str
    table: sa.Table
    columns: tuple[tuple[str, str], ...]
    time: str
    end: str | None = None

    @property
    def source(self) -> str:
        return self.columns[0][1]

    def rows_in(self, batch: EventBatch) -> int:
        return len(getattr(batch, self.columns[0][0]))

    def values(self, batch: EventBatch, attr: str) -> np.ndarray[Any, Any]:
        return EVENT_KINDS[self.name].column(batch, attr)

    def col(self, attr: str) -> str:
        return dict(self.columns)[attr]


def _table(row: Any) -> sa.Table:
    table = row.__table__
    assert isinstance(table, sa.Table)
    return table


KINDS: tuple[EventKind, ...] = (
    EventKind(
        "state changes",
        "states",
        _table(StateChangeRow),
        (("state_asset", "asset"), ("state_t", "t"), ("state", "state")),
        "t",
    ),
    EventKind(
        "power samples",
        "power",
        _table(PowerSampleRow),
        (("power_meter", "meter"), ("power_t", "t"), ("power_kw", "power_kw")),
        "t",
    ),
    EventKind(
        "energy counters",
        "counters",
        _table(EnergyCounterRow),
        (("counter_meter", "meter"), ("counter_t", "t"), ("counter_kwh", "energy_kwh")),
        "t",
    ),
    EventKind(
        "order steps",
        "steps",
        _table(OrderStepRow),
        (
            ("step_asset", "asset"),
            ("step_order", "order_id"),
            ("step_operation", "operation"),
            ("step_start", "start"),
            ("step_end", "end"),
            ("step_quantity", "quantity"),
            ("step_kind", "kind"),
        ),
        "start",
        end="end",
    ),
    EventKind(
        "material uses",
        "materials",
        _table(MaterialUseRow),
        (
            ("material_order", "order_id"),
            ("material_id", "material"),
            ("material_quantity", "quantity"),
            ("material_unit", "unit"),
            ("material_booking", "booking"),
        ),
        "t",
    ),
    EventKind(
        "gaps",
        "gaps",
        _table(GapRow),
        (
            ("gap_source", "source"),
            ("gap_start", "start"),
            ("gap_end", "end"),
            ("gap_reason", "reason"),
        ),
        "start",
        end="end",
    ),
)


def insert_ignoring_duplicates(dialect: str, table: sa.Table) -> sa.Insert:
    """``INSERT INTO table ... ON CONFLICT DO NOTHING`` for ``dialect``."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    msg = f"the store supports SQLite and PostgreSQL, not {dialect!r}"
    raise StoreError(msg)


def _chunks(
    kind: EventKind, batch: EventBatch, size: int, tenant: str
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    names = [col for _, col in kind.columns]
    values = [kind.values(batch, attr).tolist() for attr, _ in kind.columns]
    n = len(values[0])
    for lo in range(0, n, size):
        cols = [v[lo : lo + size] for v in values]
        yield (
            lo,
            [
                {"tenant": tenant, **dict(zip(names, row, strict=True))}
                for row in zip(*cols, strict=True)
            ],
        )


#: tables range-partitioned by month on PostgreSQL (migration 0008)
PARTITIONED = ("state_changes", "power_samples", "energy_counters")
#: partitions are made this far ahead of the newest row written [s]
AHEAD_S = 31 * 86_400.0


def ensure_partitions(conn: sa.Connection, table: str, t0: float, t1: float) -> None:
    """On PostgreSQL, create the monthly partitions of ``table`` covering ``[t0, t1]`` and
    the month after (``carbontwin_ensure_partitions``); nothing elsewhere."""
    if conn.dialect.name != "postgresql" or table not in PARTITIONED:
        return
    conn.execute(
        sa.select(sa.func.carbontwin_ensure_partitions(table, float(t0), float(t1) + AHEAD_S))
    )


def _insert(
    conn: sa.Connection, kind: EventKind, batch: EventBatch, chunk_rows: int, tenant: str
) -> int:
    """Bulk insert of ``batch``'s rows of ``kind``; returns the rows inserted."""
    if conn.dialect.name == "postgresql" and kind.table.name in PARTITIONED:
        attr = next(a for a, c in kind.columns if c == kind.time)
        t = np.asarray(kind.values(batch, attr), dtype=np.float64)
        t = t[np.isfinite(t)]
        if t.size:
            ensure_partitions(conn, kind.table.name, float(t.min()), float(t.max()))
    if conn.dialect.name == "sqlite":
        return _insert_sqlite(conn, kind, batch, chunk_rows, tenant)
    if conn.dialect.name == "postgresql":
        return _insert_postgres(conn, kind, batch, chunk_rows, tenant)
    # RETURNING counts the rows really inserted on every driver (executemany
    # rowcount is not reliable); SQLAlchemy batches it as multi-row VALUES
    stmt = insert_ignoring_duplicates(conn.dialect.name, kind.table).returning(
        sa.literal_column("1", sa.Integer)
    )
    stored = 0
    for lo, rows in _chunks(kind, batch, chunk_rows, tenant):
        try:
            result = conn.execute(stmt, rows)
        except sa.exc.SQLAlchemyError as exc:
            raise _write_failed(kind, lo, lo + len(rows) - 1, exc) from exc
        stored += len(result.all())
    return stored


def _insert_sqlite(
    conn: sa.Connection, kind: EventKind, batch: EventBatch, chunk_rows: int, tenant: str
) -> int:
    """:func:`_insert` on SQLite: multi-row ``INSERT ... VALUES`` statements of as many rows
    as :data:`_SQLITE_PARAMS` bound values allow (a quarter to a third less time per row
    than ``executemany`` of one row each here). Each statement's ``rowcount`` is the rows
    it stored, so duplicates left out by ``ON CONFLICT DO NOTHING`` do not count."""
    names = ["tenant", *(col for _, col in kind.columns)]
    width = len(names)
    columns = ", ".join(f'"{n}"' for n in names)
    one = "(" + ", ".join("?" for _ in names) + ")"

    def statement(rows: int) -> str:
        values = ", ".join([one] * rows)
        return f"INSERT INTO {kind.table.name} ({columns}) VALUES {values} ON CONFLICT DO NOTHING"

    step = max(1, _SQLITE_PARAMS // width) * width  # bound values per statement
    full = statement(step // width)
    values = [kind.values(batch, attr).tolist() for attr, _ in kind.columns]
    n = len(values[0]) if values else 0
    stored = 0
    for lo in range(0, n, chunk_rows):
        hi = min(lo + chunk_rows, n)
        # the chunk's values row by row, column after column, laid out in one list
        flat: list[Any] = [tenant] * ((hi - lo) * width)
        for j, v in enumerate(values, start=1):
            flat[j::width] = v[lo:hi]
        try:
            for i in range(0, len(flat), step):
                part = tuple(flat[i : i + step])
                sql = full if len(part) == step else statement(len(part) // width)
                stored += max(int(conn.exec_driver_sql(sql, part).rowcount), 0)
        except sa.exc.SQLAlchemyError as exc:
            raise _write_failed(kind, lo, hi - 1, exc) from exc
    return stored


def _insert_postgres(
    conn: sa.Connection, kind: EventKind, batch: EventBatch, chunk_rows: int, tenant: str
) -> int:
    """:func:`_insert` on PostgreSQL: per chunk of rows, ``COPY`` (in the transaction) into
    a temporary table shaped like the event table, then one ``INSERT ... SELECT``. A
    many-row ``VALUES`` statement, or ``executemany``, took about ten times longer for a
    day's samples. Not a ``COPY`` into the event table itself, though it is a fifth
    faster: PostgreSQL refuses ``COPY FROM`` into a table with row-level security
    (every event table, ``FORCE``d) to any role that does not bypass it.

    The rows are keys the transaction found not stored (:func:`write_settled`), so the
    insert has no ``ON CONFLICT`` clause (it doubled the server's time per row): a key
    another writer stored since is a unique violation, reported as :func:`_raced`.
    """
    names = ["tenant", *(col for _, col in kind.columns)]
    columns = ", ".join(f'"{n}"' for n in names)
    table = kind.table.name
    stage = f"carbontwin_stage_{table}"
    move = f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{stage}"'

    arrays = [kind.values(batch, attr) for attr, _ in kind.columns]
    n = len(arrays[0]) if arrays else 0
    # columns all NOT NULL: the chunk laid out at once as binary COPY data (_copy)
    floats = [isinstance(kind.table.c[c].type, sa.Double) for c in names]
    binary = not any(kind.table.c[c].nullable for c in names)
    values = [] if binary else [a.tolist() for a in arrays]
    raw: Any = conn.connection.dbapi_connection  # psycopg's connection, in the transaction
    with raw.cursor() as cur:  # a session's table: emptied by each commit
        cur.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" '
            f'(LIKE "{table}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
        )
    stored = 0
    for lo in range(0, n, chunk_rows):
        hi = min(lo + chunk_rows, n)
        try:
            with raw.cursor() as cur:
                cur.execute(f'TRUNCATE "{stage}"')  # a chunk before, in this transaction
                if binary:
                    cols = [np.full(hi - lo, tenant, dtype=object), *(a[lo:hi] for a in arrays)]
                    data = binary_rows(cols, floats)
                    with cur.copy(f'COPY "{stage}" ({columns}) FROM STDIN (FORMAT BINARY)') as copy:
                        copy.write(data)
                else:
                    with cur.copy(f'COPY "{stage}" ({columns}) FROM STDIN') as copy:
                        rows = zip([tenant] * (hi - lo), *(v[lo:hi] for v in values), strict=True)
                        for row in rows:
                            copy.write_row(row)
            result = conn.exec_driver_sql(move)
        except sa.exc.IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise _raced(kind) from exc
            raise _write_failed(kind, lo, hi - 1, exc) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise _write_failed(kind, lo, hi - 1, exc) from exc
        except Exception as exc:  # the driver's own (the copy): the transaction rolls back
            if not type(exc).__module__.startswith("psycopg") and not isinstance(
                exc, UnicodeEncodeError
            ):
                raise
            raise _write_failed(kind, lo, hi - 1, exc) from exc
        stored += max(int(result.rowcount), 0)
    return stored


#: PostgreSQL's SQLSTATE of a duplicate key
_UNIQUE_VIOLATION = "23505"


def _raced(kind: EventKind) -> StoreError:
    """The error of rows whose keys another writer stored after this transaction read them."""
    msg = (
        f"{kind.label}: another writer stored events with the same keys at the "
        "same time; nothing of this batch was stored, send it again"
    )
    return StoreError(msg, field=kind.label)


def _write_failed(kind: EventKind, first: int, last: int, exc: Exception) -> StoreError:
    """The error of a refused insert of batch rows ``first..last`` of ``kind``."""
    orig = getattr(exc, "orig", None) or exc
    msg = (
        f"writing {kind.label} (batch rows {first}..{last}) to table "
        f"{kind.table.name!r} failed: {str(orig).strip()}; nothing of this batch was stored"
    )
    return StoreError(msg, field=kind.label)


def fetch_rows(
    conn: sa.Connection,
    stmt: sa.Select[Any] | sa.CompoundSelect[Any] | sa.TextClause,
    params: dict[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """All rows of ``stmt`` as plain tuples, read through the driver's cursor (the columns
    read here are floats and strings, which need no conversion): a window reads tens of
    thousands of rows, and building a result row object for each costs more than the
    read."""
    result = conn.execute(stmt, params)  # compiled once per shape (SQLAlchemy's cache)
    try:
        return list(result.cursor.fetchall())  # the driver's tuples, no result rows
    finally:
        result.close()


def _sub(batch: EventBatch, kind: EventKind, rows: np.ndarray[Any, Any]) -> EventBatch:
    """A batch with only ``rows`` of ``kind``."""
    return EventBatch(**{a: kind.values(batch, a)[rows] for a, _ in kind.columns})


#: sources whose time spans in a batch lie within this many seconds of each other are
#: read in one select (a live connector's batch: every source over the same second or two)
GROUP_SPAN_S = 60.0
#: sources per grouped select
GROUP_SOURCES = 500


def _span_groups(frame: pd.DataFrame) -> Iterator[tuple[list[str], float, float]]:
    """Sources (index) with their batch's time span (``min``, ``max``), grouped: each
    group's sources and the span covering them all. A source joins a group when the
    group's span stays at most ``GROUP_SPAN_S`` wide (a live batch: every source over
    the same second or two) or when its own span starts and ends within
    ``GROUP_SPAN_S`` of its first source's (a day's delivery: every source over the same
    day); either way a source's read reaches at most twice ``GROUP_SPAN_S`` beyond its
    own span."""
    ids: list[str] = []
    lo = hi = end0 = 0.0
    for s_id, t0, t1 in sorted(frame.itertuples(), key=lambda r: (r[1], r[2])):
        t0, t1 = float(t0), float(t1)
        narrow = max(hi, t1) - lo <= GROUP_SPAN_S
        alike = t0 - lo <= GROUP_SPAN_S and abs(t1 - end0) <= GROUP_SPAN_S
        if ids and len(ids) < GROUP_SOURCES and (narrow or alike):
            ids.append(str(s_id))
            hi = max(hi, t1)
            continue
        if ids:
            yield ids, lo, hi
        ids, lo, hi, end0 = [str(s_id)], t0, t1, t1
    if ids:
        yield ids, lo, hi


def _source_spans(src: np.ndarray[Any, Any], t: np.ndarray[Any, Any]) -> pd.DataFrame:
    """Per source of ``src`` (the index, sorted), the ``min`` and ``max`` of its times
    ``t``, from its runs of rows (a batch holds each source's rows together, mostly)."""
    t = np.asarray(t, dtype=np.float64)
    runs = sorted(group_rows(src).items())
    return pd.DataFrame(
        {
            "min": [min(float(t[a:b].min()) for a, b in rs) for _, rs in runs],
            "max": [max(float(t[a:b].max()) for a, b in rs) for _, rs in runs],
        },
        index=pd.Index([s for s, _ in runs], dtype=object),
    )


def _union(parts: list[sa.Select[Any]]) -> sa.Select[Any] | sa.CompoundSelect[Any]:
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


def stored_for(conn: sa.Connection, batch: EventBatch, tenant: str) -> EventBatch:
    """The stored rows of ``tenant`` that may share a key with ``batch`` (a superset of them).

    Point events and gaps: per source, the rows between the source's first and
    last time in the batch (an index range scan); steps and bookings: the rows
    of the batch's orders.
    """
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for kind in KINDS:
        cols = [kind.table.c[c] for _, c in kind.columns]
        found: list[Any] = []
        if kind.rows_in(batch):
            src_attr = kind.columns[0][0]
            src = kind.values(batch, src_attr)
            src_col = kind.table.c[kind.source]
            mine = kind.table.c.tenant == tenant
            if kind.name in ("steps", "materials"):
                # by order: the first key column of both tables, so a read of the batch's
                # orders only (by asset it would read every step the machine ever made)
                order_attr = next(a for a, c in kind.columns if c == "order_id")
                ids = sorted({str(x) for x in kind.values(batch, order_attr).tolist()})
                order_col = kind.table.c.order_id
                for lo in range(0, len(ids), 500):
                    stmt = sa.select(*cols).where(mine, order_col.in_(ids[lo : lo + 500]))
                    found += fetch_rows(conn, stmt)
            else:
                t = kind.values(batch, [a for a, c in kind.columns if c == kind.time][0])
                frame = _source_spans(src, t)
                t_col = kind.table.c[kind.time]
                # one statement per 100 groups or 2,000 sources (bound parameters stay
                # far below SQLite's limit)
                parts: list[sa.Select[Any]] = []
                n_ids = 0
                for ids, t0, t1 in _span_groups(frame):
                    where = src_col == ids[0] if len(ids) == 1 else src_col.in_(ids)
                    parts.append(sa.select(*cols).where(mine, where, t_col >= t0, t_col <= t1))
                    n_ids += len(ids)
                    if len(parts) == 100 or n_ids >= 2000:
                        found += fetch_rows(conn, _union(parts))
                        parts, n_ids = [], 0
                if parts:
                    found += fetch_rows(conn, _union(parts))
        columns = transpose(found, len(cols))
        for (attr, col), values in zip(kind.columns, columns, strict=True):
            is_float = isinstance(kind.table.c[col].type, sa.Double)
            arrays[attr] = _column(values, "f" if is_float else "o")
    return EventBatch(**arrays)


def write_settled(
    conn: sa.Connection, settled: Settlement, tenant: str, *, chunk_rows: int = CHUNK_ROWS
) -> None:
    """Store a settlement of ``tenant``: insert new keys, update corrected ones, keep
    their history."""
    batch = settled.batch
    for kind in KINDS:
        status = settled.status[kind.name]
        if not status.size:
            continue
        new = np.flatnonzero(status == INSERT)
        if new.size:
            part = batch if new.size == status.size else _sub(batch, kind, new)
            if _insert(conn, kind, part, chunk_rows, tenant) != new.size:
                raise _raced(kind)
        upd = np.flatnonzero(status == UPDATE)
        if upd.size:
            ev = EVENT_KINDS[kind.name]
            keys = [kind.col(a) for a in ev.key]
            vals = [kind.col(a) for a in ev.values]
            stmt = (
                sa.update(kind.table)
                .where(
                    kind.table.c.tenant == tenant,
                    *[kind.table.c[k] == sa.bindparam(f"k_{k}") for k in keys],
                )
                .values({v: sa.bindparam(f"v_{v}") for v in vals})
            )
            cols = {f"k_{kind.col(a)}": kind.values(batch, a)[upd].tolist() for a in ev.key}
            cols |= {f"v_{kind.col(a)}": kind.values(batch, a)[upd].tolist() for a in ev.values}
            rows = [dict(zip(cols, r, strict=True)) for r in zip(*cols.values(), strict=True)]
            conn.execute(stmt, rows)
    if settled.superseded:
        now = datetime.now(UTC)
        conn.execute(
            sa.insert(EventHistoryRow),
            [
                {
                    "tenant": tenant,
                    "kind": s.kind,
                    "key": list(s.key),
                    "old": list(s.old),
                    "new": list(s.new),
                    "superseded_at": now,
                }
                for s in settled.superseded
            ],
        )


def _window(
    kind: EventKind, start: float | None, end: float | None
) -> list[sa.ColumnElement[bool]]:
    t = kind.table.c[kind.time]
    conds: list[sa.ColumnElement[bool]] = []
    if kind.end is None:
        if start is not None:
            conds.append(t >= start)
        if end is not None:
            conds.append(t < end)
        return conds
    # intervals: every one that overlaps [start, end), zero-length ones included
    t_end = kind.table.c[kind.end]
    if end is not None:
        conds.append(t < end)
    if start is not None:
        conds.append(sa.or_(t_end > start, t >= start))
    return conds


def transpose(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """The columns of ``rows`` (``width`` of them; empty lists when there are no rows).
    Faster than ``zip(*rows)`` on tens of thousands of rows, whose argument unpacking
    dominates."""
    return [[r[j] for r in rows] for j in range(width)]


def _column(values: list[Any], kind: str) -> np.ndarray[Any, Any]:
    if kind == "f":
        return np.asarray(values, dtype=np.float64)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def read_kinds(
    conn: sa.Connection, start: float | None, end: float | None, tenant: str
) -> EventBatch:
    """All stored events of ``tenant`` in ``[start, end)`` (epoch s), sorted by source and time.

    Point events (states, samples, counters) lie in the window; steps and gaps
    overlap it; material uses belong to an order with a step in the window (or
    have their own time in it). ``None`` leaves that side open.
    """
    steps = next(k for k in KINDS if k.label == "order steps")
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for kind in KINDS:
        cols = [kind.table.c[c] for _, c in kind.columns]
        stmt = sa.select(*cols).where(kind.table.c.tenant == tenant)
        if kind.label == "material uses":
            if start is not None or end is not None:
                orders = sa.select(steps.table.c.order_id).where(
                    steps.table.c.tenant == tenant, *_window(steps, start, end)
                )
                stmt = stmt.where(
                    sa.or_(
                        kind.table.c.order_id.in_(orders), *[sa.and_(*_window(kind, start, end))]
                    )
                )
        else:
            stmt = stmt.where(*_window(kind, start, end))
        stmt = stmt.order_by(
            kind.table.c[kind.source], kind.table.c[kind.time], *kind.table.primary_key.columns
        )
        rows = conn.execute(stmt).all()
        columns = transpose(rows, len(cols))
        for (attr, col), values in zip(kind.columns, columns, strict=True):
            is_float = isinstance(kind.table.c[col].type, sa.Double)
            arrays[attr] = _column(values, "f" if is_float else "o")
    return EventBatch(**arrays)
