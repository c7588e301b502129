"""Issuing and reading footprint versions (helpers of :class:`Store`).

Issuing signs the footprint once (the caller's :class:`Signer`), stores the
signature beside it, records the signing key and appends an entry to the
hash-chained issuance log, all in the issuing transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint, canonical_json
from carbontwin.twin.store._jsontext import JSONText
from carbontwin.twin.store.models import (
    FactoryVersionRow,
    FootprintRow,
    IssuanceLogRow,
    OrderRow,
    SigningKeyRow,
)

F = FootprintRow
L = IssuanceLogRow
_F: sa.Table = F.__table__  # type: ignore[assignment]  # executemany inserts, no ORM
_L: sa.Table = L.__table__  # type: ignore[assignment]

#: ``prev_sha256`` of the first log entry.
GENESIS = "0" * 64


class Signer(Protocol):
    """What issuing needs from a signing key (see ``carbontwin.plugins.signing.Signer``)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_key_pem(self) -> str: ...

    def signature(self, payload: Any) -> dict[str, str]:
        """The signature member ``{alg, key_id, sha256, value}`` over ``payload``."""
        ...


def sha256_hex(obj: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 JSON of ``obj``."""
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def entry_hash(seq: int, footprint_id: str, order: str, version: int, doc: str, prev: str) -> str:
    """``entry_sha256`` of an issuance log entry (see :class:`IssuanceLogRow`)."""
    return sha256_hex(
        {
            "seq": seq,
            "footprint_id": footprint_id,
            "order_id": order,
            "version": version,
            "document_sha256": doc,
            "prev_sha256": prev,
        }
    )


def signed_document(
    payload: Mapping[str, Any], signature: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The signed footprint document ``{"payload", "signature"}`` as stored."""
    return {"payload": dict(payload), "signature": None if signature is None else dict(signature)}


class NotFoundError(StoreError):
    """The store holds no item with that id or version (the API answers 404)."""


def aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC; :class:`StoreError` when it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{what} is a naive datetime ({value.isoformat()}); give it in UTC"
        raise StoreError(msg)
    return value.astimezone(UTC)


def canonical_uuid(value: str, what: str) -> str:
    """``value`` as a canonical UUID string; :class:`StoreError` when it is none."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        msg = f"{what} {value!r} is not a UUID"
        raise StoreError(msg, field="id") from None


def _body(fp: Footprint) -> bytes:
    """The RFC 8785 bytes of ``fp``'s payload (:meth:`Footprint.to_dict`): what is signed,
    hashed into the log and stored."""
    try:
        return canonical_json(fp.to_dict(copy=False))
    except (TypeError, ValueError) as exc:
        msg = f"footprint of order {fp.order!r} does not serialise to JSON: {exc}"
        raise StoreError(msg) from exc


def issue(conn: sa.Connection, fp: Footprint, signer: Signer, tenant: str) -> Footprint:
    """Insert ``fp`` as the next version of its order's footprint in ``tenant``, signed
    and logged in the tenant's chain (see Store.issue_footprint)."""
    return issue_many(conn, [fp], signer, tenant)[0]


#: ids per ``IN`` list (SQLite binds at most 32766 parameters, older builds 999)
CHUNK = 500


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return None if value is None else canonical_uuid(value, "")
    except StoreError:
        return None  # raised again, in its place, when its footprint is issued


#: what issuing reads before it writes: the ids of ``fps`` already issued, each order's
#: latest (id, version), and the (order, version) of each version ``fps`` replace
Plan = tuple[set[str], dict[str, tuple[str, int]], dict[str, tuple[str, int]]]
#: a batch made ready outside the write transaction: the plan it was made for, the
#: footprints as issued, their rows and their log entries
Prepared = tuple[
    Plan, tuple[list[Footprint], list[dict[str, Any]], list[tuple[str, str, int, str]]]
]


def plan(conn: sa.Connection, fps: Sequence[Footprint], tenant: str) -> Plan:
    """What issuing ``fps`` in ``tenant`` depends on in the store (see :data:`Plan`): one
    read of the ids already issued, one of each order's latest version and one of the
    versions ``fps`` say they replace (``IN`` lists of :data:`CHUNK` ids)."""
    fids = {f for f in (_uuid_or_none(fp.id) for fp in fps) if f is not None}
    taken: set[str] = set()
    for chunk in _chunks(sorted(fids)):
        taken.update(str(i) for i in conn.execute(sa.select(F.id).where(F.id.in_(chunk))).scalars())
    latest: dict[str, tuple[str, int]] = {}
    for chunk in _chunks(sorted({fp.order for fp in fps})):
        newest = (
            sa.select(F.order_id, sa.func.max(F.version).label("v"))
            .where(F.tenant == tenant, F.order_id.in_(chunk))
            .group_by(F.order_id)
            .subquery()
        )
        rows = conn.execute(
            sa.select(F.order_id, F.id, F.version).join(
                newest,
                sa.and_(
                    F.tenant == tenant,
                    F.order_id == newest.c.order_id,
                    F.version == newest.c.v,
                ),
            )
        )
        latest.update({r.order_id: (str(r.id), int(r.version)) for r in rows})
    targets: dict[str, tuple[str, int]] = {}
    named = {r for r in (_uuid_or_none(fp.replaces) for fp in fps) if r is not None}
    for chunk in _chunks(sorted(named)):
        rows = conn.execute(
            sa.select(F.id, F.order_id, F.version).where(F.tenant == tenant, F.id.in_(chunk))
        )
        targets.update({str(r.id): (r.order_id, int(r.version)) for r in rows})
    return taken, latest, targets


def prepare(fps: Sequence[Footprint], found: Plan, signer: Signer, tenant: str) -> Prepared:
    """Make ``fps`` ready to store as the store stood in ``found``: versions, ``replaces``,
    the checks and their errors, each payload canonicalised once (for the signature, the
    log entry and the stored payload) and signed. Pure computation: issuing does it
    before it takes the write lock, and again inside only if the store changed."""
    taken, latest, targets = set(found[0]), dict(found[1]), dict(found[2])
    sign_body = getattr(signer, "signature_of_canonical", None)
    issued: list[Footprint] = []
    rows_out: list[dict[str, Any]] = []
    entries: list[tuple[str, str, int, str]] = []
    for fp in fps:
        fid = canonical_uuid(fp.id, "footprint id")
        if fid in taken:
            msg = (
                f"footprint {fid} is already issued; issued footprints are immutable, "
                f"so issue the correction under a new id"
            )
            raise StoreError(msg, field="id")
        last = latest.get(fp.order)
        replaces: str | None = None
        if fp.replaces is not None:
            replaces = canonical_uuid(fp.replaces, "replaced footprint id")
            target = targets.get(replaces)
            if target is None:
                msg = f"footprint {fid} replaces {replaces}, which was never issued"
                raise NotFoundError(msg, field="replaces")
            if target[0] != fp.order:
                msg = (
                    f"footprint {fid} of order {fp.order!r} replaces {replaces}, "
                    f"which belongs to order {target[0]!r}"
                )
                raise StoreError(msg, field="replaces")
            if last is not None and last[0] != replaces:
                msg = (
                    f"footprint {fid} replaces version {target[1]} of order {fp.order!r}, "
                    f"but the latest is version {last[1]} ({last[0]}); "
                    f"correct the latest version"
                )
                raise StoreError(msg, field="replaces")
        elif last is not None:
            replaces = last[0]
        version = 1 if last is None else last[1] + 1
        one = replace(fp, id=fid, version=version, replaces=replaces, issued_at=datetime.now(UTC))
        body = _body(one)  # made once: for the signature, the log and the stored payload
        sign = sign_body if sign_body is not None else lambda b: signer.signature(json.loads(b))
        signature = sign(body)
        rows_out.append(
            {
                "tenant": tenant,
                "id": fid,
                "order_id": one.order,
                "version": version,
                "replaces_id": replaces,
                "issued_at": one.issued_at,
                "product": one.product,
                "factory": one.factory,
                "co2e_kg": float(one.co2e_kg),
                "period_start": aware(one.period_start, "footprint period_start"),
                "period_end": aware(one.period_end, "footprint period_end"),
                "payload": JSONText(body.decode("utf-8")),
                "signature": signature,
                "key_id": signer.key_id,
            }
        )
        # RFC 8785 of {"payload", "signature"}: members in key order, the payload's bytes reused
        doc = b'{"payload":' + body + b',"signature":' + canonical_json(signature) + b"}"
        entries.append((fid, one.order, version, hashlib.sha256(doc).hexdigest()))
        issued.append(one)
        taken.add(fid)
        latest[one.order] = (fid, version)
        targets[fid] = (one.order, version)
    return found, (issued, rows_out, entries)


def issue_many(
    conn: sa.Connection,
    fps: Sequence[Footprint],
    signer: Signer,
    tenant: str,
    prepared: Prepared | None = None,
) -> list[Footprint]:
    """Insert ``fps``, in order, each as the next version of its order's footprint in
    ``tenant``, signed and logged in the tenant's chain (see Store.issue_footprints).

    The same as issuing them one after the other (versions, ``replaces``, the
    checks and their errors, the log entries in order; several versions of one
    order in one batch), in a constant number of statements: the reads of
    :func:`plan`, one insert of the rows, and for the log one read of its last entry
    and one insert of the new entries. ``prepared`` (:func:`prepare`, made before
    this transaction) is used when the store still stands as it was made for;
    otherwise the batch is prepared again here.
    """
    if not fps:
        return []
    found = plan(conn, fps, tenant)
    if prepared is None or prepared[0] != found:
        prepared = prepare(fps, found, signer, tenant)
    issued, rows_out, entries = prepared[1]
    _remember_key(conn, signer, tenant)
    conn.execute(sa.insert(_F), rows_out)
    _log(conn, tenant, entries)
    return issued


def _remember_key(conn: sa.Connection, signer: Signer, tenant: str) -> None:
    known = conn.execute(
        sa.select(SigningKeyRow.public_key_pem).where(
            SigningKeyRow.tenant == tenant, SigningKeyRow.key_id == signer.key_id
        )
    ).first()
    if known is None:
        conn.execute(
            sa.insert(SigningKeyRow).values(
                tenant=tenant,
                key_id=signer.key_id,
                public_key_pem=signer.public_key_pem,
                first_used_at=datetime.now(UTC),
            )
        )
    elif known.public_key_pem.strip() != signer.public_key_pem.strip():
        msg = f"signing key id {signer.key_id} is stored with another public key"
        raise StoreError(msg, field="key_id")


def _log(conn: sa.Connection, tenant: str, entries: list[tuple[str, str, int, str]]) -> None:
    """Append ``entries`` (footprint id, order, version, document sha256), in order, to
    ``tenant``'s chain (one hash chain per tenant)."""
    if conn.dialect.name == "postgresql":  # one appender at a time: the chain has no forks
        conn.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"carbontwin log {tenant}")))
        )
    last = conn.execute(
        sa.select(L.seq, L.entry_sha256).where(L.tenant == tenant).order_by(L.seq.desc()).limit(1)
    ).first()
    seq = 0 if last is None else int(last.seq)
    prev = GENESIS if last is None else str(last.entry_sha256)
    rows = []
    for fid, order, version, doc_sha in entries:
        seq += 1
        entry = entry_hash(seq, fid, order, version, doc_sha, prev)
        rows.append(
            {
                "tenant": tenant,
                "seq": seq,
                "footprint_id": fid,
                "order_id": order,
                "version": version,
                "document_sha256": doc_sha,
                "prev_sha256": prev,
                "entry_sha256": entry,
                "logged_at": datetime.now(UTC),
            }
        )
        prev = entry
    conn.execute(sa.insert(_L), rows)


