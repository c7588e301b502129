"""Append-only footprints: signatures made at issuance, signing keys, issuance log.

- ``footprints`` gains ``signature`` (the signed document's ``signature``
  member, made once when the footprint is issued) and ``key_id``;
- ``signing_keys`` holds the public keys that signed, by key id;
- ``issuance_log`` is the hash-chained log of issued footprints;
- ``issuance_inputs`` keeps the events and factors an issuing run read (for
  verifier packs);
- triggers reject UPDATE and DELETE of all three tables on SQLite and
  PostgreSQL, and TRUNCATE on PostgreSQL (SQLite has no TRUNCATE: its
  ``DELETE FROM t`` fires the DELETE trigger).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.String(length=200)
_UTC = sa.DateTime(timezone=True)

#: (table, what a row is called in the message)
_TABLES = (
    ("footprints", "issued footprints"),
    ("issuance_log", "issuance log entries"),
    ("signing_keys", "signing keys"),
    ("issuance_inputs", "issuance inputs"),
)

_PG_FUNCTION = """
CREATE FUNCTION carbontwin_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of table % refused: % are append-only; withdraw or correct a '
                    'footprint by issuing a new version', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""


def _sqlite_trigger(table: str, what: str, event: str) -> str:
    return (
        f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table}\n"
        f"BEGIN\n    SELECT RAISE(ABORT, '{event} of table {table} refused: {what} are "
        "append-only; withdraw or correct a footprint by issuing a new version');\nEND"
    )


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("first_used_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "issuance_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("footprint_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("prev_sha256", sa.String(length=64), nullable=False),
        sa.Column("entry_sha256", sa.String(length=64), nullable=False),
        sa.Column("logged_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_issuance_log")),
    )
    op.create_table(
        "issuance_inputs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_issuance_inputs")),
    )
    # plain ADD COLUMN (no batch copy, which would drop and re-create the table)
    op.add_column("footprints", sa.Column("signature", sa.JSON(), nullable=True))
    op.add_column("footprints", sa.Column("key_id", sa.String(length=64), nullable=True))

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, what in _TABLES:
            if table != "footprints":  # 0001 already refuses UPDATE of footprints
                op.execute(_sqlite_trigger(table, what, "UPDATE"))
            op.execute(_sqlite_trigger(table, what, "DELETE"))
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        for table, what in _TABLES:
            events = "DELETE" if table == "footprints" else "UPDATE OR DELETE"
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE {events} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION carbontwin_append_only('{what}')"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION carbontwin_append_only('{what}')"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table, _ in _TABLES:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    elif dialect == "postgresql":
        for table, _ in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS carbontwin_append_only()")
    op.drop_column("footprints", "key_id")
    op.drop_column("footprints", "signature")
    op.drop_table("issuance_inputs")
    op.drop_table("issuance_log")
    op.drop_table("signing_keys")
