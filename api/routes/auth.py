"""``POST /auth/token``: OAuth2 client credentials grant (RFC 6749 4.4) for the API.

The client is the settings' one (:class:`~carbontwin.api.settings.Settings`:
tenant ``default``, every scope) or one stored with ``carbontwin clients add``
(its tenant and scopes; the secret checked against its argon2 hash).
Credentials are accepted by HTTP Basic (as PACT requires) or in the form body.
The token carries the client's tenant and scopes (``read``, ``write``,
``admin``); a ``scope`` form field asks for fewer. Errors use the OAuth2 body
``{"error", "error_description"}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from carbontwin.api.clients import authenticate
from carbontwin.api.deps import SCOPES, ServicesDep, issue_token, require_https

router = APIRouter(tags=["auth"])


class TokenPublic(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="carbontwin"'} if status == 401 else None
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic(request: Request) -> tuple[str, str] | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ("", "")
    return (user, password) if sep else ("", "")


@router.post(
    "/auth/token",
    operation_id="create_token",
    response_model=TokenPublic,
    responses={
        400: {"description": "Unsupported grant type"},
        401: {"description": "Client authentication failed"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            }
        }
    },
)
async def create_token(
    request: Request, services: ServicesDep, _https: Annotated[None, Depends(require_https)]
) -> Any:
    """Exchange client credentials for a bearer token."""
    try:
        form = await request.form()
    except Exception:  # a body that is no form at all
        return _oauth_error(
            400, "invalid_request", "body must be application/x-www-form-urlencoded"
        )
    grant = form.get("grant_type")
    if grant != "client_credentials":
        return _oauth_error(
            400,
            "unsupported_grant_type",
            f"grant_type is {grant!r}; only 'client_credentials' is supported",
        )
    creds = _basic(request)
    if creds is None:
        cid, secret = form.get("client_id"), form.get("client_secret")
        creds = (cid, secret) if isinstance(cid, str) and isinstance(secret, str) else ("", "")
    settings = services.settings
    principal = authenticate(settings, services, *creds)
    if principal is None:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    scopes = principal.scopes
    asked = form.get("scope")
    if isinstance(asked, str) and asked.strip():
        wanted = set(asked.split())
        # PACT clients ask for footprint:list footprint:read: reading
        if wanted & {"footprint:list", "footprint:read"}:
            wanted = (wanted - {"footprint:list", "footprint:read"}) | {"read"}
        beyond = sorted(wanted - set(scopes))
        if beyond:
            return _oauth_error(
                400, "invalid_scope", f"the client may not have {', '.join(beyond)}"
            )
        scopes = tuple(s for s in SCOPES if s in wanted)
    token = issue_token(
        settings,
        principal.client_id,
        tenant=principal.tenant,
        scopes=scopes,
        stored=principal.stored,
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.token_ttl_s,
        "scope": " ".join(scopes),
    }
