"""PACT API v2.2 (``/2/footprints``, ``/2/footprints/{id}``, ``/2/events``).

Builds to the PACT Technical Specifications v2.2 (WBCSD). ListFootprints takes
``limit`` and the ODataV4 ``$filter`` subset of the v2 specification
(``path op 'value'`` and ``productIds/any(p:(p eq 'urn:...'))`` joined by
``and``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response

from carbontwin.api import _pact_host as host
from carbontwin.api._rendered import pact_response, to_response
from carbontwin.api.deps import PactReadDep
from carbontwin.api.errors import PactError

from .pact_v3 import ERRORS, EVENT_BODY, FootprintList, FootprintOne

router = APIRouter(prefix="/2", tags=["pact"])


@router.get(
    "/footprints",
    operation_id="pact2_list_footprints",
    response_model=FootprintList,
    responses=ERRORS,
)
def list_footprints(
    request: Request,
    response: Response,
    services: PactReadDep,
    limit: int | None = Query(None, ge=0, le=2**31),
    offset: int = Query(0, ge=0, le=2**31),
    filter_: str | None = Query(None, alias="$filter", description="ODataV4 subset"),
) -> Any:
    """Action ListFootprints (v2)."""
    docs = host.all_documents(services, 2)
    if filter_:
        matches = host.v2_odata_filter(filter_)
        docs = [d for d in docs if matches(d)]
    return {
        "data": host.page(request, response, docs, limit, offset, services.settings.max_page_size)
    }


@router.post("/footprints", include_in_schema=False)
def post_footprints(_services: PactReadDep) -> Any:
    """ListFootprints is GET only; a POST is a malformed request (PACT 400)."""
    raise PactError(400, "BadRequest", "ListFootprints is a GET request")


@router.get(
    "/footprints/{footprint_id}",
    operation_id="pact2_get_footprint",
    response_model=FootprintOne,
    responses={**ERRORS, 404: {"description": "No such footprint (PACT Error body)"}},
)
def get_footprint(footprint_id: str, services: PactReadDep) -> Any:
    """Action GetFootprint (v2)."""
    cached = pact_response(services, 2, footprint_id)
    if cached is None:
        raise host.not_found(2, footprint_id)
    return to_response(cached)


def _v2_criteria(data: dict[str, Any]) -> dict[str, Any]:
    pf = data.get("pf")
    if pf is not None and not isinstance(pf, dict):
        raise PactError(400, "BadRequest", "data.pf must be a ProductFootprint fragment object")
    pf = pf or {}
    product_ids = pf.get("productIds", data.get("productId"))
    company_ids = pf.get("companyIds", data.get("companyId"))
    if pf == {} and product_ids is None and company_ids is None:
        raise PactError(400, "BadRequest", "data.pf (a ProductFootprint fragment) is missing")
    criteria: dict[str, Any] = {}
    for key, value in (("productId", product_ids), ("companyId", company_ids)):
        if isinstance(value, str):
            value = [value]
        if value is not None and not isinstance(value, list):
            raise PactError(400, "BadRequest", f"{key} must be a list of strings")
        criteria[key] = value
    return criteria


@router.post(
    "/events",
    operation_id="pact2_events",
    responses=ERRORS,
    openapi_extra=EVENT_BODY,
    response_class=Response,
)
async def events(request: Request, background: BackgroundTasks, services: PactReadDep) -> Response:
    """Action Events (v2): requests answered asynchronously, other events accepted."""
    return await host.handle_event(services, request, background, 2, _v2_criteria)
