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

import hashlib
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from carbontwin.twin.errors import StoreError

from ._pack_form import (
    FORMAT,
    FORMAT_WINDOWS,
    FORMAT_WINDOWS_JSON,
    Member,
    Progress,
    _iso,
    _json,
    _parquet_member,
    _Spooled,
    _write_zip,
)
from ._recompute import Check, RecomputeReport, recompute

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
            members = _windows_pack_files(store, stored, Path(spool), on_window)
            return _packed(FORMAT_WINDOWS, payload, members, out)
    _, factory_doc = store.factory_document(int(lineage["factory"]["version"]))
    files: dict[str, Member] = {
        "footprint.json": _json(stored.document),
        "public_key.pem": stored.public_key_pem.encode("ascii"),
        "factory.json": _json(factory_doc),
        "events.json": _json(store.load_issuance_input(lineage["events"]["sha256"]), compact=True),
        "factors.json": _json(
            store.load_issuance_input(lineage["factors"]["sha256"]), compact=True
        ),
        "rules.json": _json({"rules": lineage["rules"], "allocation": lineage["allocation"]}),
    }
    return _packed(FORMAT, payload, files, out)


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
