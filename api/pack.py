"""The verifier's pack: everything a third party needs to recompute a footprint.

A pack is a zip file (``carbontwin pack ORDER --out ORDER.zip``,
``GET /footprints/{id}/pack``) holding

=================  ===========================================================
``footprint.json`` the signed footprint document exactly as stored at issuance
``public_key.pem`` the public key that signed it
``factory.json``   the factory version the issue used (stored document)
``events.json``    the events the issuing run read (every column, lossless)
``factors.json``   the emission factors (every hourly value, contracts, fuels)
``rules.json``     the rules applied and the entry points that ran them
``manifest.json``  SHA-256 of each file above
=================  ===========================================================

:func:`recompute` (``carbontwin recompute ORDER.zip``) needs nothing else: it
checks the manifest, the signature, recomputes the digests of the inputs and
compares them bit for bit with the footprint's lineage, attributes the events
again and compares every figure of the footprint exactly (float equality).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carbontwin.twin.errors import CarbonTwinError, StoreError

__all__ = ["FORMAT", "Check", "RecomputeReport", "build_pack", "recompute"]

FORMAT = "carbontwin-pack/1"
_FILES = (
    "footprint.json",
    "public_key.pem",
    "factory.json",
    "events.json",
    "factors.json",
    "rules.json",
)
#: figures compared after recomputation (the rest of the record is checked too)
_FIGURES = (
    "energy_kwh",
    "co2e_kg",
    "co2e_market_kg",
    "scope1_kg",
    "scope2_location_kg",
    "scope2_market_kg",
    "scope3_kg",
    "primary_data_share",
    "quantity",
    "energy_by_carrier_kwh",
    "energy_by_asset_kwh",
    "energy_by_state_kwh",
    "co2e_by_asset_kg",
    "co2e_by_material_kg",
    "period_start",
    "period_end",
    "rules",
    "method",
    "factor_versions",
    "flags",
)
#: set at issuance, not by attribution
_ISSUED = ("id", "version", "replaces", "issued_at", "status", "lineage")


def _json(obj: Any, *, compact: bool = False) -> bytes:
    if compact:  # the large inputs: one line, no spaces
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    else:
        text = json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def build_pack(store: Any, footprint_id: str) -> bytes:
    """The pack (zip bytes) of the stored footprint ``footprint_id``."""
    stored = store.stored_footprint(footprint_id)
    payload = stored.document["payload"]
    lineage = payload.get("lineage") or {}
    if "input_sha256" not in lineage:
        msg = (
            f"footprint {footprint_id} carries no input lineage (issued before lineage was "
            "recorded); re-issue it to get a pack"
        )
        raise StoreError(msg, field="id")
    if "windows" in (lineage.get("events") or {}):
        msg = (
            f"footprint {footprint_id} was issued window by window ('carbontwin issue'); "
            "its lineage names each window and the digest of its events, but a verifier's "
            "pack of windowed footprints is not built yet: check it with 'carbontwin audit "
            "check' (signature and issuance log)"
        )
        raise StoreError(msg, field="id")
    if stored.public_key_pem is None:
        msg = f"footprint {footprint_id} has no stored signing key"
        raise StoreError(msg, field="id")
    _, factory_doc = store.factory_document(int(lineage["factory"]["version"]))
    files = {
        "footprint.json": _json(stored.document),
        "public_key.pem": stored.public_key_pem.encode("ascii"),
        "factory.json": _json(factory_doc),
        "events.json": _json(store.load_issuance_input(lineage["events"]["sha256"]), compact=True),
        "factors.json": _json(
            store.load_issuance_input(lineage["factors"]["sha256"]), compact=True
        ),
        "rules.json": _json({"rules": lineage["rules"], "allocation": lineage["allocation"]}),
    }
    manifest = {
        "format": FORMAT,
        "order": payload["order"],
        "footprint_id": payload["id"],
        "version": payload["version"],
        "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
    }
    return _zip({"manifest.json": _json(manifest), **files})


def _zip(files: Mapping[str, bytes]) -> bytes:
    """The pack's canonical zip of ``files``: stored (not compressed, so the bytes do not
    depend on a zlib version), fixed times, in manifest-then-content order. Recompute
    rebuilds it and compares, so a changed byte anywhere in the file is found."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name in ("manifest.json", *_FILES):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name])
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of a recomputation: what, whether it matched, and how."""

    what: str
    ok: bool
    detail: str


@dataclass(slots=True)
class RecomputeReport:
    """What :func:`recompute` found; ``ok`` when every check matched."""

    order: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, what: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(what, ok, detail))


def _same(a: Any, b: Any) -> bool:
    """Exact equality (floats bit for bit; NaN equals NaN)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _difference(a: Any, b: Any) -> str:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return f"issued {a!r}, recomputed {b!r} (difference {b - a:+.6g})"
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = sorted(set(a) | set(b))
        diffs = [
            f"{k}: issued {a.get(k)!r}, recomputed {b.get(k)!r}"
            for k in keys
            if not _same(a.get(k), b.get(k))
        ]
        return "; ".join(diffs[:5]) + (f"; … {len(diffs) - 5} more" if len(diffs) > 5 else "")
    return f"issued {a!r}, recomputed {b!r}"


