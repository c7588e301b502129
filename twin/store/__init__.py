"""Persistence of the twin: factory versions, events, orders, footprints, factor series.

SQLAlchemy 2 on SQLite (default, ``sqlite:///carbontwin.db``) or PostgreSQL
(``CARBONTWIN_DATABASE_URL``); schema by the packaged Alembic migrations.

>>> from carbontwin.twin.store import Store
>>> store = Store.open("sqlite://")
>>> store.count_events()["power_samples"]
0
"""

from carbontwin.twin.errors import StoreError

from ._tenants import SCOPES, Client, TenantAdmin, check_scopes
from .store import (
    DEFAULT_TENANT,
    DEFAULT_URL,
    AuditReport,
    FootprintHead,
    NotFoundError,
    SeriesLike,
    Signer,
    Store,
    StoredFootprint,
    check_tenant,
    migrations_path,
)

__all__ = [
    "DEFAULT_TENANT",
    "DEFAULT_URL",
    "SCOPES",
    "Client",
    "TenantAdmin",
    "check_scopes",
    "check_tenant",
    "AuditReport",
    "FootprintHead",
    "NotFoundError",
    "SeriesLike",
    "Signer",
    "Store",
    "StoreError",
    "StoredFootprint",
    "migrations_path",
]
