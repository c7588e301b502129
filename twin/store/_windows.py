"""Windowed issuing in the store (helpers of :class:`Store`): a window's events with the
state carried in, attributed windows, ingest spans.

See ``docs/architecture.md`` ("Issuing") and :mod:`carbontwin.twin.windows`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from carbontwin.twin.events import EventBatch

from . import _events
from .models import (
    AttributionWindowRow,
    EventExtentRow,
    IngestSpanRow,
    WindowCursorRow,
    WindowOrderRow,
)


def _table(row: Any) -> sa.Table:
    table = row.__table__
    assert isinstance(table, sa.Table)
    return table


W = _table(AttributionWindowRow)
WO = _table(WindowOrderRow)
SPANS = _table(IngestSpanRow)
EXTENTS = _table(EventExtentRow)
CURSORS = _table(WindowCursorRow)

_STATES, _POWER, _COUNTERS, _STEPS, _MATERIALS, _GAPS = _events.KINDS


@dataclass(frozen=True, slots=True)
class StoredWindow:
    """An attributed window as stored."""

    start: float
    end: float
    key: str
    slice_sha256: str
    slice_count: int
    span: int = 0  # the newest ingest span checked against it
    meta: dict[str, Any] = field(default_factory=dict)  # read with the pieces only
    reach: tuple[float, float] | None = None  # twin.windows.slice_reach (None: unknown)


def _point_rows(
    conn: sa.Connection,
    tenant: str,
    kind: _events.EventKind,
    source: str,
    lo: float,
    hi: float,
    *,
    closed: bool = True,
) -> list[Any]:
    """Rows of ``source`` with ``lo <= t <= hi`` (``t < hi`` unless ``closed``), by time."""
    tab = kind.table
    cols = [tab.c[c] for _, c in kind.columns]
    src, t = tab.c[kind.source], tab.c[kind.time]
    upper = t <= hi if closed else t < hi
    stmt = sa.select(*cols).where(tab.c.tenant == tenant, src == source, t >= lo, upper).order_by(t)
    return _events.fetch_rows(conn, stmt)


def _edge(
    conn: sa.Connection,
    tenant: str,
    kind: _events.EventKind,
    source: str,
    t0: float,
    *,
    before: bool,
) -> float | None:
    """Time of ``source``'s last row before ``t0`` (``before``) or first at or after it."""
    tab = kind.table
    src, t = tab.c[kind.source], tab.c[kind.time]
    agg = sa.func.max(t) if before else sa.func.min(t)
    cond = t < t0 if before else t >= t0
    v = conn.execute(sa.select(agg).where(tab.c.tenant == tenant, src == source, cond)).scalar()
    return None if v is None else float(v)


class _Sources:
    """Point rows and edges from the store and, for archived time, its archive files."""

    def __init__(self, conn: sa.Connection, tenant: str) -> None:
        from . import _archive, _retractions

        self.conn = conn
        self.tenant = tenant
        archived = _archive.files(conn, tenant)
        self.reader = _archive.Reader(archived) if archived else None
        self.retractions = _retractions.load(conn, tenant)
        self.taken: dict[str, list[tuple[float, float]]] = {}
        for r in self.retractions:
            self.taken.setdefault(r.source, []).append((r.start, r.end))

    def edge(
        self, kind: _events.EventKind, source: str, t0: float, *, before: bool
    ) -> float | None:
        """The nearest time before ``t0`` (or at or after it) of a row not retracted."""
        v = self._edge(kind, source, t0, before=before)
        spans = self.taken.get(source, ())
        while v is not None:
            hit = next(((a, b) for a, b in spans if a <= v < b), None)
            if hit is None:
                return v
            v = self._edge(kind, source, hit[0] if before else hit[1], before=before)
        return v

    def _edge(
        self, kind: _events.EventKind, source: str, t0: float, *, before: bool
    ) -> float | None:
        v = _edge(self.conn, self.tenant, kind, source, t0, before=before)
        r = self.reader
        if r is None:
            return v
        end = r.boundary(kind.table.name)  # archived rows all lie before it
        if (not before and t0 >= end) or (before and v is not None and v >= end):
            return v
        w = r.edge(kind.table.name, source, t0, before=before)
        if v is None or w is None:
            return v if w is None else w
        return max(v, w) if before else min(v, w)

    def rows(
        self,
        kind: _events.EventKind,
        source: str,
        lo: float,
        hi: float,
        *,
        closed: bool = True,
    ) -> list[Any]:
        rows = _point_rows(self.conn, self.tenant, kind, source, lo, hi, closed=closed)
        r = self.reader
        if r is None or lo >= r.boundary(kind.table.name):
            return rows
        stored = {float(x[1]) for x in rows}
        old = [
            x for x in r.rows(kind.table.name, source, lo, hi, closed=closed) if x[1] not in stored
        ]
        return sorted([*old, *rows], key=lambda x: float(x[1]))


