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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from carbontwin.plugins.signing import Signer, load_or_create_key

from ._cache import FactoryCache, ResponseCache
from ._proxy import is_loopback
from .errors import Forbidden, PactError, Unauthorized
from .settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "AdminDep",
    "PactReadDep",
    "Principal",
    "ReadDep",
    "ServicesDep",
    "Services",
    "SettingsDep",
    "TenantServices",
    "WriteDep",
    "issue_token",
    "app_base_url",
    "check_token",
    "read_token",
]

#: Every scope, weakest first: GET routes need read, routes that change data write,
#: key, client, tenant and settings administration admin.
SCOPES = ("read", "write", "admin")
DEFAULT_TENANT = "default"


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
        self._stores: dict[str, Any] = {}
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[str, dict[str, dict[str, Any]]] = {}
        self._received: dict[str, BoundedLog] = {}
        self._deliveries: dict[str, BoundedLog] = {}
        # per worker process: renderings of immutable footprints, built factory versions
        # (both keyed by tenant first)
        self.responses = ResponseCache(int(settings.response_cache_mb * 2**20))
        self.factories = FactoryCache(settings.factory_cache_size)

    def add_job(
        self, job: dict[str, Any], now: float | None = None, tenant: str = DEFAULT_TENANT
    ) -> None:
        """Keep ``tenant``'s ``job``; forget its finished jobs older than
        ``max_event_age_s`` and, past ``max_stored_events`` jobs, the oldest finished
        ones (a running job is kept)."""
        t = time.time() if now is None else now
        limit, age = self.settings.max_stored_events, self.settings.max_event_age_s
        jobs = self.jobs_for(tenant)
        with self._lock:
            finished = [(j["finished_at"], k) for k, j in jobs.items() if j.get("finished_at")]
            finished.sort()
            excess = len(jobs) + 1 - limit
            for done_at, key in finished:
                if t - done_at > age or excess > 0:
                    del jobs[key]
                    excess -= 1
            jobs[job["id"]] = job

    @property
    def store(self) -> Any:
        """The twin store of tenant ``default``
        (``carbontwin.twin.store.Store.open(settings.database_url)``)."""
        with self._lock:
            if self._store is None:
                from carbontwin.twin.store import Store

                self._store = Store.open(self.settings.database_url)
            return self._store

    def factory(self, store: Any, version: int) -> Any:
        """Factory ``version`` of ``store``, built once per worker (see :class:`FactoryCache`)."""
        return self.factories.get(store, tenant_of(store), version)

    def store_for(self, tenant: str) -> Any:
        """The store scoped to ``tenant`` (one per tenant, sharing the engine)."""
        base = self.store
        if tenant == tenant_of(base):
            return base
        with self._lock:
            view = self._stores.get(tenant)
            if view is None:
                view = self._stores[tenant] = base.for_tenant(tenant)
            return view

    def key_path(self, tenant: str) -> Path:
        """Signing key file of ``tenant``: ``settings.key_path`` for ``default``, else the
        file beside it named ``<stem>-<tenant><suffix>``."""
        path = Path(self.settings.key_path)
        if tenant == DEFAULT_TENANT:
            return path
        return path.with_name(f"{path.stem}-{tenant}{path.suffix}")

    def signing_key_for(self, tenant: str) -> Ed25519PrivateKey:
        """``tenant``'s Ed25519 key (created on first use); its footprints verify with it only."""
        with self._lock:
            key = self._keys.get(tenant)
            if key is None:
                key = self._keys[tenant] = load_or_create_key(self.key_path(tenant))
            return key

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """Tenant ``default``'s signing key (``settings.key_path``)."""
        return self.signing_key_for(DEFAULT_TENANT)

    @property
    def signer(self) -> Signer:
        """Signs tenant ``default``'s footprints when they are issued."""
        return Signer(self.signing_key)

    def for_tenant(self, tenant: str) -> TenantServices:
        return TenantServices(self, tenant)

    def _per_tenant(self, logs: dict[str, Any], tenant: str, make: Any) -> Any:
        with self._lock:
            item = logs.get(tenant)
            if item is None:
                item = logs[tenant] = make()
            return item

    def jobs_for(self, tenant: str) -> dict[str, dict[str, Any]]:
        return self._per_tenant(self._jobs, tenant, dict)  # type: ignore[no-any-return]

    def _log(self) -> BoundedLog:
        return BoundedLog(self.settings.max_stored_events, self.settings.max_event_age_s)

    def received_for(self, tenant: str) -> BoundedLog:
        return self._per_tenant(self._received, tenant, self._log)  # type: ignore[no-any-return]

    def deliveries_for(self, tenant: str) -> BoundedLog:
        return self._per_tenant(self._deliveries, tenant, self._log)  # type: ignore[no-any-return]

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.jobs_for(DEFAULT_TENANT)

    @property
    def received_events(self) -> BoundedLog:
        return self.received_for(DEFAULT_TENANT)

    @property
    def deliveries(self) -> BoundedLog:
        return self.deliveries_for(DEFAULT_TENANT)

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
            self._stores = {}
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        dispose = getattr(store, "close", None) or getattr(store, "dispose", None)
        if callable(dispose):
            dispose()


