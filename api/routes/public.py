"""Published footprints, public and read-only (no token).

- ``GET /public/footprints/{id}``: a page a customer reaches by scanning the
  label's QR code: the product, its footprint per declared unit (location- and
  market-based scope 2), validity, data quality, the signed data and how to
  verify it;
- ``GET /public/footprints/{id}.json``: the same as JSON: the signed footprint,
  its PACT v3 document, and the verification key.

A label printed before its footprint was withdrawn or corrected still points
here: the page then says so first (``notice``: withdrawn, or replaced by a later
version, with that version's page when it is published). A withdrawal's reason
stays private unless the withdrawal itself is published.

Only footprints published by an explicit act (``POST /footprints/{id}/publish``
or ``carbontwin publish``) answer; every other id, issued or not, is a 404.
"""

from __future__ import annotations

import hashlib
import html
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from carbontwin.api._twin import (
    find_footprint,
    optional_factory,
    render_pact,
    statuses,
    stored_document,
)
from carbontwin.api.deps import (
    DEFAULT_TENANT,
    Services,
    ServicesDep,
    TenantServices,
    WriteDep,
    app_base_url,
)
from carbontwin.api.errors import NotFound
from carbontwin.plugins.signing import key_id
from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint

router = APIRouter(prefix="/public", tags=["public"])
publish_router = APIRouter(tags=["footprints"])

KEY_PATH = "/.well-known/carbontwin-signing-key"


def key_fingerprint(services: TenantServices) -> str:
    """SHA-256 of the raw Ed25519 public key, hex (its first 16 digits are the key id)."""
    pub = services.signing_key.public_key()
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def published_footprint(base: Services, footprint_id: str) -> tuple[TenantServices, Footprint]:
    """The services of the tenant that published ``footprint_id``, and the footprint;
    404 otherwise (also for issued but unpublished ones, with the same answer)."""
    msg = f"no published footprint {footprint_id!r}"
    tenant = base.store.publisher(footprint_id)
    if tenant is None:
        raise NotFound(msg, field="id")
    services = base.for_tenant(tenant)
    try:
        fp: Footprint = services.store.get_footprint(footprint_id)
    except StoreError:
        raise NotFound(msg, field="id") from None
    return services, fp


def key_url(base: str, tenant: str) -> str:
    """URL of ``tenant``'s public signing key."""
    return f"{base}{KEY_PATH}" + ("" if tenant == DEFAULT_TENANT else f"?tenant={tenant}")


def public_document(request: Request, services: TenantServices, fp: Footprint) -> dict[str, Any]:
    """The public JSON of a published footprint."""
    store = services.store
    base = app_base_url(request, services.settings)
    status = statuses(store, [fp])[fp.id]
    published = store.published_at(fp.id)
    return {
        "footprint": stored_document(store, fp.id),  # as signed at issuance
        "pact": render_pact(services, fp, 3, optional_factory(store), status),
        "status": status,
        "notice": _notice(store, fp, base),
        "published_at": _iso(published),
        "page": f"{base}/public/footprints/{fp.id}",
        "verify": {
            "alg": "Ed25519",
            "key_id": key_id(services.signing_key),
            "key_fingerprint_sha256": key_fingerprint(services),
            "public_key": key_url(base, services.tenant),
            "how": (
                "Save the 'footprint' member of this document as footprint.json and run "
                f"'carbontwin verify footprint.json --key-url {key_url(base, services.tenant)}'. "
                "Or check it "
                "yourself: the signature's 'value' (base64) is an Ed25519 signature over the "
                "RFC 8785 canonical JSON of 'payload', whose SHA-256 is the signature's "
                "'sha256', with the public key at the URL above."
            ),
        },
    }


@router.get("/footprints/{footprint_id}.json", operation_id="public_footprint_json")
def public_footprint_json(footprint_id: str, request: Request, services: ServicesDep) -> Any:
    """A published footprint as JSON: signed data, PACT v3 document, how to verify."""
    tenant_services, fp = published_footprint(services, footprint_id)
    return public_document(request, tenant_services, fp)


@router.get(
    "/footprints/{footprint_id}",
    operation_id="public_footprint_page",
    response_class=HTMLResponse,
)
def public_footprint_page(footprint_id: str, request: Request, services: ServicesDep) -> Any:
    """A published footprint as a read-only page."""
    tenant_services, fp = published_footprint(services, footprint_id)
    doc = public_document(request, tenant_services, fp)
    return HTMLResponse(_page(fp, doc))


def _iso(t: Any) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t is not None else None