def _interval_rows(
    conn: sa.Connection, tenant: str, kind: _events.EventKind, a: float, b: float
) -> list[Any]:
    """Steps or gaps overlapping ``[a, b]``.

    Read through the (tenant, end) index: the rows ending at or after ``a`` are those
    of the window and after it, a few for the newest windows whatever the history's
    length (the (tenant, start) index would read every row starting before ``b``).
    """
    assert kind.end is not None
    tab = kind.table
    cols = [tab.c[c] for _, c in kind.columns]
    start, end = tab.c[kind.time], tab.c[kind.end]
    starts_by: sa.ColumnElement[bool] = start <= b
    if conn.dialect.name == "sqlite":  # unary + keeps SQLite's planner on the end index
        starts_by = sa.literal_column(f'+"{tab.name}"."{kind.time}"', sa.Double) <= b
    stmt = (
        sa.select(*cols)
        .where(tab.c.tenant == tenant, end >= a, starts_by)
        .order_by(tab.c[kind.source], start, *tab.primary_key.columns)
    )
    return _events.fetch_rows(conn, stmt)


def _batch(
    parts: dict[_events.EventKind, list[Any]],
    blocks: dict[_events.EventKind, list[tuple[str, list[Any]]]] | None = None,
) -> EventBatch:
    """An event batch of the rows in ``parts`` (whole rows) and ``blocks`` (per point kind,
    ``(source, its rows without the source)``, in the order the batch holds them)."""
    arrays: dict[str, np.ndarray[Any, Any]] = {}

    def put(kind: _events.EventKind, pairs: Any, rows: list[Any]) -> None:
        columns = _events.transpose(rows, len(pairs))
        for (attr, col), values in zip(pairs, columns, strict=True):
            is_float = isinstance(kind.table.c[col].type, sa.Double)
            arrays[attr] = _events._column(values, "f" if is_float else "o")

    for kind, rows in parts.items():
        put(kind, kind.columns, rows)
    for kind, got in (blocks or {}).items():
        names = np.empty(len(got), dtype=object)
        names[:] = [s for s, _ in got]
        arrays[kind.columns[0][0]] = np.repeat(names, [len(rs) for _, rs in got])
        put(kind, kind.columns[1:], list(itertools.chain.from_iterable(rs for _, rs in got)))
    return EventBatch(**arrays)


#: a point row's first column: its source in a whole row, its time in the rows of
#: :func:`_bulk_rows` (which leave the source out)
_FIRST = operator.itemgetter(0)


def _bulk_rows(
    conn: sa.Connection,
    tenant: str,
    kind: _events.EventKind,
    sources: Sequence[str],
    lo: float,
    hi: float,
) -> dict[str, list[Any]]:
    """Rows of ``sources`` with ``lo <= t <= hi``, per source by time and without the
    source column (time first).

    SQLite: one seek of the (tenant, source, t) key per source (a read of many sources
    at once, ordered by source, cost more there: a new string of the source's name for
    every row). PostgreSQL: one read of the key per 500 sources (a statement per source
    is a round trip and a plan each).
    """
    if conn.dialect.name == "sqlite":
        sql = _range_sql(kind.table.name)
        params: dict[str, Any] = {"tenant": tenant, "lo": float(lo), "hi": float(hi)}
        return {s: _events.fetch_rows(conn, sql, params | {"s": s}) for s in sources}
    out: dict[str, list[Any]] = {s: [] for s in sources}
    tab = kind.table
    cols = [tab.c[c] for _, c in kind.columns]
    src, t = tab.c[kind.source], tab.c[kind.time]
    ids = sorted(out)
    for i in range(0, len(ids), 500):
        stmt = (
            sa.select(*cols)
            .where(tab.c.tenant == tenant, src.in_(ids[i : i + 500]), t >= lo, t <= hi)
            .order_by(src, t)
        )
        for s, rows in itertools.groupby(_events.fetch_rows(conn, stmt), key=_FIRST):
            out[s] = [r[1:] for r in rows]  # the rows come ordered by source
    return out


