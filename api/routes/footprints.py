"""Footprints: per-order versions, issuing, signed documents and verification.

- ``GET /orders/{order_id}/footprint``: every issued version, oldest first, each signed
- ``POST /orders/{order_id}/footprint``: attribute the stored events, issue a new version
  if the result changed
- ``POST /footprints/attribute``: the same for every order with events
- ``POST /footprints/issue``: windowed issuing (``carbontwin issue``): the closed windows
  not attributed yet, then the orders they complete; for a store of any size
- ``POST /orders/{order_id}/footprint/withdraw``: withdraw the order's footprint (a new
  signed version with status Deprecated and the reason among its flags); ``.../reinstate``
  undoes it (a new Active version with the withdrawn one's figures)
- ``GET /footprints``, ``GET /footprints/{id}`` (signed), ``GET /footprints/{id}/pact``
- ``GET /footprints/{id}/verify`` and ``POST /footprints/verify``: was it altered?
- ``GET /footprints/{id}/pack``: the verifier's pack (zip) that ``carbontwin recompute``
  checks with nothing else

Footprints are signed once, when issued; every route here serves the signed
document as stored. The one signature made on reading, ``/pact?sign=true``, signs
the PACT rendering of a record that still verifies as stored (a rewritten row gets
409, never a fresh signature).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from carbontwin.api._limits import MAX_OFFSET
from carbontwin.api._twin import (
    find_footprint,
    optional_factory,
    render_pact,
    signed,
    statuses,
    stored_document,
)
from carbontwin.api.deps import ReadDep, WriteDep, app_base_url
from carbontwin.api.issuing import attribute_and_issue, issue_with_report
from carbontwin.plugins.aas import render_aas_json
from carbontwin.plugins.label import verify_label
from carbontwin.plugins.signing import verify_document
from carbontwin.twin.errors import CarbonTwinError

router = APIRouter(tags=["footprints"])
_F = TypeVar("_F", bound=Callable[..., Any])


class SignaturePublic(BaseModel):
    alg: str
    key_id: str
    sha256: str
    value: str


class SignedFootprint(BaseModel):
    payload: dict[str, Any]
    signature: SignaturePublic | None


class OrderFootprints(BaseModel):
    order: str
    versions: list[SignedFootprint]


class UncoveredReadings(BaseModel):
    """Electricity readings no emission factor covers: held out, holding back ``orders``."""

    meter: str
    count: int
    first: str
    last: str
    orders: list[str]
    message: str


class Issued(BaseModel):
    issued: list[SignedFootprint]
    uncovered: list[UncoveredReadings] = Field(
        default_factory=list,
        description="Readings held out of attribution (no factor covers them) and the "
        "orders they hold back; every other order was issued",
    )


class IssueRequest(BaseModel):
    """Optional body of the issuing routes."""

    rules: dict[str, Any] | None = None


def _rules(services: Any, body: IssueRequest | None) -> dict[str, Any]:
    """The service settings' rules, overridden by the request's."""
    return {**services.settings.rules, **((body.rules or {}) if body else {})}


class ReasonRequest(BaseModel):
    """Body of the withdrawal and reinstatement routes."""

    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$"
        ),
    ] = Field(
        description="Why (withdrawn: order cancelled, wrong data, ...; reinstated: withdrawn "
        "by mistake, ...), one line of text; a withdrawal records it among its flags as "
        "'withdrawn: <reason>', a reinstatement in its lineage ('reinstated')",
        examples=["order cancelled by the customer"],
    )


class VerificationPublic(BaseModel):
    valid: bool
    reason: str
    key_id: str
    sha256: str
    altered: bool = Field(
        False,
        description="The content no longer matches its signature (or the stored record its "
        "payload); false when the document was valid or could not be checked at all (not "
        "a signed document, signed with another key)",
    )
    matches_store: bool | None = None


@router.get(
    "/orders/{order_id}/footprint", operation_id="order_footprints", response_model=OrderFootprints
)
def order_footprints(order_id: str, services: ReadDep) -> Any:
    """Every issued version of the order's footprint, oldest first."""
    store = services.store
    store.get_order(order_id)
    versions = store.footprint_versions(order_id)
    return {"order": order_id, "versions": [stored_document(store, fp.id) for fp in versions]}


@router.post(
    "/orders/{order_id}/footprint", operation_id="issue_order_footprint", response_model=Issued
)
def issue_order_footprint(
    order_id: str,
    services: WriteDep,
    body: IssueRequest | None = Body(None),
) -> Any:
    """Attribute the stored events; issue a new version when the footprint changed.

    ``rules`` in the body override the service settings' rules for this issue.
    """
    services.store.get_order(order_id)
    issued = attribute_and_issue(services, [order_id], _rules(services, body))
    return {"issued": [stored_document(services.store, fp.id) for fp in issued]}


def _status_route(act: str, conflict: str) -> Callable[[_F], _F]:
    """The decorator of the route that withdraws or reinstates an order's footprint."""
    return router.post(
        f"/orders/{{order_id}}/footprint/{act}",
        operation_id=f"{act}_order_footprint",
        response_model=SignedFootprint,
        responses={
            404: {"description": "No such order, or it has no issued footprint"},
            409: {"description": conflict},
        },
    )


