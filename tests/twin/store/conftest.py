"""Store fixtures: a fresh database per test, on SQLite and on PostgreSQL.

Each PostgreSQL test gets its own schema (``ct_<random>``, found through
``search_path``), dropped afterwards, so reruns on the shared ``test``
database start clean.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from carbontwin.twin.store import Store


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """URL of ``base_url`` whose search_path is a new, empty schema (dropped on exit)."""
    schema = f"ct_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema():
    """The :func:`postgres_schema` context manager, for module-scoped fixtures."""
    return postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database (no schema yet): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    s = Store.open(db_url)
    yield s
    s.close()
