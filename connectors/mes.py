"""MES import: a plant's order list and order steps (CSV or Excel, its own column names).

A mapping file names the plant's columns for each carbontwin field::

    format: {delimiter: ";", decimal: ","}        # CSV; for Excel: {sheet: ...}
    time: {format: "%d.%m.%Y %H:%M", timezone: Europe/Berlin}
    orders:
      sheet: Auftraege                         # Excel only: the sheet of this section
      columns: {id: Auftrag, product: Material, quantity: Menge,
                release: Freigabe, due: Liefertermin}
      products: {"4711-01": bracket}           # plant material number -> factory product
    steps:
      sheet: Vorgaenge
      columns: {order: Auftrag, operation: Vorgang, machine: Arbeitsplatz,
                start: Beginn, end: Ende, quantity: Gutmenge, kind: Art}
      kinds: {R: setup, B: processing}         # the kind column's codes
      machines: {"AP-100": cnc-1}              # work centre -> factory machine

Either section may be left out. In one CSV file holding both, each row is a
step and carries its order's columns; rows of one order must agree on them.
Steps without a ``kind`` column are ``processing`` (or the section's
``kind``); ``setup_start`` and ``setup_end`` columns add a setup step before
the processing one from the same row. A step without a ``quantity`` column
takes its order's quantity. Unmapped codes (products, machines) pass through
as they are. Times follow the mapping's ``time`` rules (see
:class:`~carbontwin.connectors._mapping.LocalTimes`; ``ambiguous`` defaults
to ``first`` here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import Field, model_validator

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch, StepKind
from carbontwin.twin.model import Order
from carbontwin.twin.quantities import from_epoch

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
    where,
)
from .files import write_events_dir, write_orders_csv

__all__ = [
    "MesImport",
    "MesMapping",
    "import_mes",
    "load_mes_mapping",
    "mes_mapping_schema",
    "read_mes",
]


class OrderColumns(MappingModel):
    """The plant's column for each order field."""

    id: str
    product: str
    quantity: str
    release: str
    due: str


class StepColumns(MappingModel):
    """The plant's column for each order-step field."""

    order: str
    operation: str
    machine: str
    start: str
    end: str
    quantity: str | None = None
    kind: str | None = None
    setup_start: str | None = None
    setup_end: str | None = None

    @model_validator(mode="after")
    def _setup_pair(self) -> StepColumns:
        if (self.setup_start is None) != (self.setup_end is None):
            msg = "'setup_start' and 'setup_end' come as a pair"
            raise ValueError(msg)
        if self.kind is not None and self.setup_start is not None:
            msg = "give a 'kind' column or 'setup_start'/'setup_end' columns, not both"
            raise ValueError(msg)
        return self


class OrdersSection(MappingModel):
    sheet: str | None = Field(default=None, description="Excel: the sheet holding the orders")
    columns: OrderColumns
    products: dict[str, str] = Field(
        default_factory=dict, description="plant product code -> factory product id"
    )


class StepsSection(MappingModel):
    sheet: str | None = Field(default=None, description="Excel: the sheet holding the steps")
    columns: StepColumns
    kind: Literal["setup", "processing"] = Field(
        default="processing", description="kind of every step when there is no kind column"
    )
    kinds: dict[str, Literal["setup", "processing"]] = Field(
        default_factory=dict, description="kind column code -> setup or processing"
    )
    machines: dict[str, str] = Field(
        default_factory=dict, description="plant work centre -> factory machine id"
    )


class MesTime(TimeZoneSpec):
    ambiguous: Literal["infer", "first", "second", "error"] = "first"


class MesMapping(MappingModel):
    """An MES mapping file (see the module docstring)."""

    format: SourceFormat = Field(default_factory=SourceFormat)
    time: MesTime = Field(default_factory=MesTime)
    orders: OrdersSection | None = None
    steps: StepsSection | None = None

    @model_validator(mode="after")
    def _sections(self) -> MesMapping:
        if self.orders is None and self.steps is None:
            msg = "a MES mapping needs an 'orders' section, a 'steps' section or both"
            raise ValueError(msg)
        if self.steps is not None and self.steps.columns.quantity is None and self.orders is None:
            msg = (
                "steps.columns.quantity is required when the mapping has no 'orders' "
                "section to take the quantity from"
            )
            raise ValueError(msg)
        return self


