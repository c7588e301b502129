"""Windowed issuing without reading the history: event extents, window span cursors.

- ``event_extents`` holds each tenant's earliest and latest stored event time,
  widened by every stored batch, so laying out the windows reads one row
  instead of the minimum and maximum of every event table (a scan of the
  tenant's rows, since those tables are keyed by source first); it is filled
  here from the rows already stored;
- ``attribution_windows.span`` is the newest ingest span checked against the
  window (it was a member of the window's ``meta``), and ``reach_from`` /
  ``reach_to`` the time its slice depends on, so finding the windows late data
  reached reads a few columns per window, not every window's meta (windows
  attributed before have no reach: their neighbours stand in for it);
- ``window_cursors`` holds the newest span all of a tenant's windows were checked
  against, so a run reads only the spans stored since (and updates one row, not
  every window's).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_LEN = 63  # tenant names
#: (table, time columns) of the stored events
_TIMES = (
    ("state_changes", ("t",)),
    ("power_samples", ("t",)),
    ("energy_counters", ("t",)),
    ("order_steps", ("start", "end")),
    ("gaps", ("start", "end")),
)


def _extents(conn: sa.Connection) -> dict[str, tuple[float, float]]:
    """Per tenant: the earliest and latest stored event time (the store runs migrations
    with row-level security off, so every tenant's rows are seen)."""
    out: dict[str, tuple[float, float]] = {}
    for table, cols in _TIMES:
        lo_col, hi_col = cols[0], cols[-1]
        rows = conn.execute(
            sa.text(f'SELECT tenant, min("{lo_col}"), max("{hi_col}") FROM {table} GROUP BY tenant')
        ).all()
        for tenant, lo, hi in rows:
            if lo is None:
                continue
            old = out.get(str(tenant), (float(lo), float(hi)))
            out[str(tenant)] = (min(old[0], float(lo)), max(old[1], float(hi)))
    return out


def _meta(value: Any) -> dict[str, Any]:
    """A window's meta as read (JSON text on SQLite, decoded on PostgreSQL)."""
    doc = json.loads(value) if isinstance(value, str) else value
    return dict(doc or {})


def upgrade() -> None:
    op.create_table(
        "event_extents",
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("t_min", sa.Double(), nullable=False),
        sa.Column("t_max", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_event_extents")),
    )
    op.create_table(
        "window_cursors",
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("span", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name=op.f("pk_window_cursors")),
    )
    with op.batch_alter_table("attribution_windows") as batch:
        batch.add_column(sa.Column("span", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reach_from", sa.Double(), nullable=True))
        batch.add_column(sa.Column("reach_to", sa.Double(), nullable=True))
    conn = op.get_bind()
    for tenant, (lo, hi) in sorted(_extents(conn).items()):
        conn.execute(
            sa.text("INSERT INTO event_extents (tenant, t_min, t_max) VALUES (:t, :lo, :hi)"),
            {"t": tenant, "lo": lo, "hi": hi},
        )
    update = sa.text(
        "UPDATE attribution_windows SET span = :s, meta = :m WHERE tenant = :t AND start = :a"
    ).bindparams(sa.bindparam("m", type_=sa.JSON()))
    for tenant, start, meta in conn.execute(
        sa.text("SELECT tenant, start, meta FROM attribution_windows")
    ).all():
        doc = _meta(meta)
        span = int(doc.pop("span", 0))
        conn.execute(update, {"s": span, "m": doc, "t": tenant, "a": start})
    postgres = conn.dialect.name == "postgresql"
    if postgres:  # row-level security, as migration 0006
        for table in ("event_extents", "window_cursors"):
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table} "
                "USING (tenant = current_setting('carbontwin.tenant', true)) "
                "WITH CHECK (tenant = current_setting('carbontwin.tenant', true))"
            )


def downgrade() -> None:
    conn = op.get_bind()
    update = sa.text(
        "UPDATE attribution_windows SET meta = :m WHERE tenant = :t AND start = :a"
    ).bindparams(sa.bindparam("m", type_=sa.JSON()))
    for tenant, start, meta, span in conn.execute(
        sa.text("SELECT tenant, start, meta, span FROM attribution_windows")
    ).all():
        doc = _meta(meta)
        doc["span"] = int(span)
        conn.execute(update, {"m": doc, "t": tenant, "a": start})
    with op.batch_alter_table("attribution_windows") as batch:
        batch.drop_column("reach_to")
        batch.drop_column("reach_from")
        batch.drop_column("span")
    op.drop_table("window_cursors")
    op.drop_table("event_extents")