def _new_version(services: Any, order_id: str, act: Any, reason: str) -> Any:
    """``act`` (the store's withdraw or reinstate) on ``order_id``: its signed document."""
    services.store.get_order(order_id)
    fp = act(order_id, services.signer, reason)
    return stored_document(services.store, fp.id)


@_status_route("withdraw", "Its footprint is already withdrawn")
def withdraw_order_footprint(order_id: str, body: ReasonRequest, services: WriteDep) -> Any:
    """Withdraw the order's footprint: a new signed version with status Deprecated.

    The withdrawal carries the figures of the version it replaces and the reason
    among its flags; nothing stored changes. PACT partners then see every version
    of the order as Deprecated, and its label says it is withdrawn. Issuing leaves
    a withdrawn order alone until something it was computed from changes.
    """
    return _new_version(services, order_id, services.store.withdraw_footprint, body.reason)


@_status_route("reinstate", "Its footprint is not withdrawn")
def reinstate_order_footprint(order_id: str, body: ReasonRequest, services: WriteDep) -> Any:
    """Undo a withdrawal: a new signed Active version with the figures and flags of the
    withdrawn one, the reason in its lineage (``reinstated``). The withdrawal stays on
    record; issuing treats the new version like the one withdrawn.
    """
    return _new_version(services, order_id, services.store.reinstate_footprint, body.reason)


@router.post("/footprints/attribute", operation_id="issue_all_footprints", response_model=Issued)
def issue_all_footprints(services: WriteDep, body: IssueRequest | None = Body(None)) -> Any:
    """Attribute the stored events for every order that has any; issue what changed.

    ``rules`` in the body override the service settings' rules for this issue.
    """
    report = issue_with_report(services, None, _rules(services, body))
    return {
        "issued": [stored_document(services.store, fp.id) for fp in report.issued],
        "uncovered": [u.to_dict() for u in report.uncovered],
    }


class WindowIssueRequest(IssueRequest):
    """Optional body of ``POST /footprints/issue``."""

    window: Literal["day", "period"] = Field(
        default="day",
        description="Window length: day (from the first period bound after local midnight) "
        "or period (each shift and the time between)",
    )
    until: AwareDatetime | None = Field(
        default=None,
        description="Close the windows ending up to this time (default: the latest stored "
        "event); a window closes only once its end has passed",
    )


class WindowIssued(BaseModel):
    windows_attributed: int = Field(description="Windows attributed in this call")
    issued: list[SignedFootprint]
    waiting: list[str] = Field(
        description="Orders with energy in the closed windows whose last step's window "
        "has not closed yet (issued by a later call)"
    )
    closed_until: AwareDatetime | None = Field(
        description="End of the last closed window (None: no window has closed)"
    )


@router.post("/footprints/issue", operation_id="issue_windows", response_model=WindowIssued)
def issue_closed_windows(services: WriteDep, body: WindowIssueRequest | None = Body(None)) -> Any:
    """Windowed issuing, as ``carbontwin issue`` does: attribute the closed windows not
    attributed yet (or reached by late data since) from their own events and the state
    carried in, then issue the orders whose last step's window has closed (a new version
    where their figures or inputs changed). The work grows with the new windows, not
    with the stored history: the route for a plant's store, where ``POST
    /footprints/attribute`` (every stored event at once) would not fit in memory.
    """
    from carbontwin.api.issuing import issue_windows

    body = body or WindowIssueRequest()
    run = issue_windows(
        services.store,
        services.signer,
        _rules(services, body),
        window=body.window,
        until=body.until.timestamp() if body.until is not None else None,
    )
    closed = datetime.fromtimestamp(run.closed_until, UTC) if run.closed_until is not None else None
    return {
        "windows_attributed": len(run.windows),
        "issued": [stored_document(services.store, fp.id) for fp in run.issued],
        "waiting": list(run.waiting),
        "closed_until": closed,
    }


