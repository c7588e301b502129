"""What the file importers share: mapping files, tables read in chunks, local times, numbers.

Private to :mod:`carbontwin.connectors.historian` and :mod:`carbontwin.connectors.mes`.

- A mapping file (YAML or JSON) is validated by a pydantic model; every problem
  is reported as ``MAP.yaml:LINE: field: message`` (:func:`load_mapping`).
- A data file (CSV with any delimiter and decimal mark, Excel through openpyxl,
  Parquet through pyarrow) is read as a stream of :class:`Chunk` frames, so the
  memory an import needs does not grow with the file (:func:`read_chunks`).
- A problem in the data names ``FILE:ROW:COLUMN`` (:func:`where`): the row is
  the line of a CSV file, the row of an Excel sheet, the 1-based row of a
  Parquet file.
- Times without a zone are local times of the mapping's ``timezone``
  (:class:`LocalTimes`, rules in its docstring).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from carbontwin.twin._yaml_lines import SourceError, line_of, read_with_lines
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.model import State
from carbontwin.twin.text_files import MAX_ABS_VALUE, first_bad_line, number_problem

__all__ = [
    "mapping_schema",
    "Chunk",
    "LocalTimes",
    "MappingModel",
    "SourceFormat",
    "TimeZoneSpec",
    "load_mapping",
    "numbers",
    "read_chunks",
    "state_name",
    "where",
]

M = TypeVar("M", bound=BaseModel)

#: Cell texts that mean "no value" unless the mapping lists its own.
DEFAULT_MISSING = ["", "NaN", "nan", "NULL", "null", "#N/A", "N/A"]


class MappingModel(BaseModel):
    """Base of every mapping section: unknown keys are errors (typos), values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceFormat(MappingModel):
    """How the data file is written.

    ``type`` defaults from the file suffix (``.csv``/``.txt``, ``.xlsx``/``.xlsm``,
    ``.parquet``/``.pq``).
    """

    type: Literal["csv", "excel", "parquet"] | None = None
    delimiter: str = Field(default=",", min_length=1, description="one character, or 'tab'")
    decimal: Literal[".", ","] = "."
    thousands: Literal[".", ",", " ", "'"] | None = None
    encoding: str = "utf-8-sig"
    sheet: str | None = None
    skip_rows: int = Field(default=0, ge=0, description="lines (rows) before the header")
    missing: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MISSING),
        description="cell texts that mean no value",
    )

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str) -> str:
        if v.lower() == "tab":
            return "\t"
        if len(v) != 1:
            msg = f"delimiter {v!r} must be one character (or 'tab')"
            raise ValueError(msg)
        return v

    @field_validator("thousands")
    @classmethod
    def _thousands(cls, v: str | None, info: Any) -> str | None:
        if v is not None and v == info.data.get("decimal"):
            msg = f"thousands separator {v!r} is the decimal mark too"
            raise ValueError(msg)
        return v

    def kind_of(self, path: Path) -> str:
        if self.type is not None:
            return self.type
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            return "excel"
        if suffix in (".parquet", ".pq"):
            return "parquet"
        return "csv"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r}; use an IANA name such as 'Europe/Vienna'"
        raise ValueError(msg) from None
    return value


class TimeZoneSpec(MappingModel):
    """How times are written and which zone a time without offset is in."""

    format: str | None = Field(
        default=None,
        description="strptime format such as '%d.%m.%Y %H:%M:%S'; default ISO 8601",
    )
    timezone: Annotated[str, AfterValidator(_zone)] = Field(
        default="UTC", description="IANA zone of times without an offset"
    )
    ambiguous: Literal["infer", "first", "second", "error"] = Field(
        default="infer",
        description=(
            "a time in the repeated hour when clocks go back: 'infer' (the first "
            "instant until the time repeats or goes back, then the second), 'first', "
            "'second' or 'error'"
        ),
    )
    nonexistent: Literal["before", "error"] = Field(
        default="before",
        description=(
            "a time in the skipped hour when clocks go forward: 'before' reads it with "
            "the offset in force before the change (02:30 CET = 01:30 UTC), or 'error'"
        ),
    )


# --------------------------------------------------------------------- mapping files


