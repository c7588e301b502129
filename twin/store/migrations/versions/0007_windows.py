"""Windowed issuing: attributed windows, their orders, ingest spans, time indexes.

- ``attribution_windows`` keeps each attributed window's order pieces (the
  state carried between windows), ``window_orders`` which orders had energy in
  which window, ``ingest_spans`` the time span of every stored event batch (late
  data for a window already attributed is found through them); each row
  belongs to a tenant, with row-level security on PostgreSQL as in 0006;
- indexes on (tenant, start) and (tenant, end) of order steps and gaps, so the intervals
  overlapping a window are an index read whatever the history's length (states,
  samples and counters are read per source through their (source, time)
  primary keys).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(length=200)
_UTC = sa.DateTime(timezone=True)

#: (table, column) time indexes for range reads of a window
_TIME_INDEXES = (
    ("order_steps", "start"),
    ("order_steps", "end"),
    ("gaps", "start"),
    ("gaps", "end"),
)
_LEN = 63  # tenant names
_NEW = ("attribution_windows", "window_orders", "ingest_spans")
_POLICY = (
    "CREATE POLICY tenant_isolation ON {table} "
    "USING (tenant = current_setting('carbontwin.tenant', true)) "
    "WITH CHECK (tenant = current_setting('carbontwin.tenant', true))"
)


def upgrade() -> None:
    op.create_table(
        "attribution_windows",
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("slice_sha256", sa.String(length=64), nullable=False),
        sa.Column("slice_count", sa.BigInteger(), nullable=False),
        sa.Column("pieces", sa.LargeBinary(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("attributed_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "start", name=op.f("pk_attribution_windows")),
    )
    op.create_table(
        "window_orders",
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("last_end", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant", "order_id", "window_start", name=op.f("pk_window_orders")
        ),
    )
    op.create_index(
        op.f("ix_window_orders_tenant_window_start"), "window_orders", ["tenant", "window_start"]
    )
    op.create_table(
        "ingest_spans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("t_min", sa.Double(), nullable=False),
        sa.Column("t_max", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_spans")),
    )
    op.create_index(op.f("ix_ingest_spans_tenant_id"), "ingest_spans", ["tenant", "id"])
    for table, column in _TIME_INDEXES:
        op.create_index(op.f(f"ix_{table}_tenant_{column}"), table, ["tenant", column])
    if op.get_bind().dialect.name == "postgresql":  # row-level security, as migration 0006
        for table in _NEW:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(_POLICY.format(table=table))


def downgrade() -> None:
    for table, column in _TIME_INDEXES:
        op.drop_index(op.f(f"ix_{table}_tenant_{column}"), table_name=table)
    op.drop_index(op.f("ix_ingest_spans_tenant_id"), table_name="ingest_spans")
    op.drop_table("ingest_spans")
    op.drop_index(op.f("ix_window_orders_tenant_window_start"), table_name="window_orders")
    op.drop_table("window_orders")
    op.drop_table("attribution_windows")