def _notice(store: Any, fp: Footprint, base: str) -> dict[str, Any] | None:
    """What a reader of ``fp``'s page must know first: it was withdrawn, or a later
    version replaces it (None while it is the order's current footprint)."""
    if fp.withdrawal_reason:  # a published withdrawal: its own reason is public
        return {
            "kind": "withdrawn",
            "at": _iso(fp.issued_at),
            "reason": fp.withdrawal_reason,
            "text": f"Withdrawn by its issuer: {fp.withdrawal_reason}. Not a valid footprint.",
        }
    latest = store.latest_footprint(fp.order)
    if latest is None or latest.version <= fp.version:
        return None
    at = _iso(latest.issued_at)
    if latest.withdrawal_reason:
        return {
            "kind": "withdrawn",
            "at": at,
            "text": f"Withdrawn by its issuer on {(at or '')[:10]}. Not a valid footprint "
            "any more.",
        }
    page = f"{base}/public/footprints/{latest.id}" if store.published_at(latest.id) else None
    return {
        "kind": "replaced",
        "at": at,
        "version": latest.version,
        "page": page,
        "text": f"Replaced by version {latest.version} of this footprint, issued "
        f"{(at or '')[:10]}." + ("" if page else " That version is not published."),
    }


def _row(name: str, value: str) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"


def _page(fp: Footprint, doc: dict[str, Any]) -> str:
    pact = doc["pact"]
    pcf = pact["pcf"]
    dqi = pcf.get("dqi", {})
    unit = fp.declared_unit
    q = fp.quantity or float("nan")
    rows = [
        _row("Product", pact["productNameCompany"]),
        _row("Company", pact["companyName"]),
        _row("Order (batch)", fp.order),
        _row("Status", f"{doc['status']} (version {fp.version})"),
        _row(
            "Carbon footprint, location-based scope 2",
            f"{fp.co2e_kg / q:.4g} kg CO2e per {unit}",
        ),
        _row(
            "Carbon footprint, market-based scope 2",
            f"{fp.co2e_market_kg / q:.4g} kg CO2e per {unit}",
        ),
        _row("Mass per declared unit", f"{pcf['productMassPerDeclaredUnit']} kg"),
        _row("Primary data share", f"{pcf['primaryDataShare']} %"),
        _row(
            "Data quality (DQR, 1 good .. 3 poor)",
            f"technological {dqi.get('technologicalDQR')}, geographical "
            f"{dqi.get('geographicalDQR')}, temporal {dqi.get('temporalDQR')}",
        ),
        _row("Reference period", f"{pcf['referencePeriodStart']} to {pcf['referencePeriodEnd']}"),
        _row("Valid", f"{pact['validityPeriodStart']} to {pact['validityPeriodEnd']}"),
        _row("Specification", f"PACT {pact['specVersion']}"),
        _row("Signing key (SHA-256 fingerprint)", doc["verify"]["key_fingerprint_sha256"]),
        _row("Published", str(doc["published_at"])),
    ]
    notice = doc["notice"]
    banner = ""
    if notice is not None:
        link = (
            f' <a href="{html.escape(notice["page"])}">Version {notice["version"]}</a>'
            if notice.get("page")
            else ""
        )
        banner = f'<p id="notice" class="{notice["kind"]}">{html.escape(notice["text"])}{link}</p>'
    signed_json = html.escape(json.dumps(doc["footprint"], indent=1, ensure_ascii=False))
    how = html.escape(doc["verify"]["how"])
    title = html.escape(f"{pact['productNameCompany']}: product carbon footprint")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
color:#1d2b36}}th{{text-align:left;padding:.3rem 1rem .3rem 0;vertical-align:top}}
pre{{background:#f4f6f8;padding:1rem;overflow:auto;font-size:.8rem}}
#notice{{background:#b3261e;color:#fff;padding:.6rem .9rem;font-weight:600}}
#notice a{{color:#fff}}</style></head>
<body><h1>{title}</h1>{banner}
<table>{"".join(rows)}</table>
<p><a href="{html.escape(doc["page"])}.json">JSON</a> (signed data and PACT document)</p>
<h2>How to verify</h2><p>{how}</p>
<h2>Signed data</h2><pre id="signed-footprint">{signed_json}</pre>
</body></html>
"""


class Publication(BaseModel):
    footprint_id: str
    published_at: str
    page: str


@publish_router.post(
    "/footprints/{footprint_id}/publish",
    operation_id="publish_footprint",
    response_model=Publication,
)
def publish_footprint(footprint_id: str, request: Request, services: WriteDep) -> Any:
    """Publish a footprint (an explicit act of its owner): its public page and JSON
    answer without a token from now on."""
    fp = find_footprint(services.store, footprint_id)
    when = services.store.publish_footprint(fp.id)
    base = app_base_url(request, services.settings)
    return {
        "footprint_id": fp.id,
        "published_at": when.isoformat().replace("+00:00", "Z"),
        "page": f"{base}/public/footprints/{fp.id}",
    }
