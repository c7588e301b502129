"""Lineage of a footprint: which inputs, exactly, produced it.

Everything here is pure (no I/O): digests of the inputs, their lossless JSON
forms (what a verifier's pack carries) and :func:`complete`, which adds the
inputs' part of a footprint's lineage to the part attribution already wrote
(the gap intervals that filled energy of the order and its supplier PCFs).

The inputs and their digests (SHA-256, hex):

- the factory: the RFC 8785 JSON of its stored document (``factory_to_dict``);
- the events: every column of the :class:`~carbontwin.twin.events.EventBatch`
  attribution read, in order: floats as little-endian IEEE 754 doubles, text
  as JSON, so a changed bit of any value changes the digest; per meter also
  its time range, count and digest;
- the emission factors: the RFC 8785 JSON of :func:`factors_to_dict`
  (every hourly value, contract and fuel factor), per factor series too;
- the rules: their names.

``input_sha256`` is the digest of those four digests (with the rules); a
recomputation from the same inputs gives the same digest, bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import numpy as np

from .factors import AnnualFactor, FactorSet, FuelFactor, HourlySeries
from .footprint import Footprint, canonical_json
from .model import ElectricityContract, Factory
from .quantities import from_epoch

__all__ = [
    "complete",
    "events_digest",
    "events_from_dict",
    "events_to_dict",
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
    return json.dumps([None if v is None else str(v) for v in arr.tolist()]).encode("utf-8")


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


# --- emission factors -----------------------------------------------------------------


def _series_to_dict(s: HourlySeries | AnnualFactor) -> dict[str, Any]:
    if isinstance(s, AnnualFactor):
        return {
            "kind": "annual",
            "zone": s.zone,
            "year": s.year,
            "factor_kg_per_kwh": s.factor_kg_per_kwh,
            "source": s.source,
            "version": s.version,
        }
    return {
        "kind": "hourly",
        "name": s.name,
        "version": s.version,
        "source": s.source,
        "t_start": [float(x) for x in s.t_start.tolist()],
        "values": [float(x) for x in s.values.tolist()],
        "filled": [bool(x) for x in s.filled.tolist()],
    }


def _series_from_dict(d: Mapping[str, Any]) -> HourlySeries | AnnualFactor:
    if d["kind"] == "annual":
        return AnnualFactor(
            d["zone"], int(d["year"]), float(d["factor_kg_per_kwh"]), d["source"], d["version"]
        )
    return HourlySeries(
        np.asarray(d["t_start"], dtype=np.float64),
        np.asarray(d["values"], dtype=np.float64),
        d["name"],
        d["version"],
        d["source"],
        np.asarray(d["filled"], dtype=bool),
    )


def factors_to_dict(fs: FactorSet) -> dict[str, Any]:
    """Every number of ``fs`` as JSON (the pack's ``factors.json``)."""
    return {
        "location": _series_to_dict(fs.location),
        "contracts": [
            {
                "name": c.name,
                "share": c.share,
                "factor_kg_per_kwh": c.factor_kg_per_kwh,
                "source": c.source,
            }
            for c in fs.contracts
        ],
        "residual_mix_kg_per_kwh": fs.residual_mix_kg_per_kwh,
        "fuels": {
            k: {
                "carrier": v.carrier,
                "factor_kg_per_kwh": v.factor_kg_per_kwh,
                "source": v.source,
                "version": v.version,
                "scope": v.scope,
            }
            for k, v in sorted(fs.fuels.items())
        },
        "fallback": None if fs.fallback is None else _series_to_dict(fs.fallback),
    }


def factors_from_dict(d: Mapping[str, Any]) -> FactorSet:
    """Inverse of :func:`factors_to_dict`."""
    fallback = _series_from_dict(d["fallback"]) if d.get("fallback") else None
    if fallback is not None and not isinstance(fallback, AnnualFactor):
        msg = "a factor set's fallback is an annual factor"
        raise ValueError(msg)
    return FactorSet(
        location=_series_from_dict(d["location"]),
        contracts=tuple(
            ElectricityContract(
                c["name"], float(c["share"]), float(c["factor_kg_per_kwh"]), c.get("source", "")
            )
            for c in d.get("contracts", ())
        ),
        residual_mix_kg_per_kwh=d.get("residual_mix_kg_per_kwh"),
        fuels={
            k: FuelFactor(
                v["carrier"], float(v["factor_kg_per_kwh"]), v["source"], v["version"], v["scope"]
            )
            for k, v in d.get("fuels", {}).items()
        },
        fallback=fallback,
    )


def factors_lineage(fs: FactorSet) -> dict[str, Any]:
    """Content hash of the factor set and of each factor series in it."""
    d = factors_to_dict(fs)
    series: dict[str, Any] = {}
    for role in ("location", "fallback"):
        s = d.get(role)
        if s:
            name = s.get("name") or f"{s['zone']}_{s['year']}_annual"
            series[role] = {"name": name, "version": s["version"], "sha256": sha256_json(s)}
    return {"sha256": sha256_json(d), "series": series}


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