def tenant_of(store: Any) -> str:
    """The tenant a store object reads and writes (the first part of every cache key)."""
    return str(getattr(store, "tenant", DEFAULT_TENANT))


class TenantServices:
    """The services as one tenant sees them: its store, its signing key, its jobs and
    PACT event records; the settings and the job pool are shared. Routes get one from
    :data:`ReadDep`, :data:`WriteDep`, :data:`AdminDep` or :data:`PactReadDep`."""

    def __init__(self, services: Services, tenant: str, principal: Principal | None = None) -> None:
        self.base = services
        self.tenant = tenant
        self.principal = principal
        self.settings = services.settings
        self.responses = services.responses

    @property
    def store(self) -> Any:
        return self.base.store_for(self.tenant)

    def factory(self, store: Any, version: int) -> Any:
        return self.base.factory(store, version)

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return self.base.signing_key_for(self.tenant)

    @property
    def signer(self) -> Signer:
        return Signer(self.signing_key)

    @property
    def pool(self) -> ThreadPoolExecutor:
        return self.base.pool

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        return self.base.jobs_for(self.tenant)

    def add_job(self, job: dict[str, Any], now: float | None = None) -> None:
        self.base.add_job(job, now, self.tenant)

    @property
    def received_events(self) -> BoundedLog:
        return self.base.received_for(self.tenant)

    @property
    def deliveries(self) -> BoundedLog:
        return self.base.deliveries_for(self.tenant)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token speaks for: a client of one tenant, with its scopes.
    ``stored`` is true for a client of the store (``carbontwin clients add``), false
    for the settings' client."""

    client_id: str
    tenant: str
    scopes: tuple[str, ...]
    stored: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    settings: Settings,
    subject: str,
    now: float | None = None,
    *,
    tenant: str = DEFAULT_TENANT,
    scopes: tuple[str, ...] = SCOPES,
    stored: bool = False,
) -> str:
    """An HMAC-SHA256 signed bearer token for client ``subject`` of ``tenant`` with
    ``scopes``, valid ``token_ttl_s``."""
    exp = int((now if now is not None else time.time()) + settings.token_ttl_s)
    claims = {"sub": subject, "ten": tenant, "scp": " ".join(scopes), "exp": exp}
    if stored:
        claims["sto"] = 1
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(
        settings.token_secret.get_secret_value().encode(), body.encode(), hashlib.sha256
    ).digest()
    return f"{body}.{_b64(mac)}"


def check_token(settings: Settings, token: str, now: float | None = None) -> str | None:
    """Subject (client id) of a valid, unexpired ``token``; ``None`` otherwise."""
    principal = read_token(settings, token, now)
    return None if principal is None else principal.client_id


def read_token(settings: Settings, token: str, now: float | None = None) -> Principal | None:
    """Who a valid, unexpired ``token`` speaks for; ``None`` otherwise."""
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
    sub, tenant, scopes = claims.get("sub"), claims.get("ten"), claims.get("scp")
    if not (isinstance(sub, str) and isinstance(tenant, str) and isinstance(scopes, str)):
        return None
    granted = tuple(s for s in SCOPES if s in scopes.split())
    return Principal(sub, tenant, granted, bool(claims.get("sto")))


