"""Store-and-forward spool: a local SQLite file between a connector and the store.

A connector writes every notification batch into the spool in one transaction
(:meth:`Spool.put`), together with the connector state that must survive a
crash (last source timestamp per signal, open order steps). A :class:`Flusher`
moves spooled events to the store in batches and deletes them from the spool
only after the store committed, so a crash of the connector or an outage of
the store loses nothing that reached the spool. The store's ``write_events`` is
idempotent by natural key, so a batch sent twice (committed, then the process
died before the spool forgot it) is stored once.

Each flush is logged in the ``flushes`` table (``sent`` then ``acked``), which
tells after a crash which batch was in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from carbontwin.twin.errors import ConnectorError, EventConflictError
from carbontwin.twin.events import EventBatch

__all__ = ["Flusher", "Spool", "SpoolBatch"]

log = logging.getLogger(__name__)

_R = TypeVar("_R")

#: an event as the spool keeps it (``_rows``), in the events and the rejected table
_EVENT = """kind TEXT NOT NULL, source TEXT NOT NULL, t REAL NOT NULL, t_end REAL, value REAL,
    a TEXT NOT NULL DEFAULT '', b TEXT NOT NULL DEFAULT '', c TEXT NOT NULL DEFAULT ''"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, {_EVENT});
CREATE UNIQUE INDEX IF NOT EXISTS events_key ON events (kind, source, t, a, b);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS metrics (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY, {_EVENT}, reason TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resent (
    id INTEGER PRIMARY KEY, {_EVENT}, reason TEXT NOT NULL, at REAL NOT NULL,
    resent_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS flushes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    state TEXT NOT NULL,
    t REAL NOT NULL
);
"""

_INSERT = (
    "INSERT OR {} INTO events (kind, source, t, t_end, value, a, b, c) VALUES (?,?,?,?,?,?,?,?)"
)


def _rows(batch: EventBatch) -> Iterator[tuple[Any, ...]]:
    for s, t, st in zip(batch.state_asset, batch.state_t, batch.state, strict=True):
        yield ("state", str(s), float(t), None, None, str(st), "", "")
    for m, t, p in zip(batch.power_meter, batch.power_t, batch.power_kw, strict=True):
        yield ("power", str(m), float(t), None, float(p), "", "", "")
    for m, t, k in zip(batch.counter_meter, batch.counter_t, batch.counter_kwh, strict=True):
        yield ("counter", str(m), float(t), None, float(k), "", "", "")
    for o, op, a, s0, s1, q, kd in zip(
        batch.step_order,
        batch.step_operation,
        batch.step_asset,
        batch.step_start,
        batch.step_end,
        batch.step_quantity,
        batch.step_kind,
        strict=True,
    ):
        yield ("step", str(o), float(s0), float(s1), float(q), str(op), str(a), str(kd))
    for o, m, q, u, bk in zip(
        batch.material_order,
        batch.material_id,
        batch.material_quantity,
        batch.material_unit,
        batch.bookings(),
        strict=True,
    ):
        # the booking id is part of the spool's key (a, b): two bookings stay two
        yield ("material", str(o), 0.0, None, float(q), str(m), str(bk), str(u))
    for s, g0, g1, r in zip(
        batch.gap_source, batch.gap_start, batch.gap_end, batch.gap_reason, strict=True
    ):
        yield ("gap", str(s), float(g0), float(g1), None, str(r), "", "")


def _obj(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


#: the store's event kinds (in its errors) by the spool's names for them
_SPOOL_KIND = {
    "states": "state",
    "power": "power",
    "counters": "counter",
    "steps": "step",
    "materials": "material",
    "gaps": "gap",
}


def _batch_from_rows(rows: list[tuple[Any, ...]], *, correction: bool = False) -> EventBatch:
    """The events of spool rows (``_rows``); with ``correction``, each flagged as one."""
    by: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    b = EventBatch()
    if correction:
        for kind in ("state", "power", "counter", "step", "material", "gap"):
            setattr(b, f"{kind}_correction", np.ones(len(by.get(kind, ())), dtype=bool))
    if st := by.get("state"):
        b.state_asset = _obj([r[1] for r in st])
        b.state_t = np.array([r[2] for r in st], dtype=np.float64)
        b.state = _obj([r[5] for r in st])
    if pw := by.get("power"):
        b.power_meter = _obj([r[1] for r in pw])
        b.power_t = np.array([r[2] for r in pw], dtype=np.float64)
        b.power_kw = np.array([r[4] for r in pw], dtype=np.float64)
    if ct := by.get("counter"):
        b.counter_meter = _obj([r[1] for r in ct])
        b.counter_t = np.array([r[2] for r in ct], dtype=np.float64)
        b.counter_kwh = np.array([r[4] for r in ct], dtype=np.float64)
    if sp := by.get("step"):
        b.step_order = _obj([r[1] for r in sp])
        b.step_start = np.array([r[2] for r in sp], dtype=np.float64)
        b.step_end = np.array([r[3] for r in sp], dtype=np.float64)
        b.step_quantity = np.array([r[4] for r in sp], dtype=np.float64)
        b.step_operation = _obj([r[5] for r in sp])
        b.step_asset = _obj([r[6] for r in sp])
        b.step_kind = _obj([r[7] for r in sp])
    if mu := by.get("material"):
        b.material_order = _obj([r[1] for r in mu])
        b.material_quantity = np.array([r[4] for r in mu], dtype=np.float64)
        b.material_id = _obj([r[5] for r in mu])
        b.material_booking = _obj([r[6] for r in mu])
        b.material_unit = _obj([r[7] for r in mu])
    if gp := by.get("gap"):
        b.gap_source = _obj([r[1] for r in gp])
        b.gap_start = np.array([r[2] for r in gp], dtype=np.float64)
        b.gap_end = np.array([r[3] for r in gp], dtype=np.float64)
        b.gap_reason = _obj([r[5] for r in gp])
    return b


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Events taken from the spool for one flush: spool ids ``first_id..last_id``."""

    first_id: int
    last_id: int
    flush_id: int
    events: EventBatch
    #: per spool kind ("power", "state", ...) the spool ids of its rows, in batch order
    ids: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events)


