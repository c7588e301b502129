"""SQLite: the point-event tables clustered on their key (``WITHOUT ROWID``).

``power_samples``, ``energy_counters`` and ``state_changes`` are keyed by (tenant,
source, time) and read as ranges of that key (a window, a source's carried
reading). As rowid tables SQLite kept each row twice, in the table and in the
primary key's index, and a range read looked every row up in the table again.
Rebuilt ``WITHOUT ROWID``, the rows live in the key's own B-tree: a sample is
stored once (about half the file for the same samples), inserted into one tree and
read in key order without a second lookup.

The rows are copied as they are; PostgreSQL (partitioned by time, 0008) is
unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("power_samples", "energy_counters", "state_changes")
_SUFFIX = re.compile(r"\)\s*WITHOUT\s+ROWID\s*$", re.IGNORECASE)


def _rebuild(table: str, *, rowid: bool) -> None:
    """Copy ``table`` into a new table of the same definition, with or without rowid, and
    put its indexes back."""
    conn = op.get_bind()
    ddl = conn.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"), {"n": table}
    ).scalar_one()
    if bool(_SUFFIX.search(ddl)) != rowid:
        return  # already so
    indexes = list(
        conn.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :n "
                "AND sql IS NOT NULL"
            ),
            {"n": table},
        ).scalars()
    )
    new = f"_{table}_rebuilt"
    body = ddl[ddl.index("(") :]
    body = _SUFFIX.sub(")", body) if rowid else body.rstrip() + " WITHOUT ROWID"
    op.execute(f'CREATE TABLE "{new}" {body}')
    op.execute(f'INSERT INTO "{new}" SELECT * FROM "{table}"')
    op.execute(f'DROP TABLE "{table}"')
    op.execute(f'ALTER TABLE "{new}" RENAME TO "{table}"')
    for sql in indexes:
        op.execute(sql)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(table, rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        _rebuild(table, rowid=True)
