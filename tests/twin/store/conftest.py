"""Store fixtures: a fresh database per test, on SQLite and on PostgreSQL.

Each PostgreSQL test gets its own schema (``ct_<random>``, found through
``search_path``), dropped afterwards, so reruns on the shared ``test``
database start clean.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from db_helpers import postgres_schema

from carbontwin.twin.store import Store


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
