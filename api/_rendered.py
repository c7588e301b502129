"""Cached renderings behind ``GET /3/footprints/{id}``, ``GET /2/footprints/{id}`` and
``GET /labels/{order}``.

A request reads the footprint's head (one indexed query: is it the newest
version, which factory version is newest; see
:meth:`carbontwin.twin.store.Store.footprint_head`) and answers from the
worker's :class:`~carbontwin.api._cache.ResponseCache` when it rendered the same
(tenant, footprint, format, current, factory version) before; only a miss reads
the footprint and renders it. ``None`` means "no such footprint here": the
route then takes its uncached path, which names what is missing.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from carbontwin.plugins.label import label_from_document, render_html, render_pdf, render_svg
from carbontwin.twin.footprint import DEPRECATED

from ._cache import CachedResponse
from ._twin import footprint_label, render_pact
from .deps import TenantServices, app_base_url, tenant_of

__all__ = ["label_response", "pact_response", "to_response"]

LABEL_MEDIA = {
    "svg": "image/svg+xml",
    "html": "text/html",
    "pdf": "application/pdf",
    "json": "application/json",
}


def to_response(cached: CachedResponse) -> Any:
    """A Starlette response of a cached rendering (bytes as rendered, no re-encoding)."""
    from fastapi.responses import Response

    return Response(cached.body, media_type=cached.media_type, headers=cached.headers)


def _factory(services: TenantServices, store: Any, version: int | None) -> Any | None:
    return None if version is None else services.factory(store, version)


def pact_response(services: TenantServices, spec: int, footprint_id: str) -> CachedResponse | None:
    """``{"data": <PACT v3 or v2 document>}`` of footprint ``footprint_id``, rendered once
    per (tenant, id, spec, current, factory version); ``None`` when there is no such
    footprint."""
    store = services.store
    head = store.footprint_head(footprint_id)
    if head is None:
        return None
    key = (tenant_of(store), head.id, f"pact-v{spec}", head.current, head.factory_version)

    def render() -> CachedResponse:
        fp = store.get_footprint(head.id)
        status = "Active" if head.current and fp.status != DEPRECATED else "Deprecated"
        factory = _factory(services, store, head.factory_version)
        doc = render_pact(services, fp, spec, factory, status)
        return CachedResponse(bytes(JSONResponse({"data": doc}).body), "application/json")

    return services.responses.get_or_render(key, render)


def label_response(
    request: Request, services: TenantServices, order_id: str, footprint_id: str | None, fmt: str
) -> CachedResponse | None:
    """The label of ``order_id`` (its newest footprint, or version ``footprint_id``) in
    ``fmt``, rendered once per (tenant, id, format, current, factory version, base
    URL); ``None`` when the store has no such footprint of that order."""
    store = services.store
    if footprint_id is not None:
        head = store.footprint_head(footprint_id)
    else:
        head = store.footprint_head(order=order_id)
    if head is None or head.order != order_id or not head.order_stored:
        return None
    base = app_base_url(request, services.settings)  # the label's QR code links here
    key = (
        tenant_of(store),
        head.id,
        f"label-{fmt}",
        head.current,
        head.factory_version,
        base,
    )

    def render() -> CachedResponse:
        fp = store.get_footprint(head.id)
        status = "Active" if head.current and fp.status != DEPRECATED else "Deprecated"
        factory = _factory(services, store, head.factory_version)
        doc = footprint_label(request, services, fp, factory=factory, status=status)
        return rendered_label(doc, fmt)

    return services.responses.get_or_render(key, render)


def rendered_label(doc: dict[str, Any], fmt: str) -> CachedResponse:
    """A label document rendered as ``fmt`` (svg, html, pdf, json) with the signature
    headers of the footprint it embeds."""
    sig = doc["footprint"].get("signature") or {}
    headers = {
        "X-Carbontwin-Signature": str(sig.get("value", "")),
        "X-Carbontwin-Key-Id": str(sig.get("key_id", "")),
    }
    if fmt == "json":
        return CachedResponse(bytes(JSONResponse(doc).body), LABEL_MEDIA[fmt], headers)
    if fmt == "html":
        return CachedResponse(render_html(None, doc).encode(), LABEL_MEDIA[fmt], headers)
    if fmt == "pdf":
        fid = doc["footprint"]["payload"]["id"]
        headers["Content-Disposition"] = f'inline; filename="label-{fid}.pdf"'
        return CachedResponse(render_pdf(None, doc), LABEL_MEDIA[fmt], headers)
    svg = render_svg(label_from_document(doc)).encode()
    return CachedResponse(svg, LABEL_MEDIA["svg"], headers)
