"""Events folder: one CSV file per event kind, the way in (and out) for historian exports.

=================  ==================================================
file               columns
=================  ==================================================
``states.csv``     asset, t, state
``power.csv``      meter, t, power_kw
``counters.csv``   meter, t, energy_kwh
``steps.csv``      order, operation, asset, start, end, quantity, kind
``materials.csv``  order, material, quantity, unit
``gaps.csv``       source, start, end, reason
``orders.csv``     id, product, quantity, release, due
=================  ==================================================

Times are ISO 8601 with a zone (``2019-03-04T06:00:00Z``), to the microsecond;
a time without a zone is refused. A missing file means no events of that kind.
``orders.csv`` holds production orders, not events (an MES import writes it):
they replace the factory file's orders of the same id when the folder is
attributed (:func:`read_orders_csv`). Values are written as
they are, so NaN or negative readings survive a round trip and attribution
decides what to do with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import Order
from carbontwin.twin.quantities import from_epoch

__all__ = [
    "FILES",
    "ORDERS_FILE",
    "read_events_dir",
    "read_orders_csv",
    "write_events_dir",
    "write_orders_csv",
]

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
        },
        (),
    ),
    "gaps.csv": (
        {"source": "gap_source", "start": "gap_start", "end": "gap_end", "reason": "gap_reason"},
        ("start", "end"),
    ),
}
_NUMERIC = {"power_kw", "energy_kwh", "quantity"}
#: The orders file of an events folder and its columns.
ORDERS_FILE = "orders.csv"
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

    Only kinds with events get a file. With ``append``, rows are added to the
    files already there (an importer writes a long file chunk by chunk);
    otherwise a kind's file is replaced. Numbers are written as the shortest
    text that reads back to the same float. Returns the directory.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, (cols, times) in FILES.items():
        data = {c: getattr(batch, f) for c, f in cols.items()}
        if not len(next(iter(data.values()))):
            continue
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


def _times(series: pd.Series, path: Path, column: str) -> npt.NDArray[np.float64]:
    text = series.astype(str).str.strip()
    zoned = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if not zoned.all():
        i = int(np.flatnonzero(~zoned.to_numpy())[0])
        msg = (
            f"{path}:{i + 2}: {column} {text.iloc[i]!r} has no time zone; write times in "
            "UTC, e.g. 2019-03-04T06:00:00Z"
        )
        raise ConnectorError(msg, field=column)
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        msg = f"{path}: column {column} is not ISO 8601: {exc}"
        raise ConnectorError(msg, field=column) from None
    us = parsed.dt.as_unit("us").astype("int64").to_numpy()
    # whole seconds and the fraction apart: exact for every time written to the microsecond
    out: npt.NDArray[np.float64] = (us // 1_000_000).astype(np.float64) + (us % 1_000_000) / 1e6
    return out


def _ids(series: pd.Series) -> npt.NDArray[np.object_]:
    """Strings as an object array sharing one object per distinct value."""
    codes, uniques = pd.factorize(series.astype(str))
    pool = np.empty(len(uniques), dtype=object)
    pool[:] = [str(u) for u in uniques]
    out: npt.NDArray[np.object_] = pool[codes]
    return out


def read_events_dir(directory: str | Path) -> EventBatch:
    """Read an events folder written by :func:`write_events_dir` (or by hand).

    Raises
    ------
    ConnectorError
        For a missing folder, a missing column, a time without zone or a value
        that is not a number, naming the file and line.
    """
    d = Path(directory)
    if not d.is_dir():
        msg = f"events folder {d} does not exist"
        raise ConnectorError(msg)
    batch = EventBatch()
    for name, (cols, times) in FILES.items():
        path = d / name
        if not path.exists():
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in cols if c not in frame.columns and c not in ("unit", "reason")]
        if missing:
            msg = f"{path}: column(s) {missing} missing (have {list(frame.columns)})"
            raise ConnectorError(msg)
        for col, fld in cols.items():
            if col not in frame.columns:
                series = pd.Series(["kg" if col == "unit" else ""] * len(frame))
            else:
                series = frame[col]
            if col in times:
                value: np.ndarray = _times(series, path, col)
            elif col in _NUMERIC:
                num = pd.to_numeric(series.replace("", "nan"), errors="coerce")
                bad = num.isna() & ~series.str.strip().str.lower().isin(["nan", "", "-nan"])
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    msg = f"{path}:{i + 2}: {col} {series.iloc[i]!r} is not a number"
                    raise ConnectorError(msg, field=col)
                value = num.to_numpy(dtype=np.float64)
            else:
                value = _ids(series)
            setattr(batch, fld, value)
    return batch


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
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in _ORDER_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"{path}: column(s) {missing} missing (have {list(frame.columns)})"
        raise ConnectorError(msg)
    for col in ("id", "product"):
        empty = np.flatnonzero(frame[col].str.strip().eq("").to_numpy())
        if empty.size:
            msg = f"{path}:{int(empty[0]) + 2}:{col}: empty {col}"
            raise ConnectorError(msg, field=col)
    qty = pd.to_numeric(frame["quantity"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(qty > 0) | ~np.isfinite(qty))
    if bad.size:
        i = int(bad[0])
        msg = f"{path}:{i + 2}:quantity: {frame['quantity'].iloc[i]!r} is not a positive number"
        raise ConnectorError(msg, field="quantity")
    release = _times(frame["release"], path, "release")
    due = _times(frame["due"], path, "due")
    return [
        Order(str(i), str(p), float(q), from_epoch(float(r)), from_epoch(float(d)))
        for i, p, q, r, d in zip(
            frame["id"].str.strip(), frame["product"].str.strip(), qty, release, due, strict=True
        )
    ]
