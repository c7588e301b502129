"""Helpers the routes share: current factory, footprint lookup, PACT and label rendering.

Issuing itself is :mod:`carbontwin.api.issuing`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from carbontwin.plugins.label import label_document
from carbontwin.plugins.pact import (
    label_facts,
    pact_context,
    render_pact_v2,
    render_pact_v3,
)
from carbontwin.plugins.signing import sign_document, verify_document
from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.store import NotFoundError

from .deps import TenantServices, app_base_url
from .errors import Conflict, NotFound


def current_factory(store: Any) -> Any:
    """The newest stored factory; 409 when none was stored yet."""
    try:
        return store.load_factory()
    except NotFoundError:
        msg = "no factory stored yet: PUT /factory first"
        raise Conflict(msg, field="factory") from None


def stored_document(store: Any, footprint_id: str) -> dict[str, Any]:
    """The signed footprint document exactly as stored at issuance (reading never signs)."""
    doc: dict[str, Any] = store.stored_footprint(footprint_id).document
    return doc


def optional_factory(store: Any) -> Any | None:
    try:
        return store.load_factory()
    except NotFoundError:
        return None


def find_footprint(store: Any, footprint_id: str) -> Footprint:
    """The issued footprint ``footprint_id`` or 404 (also for ids that are no UUID)."""
    try:
        return store.get_footprint(footprint_id)  # type: ignore[no-any-return]
    except NotFoundError:
        raise
    except StoreError as exc:
        if exc.field != "id":
            raise
        msg = f"no footprint {footprint_id!r}: {exc.message}"
        raise NotFound(msg, field="id") from None


def statuses(store: Any, fps: Iterable[Footprint]) -> dict[str, str]:
    """PACT status of each footprint: Deprecated when a later version of its order exists,
    or when it is itself a withdrawal (issued with status Deprecated)."""
    out: dict[str, str] = {}
    latest: dict[str, int] = {}
    fps = list(fps)
    for fp in fps:
        if fp.order not in latest:
            newest = store.latest_footprint(fp.order)
            latest[fp.order] = newest.version if newest is not None else fp.version
        current = fp.version >= latest[fp.order] and fp.status != "Deprecated"
        out[fp.id] = "Active" if current else "Deprecated"
    return out


def render_pact(
    services: TenantServices, fp: Footprint, spec: int, factory: Any | None, status: str
) -> dict[str, Any]:
    s = services.settings
    ctx = pact_context(
        fp,
        factory,
        domain=s.pact_domain,
        company_name=s.company_name,
        status=status,
        product_category_cpc=s.product_category_cpc,
        classifications=s.product_classifications,
        scope2_headline=s.scope2_headline,
    )
    return render_pact_v3(fp, ctx) if spec == 3 else render_pact_v2(fp, ctx)


def signed(services: TenantServices, footprint_id: str, rendering: Any) -> dict[str, Any]:
    """``rendering`` (a document made from footprint ``footprint_id``) signed now with the
    service's key, only while the stored record verifies: its signature made at issuance
    holds against the service's key (as ``GET /footprints/{id}/verify`` checks it; a key
    row added behind the database's back vouches for nothing) and its row matches it.
    A rewritten row is refused (409), never signed afresh."""
    stored = services.store.stored_footprint(footprint_id)
    check = verify_document(stored.document, services.signing_key)
    problems = ([] if check.valid else [check.reason]) + list(stored.problems)
    if problems:
        msg = (
            f"footprint {footprint_id} does not verify as stored ({'; '.join(problems)}); "
            "a document made from it is not signed"
        )
        raise Conflict(msg, field="id")
    return sign_document(rendering, services.signing_key)


def footprint_label(
    request: Request,
    services: TenantServices,
    fp: Footprint,
    *,
    factory: Any | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The label document of ``fp``: its footprint as signed at issuance and the
    presentation context (:func:`carbontwin.plugins.label.label_document`).

    ``factory`` and ``status`` (PACT Active/Deprecated) are read from the store
    when not given."""
    store = services.store
    if factory is None:
        factory = optional_factory(store)
    product_name = company = ""
    if factory is not None:
        try:
            product_name = factory.product(fp.product).name
        except KeyError:
            product_name = ""
        company = services.settings.company_name or factory.name
    url = f"{app_base_url(request, services.settings)}/public/footprints/{fp.id}"
    if status is None:
        status = statuses(store, [fp])[fp.id]
    return label_document(
        stored_document(store, fp.id),
        product_name=product_name,
        company=company,
        pact_url=url,
        headline=services.settings.scope2_headline,
        facts=label_facts(render_pact(services, fp, 3, factory, status)),
    )
