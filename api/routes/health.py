"""``GET /health``: liveness, and whether the store answers (no token needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from carbontwin.api.deps import ServicesDep
from carbontwin.twin.errors import CarbonTwinError

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str
    version: str
    store: str


@router.get("/health", operation_id="health", response_model=HealthPublic)
def health(services: ServicesDep) -> Any:
    from importlib.metadata import version

    try:
        services.store.list_orders()
        store = "ok"
    except (CarbonTwinError, OSError) as exc:
        store = f"unavailable: {exc}"
    except Exception as exc:  # the probe must answer even when the database is down
        store = f"unavailable: {type(exc).__name__}"
    return {
        "status": "ok" if store == "ok" else "degraded",
        "version": version("carbontwin"),
        "store": store,
    }