def mapping_schema(model: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema (2020-12) of the mapping file that ``model`` validates."""
    schema: dict[str, Any] = model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def load_mapping(path: str | Path, model: type[M], what: str) -> tuple[M, dict[Any, int]]:
    """Read and validate a mapping file; return the model and the line of every item.

    Raises
    ------
    ConnectorError
        Listing every problem as ``file:line: field: message``.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        msg = f"{file}: cannot read {what}: {exc.strerror or exc}"
        raise ConnectorError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{file}: not a UTF-8 text file (byte {exc.start}); save it as UTF-8"
        raise ConnectorError(msg) from None
    try:
        data, lines, dups = read_with_lines(text, "json" if file.suffix == ".json" else "yaml")
    except SourceError as exc:
        at = f"{file}:{exc.line}" if exc.line is not None else str(file)
        msg = f"{at}: {exc.message}"
        raise ConnectorError(msg) from None
    problems = [
        (line, f"{file}:{line}: {_dotted(p)}: given twice (the later one would win)")
        for p, line in dups
    ]
    model_obj: M | None = None
    if not isinstance(data, dict):
        problems.append((1, f"{file}:1: {what} must be a mapping of keys such as 'signals'"))
    else:
        try:
            model_obj = model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = tuple(err["loc"])
                line = line_of(lines, loc) or 1
                kind = err["type"]
                if kind == "value_error" and "error" in err.get("ctx", {}):
                    message = str(err["ctx"]["error"])
                elif kind == "missing":
                    message = "is required"
                elif kind == "extra_forbidden":
                    message = "unknown key (a typo?)"
                else:
                    message = str(err["msg"])
                name = _dotted(loc)
                problems.append((line, f"{file}:{line}: {name + ': ' if name else ''}{message}"))
    if problems or model_obj is None:
        found = [text for _, text in sorted(problems)]
        head = f"{len(found)} problem(s) in {what} {file}:\n  " + "\n  ".join(found)
        raise ConnectorError(head, field=None)
    return model_obj, lines


def _dotted(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def mapping_error(file: Path, lines: dict[Any, int], loc: tuple[Any, ...], message: str) -> str:
    """``MAP.yaml:LINE: field: message`` for a problem found after validation."""
    line = line_of(lines, loc) or 1
    return f"{file}:{line}: {_dotted(loc)}: {message}"


# --------------------------------------------------------------------- data files


def where(path: Path, row: int, column: str) -> str:
    """``FILE:ROW:COLUMN`` of one data cell."""
    return f"{path}:{row}:{column}"


@dataclass(slots=True)
class Chunk:
    """Consecutive rows of a data file.

    ``first_row`` is the file row of the frame's first row; ``done`` and
    ``total`` measure progress through the file (bytes of a CSV file, rows of
    a workbook or Parquet file; ``total`` is None when unknown).
    """

    frame: pd.DataFrame
    first_row: int
    done: int = 0
    total: int | None = None

    @property
    def rows(self) -> npt.NDArray[np.int64]:
        """File row of every frame row."""
        return np.arange(self.first_row, self.first_row + len(self.frame), dtype=np.int64)


def read_header(path: Path, fmt: SourceFormat, sheet: str | None = None) -> list[str]:
    """Column names of the data file (sheet ``sheet`` of a workbook)."""
    for chunk in read_chunks(path, fmt, chunk_rows=1, sheet=sheet, header_only=True):
        return [str(c) for c in chunk.frame.columns]
    return []


def read_chunks(
    path: Path,
    fmt: SourceFormat,
    *,
    chunk_rows: int = 200_000,
    text_columns: Sequence[str] = (),
    columns: Sequence[str] | None = None,
    sheet: str | None = None,
    header_only: bool = False,
) -> Iterator[Chunk]:
    """The data file in frames of at most ``chunk_rows`` rows.

    CSV numbers are parsed with the file's decimal mark and thousands
    separator; ``text_columns`` are kept as text; cells listed in
    ``fmt.missing`` are missing values. ``columns`` limits the columns read.
    """
    if not path.is_file():
        msg = f"{path}: no such file"
        raise ConnectorError(msg)
    kind = fmt.kind_of(path)
    if kind == "excel":
        yield from _excel_chunks(path, fmt, chunk_rows, sheet or fmt.sheet, header_only)
    elif kind == "parquet":
        yield from _parquet_chunks(path, chunk_rows, columns, header_only)
    else:
        yield from _csv_chunks(path, fmt, chunk_rows, text_columns, columns, header_only)


def _csv_chunks(
    path: Path,
    fmt: SourceFormat,
    chunk_rows: int,
    text_columns: Sequence[str],
    columns: Sequence[str] | None,
    header_only: bool,
) -> Iterator[Chunk]:
    kw: dict[str, Any] = {
        "sep": fmt.delimiter,
        "decimal": fmt.decimal,
        "thousands": fmt.thousands,
        "encoding": fmt.encoding,
        "skiprows": fmt.skip_rows,
        "na_values": fmt.missing,
        "keep_default_na": False,
        "dtype": dict.fromkeys(text_columns, str),
        "skip_blank_lines": False,
    }
    if columns is not None:
        kw["usecols"] = list(columns)
    first = fmt.skip_rows + 2  # the header's line + 1
    total = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # a binary file or UTF-16/32: say so instead of a codec error
        problem = first_bad_line(head, str(path), fmt.encoding)
        if problem is not None:
            raise ConnectorError(problem)
    try:
        with path.open("rb") as handle:
            if header_only:
                yield Chunk(pd.read_csv(handle, nrows=0, **kw), first, 0, total)
                return
            with pd.read_csv(handle, chunksize=chunk_rows, **kw) as reader:
                for frame in reader:
                    yield Chunk(frame, first, handle.tell(), total)
                    first += len(frame)
    except UnicodeDecodeError:
        problem = first_bad_line(path.read_bytes(), str(path), fmt.encoding)
        msg = problem or f"{path}: not text in the encoding {fmt.encoding!r}; set format.encoding"
        raise ConnectorError(msg) from None
    except (pd.errors.ParserError, ValueError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, pd.errors.EmptyDataError):
            msg = f"{path}:{fmt.skip_rows + 1}: the file is empty; it needs a header line"
            raise ConnectorError(msg) from None
        msg = f"{path}: cannot read as CSV (delimiter {fmt.delimiter!r}, decimal {fmt.decimal!r}): {text}"
        raise ConnectorError(msg) from None


def _excel_chunks(
    path: Path, fmt: SourceFormat, chunk_rows: int, sheet: str | None, header_only: bool
) -> Iterator[Chunk]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors
        msg = f"{path}: cannot read as an Excel workbook (.xlsx): {exc}"
        raise ConnectorError(msg) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            msg = f"{path}: no sheet {sheet!r} (sheets: {book.sheetnames})"
            raise ConnectorError(msg)
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        for _ in range(fmt.skip_rows):
            next(rows, None)
        header_cells = next(rows, None)
        if header_cells is None:
            msg = f"{path}: sheet {ws.title!r} has no header row"
            raise ConnectorError(msg)
        header = [
            str(c).strip() if c is not None else f"column {i + 1}"
            for i, c in enumerate(header_cells)
        ]
        first = fmt.skip_rows + 2
        total = ws.max_row
        if header_only:
            yield Chunk(pd.DataFrame(columns=header), first, 0, total)
            return
        missing = set(fmt.missing)
        buf: list[tuple[Any, ...]] = []

        def frame() -> pd.DataFrame:
            width = len(header)
            data = [tuple(row[:width]) + (None,) * (width - len(row)) for row in buf]
            out = pd.DataFrame.from_records(data, columns=header, coerce_float=False)
            return out.map(lambda v: None if isinstance(v, str) and v.strip() in missing else v)

        for row in rows:
            buf.append(row)
            if len(buf) >= chunk_rows:
                yield Chunk(frame(), first, first + len(buf) - 1, total)
                first += len(buf)
                buf = []
        if buf:
            yield Chunk(frame(), first, first + len(buf) - 1, total)
    finally:
        book.close()


def _parquet_chunks(
    path: Path, chunk_rows: int, columns: Sequence[str] | None, header_only: bool
) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        msg = f"{path}: cannot read as Parquet: {exc}"
        raise ConnectorError(msg) from None
    total = pf.metadata.num_rows
    if header_only:
        yield Chunk(pd.DataFrame(columns=pf.schema_arrow.names), 1, 0, total)
        return
    first = 1
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(columns) if columns else None):
        frame = batch.to_pandas()
        yield Chunk(frame, first, first + len(frame) - 1, total)
        first += len(frame)


# --------------------------------------------------------------------- values


def numbers(
    series: pd.Series,
    fmt: SourceFormat,
    path: Path,
    rows: npt.NDArray[np.int64],
    column: str,
) -> npt.NDArray[np.float64]:
    """A column as float64 (NaN where the cell is empty); a cell that is no number is an error."""
    values: npt.NDArray[np.float64]
    if pd.api.types.is_bool_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        return values
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        _refuse_wild(values, series.astype(str), path, rows, column)
        return values
    present = series.notna().to_numpy()
    text = series.astype(str).str.strip()
    cleaned = text
    if fmt.thousands is not None:
        cleaned = cleaned.str.replace(fmt.thousands, "", regex=False)
    if fmt.decimal != ".":
        cleaned = cleaned.str.replace(fmt.decimal, ".", regex=False)
    if series.dtype == object:  # workbook cells: numbers stay numbers
        numeric_cells = series.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        cleaned = cleaned.astype(object).where(~numeric_cells, series)
    parsed = pd.to_numeric(cleaned, errors="coerce")
    out = np.array(parsed.to_numpy(dtype=np.float64, na_value=np.nan))
    bad = np.flatnonzero(present & np.isnan(out) & ~text.str.lower().isin(["nan"]).to_numpy())
    if bad.size:
        i = int(bad[0])
        msg = (
            f"{where(path, int(rows[i]), column)}: {text.iloc[i]!r} is not a number "
            f"(decimal mark {fmt.decimal!r}; list texts that mean no value under format.missing)"
        )
        raise ConnectorError(msg, field=column)
    out[~present] = np.nan
    _refuse_wild(out, text, path, rows, column)
    return out


def _refuse_wild(
    values: npt.NDArray[np.float64],
    text: pd.Series,
    path: Path,
    rows: npt.NDArray[np.int64],
    column: str,
) -> None:
    """An infinite value, or one beyond ``MAX_ABS_VALUE``, is an error naming its cell."""
    wild = np.flatnonzero(np.isinf(values) | (np.abs(values) > MAX_ABS_VALUE))
    if wild.size:
        i = int(wild[0])
        problem = number_problem(float(values[i])) or "is out of range"
        msg = f"{where(path, int(rows[i]), column)}: {text.iloc[i]!r} {problem}"
        raise ConnectorError(msg, field=column)


def state_name(value: str) -> State:
    """A carbontwin state from its name in any case (``processing``, ``Processing``)."""
    try:
        return State(value.strip().upper())
    except ValueError:
        msg = f"unknown state {value!r}; expected one of {[s.value for s in State]} (any case)"
        raise ValueError(msg) from None


def cell_key(value: Any) -> str:
    """The text a code cell stands for: ``2``, ``2.0`` and ``"2"`` are all ``"2"``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value).strip()


# --------------------------------------------------------------------- times


@dataclass(slots=True)
class LocalTimes:
    """Turn a column of times into float64 epoch seconds [s, UTC].

    Times that carry an offset (``2024-10-27T02:30:00+02:00``, ``...Z``) or
    come as zoned timestamps (Parquet) are exact. Times without one are wall
    clock times of ``spec.timezone``. Two hours a year need a rule:

    - **Clocks go forward** (a time in the skipped hour, such as 02:30 on the
      last Sunday of March in Europe): with ``nonexistent: before`` it is read
      with the UTC offset in force *before* the change, as a clock that was not
      yet set forward would show it (02:30 CET = 01:30 UTC, i.e. 03:30 CEST).
      This is Python's ``fold=0`` rule (PEP 495). ``error`` refuses the row.
    - **Clocks go back** (a time in the repeated hour, 02:00-02:59 on the last
      Sunday of October): with ``ambiguous: infer`` (default) it is the first
      instant (summer time) until, for the same source, a time of that hour
      repeats or goes back; from then on it is the second instant (standard
      time). The source is the file for a wide layout and the tag for a long one,
      so a file sorted by tag then time works too. ``first``/``second`` pick one
      instant always; ``error`` refuses the row.

    The state of ``infer`` is carried from chunk to chunk.
    """

    spec: TimeZoneSpec
    _seen: dict[tuple[Any, str], tuple[datetime, bool]] = field(default_factory=dict)

    def epoch(
        self,
        series: pd.Series,
        path: Path,
        rows: npt.NDArray[np.int64],
        column: str,
        sources: Sequence[Any] | npt.NDArray[Any] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Epoch seconds of every cell of ``series``; an empty or unreadable cell is an error.

        ``rows`` are the file rows of the cells (for messages), ``sources`` the
        tag of each row when the ``infer`` rule must tell tags apart.
        """
        parsed = self._parse(series, path, rows, column)
        if parsed.dt.tz is not None:
            ns = parsed.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()
        else:
            ns = self._localize(parsed, path, rows, column, sources)
        out: npt.NDArray[np.float64] = (ns // 1_000_000_000).astype(np.float64) + (
            ns % 1_000_000_000
        ) / 1e9
        return out

    def _parse(
        self, series: pd.Series, path: Path, rows: npt.NDArray[np.int64], column: str
    ) -> pd.Series:
        missing = series.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            msg = f"{where(path, int(rows[i]), column)}: the time is empty"
            raise ConnectorError(msg, field=column)
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return series
        fmt = self.spec.format or "ISO8601"
        cells: pd.Series | None = None
        if series.dtype == object:  # workbook cells: date cells are datetimes already
            is_dt = series.map(lambda v: isinstance(v, datetime)).to_numpy(dtype=bool)
            if is_dt.all():
                return pd.Series(pd.to_datetime(list(series)), index=series.index)
            if is_dt.any():
                cells = pd.Series(pd.to_datetime(list(series[is_dt])), index=series.index[is_dt])
                series = series[~is_dt]
        text = series.astype(str).str.strip()
        try:
            parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        except ValueError as exc:  # mixed offsets, or zoned and unzoned together
            msg = (
                f"{path}:{rows[0]}-{rows[-1]}:{column}: times mix zones "
                f"or offsets ({exc}); write all with an offset, or all without one"
            )
            raise ConnectorError(msg, field=column) from None
        if cells is not None:
            if parsed.dt.tz is not None:
                msg = f"{path}:{rows[0]}-{rows[-1]}:{column}: date cells and times with offsets mix"
                raise ConnectorError(msg, field=column)
            parsed = pd.concat([parsed.astype("datetime64[ns]"), cells.astype("datetime64[ns]")])
            parsed = parsed.reindex(cells.index.union(text.index)).sort_index()
            text = pd.Series([str(v) for v in parsed], index=parsed.index)
        bad = parsed.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            expected = f"format {self.spec.format!r}" if self.spec.format else "ISO 8601"
            msg = (
                f"{where(path, int(rows[i]), column)}: {text.iloc[i]!r} is not a time in "
                f"{expected}; set time.format in the mapping (strptime codes, e.g. "
                f"'%d.%m.%Y %H:%M:%S')"
            )
            raise ConnectorError(msg, field=column)
        return parsed

    def _localize(
        self,
        parsed: pd.Series,
        path: Path,
        rows: npt.NDArray[np.int64],
        column: str,
        sources: Sequence[Any] | npt.NDArray[Any] | None,
    ) -> npt.NDArray[np.int64]:
        naive = pd.DatetimeIndex(parsed).as_unit("ns")
        zone = self.spec.timezone
        local = naive.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        ns: npt.NDArray[np.int64] = local.asi8.copy()
        odd = np.flatnonzero(local.isna())
        if not odd.size:
            return ns
        tz = ZoneInfo(zone)
        naive_ns = naive.asi8
        for i in odd.tolist():  # only rows in the hours around a clock change
            wall = pd.Timestamp(naive_ns[i]).to_pydatetime()
            first = wall.replace(tzinfo=tz, fold=0)
            utc_first = first.utcoffset()
            gap = first.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != wall
            at = where(path, int(rows[i]), column)
            if gap:
                if self.spec.nonexistent == "error":
                    msg = (
                        f"{at}: {wall} does not exist in {zone} (clocks went forward); "
                        f"set time.nonexistent: before to read it with the earlier offset"
                    )
                    raise ConnectorError(msg, field=column)
                fold = 0
            else:
                fold = self._fold(wall, sources[i] if sources is not None else None, at, column)
            offset = wall.replace(tzinfo=tz, fold=fold).utcoffset() if fold else utc_first
            assert offset is not None
            ns[i] = naive_ns[i] - int(offset.total_seconds()) * 1_000_000_000
        return ns

    def _fold(self, wall: datetime, source: Any, at: str, column: str) -> int:
        rule = self.spec.ambiguous
        if rule == "first":
            return 0
        if rule == "second":
            return 1
        if rule == "error":
            msg = (
                f"{at}: {wall} happens twice in {self.spec.timezone} (clocks went back); "
                f"set time.ambiguous to infer, first or second"
            )
            raise ConnectorError(msg, field=column)
        key = (source, wall.date().isoformat())
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = (wall, False)
            return 0
        latest, back = seen
        if back or wall <= latest:
            self._seen[key] = (latest, True)
            return 1
        self._seen[key] = (wall, False)
        return 0
