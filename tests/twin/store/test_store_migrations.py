"""Alembic: upgrade head builds the schema, and it is exactly the models' schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from carbontwin.twin.errors import StoreError
from carbontwin.twin.store import Store, migrations_path
from carbontwin.twin.store.models import Base

TABLES = {
    "event_extents",
    "window_cursors",
    "factory_versions",
    "publications",
    "state_changes",
    "power_samples",
    "energy_counters",
    "order_steps",
    "material_uses",
    "gaps",
    "orders",
    "footprints",
    "factor_series",
    "factor_points",
    "signing_keys",
    "issuance_log",
    "issuance_inputs",
    "event_history",
    "attribution_windows",
    "window_orders",
    "ingest_spans",
    "archives",
    "tenants",
    "clients",
    "event_retractions",
    "alembic_version",
}


def _head() -> str:
    """The one head revision of the packaged migrations."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(Store("sqlite://").alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return str(heads[0])


def _diff(store: Store, metadata: sa.MetaData) -> list[object]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(ctx, metadata))


def test_upgrade_head_on_empty_database_matches_the_models(db_url):
    store = Store(db_url)
    assert store.revision() is None
    assert sa.inspect(store.engine).get_table_names() == []
    store.upgrade()
    assert store.revision() == _head()
    assert set(sa.inspect(store.engine).get_table_names()) == TABLES
    assert _diff(store, Base.metadata) == []
    store.upgrade()  # a second upgrade is a no-op
    assert store.revision() == _head()
    store.close()


def test_the_comparison_would_see_a_drift(db_url):
    """The empty diff above means something: an extra model column shows up."""
    store = Store.open(db_url)
    drifted = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["orders"].append_column(sa.Column("note", sa.Text(), nullable=True))
    diff = _diff(store, drifted)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "orders", "note")]
    store.close()


def test_downgrade_base_removes_everything(db_url):
    from alembic import command

    store = Store.open(db_url)
    cfg = store.alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.upgrade()
    assert set(sa.inspect(store.engine).get_table_names()) == TABLES
    store.close()


def test_migrations_are_packaged_next_to_the_code():
    path = migrations_path()
    assert (path / "env.py").is_file()
    assert (path / "script.py.mako").is_file()
    assert (path / "versions" / "0001_initial.py").is_file()


def test_alembic_command_line_with_the_shipped_ini(tmp_path):
    """``alembic -c twin/store/alembic.ini -x url=... upgrade head`` works from any cwd."""
    ini = Path(migrations_path()).parent / "alembic.ini"
    if not ini.is_file():
        pytest.skip("alembic.ini is not installed next to the package")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Store(url).revision() == _head()


def test_url_defaults_and_unsupported_backends(monkeypatch, tmp_path):
    monkeypatch.setenv("CARBONTWIN_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    assert Store().url.endswith("env.db")
    monkeypatch.delenv("CARBONTWIN_DATABASE_URL")
    monkeypatch.chdir(tmp_path)
    assert Store().url == "sqlite:///carbontwin.db"
    with pytest.raises(StoreError, match="not 'mysql"):
        Store("mysql://u@localhost/db")


def test_upgrade_to_0010_fills_event_extents_and_window_cursors(tmp_path):
    """Events and an attributed window stored at 0009 (two tenants): 0010 records each
    tenant's earliest and latest event time and moves the window's span cursor out of
    its meta; downgrading puts the cursor back."""
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.upgrade("0009")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO power_samples (tenant, meter, t, power_kw) VALUES (:n, 'M', :t, 1)"
            ),
            [{"n": "default", "t": 100.0}, {"n": "default", "t": 900.0}, {"n": "b", "t": 50.0}],
        )
        conn.execute(
            sa.text(
                'INSERT INTO order_steps (tenant, order_id, operation, asset, start, kind, "end", '
                "quantity) VALUES ('default', 'O', 'op', 'A', 40.0, 'setup', 1500.0, 1)"
            )
        )
        conn.execute(
            sa.text(
                'INSERT INTO attribution_windows (tenant, start, "end", key, slice_sha256, '
                "slice_count, pieces, meta, attributed_at) VALUES ('default', 0, 86400, 'k', "
                "'s', 3, x'00', :m, '2026-11-30 00:00:00')"
            ),
            {"m": '{"span": 7, "held": ["O"]}'},
        )
    store.upgrade()
    assert store.events_extent() == (40.0, 1500.0)
    assert Store(store.url, tenant="b").events_extent() == (50.0, 50.0)
    [w] = store.attributed_windows()
    assert w.span == 7
    assert store.window_meta([0.0]) == {0.0: {"held": ["O"]}}
    from alembic import command

    cfg = store.alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
        meta = conn.execute(sa.text("SELECT meta FROM attribution_windows")).scalar_one()
    assert json.loads(meta) == {"span": 7, "held": ["O"]}
    store.close()


