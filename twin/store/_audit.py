"""Checking the issuance log and the stored footprints against it (helper of :class:`Store`).

What is checked, entry by entry in ``seq`` order:

- the sequence numbers run 1, 2, 3, ... (a missing number is a removed entry);
- each entry's ``prev_sha256`` is the ``entry_sha256`` of the entry before it
  (else entries were reordered, or one before it was removed or changed);
- each entry's ``entry_sha256`` is the hash of its own fields (else it changed);
- the footprint it names is stored, under the same order and version, and the
  hash of its signed document as stored is the one logged (else the row was
  rewritten);
- the stored signature verifies against the stored public key (``verify``);
- the row's indexed columns (order, version, product, co2e_kg) say what its
  payload says.

Footprint rows that no entry names were inserted around the issuing path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from carbontwin.twin.store._footprints import GENESIS, F, L, entry_hash, sha256_hex, signed_document
from carbontwin.twin.store.models import SigningKeyRow

#: ``verify(signed_document, public_key_pem) -> (valid, reason)``
Verifier = Callable[[Mapping[str, Any], str], tuple[bool, str]]


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :meth:`Store.audit` found."""

    entries: int
    footprints: int
    problems: list[str] = field(default_factory=list)
    head_sha256: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems


def row_problems(row: Any, keys: Mapping[str, str], verify: Verifier | None) -> list[str]:
    """What is wrong with one stored footprint row (signature, columns vs payload)."""
    out: list[str] = []
    p = row.payload if isinstance(row.payload, Mapping) else {}
    name = f"footprint {row.id} (order {row.order_id!r}, version {row.version})"
    if str(p.get("id")) != str(row.id):
        out.append(f"{name}: its payload carries id {p.get('id')!r}")
    for col, key in (("order_id", "order"), ("version", "version"), ("product", "product")):
        if p.get(key) != getattr(row, col):
            out.append(
                f"{name}: column {col} is {getattr(row, col)!r}, payload says {p.get(key)!r}"
            )
    if p.get("co2e_kg") != row.co2e_kg:
        out.append(f"{name}: column co2e_kg is {row.co2e_kg!r}, payload says {p.get('co2e_kg')!r}")
    if row.signature is None:
        out.append(f"{name}: no signature stored (not signed at issuance)")
    elif verify is not None:
        pem = keys.get(str(row.key_id))
        if pem is None:
            out.append(f"{name}: signed with key {row.key_id!r}, which is not in signing_keys")
        else:
            valid, reason = verify(signed_document(p, row.signature), pem)
            if not valid:
                out.append(f"{name}: {reason}")
    return out


def audit(conn: sa.Connection, verify: Verifier | None, tenant: str) -> AuditReport:
    """Check ``tenant``'s log chain and every footprint of it against it (see the
    module doc)."""
    problems: list[str] = []
    keys = {
        str(r.key_id): str(r.public_key_pem)
        for r in conn.execute(
            sa.select(SigningKeyRow.key_id, SigningKeyRow.public_key_pem).where(
                SigningKeyRow.tenant == tenant
            )
        )
    }
    rows = {
        str(r.id): r
        for r in conn.execute(
            sa.select(
                F.id,
                F.order_id,
                F.version,
                F.product,
                F.co2e_kg,
                F.payload,
                F.signature,
                F.key_id,
            ).where(F.tenant == tenant)
        )
    }
    entries = conn.execute(
        sa.select(*L.__table__.columns).where(L.tenant == tenant).order_by(L.seq)
    ).all()
    prev = GENESIS
    logged: set[str] = set()
    for k, e in enumerate(entries, start=1):
        where = f"issuance log entry {e.seq} (footprint {e.footprint_id}, order {e.order_id!r})"
        if e.seq != k:
            problems.append(
                f"issuance log entry {k} is missing (removed): the entry after {k - 1} is {e.seq}"
            )
        if e.prev_sha256 != prev:
            problems.append(
                f"{where} does not follow the entry before it (prev_sha256 "
                f"{e.prev_sha256[:12]}…, expected {prev[:12]}…): entries were reordered, "
                "or one before it was removed or changed"
            )
        own = entry_hash(
            e.seq, str(e.footprint_id), e.order_id, e.version, e.document_sha256, e.prev_sha256
        )
        if own != e.entry_sha256:
            problems.append(f"{where} was changed: its fields no longer hash to entry_sha256")
        prev = e.entry_sha256
        fid = str(e.footprint_id)
        logged.add(fid)
        row = rows.get(fid)
        if row is None:
            problems.append(f"{where}: the footprint row is missing (removed from footprints)")
            continue
        if (row.order_id, row.version) != (e.order_id, e.version):
            problems.append(
                f"{where}: the stored row is order {row.order_id!r} version {row.version}, "
                f"the log says version {e.version}"
            )
        if sha256_hex(signed_document(row.payload, row.signature)) != e.document_sha256:
            problems.append(f"{where}: the stored footprint differs from the one issued")
        problems += row_problems(row, keys, verify)
    for fid in sorted(set(rows) - logged):
        r = rows[fid]
        problems.append(
            f"footprint {fid} (order {r.order_id!r}, version {r.version}) is not in the "
            "issuance log: it was inserted without being issued"
        )
        problems += row_problems(r, keys, verify)
    return AuditReport(len(entries), len(rows), problems, prev)
