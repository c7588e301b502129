"""Issuing and reading footprint versions (helpers of :class:`Store`)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.store.models import FootprintRow

F = FootprintRow


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


def _payload(fp: Footprint) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"footprint of order {fp.order!r} does not serialise to JSON: {exc}"
        raise StoreError(msg) from exc
    return doc


def issue(conn: sa.Connection, fp: Footprint) -> Footprint:
    """Insert ``fp`` as the next version of its order's footprint (see Store.issue_footprint)."""
    fid = canonical_uuid(fp.id, "footprint id")
    if conn.execute(sa.select(F.version).where(F.id == fid)).first() is not None:
        msg = (
            f"footprint {fid} is already issued; issued footprints are immutable, "
            f"so issue the correction under a new id"
        )
        raise StoreError(msg, field="id")
    latest = conn.execute(
        sa.select(F.id, F.version).where(F.order_id == fp.order).order_by(F.version.desc()).limit(1)
    ).first()
    replaces: str | None = None
    if fp.replaces is not None:
        replaces = canonical_uuid(fp.replaces, "replaced footprint id")
        target = conn.execute(sa.select(F.order_id, F.version).where(F.id == replaces)).first()
        if target is None:
            msg = f"footprint {fid} replaces {replaces}, which was never issued"
            raise NotFoundError(msg, field="replaces")
        if target.order_id != fp.order:
            msg = (
                f"footprint {fid} of order {fp.order!r} replaces {replaces}, "
                f"which belongs to order {target.order_id!r}"
            )
            raise StoreError(msg, field="replaces")
        if latest is not None and str(latest.id) != replaces:
            msg = (
                f"footprint {fid} replaces version {target.version} of order {fp.order!r}, "
                f"but the latest is version {latest.version} ({latest.id}); "
                f"correct the latest version"
            )
            raise StoreError(msg, field="replaces")
    elif latest is not None:
        replaces = str(latest.id)
    version = 1 if latest is None else int(latest.version) + 1
    issued = replace(fp, id=fid, version=version, replaces=replaces, issued_at=datetime.now(UTC))
    conn.execute(
        sa.insert(FootprintRow).values(
            id=fid,
            order_id=issued.order,
            version=version,
            replaces_id=replaces,
            issued_at=issued.issued_at,
            product=issued.product,
            factory=issued.factory,
            co2e_kg=float(issued.co2e_kg),
            period_start=aware(issued.period_start, "footprint period_start"),
            period_end=aware(issued.period_end, "footprint period_end"),
            payload=_payload(issued),
        )
    )
    return issued


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


def select_filtered(filters: dict[str, Any]) -> sa.Select[tuple[dict[str, Any]]]:
    """``SELECT payload FROM footprints`` with ``filters`` (see Store.list_footprints)."""
    stmt = sa.select(F.payload)
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
