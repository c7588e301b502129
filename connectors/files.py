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
=================  ==========================================================  ============

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

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from carbontwin.twin.errors import ConnectorError, EventConflictError
from carbontwin.twin.events import KINDS, EventBatch, StepKind, settle
from carbontwin.twin.model import State

__all__ = ["FILES", "OPTIONAL", "describe_events_folder", "read_events_dir", "write_events_dir"]

#: file name -> (column -> EventBatch field, time columns)
FILES: Mapping[str, tuple[Mapping[str, str], tuple[str, ...]]] = {
    "states.csv": ({"asset": "state_asset", "t": "state_t", "state": "state"}, ("t",)),
    "power.csv": ({"meter": "power_meter", "t": "power_t", "power_kw": "power_kw"}, ("t",)),
    "counters.csv": (
        {"meter": "counter_meter", "t": "counter_t", "energy_kwh": "counter_kwh"},
        ("t",),
    ),
    "steps.csv": (
        {
            "order": "step_order",
            "operation": "step_operation",
            "asset": "step_asset",
            "start": "step_start",
            "end": "step_end",
            "quantity": "step_quantity",
            "kind": "step_kind",
        },
        ("start", "end"),
    ),
    "materials.csv": (
        {
            "order": "material_order",
            "material": "material_id",
            "quantity": "material_quantity",
            "unit": "material_unit",
            "booking": "material_booking",
        },
        (),
    ),
    "gaps.csv": (
        {"source": "gap_source", "start": "gap_start", "end": "gap_end", "reason": "gap_reason"},
        ("start", "end"),
    ),
}
#: columns a file may leave out, with the value they then take
OPTIONAL: Mapping[str, str] = {"unit": "kg", "reason": "", "booking": "", "correction": ""}
_KIND_OF_FILE = {f"{k}.csv": k for k in KINDS}
_NUMERIC = {"power_kw", "energy_kwh", "quantity"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def describe_events_folder() -> str:
    """One paragraph per file: its columns (the text ``attribute --help`` shows)."""
    lines = []
    for name, (cols, _) in FILES.items():
        shown = [f"{c} (optional)" if c in OPTIONAL else c for c in cols]
        lines.append(f"{name}: {', '.join(shown)}")
    return "; ".join(lines)


def _iso(t: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    us = np.round(t * 1e6).astype("int64").astype("datetime64[us]")
    whole = bool(np.all(np.mod(us.astype("int64"), 1_000_000) == 0))
    text = np.datetime_as_string(us, unit="s" if whole else "us")
    out: npt.NDArray[np.str_] = np.char.add(text, "Z")
    return out


def write_events_dir(batch: EventBatch, directory: str | Path) -> Path:
    """Write ``batch`` as CSV files into ``directory`` (created if needed).

    Only kinds with events get a file; ``booking`` is written when any
    material use has one, ``correction`` when any row of the file is one.
    Returns the directory.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, (cols, times) in FILES.items():
        kind = _KIND_OF_FILE[name]
        if not batch.rows(kind):
            continue
        data = {c: KINDS[kind].column(batch, f) for c, f in cols.items()}
        if "booking" in data and not any(str(b) for b in data["booking"]):
            del data["booking"]
        frame = pd.DataFrame({c: (_iso(v) if c in times else v) for c, v in data.items()})
        fix = batch.corrections(kind)
        if fix.any():
            frame["correction"] = np.where(fix, "true", "false")
        frame.to_csv(d / name, index=False, float_format="%.17g", na_rep="nan")
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
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        msg = (
            f"{path}: the file is empty; it needs a header line ({', '.join(FILES[path.name][0])})"
        )
        raise ConnectorError(msg) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a comma-separated UTF-8 file: {exc}"
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
        p.name for p in d.iterdir() if not p.name.startswith(".") and p.name not in FILES
    )
    if unknown:
        msg = (
            f"events folder {d}: unknown file(s) {unknown}; an events folder holds only "
            f"{', '.join(FILES)} (each optional; see docs/events-folder.md)"
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

        rows = []
        for kind, i, text in exc.rows:
            text = re.sub(
                rf"\b{kind}\[(\d+)\]",
                lambda m, k=kind: f"line {int(read[k].lines[int(m[1])])}",
                text,
            )
            rows.append(f"{line(kind, i)}: {text.split(': ', 1)[1]}")
        more = f" (and {len(rows) - 20} more)" if len(rows) > 20 else ""
        msg = f"{len(rows)} conflicting row(s){more}: " + "; ".join(rows[:20])
        raise ConnectorError(msg, field="conflict") from None
