"""Material bookings keep their own id; corrected events keep their history.

- ``material_uses`` gets ``booking`` (the booking's own id) in its primary key
  ``(order_id, material, booking)``, so two bookings of one material for one
  order are two rows. Rows stored before get the booking id ``''``.
- ``event_history`` keeps every value a correction replaced.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(length=200)
_UTC = sa.DateTime(timezone=True)


def _material_uses(name: str, key: tuple[str, ...]) -> None:
    cols = [
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("material", _ID, nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("t", sa.Double(), nullable=True),
    ]
    if "booking" in key:
        cols.append(sa.Column("booking", _ID, nullable=False))
    op.create_table(
        name,
        *cols,
        sa.CheckConstraint("quantity >= 0", name="ck_material_uses_quantity_not_negative"),
        sa.PrimaryKeyConstraint(*key, name="pk_material_uses"),
    )


def _rebuild_sqlite(key: tuple[str, ...]) -> None:
    """SQLite cannot change a primary key in place: copy into a new table."""
    _material_uses("_material_uses_new", key)
    cols = "order_id, material, quantity, unit, t"
    if "booking" in key:
        op.execute(f"INSERT INTO _material_uses_new ({cols}, booking) SELECT {cols}, '' "
                   "FROM material_uses")
    else:
        # one row per (order, material): the bookings added up
        op.execute(f"INSERT INTO _material_uses_new ({cols}) SELECT order_id, material, "
                   "SUM(quantity), MIN(unit), MIN(t) FROM material_uses GROUP BY order_id, material")
    op.drop_table("material_uses")
    op.rename_table("_material_uses_new", "material_uses")


def upgrade() -> None:
    key = ("order_id", "material", "booking")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(key)
    else:
        op.add_column("material_uses", sa.Column("booking", _ID, server_default="",
                                                 nullable=False))
        op.drop_constraint("pk_material_uses", "material_uses", type_="primary")
        op.create_primary_key("pk_material_uses", "material_uses", list(key))
        op.alter_column("material_uses", "booking", server_default=None)
    op.create_table(
        "event_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.JSON(), nullable=False),
        sa.Column("old", sa.JSON(), nullable=False),
        sa.Column("new", sa.JSON(), nullable=False),
        sa.Column("superseded_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_history")),
    )
    op.create_index(op.f("ix_event_history_kind"), "event_history", ["kind"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_history_kind"), table_name="event_history")
    op.drop_table("event_history")
    key = ("order_id", "material")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(key)
    else:
        op.execute("CREATE TEMPORARY TABLE _mu AS SELECT order_id, material, SUM(quantity) AS "
                   "quantity, MIN(unit) AS unit, MIN(t) AS t FROM material_uses "
                   "GROUP BY order_id, material")
        op.execute("DELETE FROM material_uses")
        op.drop_constraint("pk_material_uses", "material_uses", type_="primary")
        op.drop_column("material_uses", "booking")
        op.execute("INSERT INTO material_uses (order_id, material, quantity, unit, t) "
                   "SELECT order_id, material, quantity, unit, t FROM _mu")
        op.execute("DROP TABLE _mu")
        op.create_primary_key("pk_material_uses", "material_uses", list(key))
