"""Client administration of the token's own tenant (admin scope).

- ``GET /admin/clients``: the tenant's API clients (ids, scopes; never secrets);
- ``POST /admin/clients``: a new client of the tenant; its secret is in this
  answer only (the store keeps its argon2 hash);
- ``DELETE /admin/clients/{client_id}``: remove one of the tenant's clients (its
  tokens stop working at once).

Tenants themselves are made by the operator (``carbontwin tenants add``), not
over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from carbontwin.api.clients import create_client
from carbontwin.api.deps import SCOPES, AdminDep
from carbontwin.api.errors import NotFound
from carbontwin.twin.store import check_scopes

router = APIRouter(prefix="/admin", tags=["admin"])


class ClientPublic(BaseModel):
    client_id: str
    tenant: str
    scopes: list[str]
    created_at: datetime


class ClientCreate(BaseModel):
    scopes: list[str] = Field(
        default_factory=lambda: ["read"], max_length=3, description=f"Of {', '.join(SCOPES)}"
    )


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown this once; only its hash is stored")
    tenant: str
    scopes: list[str]


@router.get("/clients", operation_id="list_clients", response_model=list[ClientPublic])
def list_clients(services: AdminDep) -> Any:
    """The API clients of the token's tenant."""
    return [
        {
            "client_id": c.client_id,
            "tenant": c.tenant,
            "scopes": list(c.scopes),
            "created_at": c.created_at,
        }
        for c in services.store.admin.clients(services.tenant)
    ]


@router.post(
    "/clients", operation_id="create_client", status_code=201, response_model=ClientCreated
)
def add_client(body: ClientCreate, services: AdminDep) -> Any:
    """A new client of the token's tenant; the answer holds its secret, this once."""
    scopes = check_scopes(body.scopes)
    client_id, secret = create_client(services.store, services.tenant, scopes)
    return {
        "client_id": client_id,
        "client_secret": secret,
        "tenant": services.tenant,
        "scopes": list(scopes),
    }


@router.delete("/clients/{client_id}", operation_id="remove_client", status_code=204)
def remove_client(client_id: str, services: AdminDep) -> Response:
    """Remove one of the tenant's clients (another tenant's is a 404, like a missing one)."""
    client = services.store.admin.client(client_id)
    if client is None or client.tenant != services.tenant:
        msg = f"no client {client_id!r}"
        raise NotFound(msg, field="client_id")
    services.store.admin.remove_client(client_id)
    return Response(status_code=204)
