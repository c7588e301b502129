"""Database helpers shared by the store and API tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


@contextmanager
def postgres_schema(base_url: str, prefix: str = "ct_") -> Iterator[str]:
    """URL of ``base_url`` whose search_path is a new, empty schema (dropped on exit).

    Every test gets its own schema, so reruns on the shared ``test`` database
    start clean and tests never see each other's rows.
    """
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
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