FILTERS = (
    "order",
    "product",
    "factory",
    "since",
    "until",
    "min_co2e_kg",
    "max_co2e_kg",
    "latest_only",
)


def select_filtered(filters: dict[str, Any], tenant: str) -> sa.Select[tuple[dict[str, Any]]]:
    """``SELECT payload FROM footprints`` of ``tenant`` with ``filters`` (see
    Store.list_footprints)."""
    stmt = sa.select(F.payload).where(F.tenant == tenant)
    for key, value in filters.items():
        if value is None:
            continue
        if key in ("order", "product", "factory"):
            col = F.order_id if key == "order" else getattr(F, key)
            stmt = stmt.where(col == value)
        elif key == "since":
            stmt = stmt.where(F.period_end >= aware(value, "since"))
        elif key == "until":
            stmt = stmt.where(F.period_start < aware(value, "until"))
        elif key == "min_co2e_kg":
            stmt = stmt.where(F.co2e_kg >= float(value))
        elif key == "max_co2e_kg":
            stmt = stmt.where(F.co2e_kg <= float(value))
        elif key == "latest_only":
            if value:
                newest = (
                    sa.select(F.order_id, sa.func.max(F.version).label("v"))
                    .where(F.tenant == tenant)
                    .group_by(F.order_id)
                    .subquery()
                )
                stmt = stmt.join(
                    newest, sa.and_(F.order_id == newest.c.order_id, F.version == newest.c.v)
                )
        else:
            msg = f"unknown footprint filter {key!r}; use one of {', '.join(FILTERS)}"
            raise StoreError(msg, field=key)
    return stmt


