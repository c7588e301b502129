"""The public signing keys at ``/.well-known/carbontwin-signing-key`` (no token needed).

``GET /.well-known/carbontwin-signing-key`` answers JSON ``{"alg", "key_id",
"public_key_pem", "tenant"}``; ``.../carbontwin-signing-key.pem`` the bare PEM. Each
tenant signs with its own key: ``?tenant=NAME`` picks it (default: tenant
``default``). Verify a signed footprint or label with it (``carbontwin verify FILE
--key-url ...``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from carbontwin.api.deps import DEFAULT_TENANT, Services, ServicesDep, app_base_url
from carbontwin.api.errors import NotFound
from carbontwin.plugins.signing import ALG, key_id, public_key_pem

router = APIRouter(tags=["signing"])

WELL_KNOWN_KEY_PATH = "/.well-known/carbontwin-signing-key"


class SigningKeyPublic(BaseModel):
    alg: str
    key_id: str
    public_key_pem: str
    tenant: str


TenantQuery = Query(
    DEFAULT_TENANT, max_length=63, description="The tenant whose key (default: 'default')"
)


def _key(services: Services, tenant: str) -> Any:
    # only a tenant that exists has a key: an unknown name creates no key file
    if tenant != DEFAULT_TENANT and not services.store.admin.has_tenant(tenant):
        msg = f"no tenant {tenant!r}"
        raise NotFound(msg, field="tenant")
    return services.signing_key_for(tenant)


@router.get(WELL_KNOWN_KEY_PATH, operation_id="signing_key", response_model=SigningKeyPublic)
def signing_key(services: ServicesDep, tenant: str = TenantQuery) -> Any:
    key = _key(services, tenant)
    return {
        "alg": ALG,
        "key_id": key_id(key),
        "public_key_pem": public_key_pem(key),
        "tenant": tenant,
    }


@router.get(
    WELL_KNOWN_KEY_PATH + ".pem", operation_id="signing_key_pem", response_class=PlainTextResponse
)
def signing_key_pem(services: ServicesDep, tenant: str = TenantQuery) -> str:
    return public_key_pem(_key(services, tenant))


@router.get(
    "/.well-known/openid-configuration",
    operation_id="openid_configuration",
    response_model=dict[str, Any],
)
def openid_configuration(request: Request, services: ServicesDep) -> Any:
    """Discovery of the token endpoint (client credentials only; no user login)."""
    base = app_base_url(request, services.settings)
    return {
        "issuer": base,
        "token_endpoint": f"{base}/auth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
    }
