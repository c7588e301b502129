"""Alembic environment of the twin store.

Used two ways:

- programmatically by :meth:`carbontwin.twin.store.Store.upgrade`, which hands
  over an open connection in ``config.attributes["connection"]``;
- from the command line, ``alembic -c twin/store/alembic.ini upgrade head``,
  with the database URL in ``-x url=...``, ``CARBONTWIN_DATABASE_URL`` or the
  ini file's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from carbontwin.twin.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("CARBONTWIN_DATABASE_URL")
    url = url or config.get_main_option("sqlalchemy.url")
    return url or "sqlite:///carbontwin.db"


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = sa.create_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