@functools.lru_cache(maxsize=8)
def _range_sql(table: str) -> sa.TextClause:
    """The statement of :func:`_bulk_rows` for ``table`` (bound ``:tenant``, ``:s``,
    ``:lo``, ``:hi``), written once per table."""
    kind = next(k for k in _events.KINDS if k.table.name == table)
    cols = ", ".join(f'"{c}"' for _, c in kind.columns[1:])
    src, t = f'"{kind.source}"', f'"{kind.time}"'
    return sa.text(
        f"SELECT {cols} FROM {table} WHERE tenant = :tenant AND {src} = :s "
        f"AND {t} >= :lo AND {t} <= :hi ORDER BY {t}"
    )


def _nearest_rows(
    conn: sa.Connection,
    tenant: str,
    kind: _events.EventKind,
    sources: Sequence[str],
    t0: float,
    *,
    before: bool,
) -> dict[str, Any]:
    """Each source's last row before ``t0`` (``before``) or first at or after it, where it
    has one: one statement per 100 sources, each part a seek on the (tenant, source, t)
    key."""
    out: dict[str, Any] = {}
    ids = sorted(set(sources))
    for i in range(0, len(ids), 100):
        chunk = ids[i : i + 100]
        params: dict[str, Any] = {f"s{k}": s for k, s in enumerate(chunk)}
        params |= {"tenant": tenant, "t0": float(t0)}
        sql = _nearest_sql(kind.table.name, len(chunk), before)
        out.update({r[0]: r for r in _events.fetch_rows(conn, sql, params)})
    return out


@functools.lru_cache(maxsize=64)
def _nearest_sql(table: str, n: int, before: bool) -> sa.TextClause:
    """The statement of :func:`_nearest_rows` for ``n`` sources of ``table``: a union of one
    seek per source (bound ``:s0 .. :s<n-1>``, ``:tenant``, ``:t0``), written once per shape
    (building it as an expression per call cost more than the reads)."""
    kind = next(k for k in _events.KINDS if k.table.name == table)
    cols = ", ".join(f'"{c}"' for _, c in kind.columns)
    src, t = f'"{kind.source}"', f'"{kind.time}"'
    cmp, direction = ("<", "DESC") if before else (">=", "ASC")
    part = (
        f"SELECT * FROM (SELECT {cols} FROM {table} WHERE tenant = :tenant AND {src} = :s{{k}} "
        f"AND {t} {cmp} :t0 ORDER BY {t} {direction} LIMIT 1) AS seek{{k}}"
    )
    return sa.text(" UNION ALL ".join(part.format(k=k) for k in range(n)))


def _carried(
    conn: sa.Connection,
    tenant: str,
    kind: _events.EventKind,
    sources: Sequence[str],
    w0: float,
    w1: float | None,
    margin: float,
    *,
    until: float | None = None,
) -> dict[str, tuple[list[Any], float | None, float | None]]:
    """Per source: its rows from its last one before ``w0`` to its first at or after ``w1``
    (all of them when it has none after; without ``w1``, its rows up to ``until``),
    without the source column (time first), with the times of those two edges (``None``
    where it has none).

    One read of ``[w0 - margin, w1 + margin]`` (:func:`_bulk_rows`) finds both edges of
    every source that reports at least once per ``margin``; the others' edges are one
    statement per 100 sources.
    """
    top = (w0 if until is None else until) if w1 is None else w1 + margin
    got = _bulk_rows(conn, tenant, kind, sources, w0 - margin, top)
    first_at = {s: bisect.bisect_left(rs, w0, key=_FIRST) for s, rs in got.items()}
    need_lo = [s for s in sources if first_at[s] == 0]
    lo_rows = _nearest_rows(conn, tenant, kind, need_lo, w0 - margin, before=True)
    hi_rows: dict[str, Any] = {}
    if w1 is not None:
        need_hi = [s for s, rs in got.items() if not rs or float(rs[-1][0]) < w1]
        hi_rows = _nearest_rows(conn, tenant, kind, need_hi, w1 + margin, before=False)
    out: dict[str, tuple[list[Any], float | None, float | None]] = {}
    for s in sources:
        rs = got[s]
        i_lo = first_at[s]
        if i_lo > 0:
            pre, lo, k = [], float(rs[i_lo - 1][0]), i_lo - 1
        elif s in lo_rows:
            pre, lo, k = [lo_rows[s][1:]], float(lo_rows[s][1]), 0
        else:
            pre, lo, k = [], None, 0
        if w1 is None:  # states: every row to the end of the read
            out[s] = ([*pre, *rs[k:]], lo, None)
            continue
        i_hi = bisect.bisect_left(rs, w1, key=_FIRST)
        if i_hi < len(rs):
            out[s] = ([*pre, *rs[k : i_hi + 1]], lo, float(rs[i_hi][0]))
        elif s in hi_rows:
            out[s] = ([*pre, *rs[k:], hi_rows[s][1:]], lo, float(hi_rows[s][1]))
        else:
            out[s] = ([*pre, *rs[k:]], lo, None)
    return out


