"""``GET /labels/{order_id}``: the printable carbon label of an order's footprint.

``format``: ``svg``, ``html`` (SVG plus the signed label data), ``pdf``, or
``json`` (the label document: the footprint as signed at issuance, the
presentation context and the label data it gives). Nothing is signed when a
label is served: every format carries the footprint's signature made at
issuance in the ``X-Carbontwin-Signature`` header (base64) with its key id in
``X-Carbontwin-Key-Id``; ``carbontwin verify`` checks a label file against it.

Labels are rendered once per footprint version and format and then served from
the worker's cache (:mod:`carbontwin.api._rendered`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from carbontwin.api._rendered import label_response, to_response
from carbontwin.api._twin import find_footprint
from carbontwin.api.deps import ReadDep
from carbontwin.api.errors import NotFound

router = APIRouter(prefix="/labels", tags=["labels"])


@router.get(
    "/{order_id}",
    operation_id="get_label",
    responses={
        200: {
            "content": {
                "image/svg+xml": {},
                "text/html": {},
                "application/pdf": {},
                "application/json": {},
            },
            "description": "The label in the requested format",
        }
    },
)
def get_label(
    order_id: str,
    request: Request,
    services: ReadDep,
    format: Literal["svg", "html", "pdf", "json"] = "svg",
    footprint_id: str | None = Query(
        None, description="A footprint version; the newest when omitted"
    ),
) -> Any:
    cached = label_response(request, services, order_id, footprint_id, format)
    if cached is not None:
        return to_response(cached)
    # no such footprint of that order: say what is missing
    store = services.store
    store.get_order(order_id)
    if footprint_id is not None:
        fp = find_footprint(store, footprint_id)
        msg = f"footprint {footprint_id} belongs to order {fp.order!r}, not {order_id!r}"
        raise NotFound(msg, field="footprint_id")
    msg = f"order {order_id!r} has no issued footprint yet"
    raise NotFound(msg, field="order_id")
