"""PACT API v3 (``/3/footprints``, ``/3/footprints/{id}``, ``/3/events``).

Builds to the PACT Technical Specifications v3.0 (WBCSD), Action
ListFootprints, GetFootprint and Events; errors are PACT ``{"code", "message"}``
bodies. Requires HTTPS (``settings.require_https``) and a token from
``POST /auth/token``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from pydantic import BaseModel

from carbontwin.api import _pact_host as host
from carbontwin.api._rendered import pact_response, to_response
from carbontwin.api.deps import PactReadDep
from carbontwin.api.errors import PactError

router = APIRouter(prefix="/3", tags=["pact"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad request (PACT Error body)"},
    401: {"description": "Invalid or missing token (PACT Error body)"},
    403: {"description": "HTTPS required (PACT Error body)"},
}


class FootprintList(BaseModel):
    data: list[dict[str, Any]]


class FootprintOne(BaseModel):
    data: dict[str, Any]


@router.get(
    "/footprints",
    operation_id="pact3_list_footprints",
    response_model=FootprintList,
    responses=ERRORS,
)
def list_footprints(
    request: Request,
    response: Response,
    services: PactReadDep,
    limit: int | None = Query(None, ge=0, le=2**31),
    offset: int = Query(0, ge=0, le=2**31),
    productId: list[str] | None = Query(None),
    companyId: list[str] | None = Query(None),
    geography: list[str] | None = Query(None),
    classification: list[str] | None = Query(None),
    validOn: str | None = None,
    validAfter: str | None = None,
    validBefore: str | None = None,
    status: str | None = None,
) -> Any:
    """Action ListFootprints: filters ANDed, values of one filter ORed, Link paging."""
    if "$filter" in request.query_params:
        raise PactError(
            400,
            "BadRequest",
            "the ODataV4 $filter parameter is not part of PACT "
            "v3; use productId, companyId, geography, ...",
        )
    matches = host.v3_filter(
        {
            "productId": productId,
            "companyId": companyId,
            "geography": geography,
            "classification": classification,
            "validOn": validOn,
            "validAfter": validAfter,
            "validBefore": validBefore,
            "status": status,
        }
    )
    docs = [d for d in host.all_documents(services, 3) if matches(d)]
    return {
        "data": host.page(request, response, docs, limit, offset, services.settings.max_page_size)
    }


@router.get(
    "/footprints/{footprint_id}",
    operation_id="pact3_get_footprint",
    response_model=FootprintOne,
    responses={**ERRORS, 404: {"description": "No such footprint (PACT Error body)"}},
)
def get_footprint(footprint_id: str, services: PactReadDep) -> Any:
    """Action GetFootprint (deprecated versions too, with status Deprecated)."""
    cached = pact_response(services, 3, footprint_id)
    if cached is None:
        raise host.not_found(3, footprint_id)
    return to_response(cached)


def _v3_criteria(data: dict[str, Any]) -> dict[str, Any]:
    criteria: dict[str, Any] = {
        k: data.get(k)
        for k in (
            "productId",
            "companyId",
            "geography",
            "classification",
            "validOn",
            "validAfter",
            "validBefore",
            "status",
        )
    }
    for k in ("productId", "companyId", "geography", "classification"):
        if isinstance(criteria[k], str):
            criteria[k] = [criteria[k]]
        elif criteria[k] is not None and not isinstance(criteria[k], list):
            raise PactError(400, "BadRequest", f"data.{k} must be a list of strings")
    return criteria


EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/cloudevents+json": {
                "schema": {
                    "type": "object",
                    "required": ["specversion", "id", "source", "type", "time", "data"],
                    "properties": {
                        "specversion": {"type": "string", "enum": ["1.0"]},
                        "id": {"type": "string", "minLength": 1},
                        "source": {"type": "string", "minLength": 1},
                        "type": {"type": "string", "minLength": 1},
                        "time": {"type": "string", "format": "date-time"},
                        "data": {"type": "object"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/events",
    operation_id="pact3_events",
    responses=ERRORS,
    openapi_extra=EVENT_BODY,
    response_class=Response,
)
async def events(request: Request, background: BackgroundTasks, services: PactReadDep) -> Response:
    """Action Events: footprint requests are answered asynchronously to the requester."""
    return await host.handle_event(services, request, background, 3, _v3_criteria)