def read_slice(
    conn: sa.Connection,
    tenant: str,
    w0: float,
    w1: float,
    meters: Sequence[str],
    assets: Sequence[str],
    *,
    by_source: bool = False,
) -> tuple[EventBatch, float, float]:
    """The events attributing the window ``[w0, w1)`` needs, and the span ``(a, b)`` they cover.

    Each meter's readings from its last one before ``w0`` to its first at or
    after ``w1`` (power samples and counters); each asset's states from its last
    one before ``a`` (the earliest of those readings) to ``b`` (the latest);
    order steps and gaps overlapping ``[a, b]``. Material uses are not read:
    they count when an order is issued. Every read is a range of an index:
    (source, time) for points, end for intervals; for the points one statement per
    source and kind on SQLite, per 500 sources on PostgreSQL, the edges of sources
    reporting less often than hourly a few more (:func:`_carried`). Sources with
    retracted events, and
    time within a window's length of archived time, are read source by source
    (retracted rows are skipped when finding a source's edges; archive files
    are read back). ``by_source`` reads every source alone.
    """
    a, b = w0, w1
    margin = min(w1 - w0, 3600.0)  # most sources report more often than this
    src = _Sources(conn, tenant)

    def bulk(kind: _events.EventKind, sources: Sequence[str], t0: float) -> list[str]:
        """The sources read in bulk (the others source by source)."""
        r = src.reader
        if by_source or (r is not None and t0 - margin < r.boundary(kind.table.name)):
            return []
        return [s for s in sources if s not in src.taken]

    # per point kind, (source, its rows without the source) in the order they are read
    points: dict[_events.EventKind, list[tuple[str, list[Any]]]] = {
        _STATES: [],
        _POWER: [],
        _COUNTERS: [],
    }
    for kind in (_POWER, _COUNTERS):
        quick = bulk(kind, meters, w0)
        for s, (rows, lo, hi) in _carried(conn, tenant, kind, quick, w0, w1, margin).items():
            points[kind].append((s, rows))
            a = min(a, w0 if lo is None else lo)
            if hi is not None:
                b = max(b, hi)
        for m in (m for m in meters if m not in set(quick)):
            lo = src.edge(kind, m, w0, before=True)
            hi = src.edge(kind, m, w1, before=False)
            lo_m = w0 if lo is None else lo
            if hi is None:  # nothing at or after w1 (yet): the window's rows only
                rows = src.rows(kind, m, lo_m, w1, closed=False)
            else:
                rows = src.rows(kind, m, lo_m, hi)
            points[kind].append((m, [r[1:] for r in rows]))
            a = min(a, lo_m)
            if hi is not None:
                b = max(b, hi)
    quick = bulk(_STATES, assets, a)
    carried = _carried(conn, tenant, _STATES, quick, a, None, margin, until=b)
    for s in quick:
        points[_STATES].append((s, [r for r in carried[s][0] if float(r[0]) <= b]))
    for asset in (x for x in assets if x not in set(quick)):
        lo = src.edge(_STATES, asset, a, before=True)
        rows = src.rows(_STATES, asset, a if lo is None else lo, b)
        points[_STATES].append((asset, [r[1:] for r in rows]))
    parts = {
        _STEPS: _interval_rows(conn, tenant, _STEPS, a, b),
        _MATERIALS: [],
        _GAPS: _interval_rows(conn, tenant, _GAPS, a, b),
    }
    batch = _batch(parts, points)
    if src.retractions:  # as the whole history is read: without the retracted events
        from carbontwin.twin.retractions import without_retracted

        batch = without_retracted(batch, src.retractions)[0]
    return batch, a, b