@dataclass(frozen=True, slots=True)
class FootprintHead:
    """What a reader of footprint ``id`` needs to know is current, in one small query.

    Issued footprints never change, so a rendering of one (a PACT document, a
    label) stays right as long as ``current`` (no later version of its order)
    and ``factory_version`` (the newest saved factory, whose names it prints)
    stay the same: those two belong in any cache key of a rendering.
    """

    id: str
    order: str
    version: int
    latest_version: int
    factory_version: int | None
    order_stored: bool

    @property
    def current(self) -> bool:
        """No later version of the order's footprint was issued."""
        return self.version >= self.latest_version


def _head_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    g = aliased(FootprintRow)
    latest = (
        sa.select(sa.func.max(g.version))
        .where(g.tenant == F.tenant, g.order_id == F.order_id)
        .scalar_subquery()
    )
    factory = (
        sa.select(sa.func.max(FactoryVersionRow.id))
        .where(FactoryVersionRow.tenant == F.tenant)
        .scalar_subquery()
    )
    known = sa.exists().where(OrderRow.tenant == F.tenant, OrderRow.id == F.order_id)
    stmt = sa.select(F.id, F.order_id, F.version, latest, factory, known).where(
        F.tenant == sa.bindparam("tenant")
    )
    by_id = stmt.where(F.id == sa.bindparam("footprint_id"))
    by_order = stmt.where(F.order_id == sa.bindparam("order")).order_by(F.version.desc()).limit(1)
    return by_id, by_order


# built once: building a statement costs more than running this one on SQLite
_HEAD_BY_ID, _HEAD_BY_ORDER = _head_statements()


def head(
    conn: sa.Connection,
    tenant: str,
    *,
    footprint_id: str | None = None,
    order: str | None = None,
) -> FootprintHead | None:
    """The :class:`FootprintHead` of ``tenant``'s footprint ``footprint_id``, or of
    ``order``'s newest version; ``None`` when there is none. One indexed query, no
    payload read."""
    if footprint_id is not None:
        row = conn.execute(_HEAD_BY_ID, {"tenant": tenant, "footprint_id": footprint_id}).first()
    else:
        row = conn.execute(_HEAD_BY_ORDER, {"tenant": tenant, "order": order}).first()
    if row is None:
        return None
    return FootprintHead(
        id=str(row[0]),
        order=str(row[1]),
        version=int(row[2]),
        latest_version=int(row[3]),
        factory_version=None if row[4] is None else int(row[4]),
        order_stored=bool(row[5]),
    )
