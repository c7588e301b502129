"""Archiving raw events to Parquet and reading them back (helpers of :class:`Store`).

``carbontwin archive --before DATE`` moves the states, power samples and counter
readings older than ``DATE`` — only of windows already attributed — into one
Parquet file per table and month (pyarrow; rows sorted by source and time, so a
reader skips row groups by their statistics), records each file with its row
count and SHA-256 in ``archives``, and removes the rows from the store in the
same transaction (a month's partition holds every tenant's rows: the tenant's rows
are deleted, the partition stays). Windowed
issuing reads archived rows back when it attributes an archived window again
(late data, a new factory version): the events a window is attributed from are
the same before and after archiving, so are its digest and its footprints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from carbontwin.twin.errors import StoreError

from . import _events
from .models import ArchiveRow

A: sa.Table = ArchiveRow.__table__  # type: ignore[assignment]
#: tables archived: (event kind, value column)
_KINDS = tuple(k for k in _events.KINDS if k.table.name in _events.PARTITIONED)


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    """One archive file as recorded."""

    table: str
    t_from: float
    t_to: float
    path: str
    rows: int
    sha256: str


def _months(t0: float, t1: float) -> list[tuple[float, float]]:
    """UTC month stretches covering ``[t0, t1)``, cut to it."""
    d = datetime.fromtimestamp(t0, UTC)
    m = datetime(d.year, d.month, 1, tzinfo=UTC)
    out: list[tuple[float, float]] = []
    while m.timestamp() < t1:
        nxt = datetime(m.year + (m.month == 12), m.month % 12 + 1, 1, tzinfo=UTC)
        out.append((max(t0, m.timestamp()), min(t1, nxt.timestamp())))
        m = nxt
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files(conn: sa.Connection, tenant: str) -> list[ArchivedFile]:
    """``tenant``'s archive files, by table and time."""
    rows = conn.execute(
        sa.select(A).where(A.c.tenant == tenant).order_by(A.c.table_name, A.c.t_from)
    ).all()
    return [
        ArchivedFile(r.table_name, float(r.t_from), float(r.t_to), r.path, int(r.rows), r.sha256)
        for r in rows
    ]


#: rows read from the store and written to a file at a time (16 row groups): memory stays
#: the same whatever a month holds
CHUNK_ROWS = 16 * 65_536


