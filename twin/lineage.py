"""Lineage of a footprint: which inputs, exactly, produced it.

Everything here is pure (no I/O): digests of the inputs, their lossless JSON
and Parquet forms (what a verifier's pack carries) and :func:`complete`, which adds the
inputs' part of a footprint's lineage to the part attribution already wrote
(the gap intervals that filled energy of the order and its supplier PCFs).

The inputs and their digests (SHA-256, hex):

- the factory: the RFC 8785 JSON of its stored document (``factory_to_dict``);
- the events: every column of the :class:`~carbontwin.twin.events.EventBatch`
  attribution read, in order: floats as little-endian IEEE 754 doubles, text
  as JSON, so a changed bit of any value changes the digest; per meter also
  its time range, count and digest;
- the emission factors: :func:`content_sha256` of the factor set (every hourly
  value as IEEE 754 bytes, every contract, fuel and annual factor), per factor
  series too;
- the rules: their names.

``input_sha256`` is the digest of those four digests (with the rules); a
recomputation from the same inputs gives the same digest, bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import fields, is_dataclass, replace
from typing import Any

import numpy as np

from .factors import FactorSet
from .footprint import Footprint, canonical_json
from .model import ElectricityContract, Factory
from .quantities import from_epoch

__all__ = [
    "complete",
    "events_digest",
    "events_from_dict",
    "events_from_parquet",
    "events_to_dict",
    "events_to_parquet",
    "factors_from_dict",
    "factors_to_dict",
    "input_sha256",
    "meter_lineage",
    "sha256_json",
]

#: Lineage keys attribution fills (the rest comes from :func:`complete`).
FROM_ATTRIBUTION = ("filled_gaps", "supplier_pcfs")


def sha256_json(obj: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def _iso(t: float) -> str:
    return from_epoch(t).isoformat().replace("+00:00", "Z")


# --- events -------------------------------------------------------------------------


def _column_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, dtype="<f8").tobytes()
    if arr.dtype.kind in "iub":
        return np.ascontiguousarray(arr, dtype="<i8").tobytes()
    values = arr.tolist()
    if not set(map(type, values)) <= {str}:  # names are strings: written as they are
        values = [None if v is None else str(v) for v in values]
    return json.dumps(values).encode("utf-8")


def events_digest(batch: Any) -> str:
    """SHA-256 of every column of ``batch`` (an EventBatch), in field order."""
    h = hashlib.sha256()
    for f in fields(batch):
        arr = np.asarray(getattr(batch, f.name))
        h.update(f"{f.name}:{arr.dtype.kind}:{arr.size}\n".encode())
        h.update(_column_bytes(arr))
    return h.hexdigest()


def meter_lineage(batch: Any, factory: Factory) -> dict[str, dict[str, Any]]:
    """Per meter of ``factory``: the readings used (kind, time range, count, digest)."""
    out: dict[str, dict[str, Any]] = {}
    for meter in sorted(factory.meters, key=lambda m: m.id):
        entry: dict[str, Any] = {"count": 0}
        for kind, who, t, v in (
            ("power_kw", batch.power_meter, batch.power_t, batch.power_kw),
            ("energy_kwh", batch.counter_meter, batch.counter_t, batch.counter_kwh),
        ):
            sel = np.flatnonzero(np.asarray(who) == meter.id)
            if sel.size == 0:
                continue
            tt, vv = np.asarray(t)[sel], np.asarray(v)[sel]
            h = hashlib.sha256(_column_bytes(tt) + _column_bytes(vv)).hexdigest()
            finite = tt[np.isfinite(tt)]
            entry[kind] = {
                "count": int(sel.size),
                "from": _iso(float(finite.min())) if finite.size else None,
                "to": _iso(float(finite.max())) if finite.size else None,
                "sha256": h,
            }
            entry["count"] += int(sel.size)
        out[meter.id] = entry
    return out


def events_to_dict(batch: Any) -> dict[str, list[Any]]:
    """Every column of ``batch`` as a JSON-ready list (floats round-trip exactly)."""
    out: dict[str, list[Any]] = {}
    for f in fields(batch):
        arr = np.asarray(getattr(batch, f.name))
        if arr.dtype.kind == "f":
            out[f.name] = [float(x) for x in arr.tolist()]
        elif arr.dtype.kind in "iub":
            out[f.name] = arr.tolist()
        else:
            out[f.name] = [None if v is None else str(v) for v in arr.tolist()]
    return out


def events_from_dict(d: Mapping[str, list[Any]]) -> Any:
    """Inverse of :func:`events_to_dict` (an EventBatch with the same columns, bit for bit)."""
    from .events import EventBatch

    empty = EventBatch()
    kw: dict[str, Any] = {}
    for f in fields(EventBatch):
        if f.name not in d:
            continue
        like = np.asarray(getattr(empty, f.name))
        if like.dtype.kind == "O":
            arr = np.empty(len(d[f.name]), dtype=object)
            arr[:] = d[f.name]
        else:
            arr = np.asarray(d[f.name], dtype=like.dtype)
        kw[f.name] = arr
    return EventBatch(**kw)


#: the kinds of events, each a table of its columns (the prefix of the column names)
EVENT_KINDS = ("state", "power", "counter", "step", "material", "gap")


def _kind_of(name: str) -> str:
    return name.split("_", 1)[0]


def _text_column(arr: np.ndarray) -> Any:
    """A text column as an Arrow dictionary array (None as null): each distinct text
    stored once, as a store's readings repeat their meter's name."""
    import pandas as pd
    import pyarrow as pa

    codes, uniques = pd.factorize(arr)
    missing = codes < 0
    if not all(type(u) is str for u in uniques) or any(
        v is not None for v in arr[missing].tolist()
    ):
        # other objects (and NaN) as their text, as events_to_dict writes them
        arr = np.asarray([None if v is None else str(v) for v in arr.tolist()] + [None])[:-1]
        codes, uniques = pd.factorize(arr)
        missing = codes < 0
    indices = pa.array(codes.astype(np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(uniques), pa.string()))


def events_to_parquet(batch: Any) -> dict[str, bytes]:
    """Every column of ``batch`` (an EventBatch) as Parquet, one file per kind of event
    (:data:`EVENT_KINDS`); :func:`events_from_parquet` gives back the same columns bit
    for bit (the same :func:`events_digest`).

    A kind's file holds its columns (floats as IEEE 754 doubles, NaN kept; text
    dictionary-encoded, None as null), its correction flags only when the batch has
    them; zstd-compressed. About a fifth of the events' JSON, and read back without a
    Python object per value.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, dict[str, Any]] = {k: {} for k in EVENT_KINDS}
    for f in fields(batch):
        arr = np.asarray(getattr(batch, f.name))
        kind = _kind_of(f.name)
        if f.name.endswith("_correction") and arr.size == 0:
            continue  # no flags: none is a correction
        if arr.dtype.kind == "f":
            col = pa.array(np.ascontiguousarray(arr, dtype=np.float64))
        elif arr.dtype.kind == "b":
            col = pa.array(arr)
        elif arr.dtype.kind in "iu":
            col = pa.array(arr.astype(np.int64))
        else:
            col = _text_column(arr)
        columns[kind][f.name] = col
    out: dict[str, bytes] = {}
    for kind, cols in columns.items():
        buf = io.BytesIO()
        pq.write_table(pa.table(cols), buf, compression="zstd")
        out[kind] = buf.getvalue()
    return out


