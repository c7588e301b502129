"""Per-app services and request dependencies (``Annotated`` aliases).

Everything heavy (the store, the signing key, the job pool) is created lazily on
first use by :class:`Services`, one per app, so ``create_app`` does no I/O and
an app mounted inside a host platform starts cheaply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carbontwin.plugins.signing import Signer, load_or_create_key

from ._cache import FactoryCache, ResponseCache
from ._proxy import is_loopback
from .errors import PactError, Unauthorized
from .settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "PactTokenDep",
    "ServicesDep",
    "Services",
    "SettingsDep",
    "StoreDep",
    "TokenDep",
    "issue_token",
    "app_base_url",
    "check_token",
]


class BoundedLog:
    """The newest records, at most ``max_items`` of them and none older than ``max_age_s``."""

    def __init__(self, max_items: int, max_age_s: float) -> None:
        self._items: deque[tuple[float, dict[str, Any]]] = deque(maxlen=max_items)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any], now: float | None = None) -> None:
        t = time.time() if now is None else now
        with self._lock:
            self._items.append((t, record))
            self._prune(t)

    def _prune(self, now: float) -> None:
        while self._items and now - self._items[0][0] > self.max_age_s:
            self._items.popleft()

    def items(self, now: float | None = None) -> list[dict[str, Any]]:
        """The kept records, oldest first."""
        with self._lock:
            self._prune(time.time() if now is None else now)
            return [r for _, r in self._items]

    def __len__(self) -> int:
        return len(self.items())


class Services:
    """Lazily created resources of one app instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: Any = None
        self._key: Ed25519PrivateKey | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.received_events = BoundedLog(settings.max_stored_events, settings.max_event_age_s)
        self.deliveries = BoundedLog(settings.max_stored_events, settings.max_event_age_s)
        # per worker process: renderings of immutable footprints, built factory versions
        self.responses = ResponseCache(int(settings.response_cache_mb * 2**20))
        self.factories = FactoryCache(settings.factory_cache_size)

    def add_job(self, job: dict[str, Any], now: float | None = None) -> None:
        """Keep ``job``; forget finished jobs older than ``max_event_age_s`` and, past
        ``max_stored_events`` jobs, the oldest finished ones (a running job is kept)."""
        t = time.time() if now is None else now
        limit, age = self.settings.max_stored_events, self.settings.max_event_age_s
        with self._lock:
            finished = [(j["finished_at"], k) for k, j in self.jobs.items() if j.get("finished_at")]
            finished.sort()
            excess = len(self.jobs) + 1 - limit
            for done_at, key in finished:
                if t - done_at > age or excess > 0:
                    del self.jobs[key]
                    excess -= 1
            self.jobs[job["id"]] = job

    @property
    def store(self) -> Any:
        """The twin store (``carbontwin.twin.store.Store.open(settings.database_url)``)."""
        with self._lock:
            if self._store is None:
                from carbontwin.twin.store import Store

                self._store = Store.open(self.settings.database_url)
            return self._store

    def factory(self, store: Any, version: int) -> Any:
        """Factory ``version`` of ``store``, built once per worker (see :class:`FactoryCache`)."""
        return self.factories.get(store, tenant_of(store), version)

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = load_or_create_key(self.settings.key_path)
            return self._key

    @property
    def signer(self) -> Signer:
        """Signs footprints when they are issued (the service's key)."""
        return Signer(self.signing_key)

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.settings.simulation_workers, thread_name_prefix="carbontwin-job"
                )
            return self._pool

    def close(self) -> None:
        """Stop the job pool and release the store (app shutdown, or a host calling it)."""
        with self._lock:
            pool, self._pool = self._pool, None
            store, self._store = self._store, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        dispose = getattr(store, "close", None) or getattr(store, "dispose", None)
        if callable(dispose):
            dispose()


def tenant_of(store: Any) -> str:
    """The tenant a store object reads and writes (the first part of every cache key)."""
    return str(getattr(store, "tenant", "default"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(settings: Settings, subject: str, now: float | None = None) -> str:
    """An HMAC-SHA256 signed bearer token for ``subject``, valid ``token_ttl_s``."""
    exp = int((now if now is not None else time.time()) + settings.token_ttl_s)
    body = _b64(json.dumps({"sub": subject, "exp": exp}, separators=(",", ":")).encode())
    mac = hmac.new(
        settings.token_secret.get_secret_value().encode(), body.encode(), hashlib.sha256
    ).digest()
    return f"{body}.{_b64(mac)}"


def check_token(settings: Settings, token: str, now: float | None = None) -> str | None:
    """Subject of a valid, unexpired ``token``; ``None`` otherwise."""
    body, _, mac = token.partition(".")
    if not body or not mac:
        return None
    want = hmac.new(
        settings.token_secret.get_secret_value().encode(), body.encode(), hashlib.sha256
    ).digest()
    try:
        if not hmac.compare_digest(want, _unb64(mac)):
            return None
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        return None
    if claims["exp"] < (now if now is not None else time.time()):
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


def app_base_url(request: Request, settings: Settings) -> str:
    """External base URL of this app, mount prefix included, without a trailing '/'.

    ``settings.public_base_url`` when set (behind a proxy), else the request's
    scheme and host plus the ASGI ``root_path`` (the prefix a host mounted us at).
    """
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    root = str(request.scope.get("root_path", ""))
    return f"{request.url.scheme}://{request.url.netloc}{root}".rstrip("/")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_settings(request: Request) -> Settings:
    services: Services = request.app.state.services
    return services.settings


def get_store(request: Request) -> Any:
    services: Services = request.app.state.services
    return services.store


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Any, Depends(get_store)]

_bearer = HTTPBearer(auto_error=False, description="Token from POST /auth/token")


async def require_token(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """Subject of the request's bearer token, or 401."""
    settings = request.app.state.services.settings
    if cred is None or cred.scheme.lower() != "bearer":
        msg = "missing bearer token: get one from POST /auth/token"
        raise Unauthorized(msg, field="Authorization")
    sub = check_token(settings, cred.credentials)
    if sub is None:
        msg = "invalid or expired bearer token"
        raise Unauthorized(msg, field="Authorization")
    return sub


async def require_https(request: Request) -> None:
    """PACT requires TLS: refuse plain HTTP.

    With ``settings.require_https`` off (development mode) plain HTTP is accepted
    from loopback peers only. The scheme is the connection's own, or the
    ``X-Forwarded-Proto`` of a trusted proxy (:mod:`carbontwin.api._proxy`).
    """
    if request.url.scheme == "https":
        return
    peer = request.client.host if request.client else None
    if request.app.state.services.settings.require_https or not is_loopback(peer):
        raise PactError(403, "AccessDenied", "HTTPS is required for the PACT API")


async def require_pact_token(
    request: Request,
    _https: Annotated[None, Depends(require_https)],
    cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """Like :func:`require_token`, answered with the PACT error body."""
    settings = request.app.state.services.settings
    sub = check_token(settings, cred.credentials) if cred is not None else None
    if sub is None:
        raise PactError(
            401, "BadRequest", "Invalid token provided", headers={"WWW-Authenticate": "Bearer"}
        )
    return sub


TokenDep = Annotated[str, Depends(require_token)]
PactTokenDep = Annotated[str, Depends(require_pact_token)]
