"""Historian import: a plant historian's export (CSV, Excel, Parquet) into twin events.

A mapping file says how the export is written and what each column (wide
layout) or tag (long layout) means::

    layout: wide                       # one column per tag; 'long': time, tag, value rows
    format: {delimiter: ";", decimal: ",", missing: ["", "Bad"]}
    time:
      column: Zeitstempel
      format: "%d.%m.%Y %H:%M:%S"      # strptime codes; default ISO 8601
      timezone: Europe/Vienna          # zone of times without an offset
      ambiguous: infer                 # repeated hour at the autumn clock change
      nonexistent: before              # skipped hour at the spring clock change
    signals:
      "Presse1.Wirkleistung": {kind: power, meter: M-press-1, unit: W}
      "Presse1.Zaehler":      {kind: energy, meter: M-press-1, unit: MWh}
      "Presse1.Status":       {kind: state, asset: press-1,
                               states: {0: off, 1: standby, 2: idle, 3: processing, 4: setup, 9: fault}}

Signal kinds: ``power`` (a meter's power, any pint power unit, default kW),
``energy`` (a meter's cumulative counter, any energy unit, default kWh) and
``state`` (an asset's state: a code map from integers or texts to carbontwin
states, or cells holding state names). A long layout names ``tag_column`` and
``value_column``; ``unmapped: ignore`` skips columns or tags the mapping does
not name (default: an error listing them). The rules for local times are in
:class:`~carbontwin.connectors._mapping.LocalTimes`.

The file is read in chunks (bounded memory); each chunk becomes one
:class:`~carbontwin.twin.events.EventBatch`: every power and counter reading
with a value, and each state change (a state equal to the asset's previous
one is no change). Empty cells are no reading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import State
from carbontwin.twin.quantities import QuantityError, parse_quantity

from ._mapping import (
    Chunk,
    LocalTimes,
    MappingModel,
    SourceFormat,
    TimeZoneSpec,
    cell_key,
    load_mapping,
    mapping_error,
    mapping_schema,
    numbers,
    read_chunks,
    read_header,
    state_name,
    where,
)
from .files import FILES, write_events_dir

__all__ = [
    "HistorianMapping",
    "ImportStats",
    "historian_mapping_schema",
    "import_historian",
    "load_historian_mapping",
    "read_historian",
]

#: Cells read per chunk unless a chunk size is given.
CHUNK_CELLS = 1_000_000
_UNIT_KIND = {"power": "power", "energy": "energy"}
_FILE_OF = {"power": "power.csv", "energy": "counters.csv", "state": "states.csv"}


class HistorianSignal(MappingModel):
    """What one column (wide) or tag (long) is."""

    kind: Literal["power", "energy", "state"]
    meter: str | None = Field(default=None, description="twin meter id (power, energy)")
    asset: str | None = Field(default=None, description="twin asset id (state)")
    unit: str | None = Field(
        default=None, description="pint unit of the values: W, kW, MW (power); Wh, kWh, MWh"
    )
    states: dict[int | str, str] | None = Field(
        default=None,
        description="state code -> carbontwin state (off, standby, idle, setup, processing, fault)",
    )

    @model_validator(mode="after")
    def _check(self) -> HistorianSignal:
        if self.kind == "state":
            if not self.asset:
                msg = "a state signal needs 'asset' (the twin asset id)"
                raise ValueError(msg)
            if self.meter or self.unit:
                msg = "a state signal has an 'asset' and no 'meter' or 'unit'"
                raise ValueError(msg)
            for code, name in (self.states or {}).items():
                try:
                    state_name(name)
                except ValueError as exc:
                    msg = f"state code {code!r}: {exc}"
                    raise ValueError(msg) from None
            return self
        if not self.meter:
            msg = f"a {self.kind} signal needs 'meter' (the twin meter id)"
            raise ValueError(msg)
        if self.asset or self.states:
            msg = f"a {self.kind} signal has a 'meter' and no 'asset' or 'states'"
            raise ValueError(msg)
        if self.unit is not None:
            try:
                parse_quantity(f"1 {self.unit}", _UNIT_KIND[self.kind])
            except QuantityError as exc:
                msg = f"unit {self.unit!r}: {exc.message}"
                raise ValueError(msg) from None
        return self

    def scale(self) -> float:
        """Factor from the file's unit to kW or kWh."""
        if self.unit is None:
            return 1.0
        return parse_quantity(f"1 {self.unit}", _UNIT_KIND[self.kind])

    def code_map(self) -> dict[str, State] | None:
        if self.states is None:
            return None
        return {cell_key(k): state_name(v) for k, v in self.states.items()}