def archive(
    conn: sa.Connection,
    tenant: str,
    before: float,
    folder: Path,
    *,
    chunk_rows: int | None = None,
    on_rows: Callable[[str, float, int], None] | None = None,
    written: list[Path] | None = None,
) -> list[ArchivedFile]:
    """Move rows older than ``before`` to Parquet files in ``folder`` (see the module doc).

    Each month is read and written ``chunk_rows`` (default :data:`CHUNK_ROWS`) rows at
    a time (a server-side cursor on PostgreSQL), so a month of a large plant never sits
    in memory. ``on_rows(table, month start, rows written so far)`` is called after each
    chunk (progress). A file is written as ``NAME.partial`` and renamed when complete;
    an existing file of the same name is never overwritten. ``written`` collects the
    files made (the caller removes them when the transaction fails).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    done: list[ArchivedFile] = []
    recorded = {
        str(p) for p in conn.execute(sa.select(A.c.path).where(A.c.tenant == tenant)).scalars()
    }
    for kind in _KINDS:
        tab = kind.table
        t = tab.c[kind.time]
        mine = tab.c.tenant == tenant
        lo = conn.execute(sa.select(sa.func.min(t)).where(mine, t < before)).scalar()
        if lo is None:
            continue
        src_attr, src_col = kind.columns[0]
        val_attr, val_col = kind.columns[2]
        value_type = pa.string() if val_col == "state" else pa.float64()
        schema = pa.schema([("source", pa.string()), ("t", pa.float64()), ("value", value_type)])
        for a, b in _months(float(lo), before):
            name = (
                f"{datetime.fromtimestamp(a, UTC):%Y%m%dT%H%M%S}-"
                f"{datetime.fromtimestamp(b, UTC):%Y%m%dT%H%M%S}.parquet"
            )
            path = folder / tenant / tab.name / name
            partial = path.with_name(name + ".partial")
            result = conn.execute(
                sa.select(tab.c[src_col], t, tab.c[val_col])
                .where(mine, t >= a, t < b)
                .order_by(tab.c[src_col], t),
                execution_options={"yield_per": chunk_rows or CHUNK_ROWS},  # this one only
            )
            n = 0
            writer: Any = None
            try:
                for part in result.partitions():
                    if writer is None:
                        _free(path, str(path.resolve()) in recorded, tab.name, name)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        writer = pq.ParquetWriter(partial, schema, compression="zstd")
                    src, times, vals = zip(*part, strict=True)
                    writer.write_table(
                        pa.table(
                            [
                                pa.array(src, pa.string()),
                                pa.array(times, pa.float64()),
                                pa.array(vals, value_type),
                            ],
                            schema=schema,
                        ),
                        row_group_size=65_536,
                    )
                    n += len(part)
                    if on_rows is not None:
                        on_rows(tab.name, a, n)
            except BaseException:
                if writer is not None:
                    writer.close()
                    partial.unlink(missing_ok=True)
                raise
            finally:
                result.close()
            if not n:
                continue
            writer.close()
            _free(path, False, tab.name, name)
            partial.replace(path)
            if written is not None:
                written.append(path)
            rec = ArchivedFile(tab.name, a, b, str(path.resolve()), n, _sha256_file(path))
            conn.execute(
                sa.insert(A).values(
                    tenant=tenant,
                    table_name=rec.table,
                    t_from=rec.t_from,
                    t_to=rec.t_to,
                    path=rec.path,
                    rows=rec.rows,
                    sha256=rec.sha256,
                    archived_at=datetime.now(UTC),
                )
            )
            _drop_rows(conn, tab, t, mine, a, b, n)
            done.append(rec)
    return done


def _free(path: Path, recorded: bool, table: str, name: str) -> None:
    """Refuse to write over an existing archive file (``recorded``: this store's)."""
    if recorded or path.exists():
        why = (
            "is one of this store's archives"
            if recorded
            else "exists already (another store's archive, or one a failed run left: "
            "check it and remove it)"
        )
        msg = f"archive file {table}/{name} {why}; archive into another folder"
        raise StoreError(msg, field="out")


def _drop_rows(
    conn: sa.Connection, tab: sa.Table, t: Any, mine: Any, a: float, b: float, n: int
) -> None:
    """Remove the archived rows (a month's partition is shared by every tenant, so rows
    are deleted, never the partition)."""
    gone = conn.execute(sa.delete(tab).where(mine, t >= a, t < b)).rowcount
    if gone != n:
        msg = f"archiving {tab.name}: {gone} rows removed, {n} written; nothing archived"
        raise StoreError(msg, field="before")


@dataclass(slots=True)
class Reader:
    """Reads archived rows back (each file's SHA-256 checked on its first read)."""

    archived: Sequence[ArchivedFile]
    checked: set[str] = field(default_factory=set)

    def boundary(self, table: str) -> float:
        """End of the archived time of ``table`` (-inf when nothing is archived)."""
        ends = [f.t_to for f in self.archived if f.table == table]
        return max(ends) if ends else -np.inf

    def _read(self, f: ArchivedFile, source: str, lo: float, hi: float) -> Any:
        import pyarrow.parquet as pq

        path = Path(f.path)
        if f.path not in self.checked:
            if not path.is_file():
                msg = f"archive file of {f.table} ({path.name}) is missing"
                raise StoreError(msg, field="archive")
            if _sha256_file(path) != f.sha256:
                msg = f"archive file of {f.table} ({path.name}) changed since it was written"
                raise StoreError(msg, field="archive")
            self.checked.add(f.path)
        return pq.read_table(
            path, filters=[("source", "=", source), ("t", ">=", lo), ("t", "<=", hi)]
        )

    def rows(self, table: str, source: str, lo: float, hi: float, *, closed: bool) -> list[Any]:
        """Archived rows ``(source, t, value)`` of ``source`` in ``[lo, hi]`` (``[lo, hi)``
        unless ``closed``), by time."""
        out: list[Any] = []
        for f in self.archived:
            if f.table != table or f.t_to <= lo or f.t_from > hi:
                continue
            tab = self._read(f, source, lo, hi)
            for s, t, v in zip(
                tab.column("source").to_pylist(),
                tab.column("t").to_pylist(),
                tab.column("value").to_pylist(),
                strict=True,
            ):
                if closed or t < hi:
                    out.append((s, t, v))
        out.sort(key=lambda r: r[1])
        return out

    def edge(self, table: str, source: str, t0: float, *, before: bool) -> float | None:
        """Archived ``source``'s last time before ``t0`` or first at or after it."""
        best: float | None = None
        for f in self.archived:
            if f.table != table:
                continue
            if before and f.t_from >= t0:
                continue
            if not before and f.t_to <= t0:
                continue
            lo, hi = (f.t_from, np.nextafter(t0, -np.inf)) if before else (t0, f.t_to)
            ts = self._read(f, source, lo, hi).column("t").to_pylist()
            if ts:
                cand = max(ts) if before else min(ts)
                if best is None or (cand > best if before else cand < best):
                    best = cand
        return best