def mes_mapping_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of an MES mapping file."""
    return mapping_schema(MesMapping)


@dataclass(frozen=True, slots=True)
class LoadedMesMapping:
    model: MesMapping
    file: Path
    lines: dict[Any, int]


def load_mes_mapping(path: str | Path) -> LoadedMesMapping:
    """Read an MES mapping file; a problem names ``MAP.yaml:LINE``."""
    model, lines = load_mapping(path, MesMapping, "MES mapping")
    return LoadedMesMapping(model, Path(path), lines)


@dataclass(slots=True)
class MesImport:
    """Orders and order steps read from an MES export."""

    orders: list[Order] = field(default_factory=list)
    steps: EventBatch = field(default_factory=EventBatch)


def _frame(
    file: Path, mapping: LoadedMesMapping, section: str, sheet: str | None, wanted: list[str]
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The columns ``wanted`` of the section's table, as text, with each row's file row."""
    fmt = mapping.model.format
    raw = read_header(file, fmt, sheet=sheet)
    header = [h.strip() for h in raw]
    absent = [c for c in wanted if c not in header]
    if absent:
        cols = mapping.model.orders if section == "orders" else mapping.model.steps
        assert cols is not None
        names = {v: k for k, v in cols.columns.model_dump().items() if v is not None}
        problems = [
            mapping_error(
                mapping.file,
                mapping.lines,
                (section, "columns", names.get(c, c)),
                f"column {c!r} is not in {file}{f' sheet {sheet!r}' if sheet else ''} "
                f"(columns: {header})",
            )
            for c in absent
        ]
        raise ConnectorError("\n".join(problems))
    use = [h for h in raw if h.strip() in wanted]
    parts: list[Chunk] = list(
        read_chunks(file, fmt, text_columns=use, columns=use, sheet=sheet, chunk_rows=100_000)
    )
    if not parts:
        return pd.DataFrame(columns=wanted), np.empty(0, dtype=np.int64)
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    rows = np.concatenate([p.rows for p in parts])
    # blank lines (every cell empty) are no rows
    blank = frame[wanted].isna().all(axis=1).to_numpy()
    return frame.loc[~blank].reset_index(drop=True), rows[~blank]