def order_events(conn: sa.Connection, tenant: str, orders: Iterable[str]) -> EventBatch:
    """Every order step and material use of ``orders`` (their (order, ...) keys), each kind
    by its source and key.

    The rows are sorted here, not by the statement: an ``ORDER BY`` led by the step's
    asset made SQLite walk the (tenant, asset, start) index through every step the
    tenant ever stored, rather than seek the key to the orders asked for.
    """
    ids = sorted(set(orders))
    parts: dict[_events.EventKind, list[Any]] = {
        _STATES: [],
        _POWER: [],
        _COUNTERS: [],
        _STEPS: [],
        _MATERIALS: [],
        _GAPS: [],
    }
    for kind in (_STEPS, _MATERIALS):
        tab = kind.table
        cols = [tab.c[c] for _, c in kind.columns]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            stmt = sa.select(*cols).where(tab.c.tenant == tenant, tab.c.order_id.in_(chunk))
            parts[kind] += list(conn.execute(stmt).all())
        names = [c for _, c in kind.columns]
        at = [names.index(kind.source)]
        at += [names.index(c.name) for c in tab.primary_key.columns if c.name != "tenant"]
        parts[kind].sort(key=lambda r: tuple(r[k] for k in at))
    return _batch(parts)


def extent(conn: sa.Connection, tenant: str) -> tuple[float, float] | None:
    """Earliest and latest time of any stored state, reading, step or gap (the tenant's
    ``event_extents`` row, widened by every stored batch; archived rows stay in it)."""
    row = conn.execute(
        sa.select(EXTENTS.c.t_min, EXTENTS.c.t_max).where(EXTENTS.c.tenant == tenant)
    ).first()
    return None if row is None else (float(row[0]), float(row[1]))


def _widen(conn: sa.Connection, tenant: str, lo: float, hi: float) -> None:
    """Widen ``tenant``'s event extent to cover ``[lo, hi]`` (one upsert)."""
    from ._events import insert_ignoring_duplicates

    stmt = insert_ignoring_duplicates(conn.dialect.name, EXTENTS).values(
        tenant=tenant, t_min=lo, t_max=hi
    )
    conn.execute(stmt)
    conn.execute(
        sa.update(EXTENTS)
        .where(EXTENTS.c.tenant == tenant, sa.or_(EXTENTS.c.t_min > lo, EXTENTS.c.t_max < hi))
        .values(
            t_min=sa.case((EXTENTS.c.t_min > lo, lo), else_=EXTENTS.c.t_min),
            t_max=sa.case((EXTENTS.c.t_max < hi, hi), else_=EXTENTS.c.t_max),
        )
    )


def record_span(conn: sa.Connection, tenant: str, batch: EventBatch) -> None:
    """Record the time span of a stored batch (states, readings, steps, gaps)."""
    arrays = [
        batch.state_t,
        batch.power_t,
        batch.counter_t,
        batch.step_start,
        batch.step_end,
        batch.gap_start,
        batch.gap_end,
    ]
    vals = [x[np.isfinite(x)] for x in arrays if x.size]
    vals = [x for x in vals if x.size]
    if not vals:
        return
    lo = float(min(float(x.min()) for x in vals))
    hi = float(max(float(x.max()) for x in vals))
    conn.execute(sa.insert(SPANS).values(tenant=tenant, t_min=lo, t_max=hi))
    _widen(conn, tenant, lo, hi)


def record_range(conn: sa.Connection, tenant: str, t_min: float, t_max: float) -> None:
    """Record a change of the stored events over ``[t_min, t_max]`` (a retraction)."""
    conn.execute(sa.insert(SPANS).values(tenant=tenant, t_min=float(t_min), t_max=float(t_max)))


def span_cursor(conn: sa.Connection, tenant: str) -> int:
    """The newest ingest span id of ``tenant`` (0: none)."""
    v = conn.execute(sa.select(sa.func.max(SPANS.c.id)).where(SPANS.c.tenant == tenant)).scalar()
    return 0 if v is None else int(v)


