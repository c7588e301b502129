"""Archives: raw events of closed windows moved to Parquet files (``carbontwin archive``).

``archives`` records each file: the event table, the time range ``[t_from, t_to)``,
its path, row count and the SHA-256 of its bytes; windowed issuing reads archived
rows back from the files when it attributes an archived window again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("t_from", sa.Double(), nullable=False),
        sa.Column("t_to", sa.Double(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archives")),
    )
    op.create_index(op.f("ix_archives_tenant_table_name"), "archives", ["tenant", "table_name"])
    if op.get_bind().dialect.name == "postgresql":  # row-level security, as migration 0006
        op.execute("ALTER TABLE archives ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE archives FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON archives "
            "USING (tenant = current_setting('carbontwin.tenant', true)) "
            "WITH CHECK (tenant = current_setting('carbontwin.tenant', true))"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_archives_tenant_table_name"), table_name="archives")
    op.drop_table("archives")