class HistorianTime(TimeZoneSpec):
    column: str = Field(min_length=1, description="column holding the time of each row")


class HistorianMapping(MappingModel):
    """A historian mapping file (see the module docstring)."""

    layout: Literal["wide", "long"] = "wide"
    format: SourceFormat = Field(default_factory=SourceFormat)
    time: HistorianTime
    tag_column: str | None = Field(default=None, description="long layout: the tag name column")
    value_column: str | None = Field(default=None, description="long layout: the value column")
    signals: dict[str, HistorianSignal] = Field(min_length=1)
    unmapped: Literal["error", "ignore"] = "error"

    @model_validator(mode="after")
    def _layout(self) -> HistorianMapping:
        if self.layout == "long":
            if not self.tag_column or not self.value_column:
                msg = "a long layout needs 'tag_column' and 'value_column'"
                raise ValueError(msg)
        elif self.tag_column or self.value_column:
            msg = "'tag_column' and 'value_column' belong to layout: long"
            raise ValueError(msg)
        return self


def historian_mapping_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a historian mapping file."""
    return mapping_schema(HistorianMapping)


@dataclass(frozen=True, slots=True)
class LoadedMapping:
    """A validated mapping and where its items are (for messages)."""

    model: HistorianMapping
    file: Path
    lines: dict[Any, int]


def load_historian_mapping(path: str | Path) -> LoadedMapping:
    """Read a historian mapping file.

    Raises
    ------
    ConnectorError
        Listing every problem as ``MAP.yaml:LINE: field: message``.
    """
    model, lines = load_mapping(path, HistorianMapping, "historian mapping")
    return LoadedMapping(model, Path(path), lines)


@dataclass(slots=True)
class ImportStats:
    """What an import read and wrote."""

    rows: int = 0
    power_samples: int = 0
    energy_counters: int = 0
    state_changes: int = 0
    stored: int = 0
    first_t: float = float("inf")
    last_t: float = float("-inf")

    @property
    def events(self) -> int:
        return self.power_samples + self.energy_counters + self.state_changes


@dataclass(slots=True)
class _Compiled:
    """The mapping turned into arrays indexed by signal number."""

    names: list[str]
    kinds: list[str]
    sources: list[str]
    scales: npt.NDArray[np.float64]
    codes: list[dict[str, State] | None]
    index: dict[str, int]
    last_state: dict[str, tuple[float, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, m: HistorianMapping) -> _Compiled:
        names = list(m.signals)
        sigs = [m.signals[n] for n in names]
        return cls(
            names=names,
            kinds=[s.kind for s in sigs],
            sources=[str(s.meter or s.asset) for s in sigs],
            scales=np.array([s.scale() for s in sigs], dtype=np.float64),
            codes=[s.code_map() for s in sigs],
            index={n.strip(): i for i, n in enumerate(names)},
        )


def read_historian(
    path: str | Path,
    mapping: LoadedMapping,
    *,
    chunk_rows: int | None = None,
    progress: Callable[[Chunk], None] | None = None,
    stats: ImportStats | None = None,
) -> Iterator[EventBatch]:
    """The events of a historian export, one batch per chunk of rows.

    ``chunk_rows`` defaults to about a million cells per chunk (77,000 rows of
    a 13-column export), which keeps an import near 400 MB whatever the file size.

    Raises
    ------
    ConnectorError
        Naming ``FILE:ROW:COLUMN`` for a bad cell and ``MAP.yaml:LINE`` for a
        mapping that does not fit the file.
    """
    file = Path(path)
    m = mapping.model
    comp = _Compiled.of(m)
    stats = stats if stats is not None else ImportStats()
    clock = LocalTimes(m.time)
    if m.layout == "wide":
        columns = _wide_columns(file, mapping, comp)
        chunk_rows = chunk_rows or max(1_000, CHUNK_CELLS // len(columns))
        chunks = read_chunks(
            file,
            m.format,
            chunk_rows=chunk_rows,
            text_columns=[m.time.column]
            + [n for n, k in zip(comp.names, comp.kinds, strict=True) if k == "state"],
            columns=columns,
        )
    else:
        columns = _long_columns(file, mapping)
        text = [m.time.column, str(m.tag_column)]
        if "state" in comp.kinds:
            text.append(str(m.value_column))
        chunk_rows = chunk_rows or CHUNK_CELLS // 3
        chunks = read_chunks(
            file, m.format, chunk_rows=chunk_rows, text_columns=text, columns=columns
        )
    for chunk in chunks:
        frame = chunk.frame
        frame.columns = [str(c).strip() for c in frame.columns]
        if m.layout == "wide":
            batch = _wide_batch(chunk, file, m, comp, clock)
        else:
            batch = _long_batch(chunk, file, m, comp, clock)
        stats.rows += len(frame)
        stats.power_samples += len(batch.power_t)
        stats.energy_counters += len(batch.counter_t)
        stats.state_changes += len(batch.state_t)
        for t in (batch.power_t, batch.counter_t, batch.state_t):
            if t.size:
                stats.first_t = min(stats.first_t, float(t.min()))
                stats.last_t = max(stats.last_t, float(t.max()))
        if progress is not None:
            progress(chunk)
        yield batch


def _wide_columns(file: Path, mapping: LoadedMapping, comp: _Compiled) -> list[str]:
    m = mapping.model
    raw = read_header(file, m.format)
    header = [h.strip() for h in raw]
    problems = []
    if m.time.column not in header:
        problems.append(
            mapping_error(
                mapping.file,
                mapping.lines,
                ("time", "column"),
                f"column {m.time.column!r} is not in {file} (columns: {header})",
            )
        )
    for n in comp.names:
        if n.strip() not in header:
            problems.append(
                mapping_error(
                    mapping.file,
                    mapping.lines,
                    ("signals", n),
                    f"column {n!r} is not in {file} (columns: {header})",
                )
            )
    extra = [
        h
        for h in header
        if h != m.time.column and h not in comp.index and not h.startswith("Unnamed: ")
    ]
    if extra and m.unmapped == "error":
        problems.append(
            f"{file}:{m.format.skip_rows + 1}: column(s) {extra} are not in the mapping "
            f"{mapping.file}; map them under 'signals' or set 'unmapped: ignore'"
        )
    if problems:
        raise ConnectorError("\n".join(problems))
    wanted = {m.time.column, *comp.index}
    # the file's own spelling (pandas matches usecols to the header as written)
    return [h for h in raw if h.strip() in wanted]


def _long_columns(file: Path, mapping: LoadedMapping) -> list[str]:
    m = mapping.model
    header = [h.strip() for h in read_header(file, m.format)]
    problems = [
        mapping_error(
            mapping.file,
            mapping.lines,
            loc,
            f"column {name!r} is not in {file} (columns: {header})",
        )
        for loc, name in (
            (("time", "column"), m.time.column),
            (("tag_column",), m.tag_column),
            (("value_column",), m.value_column),
        )
        if name not in header
    ]
    if problems:
        raise ConnectorError("\n".join(problems))
    wanted = {m.time.column, m.tag_column, m.value_column}
    return [h for h in read_header(file, m.format) if h.strip() in wanted]


def _obj(values: Any, n: int | None = None) -> npt.NDArray[np.object_]:
    if n is not None:
        out = np.empty(n, dtype=object)
        out[:] = values
        return out
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _states(
    cells: pd.Series,
    codes: dict[str, State] | None,
    file: Path,
    rows: npt.NDArray[np.int64],
    column: str,
) -> npt.NDArray[np.object_]:
    """State value per cell (None for an empty cell)."""
    present = cells.notna().to_numpy()
    keys, uniq = pd.factorize(cells, use_na_sentinel=True)
    mapped: list[str | None] = []
    for u in uniq:
        key = cell_key(u)
        if codes is not None:
            state = codes.get(key)
        else:
            try:
                state = state_name(key)
            except ValueError:
                state = None
        if state is None:
            i = int(np.flatnonzero(present & (keys == len(mapped)))[0])
            known = sorted(codes) if codes is not None else [s.value for s in State]
            msg = (
                f"{where(file, int(rows[i]), column)}: state {key!r} is not in the mapping's "
                f"state codes {known}"
            )
            raise ConnectorError(msg, field=column)
        mapped.append(state.value)
    pool = _obj(mapped + [None])
    return pool[np.where(keys < 0, len(mapped), keys)]


def _changes(
    comp: _Compiled, asset: str, t: npt.NDArray[np.float64], states: npt.NDArray[np.object_]
) -> npt.NDArray[np.bool_]:
    """Rows that change ``asset``'s state (in file order; a step back in time is kept)."""
    prev_t = np.empty_like(t)
    prev_s = np.empty(len(states), dtype=object)
    last = comp.last_state.get(asset)
    prev_t[0], prev_s[0] = last if last is not None else (np.nan, None)
    prev_t[1:], prev_s[1:] = t[:-1], states[:-1]
    keep: npt.NDArray[np.bool_] = (states != prev_s) | ~(t > prev_t)
    comp.last_state[asset] = (float(t[-1]), str(states[-1]))
    return keep