def spans_after(conn: sa.Connection, tenant: str, cursor: int) -> list[tuple[int, float, float]]:
    """Ingest spans recorded after span id ``cursor``."""
    rows = conn.execute(
        sa.select(SPANS.c.id, SPANS.c.t_min, SPANS.c.t_max)
        .where(SPANS.c.tenant == tenant, SPANS.c.id > cursor)
        .order_by(SPANS.c.id)
    ).all()
    return [(int(r[0]), float(r[1]), float(r[2])) for r in rows]


def save_window(
    conn: sa.Connection,
    tenant: str,
    window: StoredWindow,
    pieces: bytes,
    orders: Sequence[tuple[str, float]],
) -> None:
    """Store (or replace) an attributed window and the orders with energy in it."""
    conn.execute(sa.delete(WO).where(WO.c.tenant == tenant, WO.c.window_start == window.start))
    conn.execute(sa.delete(W).where(W.c.tenant == tenant, W.c.start == window.start))
    conn.execute(
        sa.insert(W).values(
            tenant=tenant,
            start=window.start,
            end=window.end,
            key=window.key,
            slice_sha256=window.slice_sha256,
            slice_count=window.slice_count,
            pieces=pieces,
            meta=window.meta,
            span=window.span,
            reach_from=None if window.reach is None else window.reach[0],
            reach_to=None if window.reach is None else window.reach[1],
            attributed_at=datetime.now(UTC),
        )
    )
    if orders:
        conn.execute(
            sa.insert(WO),
            [
                {"tenant": tenant, "order_id": o, "window_start": window.start, "last_end": e}
                for o, e in orders
            ],
        )


def windows(conn: sa.Connection, tenant: str) -> list[StoredWindow]:
    """Every attributed window (without its pieces and meta), by start: a few numbers
    and digests per window."""
    rows = conn.execute(sa.select(*_WINDOW).where(W.c.tenant == tenant).order_by(W.c.start))
    return [_stored(r) for r in rows]


#: the columns of a window row that :func:`_stored` reads, in its order
_WINDOW = (
    W.c.start,
    W.c.end,
    W.c.key,
    W.c.slice_sha256,
    W.c.slice_count,
    W.c.span,
    W.c.reach_from,
    W.c.reach_to,
)


def _stored(r: Any, meta: dict[str, Any] | None = None) -> StoredWindow:
    """The :class:`StoredWindow` of a row of :data:`_WINDOW` (and ``meta``)."""
    return StoredWindow(
        float(r[0]),
        float(r[1]),
        str(r[2]),
        str(r[3]),
        int(r[4]),
        int(r[5]),
        {} if meta is None else meta,
        reach=None if r[6] is None or r[7] is None else (float(r[6]), float(r[7])),
    )


def checked_until(conn: sa.Connection, tenant: str, span: int) -> None:
    """Record that every attributed window of ``tenant`` was checked against the ingest
    spans up to ``span`` (none of them reached it, or it was attributed again)."""
    from ._events import insert_ignoring_duplicates

    conn.execute(
        insert_ignoring_duplicates(conn.dialect.name, CURSORS).values(tenant=tenant, span=span)
    )
    conn.execute(
        sa.update(CURSORS)
        .where(CURSORS.c.tenant == tenant, CURSORS.c.span < span)
        .values(span=span)
    )


def checked_span(conn: sa.Connection, tenant: str) -> int:
    """The span recorded by :func:`checked_until` (0: none)."""
    v = conn.execute(sa.select(CURSORS.c.span).where(CURSORS.c.tenant == tenant)).scalar()
    return 0 if v is None else int(v)


def window_meta(
    conn: sa.Connection, tenant: str, starts: Iterable[float]
) -> dict[float, dict[str, Any]]:
    """Meta of the windows starting at ``starts``."""
    out: dict[float, dict[str, Any]] = {}
    wanted = sorted(set(starts))
    for i in range(0, len(wanted), 200):
        rows = conn.execute(
            sa.select(W.c.start, W.c.meta).where(
                W.c.tenant == tenant, W.c.start.in_(wanted[i : i + 200])
            )
        ).all()
        out.update({float(r[0]): dict(r[1]) for r in rows})
    return out