@router.get("/footprints", operation_id="list_footprints", response_model=list[dict[str, Any]])
def list_footprints(
    services: ReadDep,
    order: str | None = None,
    product: str | None = None,
    latest_only: bool = False,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Any:
    """Issued footprints (unsigned records), oldest issue first."""
    fps = services.store.list_footprints(
        limit=limit, offset=offset, order=order, product=product, latest_only=latest_only
    )
    return [fp.to_dict() for fp in fps]


@router.get(
    "/footprints/{footprint_id}", operation_id="get_footprint", response_model=SignedFootprint
)
def get_footprint(footprint_id: str, services: ReadDep) -> Any:
    """The footprint record with the Ed25519 signature made when it was issued."""
    fp = find_footprint(services.store, footprint_id)
    return stored_document(services.store, fp.id)


@router.get(
    "/footprints/{footprint_id}/pact",
    operation_id="get_footprint_pact",
    response_model=dict[str, Any],
)
def get_footprint_pact(
    footprint_id: str,
    services: ReadDep,
    spec: Literal["3", "2"] = "3",
    sign: bool = False,
) -> Any:
    """The footprint as a PACT ProductFootprint (v3 default, or v2.2); with ``sign``, signed
    now with the service's key, when the stored record still verifies (else 409)."""
    store = services.store
    fp = find_footprint(store, footprint_id)
    doc = render_pact(
        services, fp, int(spec), optional_factory(store), statuses(store, [fp])[fp.id]
    )
    return signed(services, fp.id, doc) if sign else doc


@router.get(
    "/footprints/{footprint_id}/aas",
    operation_id="get_footprint_aas",
    response_model=dict[str, Any],
)
def get_footprint_aas(footprint_id: str, request: Request, services: ReadDep) -> Any:
    """The footprint as an IDTA 02023 Carbon Footprint submodel (AAS JSON, metamodel V3)."""
    fp = find_footprint(services.store, footprint_id)
    url = f"{app_base_url(request, services.settings)}/3/footprints/{fp.id}"
    return render_aas_json(fp, pact_url=url)


@router.get(
    "/footprints/{footprint_id}/verify",
    operation_id="verify_footprint",
    response_model=VerificationPublic,
)
def verify_footprint(
    footprint_id: str,
    services: ReadDep,
    signature: str | None = Query(
        None, description="base64 signature of a copy to check against the stored record"
    ),
) -> Any:
    """Check the stored record: its signature made at issuance against the service's key,
    its columns against its payload, and its document against the issuance log.

    With ``signature``, a copy's signature is checked against the stored record instead.
    """
    fp = find_footprint(services.store, footprint_id)
    stored = services.store.stored_footprint(fp.id)
    doc = stored.document
    if signature is not None and isinstance(doc.get("signature"), dict):
        doc = {"payload": doc["payload"], "signature": {**doc["signature"], "value": signature}}
    result = verify_document(doc, services.signing_key).to_dict()
    if stored.problems:
        result["valid"] = False
        result["altered"] = True
        problems = "; ".join(stored.problems)
        result["reason"] = (
            problems if result["reason"] == "signature valid" else f"{result['reason']}; {problems}"
        )
    return {**result, "matches_store": not stored.problems}


@router.get(
    "/footprints/{footprint_id}/pack",
    operation_id="get_footprint_pack",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The verifier's pack"}},
)
def get_footprint_pack(footprint_id: str, services: ReadDep) -> Any:
    """The verifier's pack of a footprint: events slice, factory version, factor series,
    rules, result, signature and public key (``carbontwin recompute PACK.zip``).

    The pack is written to a temporary file and sent from there; a windowed
    footprint's windows are read one at a time. A window of more events than
    ``max_history_events`` (the lineage's count of the window: every event of it,
    plant-wide), or a whole-history footprint's events past it, is refused (413): a
    worker holds no more events at once than an attribution it would do; ``carbontwin
    pack`` writes such a pack."""
    import os
    import tempfile

    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    from carbontwin.api.errors import TooLarge
    from carbontwin.api.pack import write_pack

    fp = find_footprint(services.store, footprint_id)
    limit = services.settings.max_history_events
    events = (fp.lineage or {}).get("events") or {}
    windows = events.get("windows") if isinstance(events, dict) else None
    if isinstance(windows, list):
        counts = [w.get("count") for w in windows if isinstance(w, dict)]
        count = max((c for c in counts if isinstance(c, int)), default=None)
        what = "its largest window holds"
    else:
        count = events.get("count") if isinstance(events, dict) else None
        what = "it holds"
    if limit is not None and isinstance(count, int) and count > limit:
        msg = (
            f"the pack of footprint {fp.id}: {what} {count:,} events, more than "
            f"max_history_events ({limit:,}), more than a worker reads at once; write it "
            f"with carbontwin pack {fp.id} --out FILE, or raise max_history_events"
        )
        raise TooLarge(msg, field="footprint_id")
    fd, path = tempfile.mkstemp(prefix="carbontwin-pack-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as f:
            write_pack(services.store, fp.id, f)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{fp.order}-v{fp.version}.zip",
        background=BackgroundTask(os.unlink, path),
    )


@router.post(
    "/footprints/verify", operation_id="verify_document", response_model=VerificationPublic
)
def verify_signed(
    services: ReadDep,
    document: dict[str, Any] = Body(
        ..., description="A signed footprint, PACT document, or a label document"
    ),
) -> Any:
    """Was this signed footprint (or label) altered? Also: does its footprint match the
    store as issued?"""
    if "footprint" in document:  # a label document: its footprint is what was signed
        result = verify_label(document, services.signing_key).to_dict()
        inner = document.get("footprint")
        document = inner if isinstance(inner, dict) else {}
    else:
        result = verify_document(document, services.signing_key).to_dict()
    payload = document.get("payload")
    matches: bool | None = None
    if isinstance(payload, dict) and isinstance(payload.get("id"), str) and "order" in payload:
        try:
            fp = find_footprint(services.store, payload["id"])
            stored = services.store.stored_footprint(fp.id)
            matches = stored.document == document and not stored.problems
        except CarbonTwinError:
            matches = False
    return {**result, "matches_store": matches}