class _Parts:
    """Per-kind lists of (source, t, value) arrays that become one batch."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[Any, Any, Any]]] = {"power": [], "energy": [], "state": []}

    def add(self, kind: str, source: Any, t: Any, v: Any) -> None:
        if len(t):
            self.parts[kind].append((source, t, v))

    def batch(self) -> EventBatch:
        def cat(kind: str, k: int, obj: bool) -> Any:
            got = [p[k] for p in self.parts[kind]]
            if not got:
                return _obj([]) if obj else np.empty(0, dtype=np.float64)
            return np.concatenate(got)

        b = EventBatch(
            power_meter=cat("power", 0, True),
            power_t=cat("power", 1, False),
            power_kw=cat("power", 2, False),
            counter_meter=cat("energy", 0, True),
            counter_t=cat("energy", 1, False),
            counter_kwh=cat("energy", 2, False),
            state_asset=cat("state", 0, True),
            state_t=cat("state", 1, False),
            state=cat("state", 2, True),
        )
        return _sorted(b)


def _sorted(b: EventBatch) -> EventBatch:
    """Each kind by (source, time), stable: the order the store reads back."""
    for src, t, rest in (
        ("power_meter", "power_t", ("power_kw",)),
        ("counter_meter", "counter_t", ("counter_kwh",)),
        ("state_asset", "state_t", ("state",)),
    ):
        s, tt = getattr(b, src), getattr(b, t)
        if len(tt) < 2:
            continue
        codes, _ = pd.factorize(s, sort=True)
        order = np.lexsort((tt, codes))
        for name in (src, t, *rest):
            setattr(b, name, getattr(b, name)[order])
    return b


def _wide_batch(
    chunk: Chunk, file: Path, m: HistorianMapping, comp: _Compiled, clock: LocalTimes
) -> EventBatch:
    frame = chunk.frame
    rows = chunk.rows
    t = clock.epoch(frame[m.time.column], file, rows, m.time.column)
    parts = _Parts()
    for i, name in enumerate(comp.names):
        col = name.strip()
        kind = comp.kinds[i]
        if kind == "state":
            states = _states(frame[col], comp.codes[i], file, rows, col)
            have = np.flatnonzero(states != None)  # noqa: E711 (element-wise)
            if not have.size:
                continue
            tt, ss = t[have], states[have]
            keep = _changes(comp, comp.sources[i], tt, ss)
            parts.add("state", _obj(comp.sources[i], int(keep.sum())), tt[keep], ss[keep])
            continue
        v = numbers(frame[col], m.format, file, rows, col)
        have = ~np.isnan(v)
        n = int(have.sum())
        parts.add(kind, _obj(comp.sources[i], n), t[have], v[have] * comp.scales[i])
    return parts.batch()


def _long_batch(
    chunk: Chunk, file: Path, m: HistorianMapping, comp: _Compiled, clock: LocalTimes
) -> EventBatch:
    frame = chunk.frame
    rows = chunk.rows
    tag_col, value_col = str(m.tag_column).strip(), str(m.value_column).strip()
    tags = frame[tag_col].astype(str).str.strip()
    codes, uniq = pd.factorize(tags)
    sig_of_uniq = np.array([comp.index.get(str(u), -1) for u in uniq], dtype=np.int64)
    sig = sig_of_uniq[codes] if len(codes) else np.empty(0, dtype=np.int64)
    unknown = np.flatnonzero(sig < 0)
    if unknown.size and m.unmapped == "error":
        names = sorted({str(uniq[c]) for c in codes[unknown]})
        i = int(unknown[0])
        msg = (
            f"{where(file, int(rows[i]), tag_col)}: tag(s) {names[:10]}"
            f"{' and more' if len(names) > 10 else ''} are not in the mapping; map them "
            f"under 'signals' or set 'unmapped: ignore'"
        )
        raise ConnectorError(msg, field=tag_col)
    keep_rows = np.flatnonzero(sig >= 0)
    if keep_rows.size < len(frame):
        frame = frame.iloc[keep_rows]
        rows = rows[keep_rows]
        sig = sig[keep_rows]
        tags = tags.iloc[keep_rows]
    parts = _Parts()
    if not len(frame):
        return parts.batch()
    t = clock.epoch(frame[m.time.column], file, rows, m.time.column, sources=tags.to_numpy())
    values = frame[value_col]
    kinds = np.array(comp.kinds, dtype=object)[sig]
    for kind in ("power", "energy"):
        sel = np.flatnonzero(kinds == kind)
        if not sel.size:
            continue
        v = numbers(values.iloc[sel], m.format, file, rows[sel], value_col)
        v = v * comp.scales[sig[sel]]
        have = ~np.isnan(v)
        src = np.array(comp.sources, dtype=object)[sig[sel]]
        parts.add(kind, src[have], t[sel][have], v[have])
    for i in sorted(set(sig[kinds == "state"].tolist())):
        sel = np.flatnonzero(sig == i)
        states = _states(values.iloc[sel], comp.codes[i], file, rows[sel], value_col)
        have = np.flatnonzero(states != None)  # noqa: E711 (element-wise)
        if not have.size:
            continue
        tt, ss = t[sel][have], states[have]
        keep = _changes(comp, comp.sources[i], tt, ss)
        parts.add("state", _obj(comp.sources[i], int(keep.sum())), tt[keep], ss[keep])
    return parts.batch()


def import_historian(
    path: str | Path,
    mapping: LoadedMapping | str | Path,
    *,
    out: str | Path | None = None,
    store: Any | None = None,
    append: bool = False,
    chunk_rows: int | None = None,
    progress: Callable[[Chunk], None] | None = None,
) -> ImportStats:
    """Import a historian export into an events folder (``out``) or a store.

    Into a folder, the kinds the mapping produces replace the files there
    (``append`` adds to them instead: several exports of one plant); other
    files are left alone. Into a store (a :class:`~carbontwin.twin.store.Store`),
    each chunk is one transaction of :meth:`Store.write_events`; an import run
    again stores nothing twice.
    """
    if (out is None) == (store is None):
        msg = "import into an events folder or a store: give exactly one of out and store"
        raise ConnectorError(msg)
    loaded = mapping if isinstance(mapping, LoadedMapping) else load_historian_mapping(mapping)
    stats = ImportStats()
    batches = read_historian(path, loaded, chunk_rows=chunk_rows, progress=progress, stats=stats)
    if out is not None:
        d = Path(out)
        if not append:
            kinds = {_FILE_OF[k] for k in (s.kind for s in loaded.model.signals.values())}
            for name in kinds & set(FILES):
                (d / name).unlink(missing_ok=True)
        for batch in batches:
            write_events_dir(batch, d, append=True)
    else:
        assert store is not None
        for batch in batches:
            stats.stored += int(store.write_events(batch))
    return stats