def events_from_parquet(files: Mapping[str, bytes]) -> Any:
    """Inverse of :func:`events_to_parquet` (``files``: kind -> Parquet bytes; every kind
    of :data:`EVENT_KINDS` must be there)."""
    import pyarrow.parquet as pq

    from .events import EventBatch

    empty = EventBatch()
    kw: dict[str, Any] = {}
    for kind in EVENT_KINDS:
        table = pq.read_table(io.BytesIO(files[kind]))
        known = {f.name for f in fields(EventBatch) if _kind_of(f.name) == kind}
        unknown = sorted(set(table.column_names) - known)
        if unknown:
            msg = f"{kind} events: unknown column(s) {unknown}"
            raise ValueError(msg)
        for name in table.column_names:
            like = np.asarray(getattr(empty, name))
            col = table.column(name).combine_chunks()
            if like.dtype.kind == "O":
                if hasattr(col, "dictionary"):
                    lookup = np.empty(len(col.dictionary) + 1, dtype=object)
                    lookup[:-1] = col.dictionary.to_pylist()
                    lookup[-1] = None  # index -1: null
                    kw[name] = lookup[col.indices.fill_null(-1).to_numpy()]
                else:
                    arr = np.empty(len(col), dtype=object)
                    arr[:] = col.to_pylist()
                    kw[name] = arr
            else:
                if col.null_count:
                    msg = f"{kind} events: column {name!r} has missing values"
                    raise ValueError(msg)
                # a writable array of its own, like every other EventBatch column
                kw[name] = np.array(col.to_numpy(zero_copy_only=False), dtype=like.dtype)
    return EventBatch(**kw)