def recompute(data: bytes, *, figures: bool = True) -> RecomputeReport:
    """Check a pack (zip bytes) with nothing but its own content (see the module doc).

    ``figures=False`` stops after the checks of the file itself (readable, canonical
    form, every member against the manifest) when one of them failed.
    """
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.plugins.signing import load_public_key, verify_document
    from carbontwin.twin.attribution import Rules, attribute
    from carbontwin.twin.factory_file import factory_from_dict
    from carbontwin.twin.lineage import (
        complete,
        events_digest,
        events_from_dict,
        factors_from_dict,
        factors_lineage,
        sha256_json,
    )

    report = RecomputeReport()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            missing = sorted({"manifest.json", *_FILES} - names)
            if missing:
                report.add("pack", False, f"missing file(s) {', '.join(missing)}")
                return report
            raw = {n: z.read(n) for n in ("manifest.json", *_FILES)}
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,  # e.g. a flipped flag bit that marks a member encrypted
    ) as exc:
        report.add("pack", False, f"not a readable zip file: {exc}")
        return report
    canonical = _zip(raw) == data
    report.add(
        "pack form",
        canonical,
        "the zip is the canonical form of its files"
        if canonical
        else "the zip differs from the canonical form of its files: it was altered",
    )
    try:
        manifest = json.loads(raw["manifest.json"])
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        report.add("manifest.json", False, f"unreadable: {exc}")
        return report
    for name in _FILES:
        got = hashlib.sha256(raw[name]).hexdigest()
        want = files.get(name) if isinstance(files, Mapping) else None
        report.add(
            f"file {name}",
            got == want,
            "matches the manifest"
            if got == want
            else f"sha256 {got[:16]}…, manifest {str(want)[:16]}…",
        )
    try:
        doc = json.loads(raw["footprint.json"])
        payload = doc["payload"]
        lineage = payload["lineage"]
        report.order = str(payload["order"])
        pub = load_public_key(raw["public_key.pem"])
        sig = verify_document(doc, pub)
        report.add("signature", sig.valid, f"{sig.reason} (key {sig.key_id})")
        factory_doc = json.loads(raw["factory.json"])
        events = events_from_dict(json.loads(raw["events.json"]))
        factors_doc = json.loads(raw["factors.json"])
        factors = factors_from_dict(factors_doc)
        rules_doc = json.loads(raw["rules.json"])
        rules = Rules.from_mapping(rules_doc["rules"])
        factory = factory_from_dict(factory_doc, filename="factory.json")
    except (CarbonTwinError, ValueError, KeyError, TypeError) as exc:
        report.add("pack content", False, f"cannot be read: {exc}")
        return report
    # --- the inputs, bit for bit ---------------------------------------------------------
    for what, got, want in (
        ("factory sha256", sha256_json(factory_doc), lineage["factory"]["sha256"]),
        ("events sha256", events_digest(events), lineage["events"]["sha256"]),
        ("factors sha256", factors_lineage(factors)["sha256"], lineage["factors"]["sha256"]),
    ):
        report.add(what, got == want, got if got == want else f"recomputed {got}, issued {want}")
    # --- attribution again ---------------------------------------------------------------
    try:
        result = attribute(factory, events, factors, rules, allocation=allocation_rules())
        fp = result.footprints[payload["order"]]
    except (CarbonTwinError, KeyError) as exc:
        report.add("attribution", False, f"failed: {exc}")
        return report
    fp = complete(
        fp,
        factory=factory,
        factory_version=int(lineage["factory"]["version"]),
        factory_document=factory_doc,
        events=events,
        factors=factors,
        rules=rules.names(),
        allocation=rules_doc.get("allocation", {}),
        carbontwin_version=str(lineage.get("carbontwin_version", "")),
    )
    again = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    got, want = again["lineage"]["input_sha256"], lineage["input_sha256"]
    report.add(
        "input digest",
        got == want,
        f"{got} (bit for bit)" if got == want else f"recomputed {got}, issued {want}",
    )
    for name in (*_FIGURES, "factory", "company_id", "product", "declared_unit", "order"):
        a, b = payload.get(name), again.get(name)
        report.add(name, _same(a, b), "match" if _same(a, b) else _difference(a, b))
    for key in ("filled_gaps", "supplier_pcfs", "events", "factors", "factory", "rules"):
        a, b = lineage.get(key), again["lineage"].get(key)
        report.add(f"lineage {key}", _same(a, b), "match" if _same(a, b) else _difference(a, b))
    unchecked = (
        set(payload)
        - set(_FIGURES)
        - set(_ISSUED)
        - {
            "factory",
            "company_id",
            "product",
            "declared_unit",
            "order",
        }
    )
    for name in sorted(unchecked):
        a, b = payload.get(name), again.get(name)
        report.add(name, _same(a, b), "match" if _same(a, b) else _difference(a, b))
    return report
