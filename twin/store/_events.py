"""Event tables <-> :class:`~carbontwin.twin.events.EventBatch` columns.

Writes are bulk ``INSERT ... ON CONFLICT DO NOTHING`` (driver ``executemany``
in chunks), so a re-sent event is stored once; the caller holds the one
transaction around all kinds. Reads return a batch sorted by (source, time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import EventBatch

from .models import (
    EnergyCounterRow,
    GapRow,
    MaterialUseRow,
    OrderStepRow,
    PowerSampleRow,
    StateChangeRow,
)

#: Rows per ``executemany`` call.
CHUNK_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class EventKind:
    """How one event kind maps between batch columns and its table.

    ``columns`` pairs each batch attribute with its table column; the first
    pair is the source (asset or meter), ``time`` names the time column and
    ``end`` the interval end for steps and gaps.
    """

    label: str
    table: sa.Table
    columns: tuple[tuple[str, str], ...]
    time: str
    end: str | None = None

    @property
    def source(self) -> str:
        return self.columns[0][1]

    def rows_in(self, batch: EventBatch) -> int:
        return len(getattr(batch, self.columns[0][0]))


def _table(row: Any) -> sa.Table:
    table = row.__table__
    assert isinstance(table, sa.Table)
    return table


KINDS: tuple[EventKind, ...] = (
    EventKind(
        "state changes",
        _table(StateChangeRow),
        (("state_asset", "asset"), ("state_t", "t"), ("state", "state")),
        "t",
    ),
    EventKind(
        "power samples",
        _table(PowerSampleRow),
        (("power_meter", "meter"), ("power_t", "t"), ("power_kw", "power_kw")),
        "t",
    ),
    EventKind(
        "energy counters",
        _table(EnergyCounterRow),
        (("counter_meter", "meter"), ("counter_t", "t"), ("counter_kwh", "energy_kwh")),
        "t",
    ),
    EventKind(
        "order steps",
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
        _table(MaterialUseRow),
        (
            ("material_order", "order_id"),
            ("material_id", "material"),
            ("material_quantity", "quantity"),
            ("material_unit", "unit"),
        ),
        "t",
    ),
    EventKind(
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
    kind: EventKind, batch: EventBatch, size: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    names = [col for _, col in kind.columns]
    values = [getattr(batch, attr).tolist() for attr, _ in kind.columns]
    n = len(values[0])
    for lo in range(0, n, size):
        cols = [v[lo : lo + size] for v in values]
        yield lo, [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]


def write_kinds(
    conn: sa.Connection,
    batch: EventBatch,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Insert every kind of ``batch`` through ``conn``; return the rows newly stored.

    Raises :class:`StoreError` naming the kind, the table and the batch rows of
    the chunk that failed; the caller's transaction then rolls everything back.
    """
    stored = 0
    for kind in KINDS:
        if not kind.rows_in(batch):
            continue
        # RETURNING counts the rows really inserted on every driver (executemany
        # rowcount is not reliable); SQLAlchemy batches it as multi-row VALUES
        stmt = insert_ignoring_duplicates(conn.dialect.name, kind.table).returning(
            sa.literal_column("1", sa.Integer)
        )
        for lo, rows in _chunks(kind, batch, chunk_rows):
            try:
                result = conn.execute(stmt, rows)
            except sa.exc.SQLAlchemyError as exc:
                orig = getattr(exc, "orig", None) or exc
                msg = (
                    f"writing {kind.label} (batch rows {lo}..{lo + len(rows) - 1}) to table "
                    f"{kind.table.name!r} failed: {str(orig).strip()}; nothing of this batch "
                    f"was stored"
                )
                raise StoreError(msg, field=kind.label) from exc
            stored += len(result.all())
    return stored


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


def _column(values: list[Any], kind: str) -> np.ndarray[Any, Any]:
    if kind == "f":
        return np.asarray(values, dtype=np.float64)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def read_kinds(conn: sa.Connection, start: float | None, end: float | None) -> EventBatch:
    """All stored events in ``[start, end)`` (epoch s), sorted by source and time.

    Point events (states, samples, counters) lie in the window; steps and gaps
    overlap it; material uses belong to an order with a step in the window (or
    have their own time in it). ``None`` leaves that side open.
    """
    steps = next(k for k in KINDS if k.label == "order steps")
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for kind in KINDS:
        cols = [kind.table.c[c] for _, c in kind.columns]
        stmt = sa.select(*cols)
        if kind.label == "material uses":
            if start is not None or end is not None:
                orders = sa.select(steps.table.c.order_id).where(*_window(steps, start, end))
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
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in cols]
        for (attr, col), values in zip(kind.columns, columns, strict=True):
            is_float = isinstance(kind.table.c[col].type, sa.Double)
            arrays[attr] = _column(list(values), "f" if is_float else "o")
    return EventBatch(**arrays)
