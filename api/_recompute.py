"""Recomputing a verifier's pack with nothing but its own content
(:func:`carbontwin.api.pack.recompute`; the pack and its checks: :mod:`carbontwin.api.pack`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.footprint import DEPRECATED, WITHDRAWN

from ._pack_form import (
    _FILES,
    _FILES_WINDOWS,
    _WINDOW_DIR,
    FORMAT_WINDOWS,
    FORMAT_WINDOWS_JSON,
    Progress,
    _iso,
    _window_events,
    _window_members,
    _write_zip,
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
        self._z, self._held, self._lazy = z, held, set(lazy)
        self._names = [*held, *lazy]

    def __getitem__(self, name: str) -> bytes:
        if name in self._held:
            return self._held[name]
        if name not in self._lazy:
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
