"""Tenants: every stored row belongs to one; clients hold hashed secrets.

- ``tenants`` (name, created_at) and ``clients`` (client id, tenant, argon2
  hash of the secret, scopes): the credentials ``POST /auth/token`` checks
  besides the settings' one client;
- every twin table gains ``tenant`` (existing rows go to tenant ``default``),
  and every primary key, unique constraint and index that finds rows starts
  with it, so two tenants may both have a meter ``M1`` or an order ``O-1``;
- the issuance log is one hash chain per tenant (primary key ``(tenant, seq)``);
- on PostgreSQL every tenant table gets row-level security, forced for the
  table owner too: a row is seen and written only in a transaction whose
  ``carbontwin.tenant`` setting names its tenant (the store sets it with
  ``set_config(..., true)`` as each transaction begins). Publications are also
  readable by every transaction (publishing makes a footprint public).

SQLite cannot change a primary key in place: its tables are rebuilt (batch
mode) and their append-only triggers re-created as they were.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_LEN = 63
_UTC = sa.DateTime(timezone=True)

#: table -> (new primary key or None, [(unique constraint name, old, new columns)],
#:           [(old index columns or None, new index columns)])
_TABLES: dict[str, tuple[list[str] | None, list[tuple[list[str], list[str]]], list[tuple[list[str] | None, list[str]]]]] = {
    "factory_versions": (None, [], [(None, ["tenant", "id"])]),
    "state_changes": (["tenant", "asset", "t"], [], []),
    "power_samples": (["tenant", "meter", "t"], [], []),
    "energy_counters": (["tenant", "meter", "t"], [], []),
    "order_steps": (
        ["tenant", "order_id", "operation", "asset", "start", "kind"],
        [],
        [(["asset", "start"], ["tenant", "asset", "start"])],
    ),
    "material_uses": (["tenant", "order_id", "material", "booking"], [], []),
    "event_history": (None, [], [(["kind"], ["tenant", "kind"])]),
    "gaps": (["tenant", "source", "start"], [], []),
    "orders": (["tenant", "id"], [], []),
    "footprints": (
        None,
        [(["order_id", "version"], ["tenant", "order_id", "version"])],
        [
            (["issued_at"], ["tenant", "issued_at"]),
            (["product", "period_start"], ["tenant", "product", "period_start"]),
        ],
    ),
    "signing_keys": (["tenant", "key_id"], [], []),
    "issuance_log": (["tenant", "seq"], [], []),
    "issuance_inputs": (["tenant", "sha256"], [], []),
    "publications": (None, [], [(None, ["tenant"])]),
    "factor_series": (None, [(["name", "version"], ["tenant", "name", "version"])], []),
    "factor_points": (None, [], []),
    "event_retractions": (None, [], [(None, ["tenant", "source"])]),
}

TENANT_TABLES = tuple(_TABLES)

_POLICY = (
    "CREATE POLICY tenant_isolation ON {table} "
    "USING (tenant = current_setting('carbontwin.tenant', true)) "
    "WITH CHECK (tenant = current_setting('carbontwin.tenant', true))"
)


def _ix(table: str, cols: list[str]) -> str:
    return f"ix_{table}_{'_'.join(cols)}"


def _uq(table: str, cols: list[str]) -> str:
    return f"uq_{table}_{'_'.join(cols)}"


def _admin_tables() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=_LEN), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tenants")),
    )
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=_LEN), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.name"], name=op.f("fk_clients_tenant_tenants")),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_tenant"), "clients", ["tenant"])
    op.execute("INSERT INTO tenants (name, created_at) VALUES ('default', CURRENT_TIMESTAMP)")


def _sqlite_triggers(table: str) -> list[str]:
    """The CREATE TRIGGER statements of ``table`` (a rebuild drops them with the table)."""
    rows = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    )
    return [str(sql) for (sql,) in rows]


def _sqlite_upgrade() -> None:
    bind = op.get_bind()
    for table, (pk, uniques, indexes) in _TABLES.items():
        triggers = _sqlite_triggers(table)
        with op.batch_alter_table(table, recreate="always") as b:
            b.add_column(
                sa.Column("tenant", sa.String(length=_LEN), server_default="default", nullable=False)
            )
            for old, new in indexes:
                if old is not None:
                    b.drop_index(_ix(table, old))
            for old, new in uniques:
                b.drop_constraint(_uq(table, old), type_="unique")
                b.create_unique_constraint(_uq(table, new), new)
            if pk is not None:
                b.drop_constraint(f"pk_{table}", type_="primary")
                b.create_primary_key(f"pk_{table}", pk)
        # a second copy drops the default: the store always names the tenant
        with op.batch_alter_table(table, recreate="always") as b:
            b.alter_column("tenant", server_default=None)
        for old, new in indexes:
            op.create_index(_ix(table, new), table, new)
        for sql in triggers:
            bind.exec_driver_sql(sql)


def _postgres_upgrade() -> None:
    for table, (pk, uniques, indexes) in _TABLES.items():
        # a constant default is metadata only: no row is rewritten (no trigger fires)
        op.add_column(
            table,
            sa.Column("tenant", sa.String(length=_LEN), server_default="default", nullable=False),
        )
        op.alter_column(table, "tenant", server_default=None)
        for old, new in indexes:
            if old is not None:
                op.drop_index(_ix(table, old), table_name=table)
            op.create_index(_ix(table, new), table, new)
        for old, new in uniques:
            op.drop_constraint(_uq(table, old), table, type_="unique")
            op.create_unique_constraint(_uq(table, new), table, new)
        if pk is not None:
            op.drop_constraint(f"pk_{table}", table, type_="primary")
            op.create_primary_key(f"pk_{table}", table, pk)
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(_POLICY.format(table=table))
    # a published footprint is public: any transaction may find whose it is
    op.execute("CREATE POLICY public_read ON publications FOR SELECT USING (true)")


def upgrade() -> None:
    _admin_tables()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgres_upgrade()


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for table in _TABLES:
        others = bind.exec_driver_sql(
            f"SELECT COUNT(*) FROM {table} WHERE tenant <> 'default'"
        ).scalar()
        if others:
            msg = (
                f"cannot undo migration 0006 (tenants): table {table} holds {others} rows of "
                "tenants other than 'default'"
            )
            raise RuntimeError(msg)
    for table, (pk, uniques, indexes) in _TABLES.items():
        old_pk = None if pk is None else [c for c in pk if c != "tenant"]
        if sqlite:
            triggers = _sqlite_triggers(table)
            for _old, new in indexes:
                op.drop_index(_ix(table, new), table_name=table)
            with op.batch_alter_table(table, recreate="always") as b:
                for u_old, u_new in uniques:
                    b.drop_constraint(_uq(table, u_new), type_="unique")
                    b.create_unique_constraint(_uq(table, u_old), u_old)
                if old_pk is not None:
                    b.drop_constraint(f"pk_{table}", type_="primary")
                    b.create_primary_key(f"pk_{table}", old_pk)
                b.drop_column("tenant")
            for old, _new in indexes:
                if old is not None:
                    op.create_index(_ix(table, old), table, old)
            for sql in triggers:
                bind.exec_driver_sql(sql)
            continue
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        if old_pk is not None:
            op.drop_constraint(f"pk_{table}", table, type_="primary")
            op.create_primary_key(f"pk_{table}", table, old_pk)
        for u_old, u_new in uniques:
            op.drop_constraint(_uq(table, u_new), table, type_="unique")
            op.create_unique_constraint(_uq(table, u_old), table, u_old)
        for old, new in indexes:
            op.drop_index(_ix(table, new), table_name=table)
            if old is not None:
                op.create_index(_ix(table, old), table, old)
        op.drop_column(table, "tenant")
    if not sqlite:
        op.execute("DROP POLICY IF EXISTS public_read ON publications")
    op.drop_index(op.f("ix_clients_tenant"), table_name="clients")
    op.drop_table("clients")
    op.drop_table("tenants")
