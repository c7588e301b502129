"""The public signing key at ``/.well-known/carbontwin-signing-key`` (no token needed).

``GET /.well-known/carbontwin-signing-key`` answers JSON ``{"alg", "key_id",
"public_key_pem"}``; ``.../carbontwin-signing-key.pem`` the bare PEM. Verify a
signed footprint or label with it (``carbontwin verify FILE --key-url ...``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from carbontwin.api.deps import ServicesDep, app_base_url
from carbontwin.plugins.signing import ALG, key_id, public_key_pem

router = APIRouter(tags=["signing"])

WELL_KNOWN_KEY_PATH = "/.well-known/carbontwin-signing-key"


class SigningKeyPublic(BaseModel):
    alg: str
    key_id: str
    public_key_pem: str


@router.get(WELL_KNOWN_KEY_PATH, operation_id="signing_key", response_model=SigningKeyPublic)
def signing_key(services: ServicesDep) -> Any:
    key = services.signing_key
    return {"alg": ALG, "key_id": key_id(key), "public_key_pem": public_key_pem(key)}


@router.get(
    WELL_KNOWN_KEY_PATH + ".pem", operation_id="signing_key_pem", response_class=PlainTextResponse
)
def signing_key_pem(services: ServicesDep) -> str:
    return public_key_pem(services.signing_key)


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
