"""``GET /labels/{order_id}``: the printable carbon label of an order's footprint.

``format``: ``svg``, ``html`` (SVG plus the signed label data), ``pdf``, or
``json`` (the label document: the footprint as signed at issuance, the
presentation context and the label data it gives). Nothing is signed when a
label is served: every format carries the footprint's signature made at
issuance in the ``X-Carbontwin-Signature`` header (base64) with its key id in
``X-Carbontwin-Key-Id``; ``carbontwin verify`` checks a label file against it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from carbontwin.api._twin import find_footprint, footprint_label
from carbontwin.api.deps import ReadDep
from carbontwin.api.errors import NotFound
from carbontwin.plugins.label import label_from_document, render_html, render_pdf, render_svg

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
    doc = footprint_label(request, services, fp)
    sig = doc["footprint"].get("signature") or {}
    headers = {
        "X-Carbontwin-Signature": str(sig.get("value", "")),
        "X-Carbontwin-Key-Id": str(sig.get("key_id", "")),
    }
    if format == "json":
        return JSONResponse(doc, headers=headers)
    if format == "html":
        return HTMLResponse(render_html(None, doc), headers=headers)
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="label-{fp.id}.pdf"'
        return Response(render_pdf(None, doc), media_type="application/pdf", headers=headers)
    return Response(
        render_svg(label_from_document(doc)), media_type="image/svg+xml", headers=headers
    )
