"""Attributed windows: an index holding the columns windowed issuing reads of every window.

Each run reads start, end, key, digest, count, span cursor and reach of every
attributed window (``Store.attributed_windows``). In the table those columns sit
beside each window's pieces (Parquet, often hundreds of kB) and meta; on SQLite the
columns added by 0010 come after them, so reading them walked every window's
overflow pages, a read that grew with the history. This index holds them all, so
the read never touches the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = [
    "tenant",
    "start",
    "end",
    "key",
    "slice_sha256",
    "slice_count",
    "span",
    "reach_from",
    "reach_to",
]


def upgrade() -> None:
    op.create_index(op.f("ix_attribution_windows_overview"), "attribution_windows", _COLUMNS)


def downgrade() -> None:
    op.drop_index(op.f("ix_attribution_windows_overview"), table_name="attribution_windows")
