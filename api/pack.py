"""The verifier's pack: everything a third party needs to recompute a footprint.

A pack is a zip file (``carbontwin pack ORDER --out ORDER.zip``,
``GET /footprints/{id}/pack``). The pack of a footprint issued from the whole
history (format ``carbontwin-pack/1``) holds

=================  ===========================================================
``footprint.json`` the signed footprint document exactly as stored at issuance
``public_key.pem`` the public key that signed it
``factory.json``   the factory version the issue used (stored document)
``events.json``    the events the issuing run read (every column, lossless)
``factors.json``   the emission factors (every hourly value, contracts, fuels)
``rules.json``     the rules applied and the entry points that ran them
``manifest.json``  SHA-256 of each file above
=================  ===========================================================

The pack of a footprint issued window by window (``carbontwin issue``, format
``carbontwin-pack/3``) holds ``footprint.json``, ``public_key.pem``,
``factors.json``, ``rules.json`` and ``manifest.json`` as above, and

======================  ======================================================
``factory.json``        the stored factory version document (without orders
                        added: each window adds the stored orders it needs)
``orders.json``         the stored orders the order's windows and its issue
                        used (the order's own record among them)
``order_events.json``   the order's steps and material uses
``windows/NNNN/``       per window of the footprint's lineage
                        (``events.windows``, in that order): the events
                        attributing it read (``Store.read_window``; archived
                        rows read back from their Parquet files), one Parquet
                        file per kind (``state.parquet``, ``power.parquet``,
                        ``counter.parquet``, ``step.parquet``,
                        ``material.parquet``, ``gap.parquet``: every column,
                        lossless, :func:`carbontwin.twin.lineage.events_to_parquet`;
                        readable with pyarrow, pandas, DuckDB)
======================  ======================================================

Packs of the earlier format ``carbontwin-pack/2`` (each window's events as one
JSON file, ``windows/NNNN.json``, about six times the size and a Python object per
value to read) are still recomputed.

:func:`recompute` (``carbontwin recompute ORDER.zip``) needs nothing else: it
checks the manifest, the signature, recomputes the digests of the inputs and
compares them bit for bit with the footprint's lineage, attributes the events
again (a windowed footprint: each window alone, then the pieces combined, as
``issue_windows`` does) and compares every figure of the footprint exactly
(float equality).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from carbontwin.twin.errors import CarbonTwinError, StoreError
from carbontwin.twin.footprint import DEPRECATED, WITHDRAWN

__all__ = [
    "FORMAT",
    "FORMAT_WINDOWS",
    "FORMAT_WINDOWS_JSON",
    "Check",
    "RecomputeReport",
    "build_pack",
    "recompute",
    "write_pack",
]

FORMAT = "carbontwin-pack/1"
#: a progress callback: ``(windows done, windows in all)``
Progress = Callable[[int, int], None]
#: the pack of a footprint issued window by window
FORMAT_WINDOWS = "carbontwin-pack/3"
#: the earlier pack of a footprint issued window by window (its windows as JSON), still read
FORMAT_WINDOWS_JSON = "carbontwin-pack/2"
_FILES = (
    "footprint.json",
    "public_key.pem",
    "factory.json",
    "events.json",
    "factors.json",
    "rules.json",
)
_FILES_WINDOWS = (
    "footprint.json",
    "public_key.pem",
    "factory.json",
    "factors.json",
    "rules.json",
    "orders.json",
    "order_events.json",
)
#: members in the order the canonical zip holds them (after ``manifest.json``; then the
#: windows' members, by name)
_ORDER = (*_FILES, "orders.json", "order_events.json")
_WINDOW_DIR = "windows/"
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


def build_pack(store: Any, footprint_id: str, *, on_window: Progress | None = None) -> bytes:
    """The pack (zip bytes) of the stored footprint ``footprint_id``; ``on_window(done,
    total)`` after each window of a windowed footprint is read and checked. A large pack
    is better written to a file (:func:`write_pack`): these bytes are all in memory."""
    buf = io.BytesIO()
    write_pack(store, footprint_id, buf, on_window=on_window)
    return buf.getvalue()


def write_pack(
    store: Any,
    footprint_id: str,
    out: IO[bytes],
    *,
    on_window: Progress | None = None,
    workdir: str | Path | None = None,
) -> int:
    """Write the pack of the stored footprint ``footprint_id`` to ``out`` (a binary file
    open for writing) and return its size in bytes; ``on_window`` as for
    :func:`build_pack`.

    A windowed footprint's windows are read one at a time; each window's Parquet
    members go to a temporary folder (in ``workdir``, else the system's) as soon as
    they are written, and the zip is copied together from there: memory holds one
    window's events, not the pack. The bytes are those :func:`build_pack` returns.
    """
    stored = store.stored_footprint(footprint_id)
    payload = stored.document["payload"]
    lineage = payload.get("lineage") or {}
    if "input_sha256" not in lineage:
        msg = (
            f"footprint {footprint_id} carries no input lineage (issued before lineage was "
            "recorded); re-issue it to get a pack"
        )
        raise StoreError(msg, field="id")
    if stored.public_key_pem is None:
        msg = f"footprint {footprint_id} has no stored signing key"
        raise StoreError(msg, field="id")
    if "windows" in (lineage.get("events") or {}):
        with tempfile.TemporaryDirectory(prefix="carbontwin-pack-", dir=workdir) as spool:
            files = _windows_pack_files(store, stored, Path(spool), on_window)
            return _packed(FORMAT_WINDOWS, payload, files, out)
    _, factory_doc = store.factory_document(int(lineage["factory"]["version"]))
    files_1: dict[str, Member] = {
        "footprint.json": _json(stored.document),
        "public_key.pem": stored.public_key_pem.encode("ascii"),
        "factory.json": _json(factory_doc),
        "events.json": _json(store.load_issuance_input(lineage["events"]["sha256"]), compact=True),
        "factors.json": _json(
            store.load_issuance_input(lineage["factors"]["sha256"]), compact=True
        ),
        "rules.json": _json({"rules": lineage["rules"], "allocation": lineage["allocation"]}),
    }
    return _packed(FORMAT, payload, files_1, out)


@dataclass(frozen=True, slots=True)
class _Spooled:
    """A pack member written to a file of the pack's temporary folder."""

    path: Path
    size: int
    sha256: str

    @classmethod
    def write(cls, path: Path, data: bytes) -> _Spooled:
        path.write_bytes(data)
        return cls(path, len(data), hashlib.sha256(data).hexdigest())


#: a pack member's content: its bytes, or the file holding them
Member = bytes | _Spooled


def _packed(
    fmt: str, payload: Mapping[str, Any], files: Mapping[str, Member], out: IO[bytes]
) -> int:
    """Write the canonical zip of ``files`` with their manifest (format ``fmt``) to ``out``;
    its size in bytes."""
    manifest = {
        "format": fmt,
        "order": payload["order"],
        "footprint_id": payload["id"],
        "version": payload["version"],
        "files": {
            k: v.sha256 if isinstance(v, _Spooled) else hashlib.sha256(v).hexdigest()
            for k, v in files.items()
        },
    }
    return _write_zip({"manifest.json": _json(manifest), **files}, out)


def _parquet_member(i: int, kind: str) -> str:
    """The member holding window ``i``'s events of ``kind`` (``carbontwin-pack/3``)."""
    return f"{_WINDOW_DIR}{i:04d}/{kind}.parquet"


def _json_member(i: int) -> str:
    """The member holding window ``i``'s events (``carbontwin-pack/2``)."""
    return f"{_WINDOW_DIR}{i:04d}.json"


def _window_members(i: int, fmt: str) -> list[str]:
    """The members holding window ``i``'s events in a pack of format ``fmt``."""
    from carbontwin.twin.lineage import EVENT_KINDS

    if fmt == FORMAT_WINDOWS_JSON:
        return [_json_member(i)]
    return [_parquet_member(i, kind) for kind in EVENT_KINDS]


def _window_events(raw: Mapping[str, bytes], i: int, fmt: str) -> Any:
    """Window ``i``'s events from the pack's members ``raw``."""
    from carbontwin.twin.lineage import EVENT_KINDS, events_from_dict, events_from_parquet

    if fmt == FORMAT_WINDOWS_JSON:
        return events_from_dict(json.loads(raw[_json_member(i)]))
    return events_from_parquet({kind: raw[_parquet_member(i, kind)] for kind in EVENT_KINDS})


def _windows_pack_files(
    store: Any, stored: Any, spool: Path, on_window: Progress | None = None
) -> dict[str, Member]:
    """The members of the ``carbontwin-pack/3`` of a footprint issued window by window
    (module doc), each window's written to ``spool`` as it is read.

    Every window's events are read as ``issue_windows`` read them and must give the
    digest the lineage names (else a :class:`StoreError` naming the window): late data,
    a retraction or a changed factory since the issue make the pack impossible, and a
    newer version of the order is the one to pack.
    """
    from carbontwin.plugins.factors import stored_factors
    from carbontwin.twin.coverage import hold_uncovered
    from carbontwin.twin.factory_file import order_to_dict
    from carbontwin.twin.lineage import (
        events_digest,
        events_to_dict,
        events_to_parquet,
        factors_from_dict,
        factors_lineage,
        factors_to_dict,
        sha256_json,
    )
    from carbontwin.twin.store import NotFoundError

    from .issuing import _plant_orders

    payload = stored.document["payload"]
    lineage = payload["lineage"]
    fid, order_id = payload["id"], str(payload["order"])
    fv = int(lineage["factory"]["version"])
    _, factory_doc = store.factory_document(fv)
    if sha256_json(factory_doc) != lineage["factory"].get("version_sha256"):
        msg = f"footprint {fid}: the stored factory version {fv} is not the one it was issued with"
        raise StoreError(msg, field="id")
    factory = store.load_factory(fv)
    want = lineage["factors"]["sha256"]
    try:  # kept by a whole-history issue with the same factors
        factors_doc = store.load_issuance_input(want)
    except NotFoundError:  # windowed issues read the store's factors: read them again
        factors_doc = factors_to_dict(stored_factors(factory, store))
    factors = factors_from_dict(factors_doc)
    if factors_lineage(factors)["sha256"] != want:
        msg = (
            f"footprint {fid} was issued with emission factors of digest {want}, which the "
            "store no longer holds (a factor series or the factory's factors changed since); "
            "issue the order again to get a footprint that can be packed"
        )
        raise StoreError(msg, field="id")
    meters = [m.id for m in factory.meters]
    assets = sorted(factory.asset_ids)
    files: dict[str, Member] = {}
    needed: set[str] = {order_id}
    for i, w in enumerate(lineage["events"]["windows"]):
        start, end = float(w["start"]), float(w["end"])
        events = store.read_window(start, end, meters, assets)[0]
        ids = events.step_order.tolist()
        held, _ = hold_uncovered(_plant_orders(store, factory, ids), events, factors)
        got = events_digest(held)
        if got != w["sha256"]:
            msg = (
                f"footprint {fid}: the stored events of window {i} "
                f"[{_iso(start)}, {_iso(end)}) give digest {got}, the footprint was issued "
                f"with {w['sha256']} (events stored or retracted since changed the window; "
                "pack the order's newest version)"
            )
            raise StoreError(msg, field="id")
        needed.update(str(x) for x in ids)
        for kind, data in events_to_parquet(events).items():
            name = _parquet_member(i, kind)
            files[name] = _Spooled.write(spool / name.replace("/", "_"), data)
        del events, held
        if on_window is not None:
            on_window(i + 1, len(lineage["events"]["windows"]))
    orders = [order_to_dict(o) for o in store.orders_by_id(needed)]
    files = {
        "footprint.json": _json(stored.document),
        "public_key.pem": stored.public_key_pem.encode("ascii"),
        "factory.json": _json(factory_doc),
        "factors.json": _json(factors_doc, compact=True),
        "rules.json": _json({"rules": lineage["rules"], "allocation": lineage["allocation"]}),
        "orders.json": _json({"orders": orders}),
        "order_events.json": _json(events_to_dict(store.order_events([order_id])), compact=True),
        **files,
    }
    return files


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _members(names: Any) -> list[str]:
    """``names`` in the canonical zip's order: the manifest, the fixed files, the windows."""
    have = set(names)
    fixed = [n for n in ("manifest.json", *_ORDER) if n in have]
    return fixed + sorted(have - set(fixed))


def _zip(files: Mapping[str, bytes]) -> bytes:
    """The pack's canonical zip of ``files`` (:func:`_write_zip`) as bytes."""
    buf = io.BytesIO()
    _write_zip(files, buf)
    return buf.getvalue()


def _write_zip(files: Mapping[str, Member], out: IO[bytes]) -> int:
    """Write the pack's canonical zip of ``files`` to ``out``: stored (not compressed, so
    the bytes do not depend on a zlib version), fixed times, in manifest-then-content
    order; its size in bytes. Recompute rebuilds it and compares, so a changed byte
    anywhere in the file is found. A spooled member is copied from its file in pieces.
    ``out`` must be seekable: on a stream zipfile writes another header form."""
    if not out.seekable():
        msg = "a pack is written to a seekable file (a stream would get other zip headers)"
        raise ValueError(msg)
    start = out.tell()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in _members(files):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            member = files[name]
            if isinstance(member, _Spooled):
                info.file_size = member.size  # as writestr sets it: the same header
                with z.open(info, "w") as dest, member.path.open("rb") as src:
                    shutil.copyfileobj(src, dest, 1 << 20)
            else:
                z.writestr(info, member)
    return out.tell() - start


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of a recomputation: what, whether it matched, and how."""

    what: str
    ok: bool
    detail: str


@dataclass(slots=True)
class RecomputeReport:
    """What :func:`recompute` found; ``ok`` when every check matched.

    ``made_by`` is the carbontwin version that issued the footprint (its lineage),
    ``recomputed_by`` the one that recomputed it: figures are bit for bit the same
    within one version, and may differ in their last digits between versions.
    """

    order: str = ""
    checks: list[Check] = field(default_factory=list)
    made_by: str = ""
    recomputed_by: str = ""

    @property
    def other_version(self) -> bool:
        """The pack was made by another carbontwin version than the one recomputing it."""
        return bool(self.made_by) and self.made_by != self.recomputed_by

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


def _format(z: zipfile.ZipFile, names: set[str]) -> Any:
    """The format the pack's manifest names (``None`` when it names none readable)."""
    if "manifest.json" not in names:
        return None
    try:
        manifest = json.loads(z.read("manifest.json"))
    except ValueError:
        return None
    return manifest.get("format") if isinstance(manifest, Mapping) else None


def recompute(
    data: bytes | str | os.PathLike[str],
    *,
    figures: bool = True,
    on_window: Progress | None = None,
) -> RecomputeReport:
    """Check a pack (zip bytes, or the path of a zip file) with nothing but its own content
    (see the module doc).

    ``figures=False`` stops after the checks of the file itself (readable, canonical
    form, every member against the manifest) when one of them failed.
    ``on_window(done, total)`` after each window of a windowed pack is attributed again.

    A file is read member by member: a window's members are read when they are checked
    and when the window is attributed, and the canonical form is rebuilt in a temporary
    file and compared piece by piece, so memory holds one member at a time, not the pack.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(data, bytes | bytearray):
            src: IO[bytes] = io.BytesIO(data)
        else:
            src = stack.enter_context(open(data, "rb"))  # noqa: SIM115 (closed by the stack)
        return _recompute(stack, src, figures=figures, on_window=on_window)


def _recompute(
    stack: contextlib.ExitStack, src: IO[bytes], *, figures: bool, on_window: Progress | None
) -> RecomputeReport:
    """:func:`recompute` of the pack in ``src`` (kept open by ``stack``)."""
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

    from .issuing import carbontwin_version

    report = RecomputeReport(recomputed_by=carbontwin_version())
    try:
        z = stack.enter_context(zipfile.ZipFile(src))
        names = set(z.namelist())
        fmt = _format(z, names)
        windowed = fmt in (FORMAT_WINDOWS, FORMAT_WINDOWS_JSON)
        fixed = _FILES_WINDOWS if windowed else _FILES
        missing = sorted({"manifest.json", *fixed} - names)
        if missing:
            report.add("pack", False, f"missing file(s) {', '.join(missing)}")
            return report
        wins = sorted(n for n in names if n.startswith(_WINDOW_DIR)) if windowed else []
        # every member read once here (its CRC checked, the windows' digests taken); the
        # windows' bytes are read again when they are needed
        raw = _PackMembers(z, {n: z.read(n) for n in ("manifest.json", *fixed)}, wins)
        digests = {n: _member_sha256(z, n) for n in wins}
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
    canonical = _same_stream(_canonical_file(raw, stack), src)
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
    if windowed and isinstance(files, Mapping) and set(files) - set(raw):
        gone = sorted(set(files) - set(raw))
        report.add("pack", False, f"file(s) of the manifest missing: {', '.join(gone)}")
    for name in (*fixed, *wins):
        got = digests[name] if name in digests else hashlib.sha256(raw[name]).hexdigest()
        want = files.get(name) if isinstance(files, Mapping) else None
        report.add(
            f"file {name}",
            got == want,
            "matches the manifest"
            if got == want
            else f"sha256 {got[:16]}…, manifest {str(want)[:16]}…",
        )
    if windowed:
        return _recompute_windows(report, raw, wins, fmt, on_window)
    try:
        doc = json.loads(raw["footprint.json"])
        payload = doc["payload"]
        lineage = payload["lineage"]
        report.order = str(payload["order"])
        report.made_by = str(lineage.get("carbontwin_version", ""))
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
    _compare(report, payload, again)
    return report


def _compare(
    report: RecomputeReport,
    payload: Mapping[str, Any],
    again: Mapping[str, Any],
    lineage_keys: tuple[str, ...] = (),
) -> None:
    """Add the checks of a recomputed footprint ``again`` against the issued ``payload``:
    the input digest, every figure and field, the lineage's parts (and ``lineage_keys``)."""
    lineage = payload["lineage"]
    got, want = again["lineage"]["input_sha256"], lineage["input_sha256"]
    report.add(
        "input digest",
        got == want,
        f"{got} (bit for bit)" if got == want else f"recomputed {got}, issued {want}",
    )
    for name in (*_FIGURES, "factory", "company_id", "product", "declared_unit", "order"):
        a, b = payload.get(name), again.get(name)
        if name == "flags" and payload.get("status") == DEPRECATED:
            # a withdrawal's reason is a flag set at issuance, not by attribution
            flags = [str(f) for f in a or []]
            reasons = [f for f in flags if f.startswith(WITHDRAWN)]
            a = [f for f in flags if not f.startswith(WITHDRAWN)]
            report.add(
                "withdrawal",
                True,
                f"{'; '.join(reasons) or 'withdrawn'}: set when it was issued, not recomputed",
            )
        report.add(name, _same(a, b), "match" if _same(a, b) else _difference(a, b))
    for key in (
        "filled_gaps",
        "supplier_pcfs",
        "events",
        "factors",
        "factory",
        "rules",
        *lineage_keys,
    ):
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


def _order_from_dict(d: Mapping[str, Any]) -> Any:
    """An order of ``orders.json`` (``order_to_dict``'s form)."""
    from datetime import datetime

    from carbontwin.twin.model import Order

    return Order(
        str(d["id"]),
        str(d["product"]),
        float(d["quantity"]),
        datetime.fromisoformat(str(d["release"])),
        datetime.fromisoformat(str(d["due"])),
    )


class _PackMembers(Mapping[str, bytes]):
    """A pack's members by name: the fixed files' bytes held, the windows' read from the
    open zip each time one is asked for (one member in memory at a time)."""

    def __init__(self, z: zipfile.ZipFile, held: dict[str, bytes], lazy: list[str]) -> None:
        self._z, self._held, self._names = z, held, [*held, *lazy]

    def __getitem__(self, name: str) -> bytes:
        if name in self._held:
            return self._held[name]
        if name not in self._names:
            raise KeyError(name)
        return self._z.read(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _member_sha256(z: zipfile.ZipFile, name: str) -> str:
    """SHA-256 of member ``name`` of ``z``, read in pieces (its CRC checked at the end)."""
    h = hashlib.sha256()
    with z.open(name) as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def _canonical_file(files: Mapping[str, bytes], stack: contextlib.ExitStack) -> IO[bytes]:
    """The canonical zip of ``files`` written to a temporary file (closed by ``stack``)."""
    out = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed by the stack)
    _write_zip(files, out)
    return out


def _same_stream(a: IO[bytes], b: IO[bytes]) -> bool:
    """Whether two seekable files hold the same bytes, compared from their starts in pieces."""
    a.seek(0)
    b.seek(0)
    while True:
        x, y = a.read(1 << 20), b.read(1 << 20)
        if x != y:
            return False
        if not x:
            return True


def _recompute_windows(
    report: RecomputeReport,
    raw: Mapping[str, bytes],
    wins: list[str],
    fmt: str,
    on_window: Progress | None = None,
) -> RecomputeReport:
    """The checks of a ``carbontwin-pack/3`` or ``/2`` (a footprint issued window by
    window) after those of the file: signature, the factory and factor digests, each
    window's events digest, then each window attributed alone (its events read from
    the pack only then, one window in memory at a time) and the pieces combined
    exactly as ``issue_windows`` did, the lineage rebuilt and every figure compared."""
    from dataclasses import replace

    import pandas as pd
    from pyarrow import ArrowException

    from carbontwin.api.issuing import with_orders
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.plugins.signing import load_public_key, verify_document
    from carbontwin.twin.attribution import Rules
    from carbontwin.twin.factory_file import factory_from_dict, order_to_dict
    from carbontwin.twin.lineage import (
        events_from_dict,
        factors_from_dict,
        factors_lineage,
        input_sha256,
        sha256_json,
    )
    from carbontwin.twin.windows import attribute_window, combine, read_pieces

    try:
        doc = json.loads(raw["footprint.json"])
        payload = doc["payload"]
        lineage = payload["lineage"]
        order_id = str(payload["order"])
        report.order = order_id
        report.made_by = str(lineage.get("carbontwin_version", ""))
        windows = list(lineage["events"]["windows"])
        pub = load_public_key(raw["public_key.pem"])
        sig = verify_document(doc, pub)
        report.add("signature", sig.valid, f"{sig.reason} (key {sig.key_id})")
        factory_doc = json.loads(raw["factory.json"])
        factors_doc = json.loads(raw["factors.json"])
        factors = factors_from_dict(factors_doc)
        rules_doc = json.loads(raw["rules.json"])
        rules = Rules.from_mapping(rules_doc["rules"])
        # as Store.load_factory builds a stored version (validated when it was saved)
        factory = factory_from_dict(factory_doc, filename="factory.json", check_factors=False)
        orders = {o.id: o for o in map(_order_from_dict, json.loads(raw["orders.json"])["orders"])}
        steps = events_from_dict(json.loads(raw["order_events.json"]))
    except (CarbonTwinError, ValueError, KeyError, TypeError) as exc:
        report.add("pack content", False, f"cannot be read: {exc}")
        return report
    expected = sorted(n for i in range(len(windows)) for n in _window_members(i, fmt))
    held = len({n[len(_WINDOW_DIR) :][:4] for n in wins})
    report.add(
        "windows",
        wins == expected,
        f"{len(windows)} window(s) of the lineage, each in its file(s)"
        if wins == expected
        else f"the lineage names {len(windows)} window(s), the pack holds {held} "
        f"({len(wins)} file(s), {len(expected)} expected)",
    )
    if wins != expected:
        return report
    # --- the inputs, bit for bit ---------------------------------------------------------
    fsha = sha256_json(factory_doc)
    own = orders.get(order_id)
    plant = with_orders(factory, [own] if own is not None else [])
    own = {o.id: o for o in plant.orders}.get(order_id)  # or the factory file's
    osha = sha256_json(
        {"factory_sha256": fsha, "order": None if own is None else order_to_dict(own)}
    )
    fl = factors_lineage(factors)
    for what, got, want in (
        ("factory version sha256", fsha, lineage["factory"].get("version_sha256")),
        ("factory sha256", osha, lineage["factory"]["sha256"]),
        ("factors sha256", fl["sha256"], lineage["factors"]["sha256"]),
    ):
        report.add(what, got == want, got if got == want else f"recomputed {got}, issued {want}")
    # --- each window again, alone, then the order's pieces combined ----------------------
    allocation = allocation_rules()
    frames: list[pd.DataFrame] = []
    metas: list[dict[str, Any]] = []
    again_windows: list[dict[str, Any]] = []
    try:
        for i, w in enumerate(windows):
            try:
                events = _window_events(raw, i, fmt)
            except (ValueError, KeyError, TypeError, OSError, ArrowException) as exc:
                report.add("pack content", False, f"window {i} cannot be read: {exc}")
                return report
            start, end = float(w["start"]), float(w["end"])
            ids = {str(x) for x in events.step_order.tolist()}
            window_plant = with_orders(factory, [orders[x] for x in sorted(ids) if x in orders])
            res = attribute_window(
                window_plant, events, factors, rules, start, end, allocation=allocation
            )
            ok = res.slice_sha256 == w["sha256"] and res.slice_count == w["count"]
            report.add(
                f"window {i} events",
                ok,
                f"[{_iso(start)}, {_iso(end)}) {res.slice_count} events, sha256 "
                + (
                    res.slice_sha256
                    if ok
                    else f"recomputed {res.slice_sha256} ({res.slice_count}), issued "
                    f"{w['sha256']} ({w['count']})"
                ),
            )
            again_windows.append(
                {
                    "start": res.start,
                    "end": res.end,
                    "sha256": res.slice_sha256,
                    "count": res.slice_count,
                }
            )
            # as stored with the window and read back by the issue
            pieces = read_pieces(res.pieces_parquet())
            frames.append(pieces[pieces["order"].isin({order_id})])
            metas.append(json.loads(json.dumps(res.meta)))
            if on_window is not None:
                on_window(i + 1, len(windows))
        fps = combine(
            plant,
            steps,
            pd.concat(frames, ignore_index=True),
            metas,
            factors,
            rules,
            allocation=allocation,
            orders=[order_id],
        )
        fp = fps[order_id]
    except (CarbonTwinError, KeyError) as exc:
        report.add("attribution", False, f"failed: {exc}")
        return report
    fp = replace(
        fp, factory=fp.factory or factory.id, company_id=fp.company_id or factory.company_id
    )
    esha = sha256_json(again_windows)
    report.add(
        "events sha256",
        esha == lineage["events"]["sha256"],
        esha
        if esha == lineage["events"]["sha256"]
        else f"recomputed {esha}, issued {lineage['events']['sha256']}",
    )
    names = rules.names()
    fp = replace(
        fp,
        lineage={
            **{k: fp.lineage.get(k, []) for k in ("filled_gaps", "supplier_pcfs")},
            "factory": {
                "version": int(lineage["factory"]["version"]),
                "sha256": osha,
                "version_sha256": fsha,
            },
            "events": {
                "sha256": esha,
                "count": int(sum(w["count"] for w in again_windows)),
                "windows": again_windows,
            },
            "factors": fl,
            "factor_versions": dict(fp.factor_versions),
            "rules": names,
            "allocation": dict(rules_doc.get("allocation", {})),
            "carbontwin_version": str(lineage.get("carbontwin_version", "")),
            "input_sha256": input_sha256(osha, esha, fl["sha256"], names),
        },
    )
    again = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    _compare(report, payload, again, ("factor_versions",))
    return report
