"""Initial schema: factory versions, events, orders, footprints, factor series.

Also installs the trigger that keeps issued footprints immutable (any UPDATE
of a ``footprints`` row is rejected) on SQLite and PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(length=200)
_UTC = sa.DateTime(timezone=True)

_SQLITE_TRIGGER = """
CREATE TRIGGER footprints_immutable BEFORE UPDATE ON footprints
BEGIN
    SELECT RAISE(ABORT, 'footprints are immutable once issued; issue a new version instead');
END
"""

_PG_FUNCTION = """
CREATE FUNCTION carbontwin_footprints_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'footprint % (order %, version %) is immutable once issued; '
                    'issue a new version instead', OLD.id, OLD.order_id, OLD.version
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""

_PG_TRIGGER = """
CREATE TRIGGER footprints_immutable BEFORE UPDATE ON footprints
FOR EACH ROW EXECUTE FUNCTION carbontwin_footprints_immutable()
"""


def _time_source_pk(table: str, source: str, value: str, check: str) -> None:
    op.create_table(
        table,
        sa.Column(source, _ID, nullable=False),
        sa.Column("t", sa.Double(), nullable=False),
        sa.Column(value, sa.Double() if value != "state" else sa.String(length=16),
                  nullable=False),
        sa.CheckConstraint(check, name=op.f(f"ck_{table}_{value}_"
                                            + ("known" if value == "state" else "not_negative"))),
        sa.PrimaryKeyConstraint(source, "t", name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    op.create_table(
        "factory_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("factory_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factory_versions")),
    )

    # events: float64 epoch seconds, natural key as primary key
    _time_source_pk("state_changes", "asset", "state",
                    "state IN ('OFF', 'STANDBY', 'IDLE', 'SETUP', 'PROCESSING', 'FAULT')")
    _time_source_pk("power_samples", "meter", "power_kw", "power_kw >= 0")
    _time_source_pk("energy_counters", "meter", "energy_kwh", "energy_kwh >= 0")
    op.create_table(
        "order_steps",
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("operation", _ID, nullable=False),
        sa.Column("asset", _ID, nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.CheckConstraint("kind IN ('setup', 'processing')", name=op.f("ck_order_steps_kind_known")),
        sa.CheckConstraint('"end" >= start', name=op.f("ck_order_steps_end_not_before_start")),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_steps_quantity_positive")),
        sa.PrimaryKeyConstraint("order_id", "operation", "asset", "start", "kind",
                                name=op.f("pk_order_steps")),
    )
    op.create_index(op.f("ix_order_steps_asset_start"), "order_steps", ["asset", "start"])
    op.create_table(
        "material_uses",
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("material", _ID, nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("t", sa.Double(), nullable=True),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_material_uses_quantity_not_negative")),
        sa.PrimaryKeyConstraint("order_id", "material", name=op.f("pk_material_uses")),
    )
    op.create_table(
        "gaps",
        sa.Column("source", _ID, nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint('"end" >= start', name=op.f("ck_gaps_end_not_before_start")),
        sa.PrimaryKeyConstraint("source", "start", name=op.f("pk_gaps")),
    )

    op.create_table(
        "orders",
        sa.Column("id", _ID, nullable=False),
        sa.Column("product", _ID, nullable=False),
        sa.Column("quantity", sa.Double(), nullable=False),
        sa.Column("release", _UTC, nullable=False),
        sa.Column("due", _UTC, nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_orders_quantity_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_table(
        "footprints",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("issued_at", _UTC, nullable=False),
        sa.Column("product", _ID, nullable=False),
        sa.Column("factory", _ID, nullable=False),
        sa.Column("co2e_kg", sa.Double(), nullable=False),
        sa.Column("period_start", _UTC, nullable=False),
        sa.Column("period_end", _UTC, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_footprints_version_positive")),
        sa.ForeignKeyConstraint(["replaces_id"], ["footprints.id"],
                                name=op.f("fk_footprints_replaces_id_footprints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprints")),
        sa.UniqueConstraint("order_id", "version", name=op.f("uq_footprints_order_id_version")),
    )
    op.create_index(op.f("ix_footprints_issued_at"), "footprints", ["issued_at"])
    op.create_index(op.f("ix_footprints_product_period_start"), "footprints",
                    ["product", "period_start"])

    op.create_table(
        "factor_series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", _ID, nullable=False),
        sa.Column("version", _ID, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_factor_series")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_factor_series_name_version")),
    )
    op.create_table(
        "factor_points",
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.Double(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("filled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["series_id"], ["factor_series.id"],
                                name=op.f("fk_factor_points_series_id_factor_series"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("series_id", "t", name=op.f("pk_factor_points")),
    )

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(_SQLITE_TRIGGER)
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(_PG_TRIGGER)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS footprints_immutable")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS footprints_immutable ON footprints")
        op.execute("DROP FUNCTION IF EXISTS carbontwin_footprints_immutable()")
    for table in ("factor_points", "factor_series", "footprints", "orders", "gaps",
                  "material_uses", "order_steps", "energy_counters", "power_samples",
                  "state_changes", "factory_versions"):
        op.drop_table(table)
