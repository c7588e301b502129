"""Tenants and their API clients (``Store.admin``): the one part of the store that is
not scoped to a tenant.

A client's secret is never stored: the caller hands over its hash (argon2, made
in ``carbontwin.api.clients``) and checks a presented secret against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from carbontwin.twin.errors import StoreError
from carbontwin.twin.store._footprints import NotFoundError
from carbontwin.twin.store.models import ClientRow, TenantRow

if TYPE_CHECKING:
    from carbontwin.twin.store.store import Store

#: The scopes a client may hold, weakest first.
SCOPES = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class Client:
    """A stored API client (its secret's hash stays in the store)."""

    client_id: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: datetime
    secret_hash: str = ""

    def __repr__(self) -> str:  # the hash is not for logs either
        return f"Client({self.client_id!r}, tenant={self.tenant!r}, scopes={self.scopes!r})"


def check_scopes(scopes: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes as a sorted tuple of known names; :class:`StoreError` for unknown ones."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    names = {s.strip() for s in items if s.strip()}
    unknown = sorted(names - set(SCOPES))
    if unknown or not names:
        what = f"unknown scopes {', '.join(map(repr, unknown))}" if unknown else "no scope"
        msg = f"{what}: give one or more of {', '.join(SCOPES)}"
        raise StoreError(msg, field="scopes")
    return tuple(s for s in SCOPES if s in names)


class TenantAdmin:
    """Adding and listing tenants and clients (``Store(...).admin``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add_tenant(self, name: str) -> datetime:
        """Create tenant ``name``; :class:`StoreError` if it exists. Returns when."""
        from carbontwin.twin.store.store import check_tenant

        name = check_tenant(name)
        now = datetime.now(UTC)
        with self._store._tx(f"adding tenant {name!r}", write=True) as conn:
            if conn.execute(sa.select(TenantRow.name).where(TenantRow.name == name)).first():
                msg = f"tenant {name!r} exists already"
                raise StoreError(msg, field="tenant")
            conn.execute(sa.insert(TenantRow).values(name=name, created_at=now))
        return now

    def tenants(self) -> list[tuple[str, datetime, int]]:
        """(name, created at, number of clients) of every tenant, by name."""
        clients = (
            sa.select(sa.func.count())
            .where(ClientRow.tenant == TenantRow.name)
            .correlate(TenantRow)
            .scalar_subquery()
        )
        with self._store._tx("listing tenants") as conn:
            rows = conn.execute(
                sa.select(TenantRow.name, TenantRow.created_at, clients).order_by(TenantRow.name)
            ).all()
        return [(str(r[0]), r[1], int(r[2])) for r in rows]

    def has_tenant(self, name: str) -> bool:
        with self._store._tx("reading tenants") as conn:
            return (
                conn.execute(sa.select(TenantRow.name).where(TenantRow.name == name)).first()
                is not None
            )

    def add_client(
        self, client_id: str, tenant: str, secret_hash: str, scopes: tuple[str, ...]
    ) -> Client:
        """Store a client of ``tenant`` with the hash of its secret."""
        scopes = check_scopes(scopes)
        now = datetime.now(UTC)
        with self._store._tx(f"adding client {client_id!r}", write=True) as conn:
            if not conn.execute(sa.select(TenantRow.name).where(TenantRow.name == tenant)).first():
                msg = f"no tenant {tenant!r}: add it first (carbontwin tenants add {tenant})"
                raise NotFoundError(msg, field="tenant")
            known = sa.select(ClientRow.client_id).where(ClientRow.client_id == client_id)
            if conn.execute(known).first():
                msg = f"client {client_id!r} exists already"
                raise StoreError(msg, field="client_id")
            conn.execute(
                sa.insert(ClientRow).values(
                    client_id=client_id,
                    tenant=tenant,
                    secret_hash=secret_hash,
                    scopes=",".join(scopes),
                    created_at=now,
                )
            )
        return Client(client_id, tenant, scopes, now)

    def clients(self, tenant: str | None = None) -> list[Client]:
        """Every client (of ``tenant`` when given), by tenant then id, without hashes."""
        stmt = sa.select(
            ClientRow.client_id, ClientRow.tenant, ClientRow.scopes, ClientRow.created_at
        )
        if tenant is not None:
            stmt = stmt.where(ClientRow.tenant == tenant)
        with self._store._tx("listing clients") as conn:
            rows = conn.execute(stmt.order_by(ClientRow.tenant, ClientRow.client_id)).all()
        return [
            Client(r.client_id, r.tenant, tuple(r.scopes.split(",")), r.created_at) for r in rows
        ]

    def client(self, client_id: str) -> Client | None:
        """The stored client ``client_id`` with its secret's hash, or ``None``."""
        cols = (ClientRow.client_id, ClientRow.tenant, ClientRow.scopes, ClientRow.created_at)
        with self._store._tx("reading a client") as conn:
            r = conn.execute(
                sa.select(*cols, ClientRow.secret_hash).where(ClientRow.client_id == client_id)
            ).first()
        if r is None:
            return None
        return Client(
            r.client_id, r.tenant, tuple(r.scopes.split(",")), r.created_at, r.secret_hash
        )

    def remove_client(self, client_id: str) -> None:
        """Remove client ``client_id`` (its tokens stop working when they expire)."""
        with self._store._tx(f"removing client {client_id!r}", write=True) as conn:
            gone = conn.execute(sa.delete(ClientRow).where(ClientRow.client_id == client_id))
            if not gone.rowcount:
                msg = f"no client {client_id!r}"
                raise NotFoundError(msg, field="client_id")
