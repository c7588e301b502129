"""What every live connector (OPC UA, MQTT, Sparkplug B) shares.

- :class:`ConnectorStats`, the counters a run reports;
- :class:`OpenGaps`, the holes a connector knows it has: opened when it starts
  (each source's last stored time, from the spool), when a connection is lost
  without the server or broker keeping what it sent meanwhile, or when an edge
  node dies; each closed by the first value of its source that arrives
  afterwards, the gap ending at that value's time, never after it;
- :class:`SpooledConnector`, the local spool and its flusher to the store, with
  the connector state (cursors, last time per source) written in the same
  transaction as the events it belongs to.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from carbontwin.twin.events import EventBatch

from .spool import Flusher, Spool

__all__ = ["ConnectorStats", "GapRecord", "OpenGaps", "Seen", "SpooledConnector"]

log = logging.getLogger("carbontwin.connectors")

#: no value given (``None`` is a value a server can send)
_UNSET: Any = object()


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (a repeated NaN is not a change)."""
    if a is b:
        return True
    try:
        if a == b:
            return True
    except (TypeError, ValueError):  # arrays compare element-wise
        return False
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


#: Per batch: source -> {signal: times of its new values} (see :meth:`OpenGaps.close`).
Seen = dict[str, dict[str, list[float]]]


@dataclass(slots=True)
class ConnectorStats:
    """Counters of one connector run; the error counters should stay 0."""

    notifications: int = 0
    events: int = 0
    duplicates: int = 0
    overflows: int = 0
    sequence_gaps: int = 0
    bad_values: int = 0
    reconnects: int = 0
    gaps: int = 0
    status_changes: int = 0
    rebirths: int = 0
    late: int = 0  # values older than the latest of their signal, kept
    # a different value at the same source time as the last of its signal (a server whose
    # timestamps are coarser than its changes): the first is kept, the change logged
    same_time_changes: int = 0
    # power and counter readings not spooled because the spool was full (their meters
    # got gaps, reason "spool full")
    spool_full: int = 0

    @property
    def errors(self) -> int:
        return self.overflows + self.sequence_gaps + self.bad_values + self.spool_full


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A recorded gap: ``source`` had no data from ``start`` to ``end`` [epoch s]."""

    source: str
    start: float
    end: float
    reason: str

    def describe(self) -> str:
        a = datetime.fromtimestamp(self.start, UTC).isoformat(timespec="milliseconds")
        b = datetime.fromtimestamp(self.end, UTC).isoformat(timespec="milliseconds")
        return f"{self.source}: {a} .. {b} ({self.end - self.start:.3f} s, {self.reason})"


class OpenGaps:
    """Holes per source, waiting for the source's first value after them."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[float, str]] = {}

    def __contains__(self, source: str) -> bool:
        return source in self._open

    def __len__(self) -> int:
        return len(self._open)

    def open(self, starts: dict[str, float], reason: str) -> None:
        """Open a gap for each source at its last known time (an open one keeps its start)."""
        for source, start in starts.items():
            if math.isfinite(start) and source not in self._open:
                self._open[source] = (start, reason)

    def withdraw(self, sources: list[str], reason: str) -> None:
        """Forget the gaps of ``sources`` opened for ``reason``: nothing was lost after all."""
        for source in sources:
            if source in self._open and self._open[source][1] == reason:
                del self._open[source]

    def close(self, seen: Seen) -> list[GapRecord]:
        """Close the gaps of the sources in ``seen``.

        ``seen[source]`` maps each signal of the source that sent new values in
        one batch to their times; a signal's first value after the gap's start
        is where it resumed. Signals that sent only values not newer than what
        was stored did not change meanwhile and lost nothing. The source is
        whole again when its last signal resumed: the gap ends at the latest of
        these first values.
        """
        out: list[GapRecord] = []
        for source, times in seen.items():
            entry = self._open.get(source)
            if entry is None:
                continue
            start, reason = entry
            firsts = [
                min(after) for ts in times.values() if (after := [t for t in ts if t > start])
            ]
            if not firsts and any(times.values()):
                continue  # only values from before the hole: it is still open
            del self._open[source]
            first = max(firsts) if firsts else None
            if first is not None and first > start:
                out.append(GapRecord(source, start, first, reason))
        return out


