"""Events folder: one CSV file per event kind, the way in (and out) for plant data.

=================  ==========================================================  ============
file               columns (units in the names)                                natural key
=================  ==========================================================  ============
``states.csv``     asset, t, state                                             asset, t
``power.csv``      meter, t, power_kw [kW]                                     meter, t
``counters.csv``   meter, t, energy_kwh [kWh, cumulative]                      meter, t
``steps.csv``      order, operation, asset, start, end, quantity, kind         order,
                                                                               operation,
                                                                               asset, start,
                                                                               kind
``materials.csv``  order, material, quantity, unit, booking                    order,
                                                                               material,
                                                                               booking
``gaps.csv``       source, start, end, reason                                  source, start
``orders.csv``     id, product, quantity, release, due                         id
=================  ==========================================================  ============

``orders.csv`` holds production orders, not events (an MES import writes it):
they replace the factory file's orders of the same id when the folder is
attributed (:func:`read_orders_csv`).

Every file may also have a ``correction`` column (``true``/``false``, empty
is false). The full reference, with examples, is ``docs/events-folder.md``.

- Times are ISO 8601 with a zone (``2019-03-04T06:00:00Z``), to the
  microsecond; a time without a zone is refused.
- ``state`` is one of OFF, STANDBY, IDLE, SETUP, PROCESSING, FAULT in any
  letter case (``processing`` as in the factory file's ``power:`` keys);
  ``kind`` is ``setup`` or ``processing`` (any case).
- ``unit`` defaults to ``kg``; ``reason`` to empty. ``booking`` is the
  booking's own id (an MES goods-issue number); when it is empty the row's
  place is its id (``materials.csv:7``), so every row is a booking of its own.
- A missing file means no events of that kind; any other file in the folder
  (except hidden ones, ``.*``) is an error naming the expected files; an
  unknown or missing column is an error naming the expected columns; a bad
  value is named as ``file:line:column``.
- The same event twice (same key, same values) counts once. The same key
  with other values is a conflict, named by both lines, unless the later row
  is flagged ``correction`` — then it replaces the earlier value, exactly as
  the store does.

Values are written as they are, so NaN or negative readings survive a round
trip and attribution decides what to do with them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from carbontwin.twin.errors import ConnectorError, EventConflictError
from carbontwin.twin.events import KINDS, EventBatch, StepKind, settle
from carbontwin.twin.model import Order, State
from carbontwin.twin.quantities import from_epoch
from carbontwin.twin.text_files import MAX_ABS_VALUE, decode_text, number_problem

from .events_folder import FILES, OPTIONAL, ORDERS_FILE, describe_events_folder

__all__ = [
    "FILES",
    "OPTIONAL",
    "ORDERS_FILE",
    "describe_events_folder",
    "read_events_dir",
    "read_orders_csv",
    "write_events_dir",
    "write_orders_csv",
]

_KIND_OF_FILE = {f"{k}.csv": k for k in KINDS}
_NUMERIC = {"power_kw", "energy_kwh", "quantity"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}
_ORDER_COLUMNS = ("id", "product", "quantity", "release", "due")


def _iso(t: npt.NDArray[np.float64]) -> Any:
    """ISO 8601 UTC text of epoch seconds: whole seconds, or microseconds when any has a fraction."""
    import pyarrow as pa
    import pyarrow.compute as pc

    us = np.round(t * 1e6).astype("int64")
    whole = bool(np.all(np.mod(us, 1_000_000) == 0))
    stamps = pa.array(us.astype("datetime64[us]"))
    if whole:
        stamps = stamps.cast(pa.timestamp("s"))
    text = pc.cast(stamps, pa.string())  # 2019-03-04 06:00:00[.250000]
    return pc.binary_join_element_wise(
        pc.utf8_replace_slice(text, start=10, stop=11, replacement="T"), "Z", ""
    )


def _column(values: npt.NDArray[Any]) -> Any:
    """A batch column for the CSV writer; floats as the shortest text that reads back exactly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.dtype.kind == "f":
        return pc.cast(pa.array(values, type=pa.float64()), pa.string())
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # ids that are not str objects
        return pa.array([None if v is None else str(v) for v in values.tolist()], type=pa.string())


_STRUCTURAL = r'[,"\r\n]'


