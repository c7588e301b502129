"""PostgreSQL: event tables range-partitioned by time, a month per partition.

``state_changes``, ``power_samples`` and ``energy_counters`` become partitioned
tables (``PARTITION BY RANGE (t)``, keys, checks and row-level security unchanged:
their (tenant, source, time) primary keys include the partition key; every
partition gets the tenant policy too). The function
``carbontwin_ensure_partitions(table, t0, t1)`` creates the monthly partitions
``<table>_pYYYYMM`` covering ``[t0, t1]`` [epoch s, UTC months]; the store calls it
before every write for the months the batch reaches and the next one (so the
partitions exist ahead), and this migration for the rows already stored, which
it moves over. The function runs as its owner (``SECURITY DEFINER``: the role that ran
the migrations), so a service connecting as a plain role, which may not create
tables, still gets its partitions. A window's read then scans only its month's
partitions.

SQLite stays as it is (no partitions).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

#: table -> (columns DDL, check constraint DDL or "")
_TABLES = {
    "state_changes": (
        "tenant VARCHAR(63) NOT NULL, asset VARCHAR(200) NOT NULL, t DOUBLE PRECISION NOT NULL, state VARCHAR(16) NOT NULL",
        "CONSTRAINT ck_state_changes_state_known CHECK "
        "(state IN ('OFF', 'STANDBY', 'IDLE', 'SETUP', 'PROCESSING', 'FAULT'))",
        "asset",
    ),
    "power_samples": (
        "tenant VARCHAR(63) NOT NULL, meter VARCHAR(200) NOT NULL, t DOUBLE PRECISION NOT NULL, "
        "power_kw DOUBLE PRECISION NOT NULL",
        "CONSTRAINT ck_power_samples_power_kw_not_negative CHECK (power_kw >= 0)",
        "meter",
    ),
    "energy_counters": (
        "tenant VARCHAR(63) NOT NULL, meter VARCHAR(200) NOT NULL, t DOUBLE PRECISION NOT NULL, "
        "energy_kwh DOUBLE PRECISION NOT NULL",
        "CONSTRAINT ck_energy_counters_energy_kwh_not_negative CHECK (energy_kwh >= 0)",
        "meter",
    ),
}

#: the columns in the order the new tables declare them
_COLS = {
    "state_changes": "tenant, asset, t, state",
    "power_samples": "tenant, meter, t, power_kw",
    "energy_counters": "tenant, meter, t, energy_kwh",
}
_POLICY = (
    "CREATE POLICY tenant_isolation ON {table} "
    "USING (tenant = current_setting('carbontwin.tenant', true)) "
    "WITH CHECK (tenant = current_setting('carbontwin.tenant', true))"
)

ENSURE = """
CREATE FUNCTION carbontwin_ensure_partitions(tab text, t0 double precision, t1 double precision)
RETURNS integer AS $$
DECLARE
    m timestamptz := date_trunc('month', to_timestamp(t0) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    last timestamptz := to_timestamp(t1);
    made integer := 0;
    part text;
BEGIN
    IF t0 IS NULL OR t1 IS NULL OR t1 < t0 THEN
        RETURN 0;
    END IF;
    WHILE m <= last LOOP
        part := tab || '_p' || to_char(m AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(quote_ident(part)) IS NULL THEN
            -- two writers may race to the same month: the loser's CREATE is a no-op
            PERFORM pg_advisory_xact_lock(hashtext('carbontwin partition ' || part));
            IF to_regclass(quote_ident(part)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)',
                    part, tab, extract(epoch FROM m),
                    extract(epoch FROM m + interval '1 month'));
                -- a partition read directly obeys the same tenant policy as its table
                EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
                EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
                EXECUTE format(
                    'CREATE POLICY tenant_isolation ON %I '
                    'USING (tenant = current_setting(''carbontwin.tenant'', true)) '
                    'WITH CHECK (tenant = current_setting(''carbontwin.tenant'', true))', part);
                made := made + 1;
            END IF;
        END IF;
        m := m + interval '1 month';
    END LOOP;
    RETURN made;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(ENSURE)
    for table, (columns, check, _source) in _TABLES.items():
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
        check_name = check.split()[1]
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {check_name} TO {check_name}_old")
        op.execute(
            f"CREATE TABLE {table} ({columns}, "
            f"CONSTRAINT pk_{table} PRIMARY KEY (tenant, {_source}, t), {check}) "
            "PARTITION BY RANGE (t)"
        )
        op.execute(
            f"SELECT carbontwin_ensure_partitions('{table}', min(t), max(t)) FROM {old}"
        )
        op.execute(f"INSERT INTO {table} SELECT {_COLS[table]} FROM {old}")
        op.execute(f"DROP TABLE {old}")
        _secure(table)


def _secure(table: str) -> None:
    """Row-level security as migration 0006 gives every tenant table."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(_POLICY.format(table=table))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (columns, check, source) in _TABLES.items():
        old = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
        check_name = check.split()[1]
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {check_name} TO {check_name}_old")
        op.execute(
            f"CREATE TABLE {table} ({columns}, "
            f"CONSTRAINT pk_{table} PRIMARY KEY (tenant, {source}, t), {check})"
        )
        op.execute(f"INSERT INTO {table} SELECT {_COLS[table]} FROM {old}")
        op.execute(f"DROP TABLE {old}")  # its partitions go with it
        _secure(table)
    op.execute("DROP FUNCTION carbontwin_ensure_partitions(text, double precision, double precision)")