def _ddl(store: Store, table: str) -> str:
    with store.engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :n"),
                {"n": table},
            ).scalar_one()
        )


def test_upgrade_to_0012_clusters_the_point_event_tables_and_keeps_their_rows(tmp_path):
    """Samples, counters and states stored at 0011 (rowid tables) are all there after
    0012 rebuilt the tables WITHOUT ROWID, constraints included; downgrading gives rowid
    tables with the same rows again."""
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.upgrade("0011")
    rows = {
        "power_samples": [
            ("default", "M1", 10.0, 2.5),
            ("default", "M1", 20.0, 0.0),
            ("b", "M2", 5.0, 1.0),
        ],
        "energy_counters": [("default", "M1", 10.0, 100.25)],
        "state_changes": [("default", "A", 1.0, "IDLE"), ("default", "A", 2.0, "SETUP")],
    }
    cols = {
        "power_samples": "tenant, meter, t, power_kw",
        "energy_counters": "tenant, meter, t, energy_kwh",
        "state_changes": "tenant, asset, t, state",
    }
    with store.engine.begin() as conn:
        for table, values in rows.items():
            conn.exec_driver_sql(f"INSERT INTO {table} ({cols[table]}) VALUES (?, ?, ?, ?)", values)
    assert "WITHOUT ROWID" not in _ddl(store, "power_samples").upper()
    store.upgrade()

    def stored() -> dict[str, list[tuple[object, ...]]]:
        with store.engine.connect() as conn:
            return {
                t: sorted(conn.exec_driver_sql(f"SELECT {cols[t]} FROM {t}").all()) for t in rows
            }

    assert stored() == {t: sorted(v) for t, v in rows.items()}
    for table in rows:
        assert _ddl(store, table).upper().rstrip().endswith("WITHOUT ROWID")
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:  # checks kept
        conn.exec_driver_sql(
            "INSERT INTO power_samples (tenant, meter, t, power_kw) VALUES ('x', 'M', 1, -1)"
        )
    with store.engine.begin() as conn:  # and the key: a duplicate is left out
        conn.exec_driver_sql(
            "INSERT INTO state_changes (tenant, asset, t, state) VALUES ('default', 'A', 1.0, "
            "'FAULT') ON CONFLICT DO NOTHING"
        )
    assert stored()["state_changes"] == sorted(rows["state_changes"])
    assert _diff(store, Base.metadata) == []
    from alembic import command

    cfg = store.alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    assert "WITHOUT ROWID" not in _ddl(store, "power_samples").upper()
    assert stored() == {t: sorted(v) for t, v in rows.items()}
    store.close()


def test_upgrade_to_0013_takes_stored_windows_as_issued(tmp_path):
    """A window stored at 0012 is not pending after 0013 (its run issued its orders); a
    window stored after it is, until an issuing pass marks it."""
    from carbontwin.twin.store._windows import StoredWindow

    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    store.upgrade("0012")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                'INSERT INTO attribution_windows (tenant, start, "end", key, slice_sha256, '
                "slice_count, pieces, meta, attributed_at) VALUES ('default', 0, 86400, 'k', "
                "'s', 3, x'00', '{}', '2026-11-30 00:00:00')"
            )
        )
    store.upgrade()
    assert store.pending_windows() == []
    store.save_window(StoredWindow(86400.0, 172800.0, "k", "d", 1, 0, {}), b"\x00", [("O", 9e4)])
    assert store.pending_windows() == [(86400.0, "k", "d")]
    assert store.window_order_ids([86400.0]) == {"O"}
    store.windows_issued([(86400.0, "k", "other digest")])  # attributed again since
    assert store.pending_windows() == [(86400.0, "k", "d")]
    store.windows_issued([(86400.0, "k", "d")])
    assert store.pending_windows() == []
    store.close()