class Spool:
    """SQLite (WAL) spool of events waiting for the store.

    Parameters
    ----------
    path : path
        The spool file; created with its folder when absent.
    synchronous : str
        SQLite ``synchronous`` level: ``"FULL"`` (default; a committed batch
        survives a power loss) or ``"NORMAL"`` (survives a process crash).

    One connection, usable from any thread (a :class:`Flusher` works in a worker
    thread), one call at a time; a connector gives its flusher a second ``Spool``
    of the same file, so that reading and deleting flushed events does not hold
    up spooling new ones (WAL: readers do not wait for the writer).
    """

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            msg = f"cannot open the spool {self.path}: {exc}"
            raise ConnectorError(msg) from exc

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def put(
        self,
        batch: EventBatch,
        *,
        state: dict[str, Any] | None = None,
        metrics: dict[str, int] | None = None,
    ) -> int:
        """Add ``batch`` (and connector ``state``, ``metrics``) in one transaction.

        A state change replaces a spooled one of the same asset and time (a
        later notification of the same instant is the more complete one);
        other events already spooled under the same natural key are kept.

        Returns
        -------
        int
            Rows now in the spool that were not before.
        """
        return self.put_rows(list(_rows(batch)), state=state, metrics=metrics)

    def put_rows(
        self,
        rows: list[tuple[Any, ...]],
        *,
        state: dict[str, Any] | None = None,
        metrics: dict[str, int] | None = None,
    ) -> int:
        """:meth:`put` for rows ``(kind, source, t, t_end, value, a, b, c)`` (see ``_rows``)."""
        states = [r for r in rows if r[0] == "state"]
        others = [r for r in rows if r[0] != "state"]
        try:
            with self._tx() as db:
                before = db.total_changes
                if states:
                    db.executemany(_INSERT.format("REPLACE"), states)
                if others:
                    db.executemany(_INSERT.format("IGNORE"), others)
                added = db.total_changes - before
                if state:
                    db.executemany(
                        "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                        [(k, json.dumps(v)) for k, v in state.items()],
                    )
                if metrics:
                    db.executemany(
                        "INSERT OR REPLACE INTO metrics (name, value) VALUES (?, ?)",
                        list(metrics.items()),
                    )
        except sqlite3.Error as exc:
            msg = f"cannot write {len(rows)} events to the spool {self.path}: {exc}"
            raise ConnectorError(msg) from exc
        return int(added)

    def get_state(self, key: str) -> Any:
        """Connector state saved under ``key`` with :meth:`put`, or None."""
        rows = self._query("SELECT value FROM kv WHERE key = ?", (key,))
        return None if not rows else json.loads(rows[0][0])

    def metrics(self) -> dict[str, int]:
        """Counters saved with :meth:`put` (errors, overflows, gaps, ...)."""
        return dict(self._query("SELECT name, value FROM metrics"))

    def pending(self) -> int:
        """Events waiting for the store."""
        return int(self._query("SELECT count(*) FROM events")[0][0])

    def span(self) -> int:
        """Events waiting for the store, counted as the span of their ids (at least
        :meth:`pending`; read from the ends of the id index, so cheap at any size)."""
        lo, hi = self._query("SELECT min(id), max(id) FROM events")[0]
        return 0 if lo is None else int(hi) - int(lo) + 1

    def take(self, limit: int) -> SpoolBatch | None:
        """The oldest ``limit`` events, logged as a ``sent`` flush; None when empty."""
        rows = self._query(
            "SELECT id, kind, source, t, t_end, value, a, b, c FROM events ORDER BY id LIMIT ?",
            (int(limit),),
        )
        if not rows:
            return None
        first, last = int(rows[0][0]), int(rows[-1][0])
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO flushes (first_id, last_id, n, state, t) VALUES (?,?,?,'sent',?)",
                (first, last, len(rows), time.time()),
            )
            flush_id = int(cur.lastrowid or 0)
        ids: dict[str, list[int]] = {}
        for r in rows:
            ids.setdefault(str(r[1]), []).append(int(r[0]))
        return SpoolBatch(first, last, flush_id, _batch_from_rows([r[1:] for r in rows]), ids)

    def reject(self, taken: SpoolBatch, refused: list[tuple[str, int, str]]) -> int:
        """Set aside the events of ``taken`` the store refused for good (``refused``: an
        :class:`~carbontwin.twin.errors.EventRowsError`'s ``(kind, row, message)``)
        into the ``rejected`` table with their message; returns how many. They no
        longer hold up the events after them; nothing is deleted (:meth:`rejected`)."""
        moved: list[tuple[int, str]] = []
        for kind, row, message in refused:
            ids = taken.ids.get(_SPOOL_KIND.get(kind, kind), [])
            if 0 <= row < len(ids):
                moved.append((ids[row], message))
        now = time.time()
        with self._tx() as db:
            for rid, message in moved:
                db.execute(
                    "INSERT OR IGNORE INTO rejected (id, kind, source, t, t_end, value, a, b, c, "
                    "reason, at) SELECT id, kind, source, t, t_end, value, a, b, c, ?, ? "
                    "FROM events WHERE id = ?",
                    (message, now, rid),
                )
                db.execute("DELETE FROM events WHERE id = ?", (rid,))
        return len(moved)

    def rejected(self) -> list[tuple[Any, ...]]:
        """Events set aside by :meth:`reject`: (kind, source, t, t_end, value, a, b, c,
        reason), oldest first."""
        return [
            tuple(r)
            for r in self._query(
                "SELECT kind, source, t, t_end, value, a, b, c, reason FROM rejected ORDER BY id"
            )
        ]

    def correct_rejected(
        self, ingest: Callable[[EventBatch], _R], *, source: str | None = None
    ) -> tuple[int, _R | None]:
        """Send the events set aside by :meth:`reject` (only those of ``source`` when
        given) to the store as corrections, in one call of ``ingest``
        (``Store.ingest``: one transaction); returns how many rows left the
        ``rejected`` table and what ``ingest`` returned (None when there were none).

        Each replaces the value stored under its key (the store keeps the old one in
        its event history). Of several set aside under one key, the latest is sent.
        Only after ``ingest`` returned are the rows moved to the ``resent`` table
        (with the time): when it raises they stay set aside, and a crash in between
        leaves them to be sent again, which the store takes as a repeat.
        """
        sql = "SELECT id, kind, source, t, t_end, value, a, b, c FROM rejected"
        rows = self._query(
            sql + (" WHERE source = ? ORDER BY id" if source is not None else " ORDER BY id"),
            (source,) if source is not None else (),
        )
        if not rows:
            return 0, None
        latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for r in rows:  # a later one under the same key replaces the earlier
            latest[r[1], r[2], r[3], r[6], r[7]] = r[1:]
        result = ingest(_batch_from_rows(list(latest.values()), correction=True))
        ids = [int(r[0]) for r in rows]
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO resent (id, kind, source, t, t_end, value, a, b, c, "
                "reason, at, resent_at) SELECT id, kind, source, t, t_end, value, a, b, c, "
                "reason, at, ? FROM rejected WHERE id = ?",
                [(now, i) for i in ids],
            )
            db.executemany("DELETE FROM rejected WHERE id = ?", [(i,) for i in ids])
        return len(rows), result

    def resent(self) -> list[tuple[Any, ...]]:
        """Set-aside events sent as corrections by :meth:`correct_rejected`: (kind, source,
        t, t_end, value, a, b, c, reason, resent_at), in the order they were set aside."""
        return [
            tuple(r)
            for r in self._query(
                "SELECT kind, source, t, t_end, value, a, b, c, reason, resent_at FROM resent "
                "ORDER BY id"
            )
        ]

    def ack(self, taken: SpoolBatch) -> None:
        """Forget the events of ``taken``: the store has committed them."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM events WHERE id BETWEEN ? AND ?", (taken.first_id, taken.last_id)
            )
            db.execute("UPDATE flushes SET state = 'acked' WHERE id = ?", (taken.flush_id,))
            db.execute("DELETE FROM flushes WHERE id < ?", (taken.flush_id - 10_000,))

    def flushes(self) -> list[tuple[int, int, int, int, str]]:
        """The flush log: (id, first_id, last_id, n, state) in order."""
        return [
            tuple(r)
            for r in self._query("SELECT id, first_id, last_id, n, state FROM flushes ORDER BY id")
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Flusher:
    """Moves spooled events to a sink (``Store.write_events``) in batches.

    Parameters
    ----------
    spool : Spool
    sink : callable
        ``sink(batch: EventBatch) -> int``; must be idempotent and atomic (one
        transaction), as :meth:`carbontwin.twin.store.Store.write_events` is.
    batch_size : int
        Events per store transaction.
    interval_s : float
        Pause when the spool is empty, and the first retry delay after a store
        error (doubling up to ``max_retry_s``) [s].

    A store that is down or refuses a write gets the same events again later. Events
    the store refuses for good, as conflicting with stored ones (another value under
    a stored key: an :class:`~carbontwin.twin.errors.EventConflictError`), are set
    aside in the spool's ``rejected`` table with the store's message
    (:meth:`Spool.rejected`, counted in ``rejected``) and the rest of the batch is
    written: they would otherwise hold up every event after them.
    """

    def __init__(
        self,
        spool: Spool,
        sink: Callable[[EventBatch], int],
        *,
        batch_size: int = 5000,
        interval_s: float = 0.2,
        max_retry_s: float = 10.0,
    ) -> None:
        self.spool = spool
        self.sink = sink
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.max_retry_s = max_retry_s
        self.flushed = 0
        self.store_errors = 0
        self.rejected = 0  # events the store refused for good, set aside in the spool

    def flush_once(self) -> int:
        """Flush one batch synchronously; return the number of events sent."""
        taken = self.spool.take(self.batch_size)
        if taken is None:
            return 0
        try:
            self.sink(taken.events)
        except EventConflictError as exc:
            if not self._set_aside(taken, exc):
                raise
            return self.flush_once()  # the rest of the batch, without them
        self.spool.ack(taken)
        self.flushed += len(taken)
        return len(taken)

    def _set_aside(self, taken: SpoolBatch, exc: EventConflictError) -> bool:
        """Move the events the store refused as conflicting with stored ones out of the
        way (the spool's ``rejected`` table; retrying would refuse them forever and hold
        up every event after them). False when none of them could be found."""
        n = self.spool.reject(taken, exc.rows)
        if not n:
            return False
        self.rejected += n
        log.error(
            "the store refused %d spooled event(s) as conflicting with stored ones; set "
            "aside in the spool's 'rejected' table of %s ('carbontwin connect FILE "
            "--rejected' lists them, '--correct-rejected' sends them as corrections to "
            "replace the stored values): %s",
            n,
            self.spool.path,
            exc,
        )
        return True

    def flush_all(self) -> int:
        """Flush until the spool is empty (synchronously); return events sent."""
        n = 0
        while k := self.flush_once():
            n += k
        return n

    async def run(self, stop: asyncio.Event) -> None:
        """Flush until ``stop`` is set and the spool is empty; store errors are retried."""
        delay = self.interval_s
        while True:
            # the spool's reads and deletes, like the store's write, off the event loop
            taken = await asyncio.to_thread(self.spool.take, self.batch_size)
            if taken is None:
                if stop.is_set():
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
                continue
            try:
                log.debug(
                    "flushing %d events (spool ids %d..%d)",
                    len(taken),
                    taken.first_id,
                    taken.last_id,
                )
                await asyncio.to_thread(self.sink, taken.events)
            except Exception as exc:  # the store is down or refused: keep the events, retry
                # events refused for good (conflicting with stored ones) are set aside, and
                # the rest of the batch goes again at once
                if isinstance(exc, EventConflictError) and await asyncio.to_thread(
                    self._set_aside, taken, exc
                ):
                    continue
                self.store_errors += 1
                log.error(
                    "store write of %d spooled events failed (%s); retrying in %.1f s",
                    len(taken),
                    exc,
                    delay,
                )
                if stop.is_set():
                    log.error(
                        "stopping with %d events left in the spool %s",
                        self.spool.pending(),
                        self.spool.path,
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_s)
                continue
            await asyncio.to_thread(self.spool.ack, taken)
            self.flushed += len(taken)
            delay = self.interval_s
