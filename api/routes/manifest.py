"""``GET /plugin/manifest`` (public, no token): what a host platform needs to embed carbontwin."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from carbontwin.api.settings import Settings
from carbontwin.plugins.registry import list_plugins

router = APIRouter(prefix="/plugin", tags=["plugin"])

PERMISSIONS = (
    {"name": "database", "description": "read and write the twin store (settings.database_url)"},
    {
        "name": "filesystem",
        "description": "read and create the signing key file (settings.key_path)",
    },
    {
        "name": "network.outbound",
        "description": "POST answers to PACT partners' event endpoints (settings.pact_partners)",
    },
    {"name": "threads", "description": "run simulation jobs in a thread pool"},
)


class RoutePublic(BaseModel):
    path: str
    methods: list[str]
    operation_id: str | None
    auth: bool


class ManifestPublic(BaseModel):
    name: str
    version: str
    description: str
    routes: list[RoutePublic]
    config_schema: dict[str, Any]
    required_permissions: list[dict[str, str]]
    plugins: list[dict[str, str]]
    signing_key_url: str
    openapi_url: str


@router.get("/manifest", operation_id="plugin_manifest", response_model=ManifestPublic)
def plugin_manifest(request: Request) -> Any:
    """Name, version, routes, configuration JSON Schema and permissions.

    Public: a host platform reads it before it has credentials. It holds the
    settings' schema, never their values."""
    prefix = request.scope.get("root_path", "").rstrip("/")
    routes = [
        {
            "path": prefix + path,
            "methods": [method.upper()],
            "operation_id": op.get("operationId"),
            "auth": bool(op.get("security")),
        }
        for path, ops in request.app.openapi()["paths"].items()
        for method, op in ops.items()
    ]
    return {
        "name": "carbontwin",
        "version": version("carbontwin"),
        "description": "Factory carbon twin: per-order energy and CO2e from machine data, "
        "PACT footprints, signed labels and schedule simulation.",
        "routes": routes,
        "config_schema": Settings.model_json_schema(),
        "required_permissions": list(PERMISSIONS),
        "plugins": [
            {"group": p.group, "name": p.name, "target": p.target, "distribution": p.distribution}
            for p in list_plugins()
        ],
        "signing_key_url": f"{prefix}/.well-known/carbontwin-signing-key",
        "openapi_url": f"{prefix}/openapi.json",
    }
