"""Rows of ``event_retractions`` (migration 0005; per tenant since 0006): checked,
inserted, read."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import sqlalchemy as sa

from carbontwin.twin.errors import EventError
from carbontwin.twin.quantities import from_epoch
from carbontwin.twin.retractions import Retraction
from carbontwin.twin.store.models import ID_LEN, RetractionRow

R: sa.Table = RetractionRow.__table__  # type: ignore[assignment]


def check(source: str, start: float, end: float, reason: str) -> Retraction:
    """A retraction to insert, or :class:`EventError` naming the field that is wrong."""
    source, reason = source.strip(), reason.strip()
    if not source or len(source) > ID_LEN:
        msg = f"source must name a meter or an asset (1 to {ID_LEN} characters)"
        raise EventError(msg, field="source")
    if "\x00" in source or "\x00" in reason:
        msg = "source and reason must be text without NUL characters"
        raise EventError(msg, field="reason" if "\x00" in reason else "source")
    if not reason:
        msg = "reason is empty: say why the events are taken out (it stays on record)"
        raise EventError(msg, field="reason")
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        msg = (
            f"the range [{from_epoch(start).isoformat()}, {from_epoch(end).isoformat()}) is "
            "empty: 'to' must be after 'from'"
            if math.isfinite(start) and math.isfinite(end)
            else "'from' and 'to' must be times"
        )
        raise EventError(msg, field="to")
    return Retraction(source, float(start), float(end), reason)


def insert(conn: sa.Connection, r: Retraction, tenant: str) -> Retraction:
    at = datetime.now(UTC)
    new_id = conn.execute(
        sa.insert(R)
        .values(
            tenant=tenant,
            source=r.source,
            t_start=r.start,
            t_end=r.end,
            reason=r.reason,
            retracted_at=at,
        )
        .returning(R.c.id)
    ).scalar_one()
    return Retraction(r.source, r.start, r.end, r.reason, int(new_id), at)


def load(conn: sa.Connection, tenant: str) -> list[Retraction]:
    """``tenant``'s retractions, oldest first."""
    rows = conn.execute(sa.select(R).where(R.c.tenant == tenant).order_by(R.c.id)).mappings().all()
    return [
        Retraction(
            str(x["source"]),
            float(x["t_start"]),
            float(x["t_end"]),
            str(x["reason"]),
            int(x["id"]),
            x["retracted_at"],
        )
        for x in rows
    ]