def _ids(
    frame: pd.DataFrame, col: str, file: Path, rows: npt.NDArray[np.int64], codes: dict[str, str]
) -> list[str]:
    out = []
    for i, v in enumerate(frame[col].tolist()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or not cell_key(v):
            msg = f"{where(file, int(rows[i]), col)}: the cell is empty"
            raise ConnectorError(msg, field=col)
        key = cell_key(v)
        out.append(codes.get(key, key))
    return out


def _positive(
    frame: pd.DataFrame, col: str, fmt: SourceFormat, file: Path, rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    q = numbers(frame[col], fmt, file, rows, col)
    bad = np.flatnonzero(~(q > 0))
    if bad.size:
        i = int(bad[0])
        text = frame[col].iloc[i]
        msg = f"{where(file, int(rows[i]), col)}: quantity {text!r} must be a positive number"
        raise ConnectorError(msg, field=col)
    return q


def _orders(file: Path, mapping: LoadedMesMapping) -> tuple[list[Order], dict[str, int]]:
    m = mapping.model
    sec = m.orders
    assert sec is not None
    c = sec.columns
    wanted = list(dict.fromkeys([c.id, c.product, c.quantity, c.release, c.due]))
    frame, rows = _frame(file, mapping, "orders", sec.sheet or m.format.sheet, wanted)
    ids = _ids(frame, c.id, file, rows, {})
    products = _ids(frame, c.product, file, rows, sec.products)
    qty = _positive(frame, c.quantity, m.format, file, rows)
    clock = LocalTimes(m.time)
    release = clock.epoch(frame[c.release], file, rows, c.release)
    due = clock.epoch(frame[c.due], file, rows, c.due)
    seen: dict[str, int] = {}
    orders: list[Order] = []
    for i, oid in enumerate(ids):
        o = Order(oid, products[i], float(qty[i]), from_epoch(release[i]), from_epoch(due[i]))
        if oid in seen:
            first = orders[seen[oid]]
            if first != o:
                msg = (
                    f"{file}:{int(rows[i])}: order {oid!r} differs from its row "
                    f"{int(rows[seen[oid]])} (product, quantity, release or due); one order, "
                    f"one set of values"
                )
                raise ConnectorError(msg, field=c.id)
            continue
        seen[oid] = len(orders)
        orders.append(o)
    return orders, seen


def _steps(file: Path, mapping: LoadedMesMapping, orders: list[Order] | None) -> EventBatch:
    m = mapping.model
    sec = m.steps
    assert sec is not None
    c = sec.columns
    names = [c.order, c.operation, c.machine, c.start, c.end, c.quantity, c.kind]
    names += [c.setup_start, c.setup_end]
    wanted = list(dict.fromkeys(n for n in names if n is not None))
    frame, rows = _frame(file, mapping, "steps", sec.sheet or m.format.sheet, wanted)
    n = len(frame)
    order = _ids(frame, c.order, file, rows, {})
    operation = _ids(frame, c.operation, file, rows, {})
    machine = _ids(frame, c.machine, file, rows, sec.machines)
    clock = LocalTimes(m.time)
    start = clock.epoch(frame[c.start], file, rows, c.start)
    end = clock.epoch(frame[c.end], file, rows, c.end)
    back = np.flatnonzero(end < start)
    if back.size:
        i = int(back[0])
        msg = f"{where(file, int(rows[i]), c.end)}: the step ends before it starts ({c.start})"
        raise ConnectorError(msg, field=c.end)
    if c.quantity is not None:
        qty = _positive(frame, c.quantity, m.format, file, rows)
    else:
        by_id = {o.id: o.quantity for o in orders or []}
        qty = np.empty(n, dtype=np.float64)
        for i, oid in enumerate(order):
            if oid not in by_id:
                msg = (
                    f"{where(file, int(rows[i]), c.order)}: order {oid!r} is not in the orders "
                    f"of this file, so the step has no quantity; map steps.columns.quantity"
                )
                raise ConnectorError(msg, field=c.order)
            qty[i] = by_id[oid]
    if c.kind is not None:
        codes = {k.strip().lower(): v for k, v in sec.kinds.items()}
        kind = []
        for i, v in enumerate(frame[c.kind].tolist()):
            key = cell_key(v) if v is not None and v == v else ""
            got = codes.get(key.lower()) or (
                key.lower() if key.lower() in ("setup", "processing") else None
            )
            if got is None:
                known = sorted(sec.kinds) or ["setup", "processing"]
                msg = (
                    f"{where(file, int(rows[i]), c.kind)}: step kind {key!r} is not one of {known}"
                )
                raise ConnectorError(msg, field=c.kind)
            kind.append(got)
    else:
        kind = [sec.kind] * n
    rows_out: list[tuple[str, str, str, float, float, float, str]] = []
    if c.setup_start is not None and c.setup_end is not None:
        s0 = frame[c.setup_start]
        has = s0.notna().to_numpy() & frame[c.setup_end].notna().to_numpy()
        idx = np.flatnonzero(has)
        if idx.size:
            sub = frame.iloc[idx]
            a = clock.epoch(sub[c.setup_start], file, rows[idx], c.setup_start)
            b = clock.epoch(sub[c.setup_end], file, rows[idx], c.setup_end)
            for j, i in enumerate(idx.tolist()):
                if b[j] < a[j]:
                    msg = (
                        f"{where(file, int(rows[i]), c.setup_end)}: the setup ends before it starts"
                    )
                    raise ConnectorError(msg, field=c.setup_end)
                if b[j] > a[j]:
                    rows_out.append(
                        (
                            order[i],
                            operation[i],
                            machine[i],
                            a[j],
                            b[j],
                            qty[i],
                            StepKind.SETUP.value,
                        )
                    )
    for i in range(n):
        rows_out.append((order[i], operation[i], machine[i], start[i], end[i], qty[i], kind[i]))
    cols = list(zip(*rows_out, strict=True)) if rows_out else [() for _ in range(7)]

    def obj(values: Any) -> npt.NDArray[np.object_]:
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out

    return EventBatch(
        step_order=obj(cols[0]),
        step_operation=obj(cols[1]),
        step_asset=obj(cols[2]),
        step_start=np.asarray(cols[3], dtype=np.float64),
        step_end=np.asarray(cols[4], dtype=np.float64),
        step_quantity=np.asarray(cols[5], dtype=np.float64),
        step_kind=obj(cols[6]),
    )


def read_mes(path: str | Path, mapping: LoadedMesMapping | str | Path) -> MesImport:
    """Orders and steps of an MES export.

    Raises
    ------
    ConnectorError
        Naming ``FILE:ROW:COLUMN`` for a bad cell and ``MAP.yaml:LINE`` for a
        mapping that does not fit the file.
    """
    loaded = mapping if isinstance(mapping, LoadedMesMapping) else load_mes_mapping(mapping)
    file = Path(path)
    out = MesImport()
    if loaded.model.orders is not None:
        out.orders, _ = _orders(file, loaded)
    if loaded.model.steps is not None:
        out.steps = _steps(file, loaded, out.orders if loaded.model.orders else None)
    return out


def import_mes(
    path: str | Path,
    mapping: LoadedMesMapping | str | Path,
    *,
    out: str | Path | None = None,
    store: Any | None = None,
) -> MesImport:
    """Import an MES export into an events folder (``out``) or a store.

    Into a folder: steps replace its ``steps.csv``, orders are merged by id
    into its ``orders.csv``. Into a :class:`~carbontwin.twin.store.Store`:
    orders are saved (replacing stored orders of the same id) and steps are
    written as events, in that order.
    """
    if (out is None) == (store is None):
        msg = "import into an events folder or a store: give exactly one of out and store"
        raise ConnectorError(msg)
    got = read_mes(path, mapping)
    if out is not None:
        if len(got.steps):
            write_events_dir(got.steps, out)
        if got.orders:
            write_orders_csv(got.orders, out)
    else:
        assert store is not None
        if got.orders:
            store.save_orders(got.orders)
        if len(got.steps):
            store.write_events(got.steps)
    return got
