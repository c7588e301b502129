"""Event retractions: stored events taken out of attribution, on record.

- ``event_retractions``: source, ``[t_start, t_end)`` [epoch s], reason and
  when; the events stay stored, attribution reads the store without them;
- append-only like the footprints: triggers reject UPDATE and DELETE on
  SQLite and PostgreSQL, and TRUNCATE on PostgreSQL (with 0004's function).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "event_retractions"
_WHAT = "event retractions"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("t_start", sa.Double(), nullable=False),
        sa.Column("t_end", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("t_end > t_start", name=op.f("ck_event_retractions_range_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_retractions")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_TABLE}_no_{event.lower()} BEFORE {event} ON {_TABLE}\n"
                f"BEGIN\n    SELECT RAISE(ABORT, '{event} of table {_TABLE} refused: {_WHAT} "
                "are append-only; a retraction stays on record');\nEND"
            )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_append_only BEFORE UPDATE OR DELETE ON {_TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION carbontwin_append_only('{_WHAT}')"
        )
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION carbontwin_append_only('{_WHAT}')"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_{event}")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_append_only ON {_TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_truncate ON {_TABLE}")
    op.drop_table(_TABLE)