def write_events_dir(batch: EventBatch, directory: str | Path, *, append: bool = False) -> Path:
    """Write ``batch`` as CSV files into ``directory`` (created if needed).

    Only kinds with events get a file; ``booking`` is written when any
    material use has one, ``correction`` when any row of the file is one.
    With ``append``, rows are added to the files already there (an importer
    writes a long file chunk by chunk); otherwise a kind's file is replaced.
    Numbers are written as the shortest text that reads back to the same
    float. Returns the directory.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, (cols, times) in FILES.items():
        kind = _KIND_OF_FILE[name]
        if not batch.rows(kind):
            continue
        data = {c: KINDS[kind].column(batch, f) for c, f in cols.items()}
        if "booking" in data and not any(str(b) for b in data["booking"]):
            del data["booking"]  # no booking ids: each row is a booking of its own
        fix = batch.corrections(kind)
        if fix.any():
            data["correction"] = np.where(fix, "true", "false").astype(object)
        table = pa.table({c: (_iso(v) if c in times else _column(v)) for c, v in data.items()})
        # quote only when a text needs it (a comma in a gap reason), as pandas would
        needs_quotes = any(
            pc.any(pc.match_substring_regex(table[c], _STRUCTURAL)).as_py()
            for c in table.column_names
            if c not in times
        )
        add = append and (d / name).exists()
        options = pacsv.WriteOptions(
            include_header=not add, quoting_style="needed" if needs_quotes else "none"
        )
        with (d / name).open("ab" if add else "wb") as handle:
            pacsv.write_csv(table, handle, options)
    return d


class _File:
    """One events file as read: its frame (blank lines dropped) and line numbers."""

    def __init__(self, path: Path, frame: pd.DataFrame, lines: npt.NDArray[np.int64]) -> None:
        self.path = path
        self.frame = frame
        self.lines = lines
        self.columns = list(frame.columns)

    def where(self, row: int, column: str) -> str:
        """``file:line:column`` of a cell (column counted from 1, as editors do)."""
        return f"{self.path}:{int(self.lines[row])}:{self.columns.index(column) + 1}"

    def error(self, row: int, column: str, text: str) -> ConnectorError:
        value = self.frame[column].iloc[row]
        msg = f"{self.where(row, column)}: {column} {value!r} {text}"
        return ConnectorError(msg, field=column)


def _read_file(path: Path) -> _File:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read: {exc.strerror or exc}"
        raise ConnectorError(msg) from None
    text = decode_text(raw, str(path), ConnectorError)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except pd.errors.EmptyDataError:
        cols = FILES[path.name][0] if path.name in FILES else _ORDER_COLUMNS
        msg = f"{path}:1: the file is empty; it needs a header line ({', '.join(cols)})"
        raise ConnectorError(msg) from None
    except pd.errors.ParserError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
        msg = f"{path}: not a comma-separated file: {first}"
        raise ConnectorError(msg) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(0, bool)
    lines = np.flatnonzero(~blank).astype(np.int64) + 2
    frame = frame.loc[~blank].reset_index(drop=True)
    return _File(path, frame, lines)


def _times(f: _File, column: str) -> npt.NDArray[np.float64]:
    text = f.frame[column].str.strip()
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if not zoned.all():
        i = int(np.flatnonzero(~zoned.to_numpy())[0])
        raise f.error(i, column, "has no time zone; write times in UTC, e.g. 2019-03-04T06:00:00Z")
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise f.error(i, column, "is not an ISO 8601 time such as 2019-03-04T06:00:00Z")
    us = parsed.dt.as_unit("us").astype("int64").to_numpy()
    # whole seconds and the fraction apart: exact for every time written to the microsecond
    out: npt.NDArray[np.float64] = (us // 1_000_000).astype(np.float64) + (us % 1_000_000) / 1e6
    return out


def _ids(values: pd.Series) -> npt.NDArray[np.object_]:
    """Strings as an object array sharing one object per distinct value."""
    codes, uniques = pd.factorize(values.astype(str))
    pool = np.empty(len(uniques), dtype=object)
    pool[:] = [str(u) for u in uniques]
    out: npt.NDArray[np.object_] = pool[codes]
    return out


def _names(f: _File, column: str, parse: type[State] | type[StepKind]) -> npt.NDArray[np.object_]:
    """State or step-kind names, any letter case, as their canonical spelling."""
    codes, uniques = pd.factorize(f.frame[column].str.strip())
    canon: list[str] = []
    for k, u in enumerate(uniques):
        try:
            canon.append(State.parse(u).value if parse is State else StepKind(str(u).lower()).value)
        except ValueError:
            row = int(np.flatnonzero(codes == k)[0])
            allowed = (
                ", ".join(s.value for s in State)
                if parse is State
                else ", ".join(k.value for k in StepKind)
            )
            raise f.error(row, column, f"is not one of {allowed} (any letter case)") from None
    pool = np.empty(len(canon), dtype=object)
    pool[:] = canon
    out: npt.NDArray[np.object_] = pool[codes]
    return out


def _read_kind(f: _File, batch: EventBatch) -> None:
    name = f.path.name
    kind = _KIND_OF_FILE[name]
    cols, times = FILES[name]
    expected = [*cols, "correction"]
    unknown = [c for c in f.columns if c not in expected]
    missing = [c for c in cols if c not in f.columns and c not in OPTIONAL]
    if unknown or missing:
        what = []
        if unknown:
            what.append(f"unknown column(s) {unknown}")
        if missing:
            what.append(f"column(s) {missing} missing")
        need = ", ".join(c for c in cols if c not in OPTIONAL)
        opt = ", ".join(c for c in expected if c in OPTIONAL)
        msg = (
            f"{f.path}:1: {' and '.join(what)} (have {f.columns}); {name} has the columns "
            f"{need} and optionally {opt}, comma-separated"
        )
        raise ConnectorError(msg, field=(unknown or missing)[0])
    n = len(f.frame)
    for col, fld in cols.items():
        if col not in f.columns:
            if col == "booking":
                value: np.ndarray = _ids(pd.Series([f"{name}:{x}" for x in f.lines.tolist()]))
            else:
                value = _ids(pd.Series([OPTIONAL[col]] * n, dtype=str))
        elif col in times:
            value = _times(f, col)
        elif col in _NUMERIC:
            series = f.frame[col].str.strip()
            num = pd.to_numeric(series.replace("", "nan"), errors="coerce")
            bad = num.isna() & ~series.str.lower().isin(["nan", "-nan", ""])
            if bad.any():
                raise f.error(int(np.flatnonzero(bad.to_numpy())[0]), col, "is not a number")
            value = num.to_numpy(dtype=np.float64)
            wild = np.flatnonzero(np.isinf(value) | (np.abs(value) > MAX_ABS_VALUE))
            if wild.size:
                i = int(wild[0])
                raise f.error(i, col, number_problem(float(value[i])) or "is out of range")
        elif col == "state":
            value = _names(f, col, State)
        elif col == "kind":
            value = _names(f, col, StepKind)
        else:
            series = f.frame[col].str.strip()
            if col == "booking":
                own = pd.Series([f"{name}:{x}" for x in f.lines.tolist()], dtype=str)
                series = series.where(series != "", own)
            elif col not in OPTIONAL:
                empty = (series == "").to_numpy()
                if empty.any():
                    raise f.error(int(np.flatnonzero(empty)[0]), col, "is empty; it names an id")
            value = _ids(series)
        setattr(batch, fld, value)
    if "correction" in f.columns:
        flag = f.frame["correction"].str.strip().str.lower()
        bad = ~flag.isin(_TRUE | _FALSE)
        if bad.any():
            raise f.error(int(np.flatnonzero(bad.to_numpy())[0]), "correction", "is not true/false")
        setattr(batch, KINDS[kind].correction, flag.isin(_TRUE).to_numpy())


def read_events_dir(directory: str | Path, *, settled: bool = True) -> EventBatch:
    """Read an events folder written by :func:`write_events_dir` (or by hand, or an importer).

    Parameters
    ----------
    directory : str or Path
        The folder.
    settled : bool
        True (default): duplicates counted once and corrections applied, as
        the store does (:func:`carbontwin.twin.events.settle`) — the events
        attribution should see. False: every row as written, correction flags
        kept, for writing into a store (which settles them against what it holds).

    Raises
    ------
    ConnectorError
        For a missing folder, a file or column it does not know (listing the
        expected ones), a missing column, or a bad value (``file:line:column``),
        and for rows that conflict with an earlier row of the same key
        (``file:line``, both lines named).
    """
    d = Path(directory)
    if not d.is_dir():
        msg = f"events folder {d} does not exist"
        raise ConnectorError(msg)
    unknown = sorted(
        p.name
        for p in d.iterdir()
        if not p.name.startswith(".") and p.name not in FILES and p.name != ORDERS_FILE
    )
    if unknown:
        msg = (
            f"events folder {d}: unknown file(s) {unknown}; an events folder holds only "
            f"{', '.join([*FILES, ORDERS_FILE])} (each optional; see docs/events-folder.md)"
        )
        raise ConnectorError(msg, field="file")
    batch = EventBatch()
    read: dict[str, _File] = {}
    for name in FILES:
        path = d / name
        if not path.exists():
            continue
        f = _read_file(path)
        read[_KIND_OF_FILE[name]] = f
        _read_kind(f, batch)
    if not settled:
        return batch
    try:
        return settle(batch).batch
    except EventConflictError as exc:

        def line(kind: str, i: int) -> str:
            return f"{read[kind].path}:{int(read[kind].lines[i])}"

        def line_of_row(kind: str, m: re.Match[str]) -> str:
            return f"line {int(read[kind].lines[int(m[1])])}"

        rows = []
        for kind, i, text in exc.rows:
            text = re.sub(rf"\b{kind}\[(\d+)\]", partial(line_of_row, kind), text)
            rows.append(f"{line(kind, i)}: {text.split(': ', 1)[1]}")
        more = f" (and {len(rows) - 20} more)" if len(rows) > 20 else ""
        msg = f"{len(rows)} conflicting row(s){more}: " + "; ".join(rows[:20])
        raise ConnectorError(msg, field="conflict") from None


def write_orders_csv(orders: Iterable[Order], directory: str | Path) -> Path:
    """Write ``orders`` into ``directory``/orders.csv, merged by id with the orders there.

    An order already in the file is replaced by the one given; the file is
    sorted by release time, then id. Returns the file.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    merged = {o.id: o for o in read_orders_csv(d)}
    merged.update({o.id: o for o in orders})
    rows = sorted(merged.values(), key=lambda o: (o.release, o.id))
    release = np.array([o.release.timestamp() for o in rows], dtype=np.float64)
    due = np.array([o.due.timestamp() for o in rows], dtype=np.float64)
    frame = pd.DataFrame(
        {
            "id": [o.id for o in rows],
            "product": [o.product for o in rows],
            "quantity": [repr(float(o.quantity)) for o in rows],
            "release": _iso(release).to_pylist() if rows else [],
            "due": _iso(due).to_pylist() if rows else [],
        },
        columns=list(_ORDER_COLUMNS),
    )
    path = d / ORDERS_FILE
    frame.to_csv(path, index=False)
    return path


