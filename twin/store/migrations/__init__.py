"""Alembic migrations of the twin store (run them with ``Store.upgrade()``)."""
