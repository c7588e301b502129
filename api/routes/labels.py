"""``GET /labels/{order_id}``: the printable carbon label of an order's footprint.

``format``: ``svg``, ``html`` (SVG plus the signed label data), ``pdf``, or
``json`` (the label data signed with Ed25519). Every format carries the
signature of the label data in the ``X-Carbontwin-Signature`` header
(base64) with its key id in ``X-Carbontwin-Key-Id``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from carbontwin.api._twin import find_footprint, footprint_label, signed
from carbontwin.api.deps import ServicesDep, TokenDep
from carbontwin.api.errors import NotFound
from carbontwin.plugins.label import render_html, render_pdf, render_svg

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
    services: ServicesDep,
    _sub: TokenDep,
    format: Literal["svg", "html", "pdf", "json"] = "svg",
    footprint_id: str | None = Query(
        None, description="A footprint version; the newest when omitted"
    ),
) -> Any:
    store = services.store
    store.get_order(order_id)
    if footprint_id is not None:
        fp = find_footprint(store, footprint_id)
        if fp.order != order_id:
            msg = f"footprint {footprint_id} belongs to order {fp.order!r}, not {order_id!r}"
            raise NotFound(msg, field="footprint_id")
    else:
        fp = store.latest_footprint(order_id)
        if fp is None:
            msg = f"order {order_id!r} has no issued footprint yet"
            raise NotFound(msg, field="order_id")
    data = footprint_label(request, services, fp)
    doc = signed(services, data.to_dict())
    headers = {
        "X-Carbontwin-Signature": doc["signature"]["value"],
        "X-Carbontwin-Key-Id": doc["signature"]["key_id"],
    }
    if format == "json":
        return JSONResponse(doc, headers=headers)
    if format == "html":
        return HTMLResponse(render_html(data, doc["signature"]), headers=headers)
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="label-{fp.id}.pdf"'
        return Response(render_pdf(None, doc), media_type="application/pdf", headers=headers)
    return Response(render_svg(data), media_type="image/svg+xml", headers=headers)