def app_base_url(request: Request, settings: Settings) -> str:
    """External base URL of this app, mount prefix included, without a trailing '/'.

    ``settings.public_base_url`` when set (behind a proxy), else the request's
    scheme and host plus the ASGI ``root_path`` (the prefix a host mounted us at).
    """
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    root = str(request.scope.get("root_path", ""))
    return f"{request.url.scheme}://{request.url.netloc}{root}".rstrip("/")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_services(request: Request) -> Services:
    return _services(request)


async def get_settings(request: Request) -> Settings:
    return _services(request).settings


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

_bearer = HTTPBearer(auto_error=False, description="Token from POST /auth/token")


async def _principal(request: Request, token: str) -> Principal | None:
    """The token's principal, if the token is valid and its client still exists.

    Runs on the event loop; only a stored client's token costs a store lookup (in a
    worker thread), so the settings' client's requests take no thread hop.
    """
    services = _services(request)
    principal = read_token(services.settings, token)
    if principal is None:
        return None
    if principal.stored:  # a removed client's tokens stop working at once
        client = await run_in_threadpool(services.store.admin.client, principal.client_id)
        if client is None or client.tenant != principal.tenant:
            return None
    return principal


async def require_token(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The principal of the request's bearer token, or 401."""
    if cred is None or cred.scheme.lower() != "bearer":
        msg = "missing bearer token: get one from POST /auth/token"
        raise Unauthorized(msg, field="Authorization")
    principal = await _principal(request, cred.credentials)
    if principal is None:
        msg = "invalid or expired bearer token"
        raise Unauthorized(msg, field="Authorization")
    return principal


def _scoped(scope: str) -> Any:
    async def dependency(
        request: Request, principal: Annotated[Principal, Depends(require_token)]
    ) -> TenantServices:
        if scope not in principal.scopes:
            msg = (
                f"this route needs the {scope!r} scope; the token has "
                f"{' '.join(principal.scopes) or 'none'}"
            )
            raise Forbidden(msg, field="scope")
        return TenantServices(_services(request), principal.tenant, principal)

    dependency.__name__ = f"require_{scope}_scope"
    return dependency


async def require_https(request: Request) -> None:
    """PACT requires TLS: refuse plain HTTP.

    With ``settings.require_https`` off (development mode) plain HTTP is accepted
    from loopback peers only. The scheme is the connection's own, or the
    ``X-Forwarded-Proto`` of a trusted proxy (:mod:`carbontwin.api._proxy`).
    """
    if request.url.scheme == "https":
        return
    peer = request.client.host if request.client else None
    if _services(request).settings.require_https or not is_loopback(peer):
        raise PactError(403, "AccessDenied", "HTTPS is required for the PACT API")


async def require_pact_token(
    request: Request,
    _https: Annotated[None, Depends(require_https)],
    cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TenantServices:
    """Like the read scope, answered with the PACT error body: a PACT partner's token
    (a client of the data owner's tenant) sees that tenant's footprints only."""
    principal = await _principal(request, cred.credentials) if cred is not None else None
    if principal is None:
        raise PactError(
            401, "BadRequest", "Invalid token provided", headers={"WWW-Authenticate": "Bearer"}
        )
    if "read" not in principal.scopes:
        raise PactError(403, "AccessDenied", "the token lacks the 'read' scope")
    return TenantServices(_services(request), principal.tenant, principal)


#: A tenant's services for a token with the read scope (GET routes).
ReadDep = Annotated[TenantServices, Depends(_scoped("read"))]
#: ... with the write scope (routes that change stored data).
WriteDep = Annotated[TenantServices, Depends(_scoped("write"))]
#: ... with the admin scope (keys, clients, tenants, settings).
AdminDep = Annotated[TenantServices, Depends(_scoped("admin"))]
#: The PACT API's token check (read scope, PACT error bodies).
PactReadDep = Annotated[TenantServices, Depends(require_pact_token)]