class SpooledConnector:
    """A connector's spool, flusher, cursors and gaps (subclasses read a source).

    Subclasses call :meth:`_open_spool` when starting, :meth:`_commit` with the
    rows of each batch of values, and :meth:`_close_spool` when done.
    """

    def __init__(
        self,
        spool_cfg: Any,
        store_url: str | None,
        sink: Callable[[EventBatch], int] | None,
        tenant: str = "default",
    ) -> None:
        self._spool_cfg = spool_cfg
        self._store_url = store_url
        self._tenant = tenant
        self._sink = sink
        self.stats = ConnectorStats()
        self.ready = asyncio.Event()
        self.spool: Spool | None = None
        self.gaps = OpenGaps()
        self.recorded: list[GapRecord] = []  # gaps recorded in this run
        self.last_notification = 0.0  # time.monotonic() of the latest data
        self.t_max = -math.inf  # latest source time seen [epoch s]
        self._cursor: dict[str, float] = {}
        self._last_value: dict[str, Any] = {}  # per signal key: its value at the cursor
        self._source_t: dict[str, float] = {}
        # per source, its last time before the batch being committed (see _bound)
        self._before: dict[str, float] = {}
        self._full = False  # the spool is full: readings are not spooled
        self._flusher: Flusher | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._flush_stop = asyncio.Event()

    @property
    def endpoint(self) -> str:
        """The server or broker read (for messages)."""
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> ConnectorStats:
        """Connect, read until ``stop`` is set, then flush and close."""
        raise NotImplementedError

    # ------------------------------------------------------------ spool
    def _open_spool(self) -> None:
        cfg = self._spool_cfg
        self.spool = Spool(cfg.path, synchronous=cfg.synchronous)
        self._cursor = dict(self.spool.get_state("cursors") or {})
        self._source_t = dict(self.spool.get_state("source_times") or {})
        self._before.clear()
        self._full = False
        # the connector was not running since each source's last stored value
        self.gaps.open(self._source_t, "connector not running")
        sink = self._sink or self._store_sink()
        # the flusher's own connection to the spool (it reads and deletes in a thread)
        self._flusher = Flusher(
            Spool(cfg.path, synchronous=cfg.synchronous),
            sink,
            batch_size=cfg.flush_batch,
            interval_s=cfg.flush_interval_s,
        )
        self._flush_stop.clear()
        self._flush_task = asyncio.create_task(self._flusher.run(self._flush_stop))

    def _store_sink(self) -> Callable[[EventBatch], int]:
        from carbontwin.twin.store import Store

        store = Store.open(self._store_url, tenant=self._tenant)
        return store.write_events

    async def _close_spool(self) -> None:
        self._flush_stop.set()
        if self._flush_task is not None:
            await self._flush_task
            self._flush_task = None
        if self._flusher is not None:
            self._flusher.spool.close()
        if self.spool is not None:
            self.spool.close()
            self.spool = None

    def backlog(self) -> int:
        """Events in the spool waiting for the store (the span of their ids: no count of
        a large spool's rows on the event loop)."""
        return self.spool.span() if self.spool is not None else 0

    def flushed(self) -> int:
        """Events the flusher has handed to the store in this run."""
        return self._flusher.flushed if self._flusher is not None else 0

    def rejected(self) -> int:
        """Events the store refused in this run as conflicting with stored ones, set aside
        in the spool's ``rejected`` table (:meth:`~.spool.Spool.rejected`)."""
        return self._flusher.rejected if self._flusher is not None else 0

    async def wait_idle(self, quiet_s: float = 1.0, timeout_s: float = 60.0) -> bool:
        """Wait until no data arrived for ``quiet_s`` and the spool is empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            quiet = time.monotonic() - self.last_notification >= quiet_s
            if quiet and self.spool is not None and self.spool.span() == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    # ------------------------------------------------------------ values
    def _fresh(self, key: str, t: float, value: Any = _UNSET) -> str:
        """``"new"`` (the cursor advanced) when ``t`` is newer than the last value of
        ``key``, ``"same"`` when it is that value again, ``"late"`` when older (a value
        fetched again after a cut can arrive after newer ones).

        Given ``value``, a value at the cursor's time that differs from the one
        taken there (read in this run) is ``"changed"``: counted in
        ``same_time_changes``, not as a duplicate; the caller keeps the first.
        """
        last = self._cursor.get(key, -math.inf)
        if t == last:
            before = self._last_value.get(key, _UNSET)
            if value is not _UNSET and before is not _UNSET and not _same(value, before):
                self.stats.same_time_changes += 1
                return "changed"
            self.stats.duplicates += 1
            return "same"
        if t < last:
            self.stats.late += 1
            return "late"
        self._cursor[key] = t
        if value is not _UNSET:
            self._last_value[key] = value
        if t > self.t_max:
            self.t_max = t
        return "new"

    def _seen(self, source: str, key: str, t: float | None, seen: Seen) -> None:
        """Note a value of signal ``key`` of ``source`` for :meth:`OpenGaps.close`:
        a new one at ``t``, or (``t`` None) one not newer than what was stored."""
        times = seen.setdefault(source, {})
        if t is None:
            return
        times.setdefault(key, []).append(t)
        last = self._source_t.get(source, -math.inf)
        self._before.setdefault(source, last)
        if t > last:
            self._source_t[source] = t

    def _open_gaps(self, sources: list[str] | None, reason: str) -> None:
        """Open gaps for ``sources`` (all known ones when None) at their last times."""
        names = self._source_t if sources is None else sources
        self.gaps.open({s: self._source_t[s] for s in names if s in self._source_t}, reason)

    def _commit(
        self,
        rows: list[tuple[Any, ...]],
        seen: Seen,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Close the gaps ``seen`` ends, spool ``rows`` and the cursors in one transaction."""
        rows = self._bound(rows, seen)
        for gap in self.gaps.close(seen):
            rows.append(("gap", gap.source, gap.start, gap.end, None, gap.reason, "", ""))
            self.recorded.append(gap)
            self.stats.gaps += 1
            log.warning("gap recorded: %s", gap.describe())
        self.last_notification = time.monotonic()
        if not rows:
            return
        self.stats.events += len(rows)
        assert self.spool is not None
        self.spool.put_rows(
            rows,
            state={"cursors": self._cursor, "source_times": self._source_t, **(state or {})},
            metrics={k: int(v) for k, v in asdict(self.stats).items()},
        )

    def _bound(self, rows: list[tuple[Any, ...]], seen: Seen) -> list[tuple[Any, ...]]:
        """``rows`` without their power and counter readings while the spool is full.

        The spool is full from ``max_events`` events waiting for the store (counted as
        the span of their ids, :meth:`~.spool.Spool.span`) until it is back under 90 %
        of that. A reading not spooled is lost: its meter gets a gap (reason ``"spool
        full"``) from its last spooled time, closed by its first reading spooled again,
        and the meter's last time (kept for the next start) stays the spooled one.
        States, order steps, materials and gaps are always spooled (a few per change).
        """
        before, self._before = self._before, {}
        limit = getattr(self._spool_cfg, "max_events", None)
        if limit is None or self.spool is None:
            return rows
        waiting = self.spool.span()
        if self._full and waiting < 0.9 * limit:
            self._full = False
            log.warning(
                "spool %s: %s events wait for the store, under 90 %% of max_events (%s): "
                "power and counter readings are spooled again",
                self.spool.path,
                f"{waiting:,}",
                f"{limit:,}",
            )
        elif not self._full and waiting >= limit:
            self._full = True
            log.error(
                "spool %s is full: %s events wait for the store (max_events %s); power and "
                "counter readings are not spooled until it is under 90 %%, their meters get "
                "gaps (reason 'spool full'); is the store reachable?",
                self.spool.path,
                f"{waiting:,}",
                f"{limit:,}",
            )
        if not self._full:
            return rows
        kept = [r for r in rows if r[0] not in ("power", "counter")]
        if len(kept) == len(rows):
            return rows
        self.stats.spool_full += len(rows) - len(kept)
        first: dict[str, float] = {}
        for r in rows:
            if r[0] in ("power", "counter"):
                first[r[1]] = min(first.get(r[1], math.inf), float(r[2]))
        starts: dict[str, float] = {}
        for source in sorted(first):  # (a source's states, if any, are still spooled)
            last = before.get(source, self._source_t.get(source, -math.inf))
            if math.isfinite(last):
                self._source_t[source] = last  # the last time spooled, not the last seen
            else:
                self._source_t.pop(source, None)
            # from the last spooled reading; with none yet, from the first one lost
            starts[source] = last if math.isfinite(last) else first[source]
            seen.pop(source, None)  # readings not spooled close no gap
        self.gaps.open(starts, "spool full")
        return kept
