"""Attributed windows: when an issuing pass went through their orders.

Windowed issuing stores a window's pieces, then issues the orders the window
completes. A run that stopped between the two (a crash, a killed process, an
error) left windows attributed whose orders no run would issue: the next run saw
them attributed and up to date. ``issued_at`` is NULL from a window's
(re-)attribution until an issuing pass has gone through all of its orders; every
run issues the orders of the windows still NULL. A partial index keeps that
read to the few pending windows.

Windows stored before this revision are taken as issued (their ``attributed_at``):
their runs issued their orders unless one stopped half way, which a run of
``carbontwin issue`` after a factory change (re-attributing every window) repairs.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("attribution_windows") as batch:
        batch.add_column(sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE attribution_windows SET issued_at = attributed_at")
    op.create_index(
        "ix_attribution_windows_pending",
        "attribution_windows",
        ["tenant", "start"],
        sqlite_where=sa.text("issued_at IS NULL"),
        postgresql_where=sa.text("issued_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_attribution_windows_pending", table_name="attribution_windows")
    with op.batch_alter_table("attribution_windows") as batch:
        batch.drop_column("issued_at")