def window_records(
    conn: sa.Connection, tenant: str, starts: Iterable[float]
) -> dict[float, tuple[StoredWindow, bytes]]:
    """The windows starting at ``starts`` (those stored): each row's digests and meta with
    its pieces, read together, so that the digests are those of the pieces even while
    another process attributes the window again."""
    out: dict[float, tuple[StoredWindow, bytes]] = {}
    wanted = sorted(set(starts))
    for i in range(0, len(wanted), 200):
        rows = conn.execute(
            sa.select(*_WINDOW, W.c.pieces, W.c.meta).where(
                W.c.tenant == tenant, W.c.start.in_(wanted[i : i + 200])
            )
        ).all()
        n = len(_WINDOW)
        for r in rows:
            w = _stored(r, dict(r[n + 1]))
            out[w.start] = (w, bytes(r[n]))
    return out


def pending(conn: sa.Connection, tenant: str) -> list[tuple[float, str, str]]:
    """(start, key, slice digest) of the windows whose orders no issuing pass has gone
    through since they were attributed (``issued_at`` NULL; a partial index)."""
    rows = conn.execute(
        sa.select(W.c.start, W.c.key, W.c.slice_sha256)
        .where(W.c.tenant == tenant, W.c.issued_at.is_(None))
        .order_by(W.c.start)
    ).all()
    return [(float(r[0]), str(r[1]), str(r[2])) for r in rows]


def window_orders(conn: sa.Connection, tenant: str, starts: Iterable[float]) -> set[str]:
    """The orders with energy in the windows starting at ``starts``."""
    wanted = sorted(set(starts))
    out: set[str] = set()
    for i in range(0, len(wanted), 500):
        # last_end is read too so that no index covers the statement: SQLite (without
        # statistics) would otherwise scan the primary key's index, (tenant, order_id,
        # window_start), through every window's orders rather than seek the
        # (tenant, window_start) index to the few wanted
        rows = conn.execute(
            sa.select(WO.c.order_id, WO.c.last_end).where(
                WO.c.tenant == tenant, WO.c.window_start.in_(wanted[i : i + 500])
            )
        )
        out.update(str(r[0]) for r in rows)
    return out


def mark_issued(
    conn: sa.Connection, tenant: str, windows: Iterable[tuple[float, str, str]]
) -> None:
    """Record that an issuing pass went through the orders of ``windows`` ((start, key,
    slice digest) as :func:`pending` gave them); a window attributed again since then
    (another key or digest) stays pending."""
    rows = [{"s": s, "k": k, "d": d} for s, k, d in windows]
    if rows:
        conn.execute(
            sa.update(W)
            .where(
                W.c.tenant == tenant,
                W.c.start == sa.bindparam("s"),
                W.c.key == sa.bindparam("k"),
                W.c.slice_sha256 == sa.bindparam("d"),
                W.c.issued_at.is_(None),
            )
            .values(issued_at=datetime.now(UTC)),
            rows,
        )


def order_windows(
    conn: sa.Connection, tenant: str, orders: Iterable[str]
) -> dict[str, list[tuple[float, float]]]:
    """Per order: (window start, last step end) of every window it has energy in."""
    ids = sorted(set(orders))
    out: dict[str, list[tuple[float, float]]] = {o: [] for o in ids}
    for i in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(WO.c.order_id, WO.c.window_start, WO.c.last_end)
            .where(WO.c.tenant == tenant, WO.c.order_id.in_(ids[i : i + 500]))
            .order_by(WO.c.order_id, WO.c.window_start)
        ).all()
        for r in rows:
            out[str(r[0])].append((float(r[1]), float(r[2])))
    return out


def order_last_end(conn: sa.Connection, tenant: str, orders: Iterable[str]) -> dict[str, float]:
    """Per order: the end of its last stored step [epoch s] (orders without steps left out)."""
    tab = _STEPS.table
    ids = sorted(set(orders))
    out: dict[str, float] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(tab.c.order_id, sa.func.max(tab.c.end))
            .where(tab.c.tenant == tenant, tab.c.order_id.in_(ids[i : i + 500]))
            .group_by(tab.c.order_id)
        ).all()
        out.update({str(r[0]): float(r[1]) for r in rows})
    return out


def delete_windows(conn: sa.Connection, tenant: str, starts: Iterable[float]) -> None:
    """Drop attributed windows (derived data: their time is attributed again)."""
    for s in sorted(set(starts)):
        conn.execute(sa.delete(WO).where(WO.c.tenant == tenant, WO.c.window_start == s))
        conn.execute(sa.delete(W).where(W.c.tenant == tenant, W.c.start == s))