def read_orders_csv(directory: str | Path) -> list[Order]:
    """The orders of an events folder's ``orders.csv`` (none when there is no such file).

    Raises
    ------
    ConnectorError
        Naming ``orders.csv:LINE`` and the column for a missing column, an
        empty id or product, a quantity that is not a positive number, or a
        time without zone.
    """
    path = Path(directory) / ORDERS_FILE
    if not path.exists():
        return []
    f = _read_file(path)
    frame = f.frame
    missing = [c for c in _ORDER_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"{path}: column(s) {missing} missing (have {list(frame.columns)})"
        raise ConnectorError(msg)
    for col in ("id", "product"):
        empty = np.flatnonzero(frame[col].str.strip().eq("").to_numpy())
        if empty.size:
            raise f.error(int(empty[0]), col, f"is empty; every order needs its {col}")
    qty = pd.to_numeric(frame["quantity"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(qty > 0) | ~np.isfinite(qty) | (qty > MAX_ABS_VALUE))
    if bad.size:
        raise f.error(int(bad[0]), "quantity", "is not a positive number")
    release = _times(f, "release")
    due = _times(f, "due")
    return [
        Order(str(i), str(p), float(q), from_epoch(float(r)), from_epoch(float(d)))
        for i, p, q, r, d in zip(
            frame["id"].str.strip(), frame["product"].str.strip(), qty, release, due, strict=True
        )
    ]