# --- emission factors -----------------------------------------------------------------


def _factor_types() -> dict[str, type]:
    from .factors import (
        AnnualFactor,
        ConstantFactor,
        FactorSet,
        FuelFactor,
        HourlySeries,
        ZoneFactors,
    )

    return {
        c.__name__: c
        for c in (
            AnnualFactor,
            ConstantFactor,
            ElectricityContract,
            FactorSet,
            FuelFactor,
            HourlySeries,
            ZoneFactors,
        )
    }


def _enc(x: Any) -> Any:
    """JSON form of a factor object: dataclasses by type name and init fields, arrays
    with their dtype (floats as Python floats, so they round-trip exactly)."""
    if is_dataclass(x) and not isinstance(x, type):
        return {
            "__type__": type(x).__name__,
            **{f.name: _enc(getattr(x, f.name)) for f in fields(x) if f.init},
        }
    if isinstance(x, np.ndarray):
        return {"__array__": x.dtype.str, "values": x.tolist()}
    if isinstance(x, Mapping):
        return {"__map__": {str(k): _enc(v) for k, v in x.items()}}
    if isinstance(x, list | tuple):
        return [_enc(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _dec(x: Any, types: Mapping[str, type]) -> Any:
    if isinstance(x, list):
        return tuple(_dec(v, types) for v in x)
    if not isinstance(x, Mapping):
        return x
    if "__array__" in x:
        return np.asarray(x["values"], dtype=np.dtype(x["__array__"]))
    if "__map__" in x:
        return {k: _dec(v, types) for k, v in x["__map__"].items()}
    cls = types.get(str(x.get("__type__")))
    if cls is None:
        msg = f"unknown factor object type {x.get('__type__')!r}"
        raise ValueError(msg)
    return cls(**{k: _dec(v, types) for k, v in x.items() if k != "__type__"})


def factors_to_dict(fs: FactorSet) -> dict[str, Any]:
    """Every number of ``fs`` as JSON (the pack's ``factors.json``): hourly values,
    annual factors, contracts, residual mixes, fuels, fallbacks."""
    out: dict[str, Any] = _enc(fs)
    return out


def factors_from_dict(d: Mapping[str, Any]) -> FactorSet:
    """Inverse of :func:`factors_to_dict` (the same factors, bit for bit)."""
    fs = _dec(d, _factor_types())
    if not isinstance(fs, FactorSet):
        msg = "factors.json does not hold a FactorSet"
        raise ValueError(msg)
    return fs


def _feed(h: Any, x: Any) -> None:
    """Feed ``x`` into hash ``h`` unambiguously: type tags, dataclass init fields by
    name, arrays as their raw little-endian bytes, scalars as JSON (floats in repr,
    exact). Much faster than canonical JSON over hourly series of 8,760 values."""
    if is_dataclass(x) and not isinstance(x, type):
        h.update(f"D{type(x).__name__}(".encode())
        for f in fields(x):
            if f.init:
                h.update(f"{f.name}=".encode())
                _feed(h, getattr(x, f.name))
        h.update(b")")
    elif isinstance(x, np.ndarray):
        arr = np.ascontiguousarray(x)
        if arr.dtype.kind == "f":
            arr = arr.astype("<f8")
        elif arr.dtype.kind in "iub":
            arr = arr.astype("<i8")
        h.update(f"A{arr.dtype.str}{arr.shape}:".encode())
        h.update(arr.tobytes() if arr.dtype.kind != "O" else json.dumps(arr.tolist()).encode())
    elif isinstance(x, Mapping):
        h.update(f"M{len(x)}{{".encode())
        for k in sorted(x, key=str):
            h.update(json.dumps(str(k)).encode() + b":")
            _feed(h, x[k])
        h.update(b"}")
    elif isinstance(x, list | tuple):
        h.update(f"L{len(x)}[".encode())
        for v in x:
            _feed(h, v)
        h.update(b"]")
    else:
        h.update(b"S" + json.dumps(x.item() if isinstance(x, np.generic) else x).encode())


def content_sha256(obj: Any) -> str:
    """SHA-256 (hex) of a factor object's content (see :func:`_feed`)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _series_entries(obj: Any, role: str, out: dict[str, Any]) -> None:
    """Name, version and content hash of each hourly series and annual factor in ``obj``."""
    from .factors import HourlySeries, ZoneFactors

    if obj is None:
        return
    if isinstance(obj, ZoneFactors):
        for k, s in enumerate(obj.series):
            _series_entries(s, f"{role}.series[{k}]", out)
        for k, a in enumerate(obj.annual):
            _series_entries(a, f"{role}.annual[{k}]", out)
        return
    if isinstance(obj, tuple):
        for k, a in enumerate(obj):
            _series_entries(a, f"{role}[{k}]", out)
        return
    name = obj.name if isinstance(obj, HourlySeries) else getattr(obj, "name", type(obj).__name__)
    out[role] = {
        "name": str(name),
        "version": str(getattr(obj, "version", "")),
        "sha256": content_sha256(obj),
    }


def factors_lineage(fs: FactorSet) -> dict[str, Any]:
    """Content hash of the factor set and of each factor series in it."""
    series: dict[str, Any] = {}
    _series_entries(fs.location, "location", series)
    _series_entries(fs.fallback, "fallback", series)
    _series_entries(getattr(fs, "residual_mix", ()), "residual_mix", series)
    return {"sha256": content_sha256(fs), "series": series}


# --- the whole ------------------------------------------------------------------------


def input_sha256(
    factory_sha: str, events_sha: str, factors_sha: str, rules: Mapping[str, str]
) -> str:
    """Digest of a footprint's inputs (see the module doc)."""
    return sha256_json(
        {
            "factory_sha256": factory_sha,
            "events_sha256": events_sha,
            "factors_sha256": factors_sha,
            "rules": dict(rules),
        }
    )


def complete(
    fp: Footprint,
    *,
    factory: Factory,
    factory_version: int,
    factory_document: Mapping[str, Any],
    events: Any,
    factors: FactorSet,
    rules: Mapping[str, str],
    allocation: Mapping[str, str],
    carbontwin_version: str,
    _cache: dict[str, Any] | None = None,
) -> Footprint:
    """``fp`` with its full lineage: the attribution's part plus the inputs' digests.

    ``allocation`` maps the names of the rules applied to the objects that ran
    them (``module:attr``); ``_cache`` lets a caller share the digests between
    the footprints of one run.
    """
    cache = {} if _cache is None else _cache
    if "factory" not in cache:
        fsha = sha256_json(factory_document)
        esha = events_digest(events)
        fl = factors_lineage(factors)
        cache["factory"] = {"version": int(factory_version), "sha256": fsha}
        cache["events"] = {
            "sha256": esha,
            "count": int(len(events)),
            "meters": meter_lineage(events, factory),
        }
        cache["factors"] = fl
        cache["input_sha256"] = input_sha256(fsha, esha, fl["sha256"], rules)
    lineage = {k: fp.lineage.get(k, []) for k in FROM_ATTRIBUTION}
    lineage.update(
        {
            "factory": cache["factory"],
            "events": cache["events"],
            "factors": cache["factors"],
            "factor_versions": dict(fp.factor_versions),
            "rules": dict(rules),
            "allocation": dict(allocation),
            "carbontwin_version": carbontwin_version,
            "input_sha256": cache["input_sha256"],
        }
    )
    return replace(fp, lineage=lineage)
