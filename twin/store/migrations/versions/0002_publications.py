"""Publications: footprints made public by an explicit act.

A row in ``publications`` makes a footprint's public page and JSON answer
without a token; an unpublished footprint answers 404 there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("footprint_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["footprint_id"],
            ["footprints.id"],
            name=op.f("fk_publications_footprint_id_footprints"),
        ),
        sa.PrimaryKeyConstraint("footprint_id", name=op.f("pk_publications")),
    )


def downgrade() -> None:
    op.drop_table("publications")
