"""API clients of tenants: new credentials, argon2 hashes, and checking a presented secret.

A client's secret is made here (``secrets.token_urlsafe``), shown once to whoever
created the client, and stored only as its argon2id hash (argon2-cffi's
``PasswordHasher``). ``POST /auth/token`` checks a presented secret with
:func:`authenticate`; the settings' one client (``client_id``/``client_secret``,
tenant ``default``, every scope) keeps working beside the stored ones.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .deps import DEFAULT_TENANT, SCOPES, Principal
from .settings import Settings

__all__ = ["authenticate", "create_client", "hash_secret"]

_HASHER = PasswordHasher()
# checked against when the client id is unknown, so an unknown id costs as much time
# as a wrong secret and does not tell which ids exist
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    """The argon2id hash of ``secret`` (with its salt and parameters)."""
    return _HASHER.hash(secret)


def create_client(store: Any, tenant: str, scopes: tuple[str, ...]) -> tuple[str, str]:
    """A new client of ``tenant`` with ``scopes``: (client id, secret). Only the
    secret's hash is stored; the secret is returned this once."""
    client_id = f"ct_{secrets.token_hex(8)}"
    secret = secrets.token_urlsafe(32)
    store.admin.add_client(client_id, tenant, hash_secret(secret), scopes)
    return client_id, secret


def authenticate(
    settings: Settings, services: Any, client_id: str, secret: str
) -> Principal | None:
    """Who ``client_id`` with ``secret`` is, or ``None``: the settings' client (tenant
    ``default``, every scope), else a stored client whose hash the secret verifies
    (``services.store`` is opened only then)."""
    ok_id = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    ok_secret = hmac.compare_digest(
        secret.encode(), settings.client_secret.get_secret_value().encode()
    )
    if ok_id:
        return Principal(client_id, DEFAULT_TENANT, SCOPES) if ok_secret else None
    client = services.store.admin.client(client_id) if client_id else None
    try:
        _HASHER.verify(client.secret_hash if client is not None else _DUMMY, secret)
    except (VerificationError, InvalidHashError):
        return None
    if client is None:
        return None
    return Principal(client.client_id, client.tenant, tuple(client.scopes), stored=True)
