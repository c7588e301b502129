"""``GET /factory`` and ``PUT /factory``: the factory model, versioned in the store.

``PUT`` takes the factory as JSON (the ``factory.yaml`` structure) or, with
``Content-Type: application/yaml``, the YAML text itself; it is validated as
``carbontwin factory validate`` does, and every problem is listed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from carbontwin.api._limits import MAX_VERSION
from carbontwin.api.deps import ReadDep, WriteDep
from carbontwin.twin.errors import FactoryModelError
from carbontwin.twin.factory_file import factory_to_dict, loads_factory

router = APIRouter(prefix="/factory", tags=["factory"])


class FactoryVersionPublic(BaseModel):
    version: int
    factory: str
    name: str


@router.get("", operation_id="get_factory", response_model=dict[str, Any])
def get_factory(
    services: ReadDep,
    version: int | None = Query(
        None, ge=1, le=MAX_VERSION, description="Factory version; newest when omitted"
    ),
) -> Any:
    """The factory model (newest version, or ``version``)."""
    return factory_to_dict(services.store.load_factory(version))


@router.put(
    "",
    operation_id="put_factory",
    response_model=FactoryVersionPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def put_factory(request: Request, services: WriteDep) -> Any:
    """Validate and store a factory model as a new version."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        msg = "factory body is not UTF-8 text"
        raise FactoryModelError(msg, field="body") from None
    # JSON goes through the same reader as YAML: errors carry the line, and the nesting
    # and alias limits hold for both
    yaml_types = ("application/yaml", "application/x-yaml", "text/yaml")
    name = "request body.yaml" if ctype in yaml_types else "request body.json"
    factory = loads_factory(text, filename=name)
    version = services.store.save_factory(factory)
    if factory.orders:
        services.store.save_orders(factory.orders)
    return {"version": version, "factory": factory.id, "name": factory.name}
