"""The PACT host system behind ``/3`` and ``/2``: listing, filtering, paging, events.

Implements the Action ListFootprints / GetFootprint / Events of the PACT
Technical Specifications (WBCSD) v3.0 and v2.2 over the footprints in the
store. Every issued footprint version is listed; a version with a later one is
``Deprecated``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
from cloudevents.core.bindings.http import to_structured_event
from cloudevents.core.v1.event import CloudEvent
from fastapi import BackgroundTasks, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ._twin import optional_factory, render_pact, statuses
from .deps import TenantServices, app_base_url
from .errors import PactError

log = logging.getLogger("carbontwin.api.pact")

V3_EVENTS = {
    "request": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
    "fulfilled": "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3",
    "rejected": "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3",
    "published": "org.wbcsd.pact.ProductFootprint.PublishedEvent.3",
}
V2_EVENTS = {
    "request": "org.wbcsd.pathfinder.ProductFootprintRequest.Created.v1",
    "fulfilled": "org.wbcsd.pathfinder.ProductFootprintRequest.Fulfilled.v1",
    "rejected": "org.wbcsd.pathfinder.ProductFootprintRequest.Rejected.v1",
    "published": "org.wbcsd.pathfinder.ProductFootprint.Published.v1",
}

Doc = dict[str, Any]


def all_documents(services: TenantServices, spec: int) -> list[Doc]:
    """Every issued footprint version rendered as PACT ``spec`` (3 or 2), oldest first."""
    store = services.store
    fps = store.list_footprints()
    factory = optional_factory(store)
    status = statuses(store, fps)
    return [render_pact(services, fp, spec, factory, status[fp.id]) for fp in fps]


def not_found(spec: int, footprint_id: str) -> PactError:
    """The PACT 404 of a footprint id that is not in the store."""
    return PactError(
        404,
        "NoSuchFootprint" if spec == 2 else "NotFound",
        f"Footprint with ID '{footprint_id}' does not exist",
    )


# --- v3 filters ---------------------------------------------------------------


def _time(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PactError(
            400, "BadRequest", f"{name} {value!r} is not an ISO 8601 date-time"
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _lower(values: Sequence[str]) -> set[str]:
    return {v.strip().lower() for v in values if v.strip()}


def v3_filter(criteria: dict[str, Any]) -> Callable[[Doc], bool]:
    """Predicate of the v3 filter criteria (OR within one criterion, AND between them).

    ``criteria`` keys: productId, companyId, geography, classification (lists),
    validOn, validAfter, validBefore (ISO strings), status; matches are
    case-insensitive.
    """
    tests: list[Callable[[Doc], bool]] = []

    def any_of(key: str, values: Sequence[str]) -> None:
        want = _lower(values)
        if want:
            tests.append(lambda d: bool(want & _lower(d.get(key) or [])))

    any_of("productIds", criteria.get("productId") or [])
    any_of("companyIds", criteria.get("companyId") or [])
    any_of("productClassifications", criteria.get("classification") or [])
    geos = _lower(criteria.get("geography") or [])
    if geos:
        keys = ("geographyCountry", "geographyRegionOrSubregion", "geographyCountrySubdivision")
        tests.append(lambda d: bool(geos & {str(d["pcf"].get(k, "")).lower() for k in keys}))
    if criteria.get("validOn"):
        on = _time(criteria["validOn"], "validOn")
        tests.append(
            lambda d: (
                _time(d["validityPeriodStart"], "start")
                <= on
                <= _time(d["validityPeriodEnd"], "end")
            )
        )
    if criteria.get("validAfter"):
        after = _time(criteria["validAfter"], "validAfter")
        tests.append(lambda d: _time(d["validityPeriodStart"], "start") > after)
    if criteria.get("validBefore"):
        before = _time(criteria["validBefore"], "validBefore")
        tests.append(lambda d: _time(d["validityPeriodEnd"], "end") < before)
    status = criteria.get("status")
    if status:
        want_status = _lower([status] if isinstance(status, str) else status)
        tests.append(lambda d: d["status"].lower() in want_status)
    return lambda d: all(t(d) for t in tests)


# --- v2 OData $filter (the subset of PACT v2 section 6.6) ----------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|"
    r"(?P<sym>[()/:,])|(?P<word>[A-Za-z_$][A-Za-z0-9_$]*))"
)
_OPS = {"eq", "ne", "lt", "le", "gt", "ge"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PactError(400, "BadRequest", f"$filter: cannot read {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _cmp(left: Any, op: str, right: str) -> bool:
    if left is None:
        return op == "ne"
    a, b = str(left), right
    try:
        ta, tb = _time(a, "value"), _time(b, "value")
        a_key: Any = ta
        b_key: Any = tb
    except PactError:
        try:
            a_key, b_key = float(a), float(b)
        except ValueError:
            a_key, b_key = a, b
    result: bool = {
        "eq": a_key == b_key,
        "ne": a_key != b_key,
        "lt": a_key < b_key,
        "le": a_key <= b_key,
        "gt": a_key > b_key,
        "ge": a_key >= b_key,
    }[op]
    return result


def v2_odata_filter(text: str) -> Callable[[Doc], bool]:
    """Predicate of a v2 ``$filter``: ``path op literal`` and ``path/any(x:x eq 'v')``,
    joined by ``and``. Anything else is a PACT 400."""
    toks = _tokens(text)
    clauses: list[Callable[[Doc], bool]] = []
    i = 0

    def take(kind: str | None = None, value: str | None = None) -> str:
        nonlocal i
        if i >= len(toks) or (kind and toks[i][0] != kind) or (value and toks[i][1] != value):
            got = toks[i][1] if i < len(toks) else "end of filter"
            raise PactError(400, "BadRequest", f"$filter: unexpected {got!r}")
        i += 1
        return toks[i - 1][1]

    def literal() -> str:
        kind, val = toks[i] if i < len(toks) else ("", "")
        if kind == "str":
            take()
            return val[1:-1].replace("''", "'")
        return take("num")

    while True:
        path = [take("word")]
        while i < len(toks) and toks[i][1] == "/" and i + 1 < len(toks) and toks[i + 1][1] != "any":
            take("sym", "/")
            path.append(take("word"))
        if i < len(toks) and toks[i][1] == "/":
            take("sym", "/")
            take("word", "any")
            take("sym", "(")
            var = take("word")
            take("sym", ":")
            paren = i < len(toks) and toks[i][1] == "("
            if paren:
                take("sym", "(")
            take("word", var)
            op = take("word")
            if op != "eq":
                raise PactError(400, "BadRequest", "$filter: any() supports only 'eq'")
            value = literal()
            if paren:
                take("sym", ")")
            take("sym", ")")
            clauses.append(_any_clause(tuple(path), value))
        else:
            op = take("word")
            if op not in _OPS:
                raise PactError(400, "BadRequest", f"$filter: unknown operator {op!r}")
            value = literal()
            clauses.append(_cmp_clause(tuple(path), op, value))
        if i >= len(toks):
            break
        take("word", "and")
    return lambda d: all(c(d) for c in clauses)


def _any_clause(path: tuple[str, ...], value: str) -> Callable[[Doc], bool]:
    return lambda d: any(str(x) == value for x in (_get(d, path) or []))


def _cmp_clause(path: tuple[str, ...], op: str, value: str) -> Callable[[Doc], bool]:
    return lambda d: _cmp(_get(d, path), op, value)


def _get(doc: Doc, path: Sequence[str]) -> Any:
    cur: Any = doc
    for part in path:
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


# --- paging -------------------------------------------------------------------


def page(
    request: Request,
    response: Response,
    docs: list[Doc],
    limit: int | None,
    offset: int,
    max_page: int,
) -> list[Doc]:
    """``docs[offset:offset+limit]`` and an RFC 8288 ``Link`` header (first/prev/next/last)."""
    size = min(limit, max_page) if limit else max_page
    if size <= 0:
        size = max_page
    total = len(docs)
    links = []

    def url(off: int) -> str:
        return str(request.url.include_query_params(offset=off, limit=size))

    if offset > 0 or total > size:
        links.append(f'<{url(0)}>; rel="first"')
    if offset > 0:
        links.append(f'<{url(max(offset - size, 0))}>; rel="prev"')
    if offset + size < total:
        links.append(f'<{url(offset + size)}>; rel="next"')
        last = ((total - 1) // size) * size
        links.append(f'<{url(last)}>; rel="last"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return docs[offset : offset + size]


# --- events -------------------------------------------------------------------

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Uuid = Annotated[str, StringConstraints(pattern=_UUID)]
Text = Annotated[str, StringConstraints(min_length=1)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Published(_Data):
    """PublishedEvent data: the ids (UUIDs) of new or updated footprints."""

    pfIds: list[Uuid] = Field(min_length=1)  # noqa: N815 (PACT field name)


class _ErrorBody(_Data):
    code: Text
    message: Text


class _Rejected(_Data):
    requestEventId: Text  # noqa: N815
    error: _ErrorBody


class _Fulfilled(_Data):
    requestEventId: Text  # noqa: N815
    pfs: list[dict[str, Any]] = Field(min_length=1)


class _CreatedV3(_Data):
    """RequestCreatedEvent data (v3): the ListFootprints filter criteria."""

    productId: list[Text] | None = None  # noqa: N815
    companyId: list[Text] | None = None  # noqa: N815
    geography: list[Text] | None = None
    classification: list[Text] | None = None
    validOn: str | None = None  # noqa: N815
    validAfter: str | None = None  # noqa: N815
    validBefore: str | None = None  # noqa: N815
    status: str | None = None
    comment: str | None = None


class _CreatedV2(_Data):
    """ProductFootprintRequest.Created data (v2): a ProductFootprint fragment."""

    pf: dict[str, Any]
    comment: str | None = None


_DATA: dict[tuple[int, str], type[_Data]] = {
    (3, "request"): _CreatedV3,
    (2, "request"): _CreatedV2,
    (3, "fulfilled"): _Fulfilled,
    (2, "fulfilled"): _Fulfilled,
    (3, "rejected"): _Rejected,
    (2, "rejected"): _Rejected,
    (3, "published"): _Published,
    (2, "published"): _Published,
}


def _where(loc: Sequence[Any]) -> str:
    out = "data"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_event(body: bytes, spec: int) -> tuple[str, dict[str, Any]]:
    """``(kind, event)`` of a structured-mode CloudEvent of PACT ``spec`` (3 or 2).

    The CloudEvents attributes and the ``data`` of the event type are checked as
    the PACT specification defines them (published ``pfIds`` are UUIDs, a
    rejection carries ``error.code`` and ``error.message``, ...); anything else is
    a PACT 400 naming the field.
    """
    try:
        event = json.loads(body)
    except ValueError:
        raise PactError(400, "BadRequest", "event body is not JSON") from None
    if not isinstance(event, dict):
        raise PactError(400, "BadRequest", "event must be a JSON object")
    for key in ("specversion", "id", "source", "type", "time", "data"):
        if key not in event:
            raise PactError(400, "BadRequest", f"event attribute {key!r} is missing")
    if event["specversion"] != "1.0":
        raise PactError(400, "BadRequest", f"specversion {event['specversion']!r} is not '1.0'")
    for key in ("id", "source", "type"):
        if not isinstance(event[key], str) or not event[key]:
            raise PactError(
                400, "BadRequest", f"event attribute {key!r} must be a non-empty string"
            )
    if not isinstance(event["time"], str):
        raise PactError(400, "BadRequest", "event attribute 'time' must be a date-time string")
    _time(event["time"], "time")
    if not isinstance(event["data"], dict):
        raise PactError(400, "BadRequest", "event 'data' must be an object")
    types = V3_EVENTS if spec == 3 else V2_EVENTS
    kind = {v: k for k, v in types.items()}.get(event["type"])
    if kind is None:
        raise PactError(400, "BadRequest", f"unsupported event type {event['type']!r}")
    try:
        _DATA[(spec, kind)].model_validate(event["data"])
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = f"{_where(first['loc'])}: {first['msg']}"
        raise PactError(400, "BadRequest", msg) from None
    return kind, event


def callback_url(url: str, spec: int) -> str:
    """The Action Events endpoint of ``spec`` at ``url`` (a host, or either events URL).

    ``//api.example.com/3/events`` (the spec's example ``source``) is taken as
    HTTPS; the path ends in ``/3/events`` for a v3 answer, ``/2/events`` for v2.
    """
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    base = re.sub(r"/+$", "", url)
    base = re.sub(r"/[23]/events$", "", base)
    return f"{base}/{spec}/events"


def _reply_to(services: TenantServices, source: str, spec: int) -> tuple[str, str | None, bool]:
    """Where (URL, bearer token) the answer to a request from ``source`` goes, and whether
    that address came from the request (no partner entry: it must be a public one)."""
    partner = services.settings.pact_partners.get(source)
    if partner is not None:
        return callback_url(partner.events_url, spec), partner.token, False
    target = source if not source.startswith("//") else "https:" + source
    parsed = httpx.URL(target) if re.match(r"^https?://", target, re.I) else None
    if parsed is None or not parsed.host:
        raise PactError(
            400,
            "BadRequest",
            f"event source {source!r} is no http(s) URL to answer to; send the URL of your "
            "host system (or ask the data owner to configure a partner for this source)",
        )
    return callback_url(target, spec), None, True


def non_public_address(url: str, *, resolve: bool = True) -> str | None:
    """The first address of ``url``'s host that is not a public internet address
    (loopback, private, link-local, reserved, multicast, ...), or None when all are public.

    The host's name is resolved (a name that does not resolve counts as not public,
    named in the message); with ``resolve=False`` only an IP address or ``localhost``
    is judged and any other name passes (no DNS query).
    """
    parsed = httpx.URL(url)
    host = parsed.host
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = {str(literal)}
    elif not resolve:
        return None
    else:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return f"{host} (does not resolve: {exc})"
        addresses = {str(info[4][0]) for info in infos}
    for a in sorted(addresses):
        ip = ipaddress.ip_address(a.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            return a
    return None


def _refuse_non_public(services: TenantServices, url: str) -> None:
    """A requester's own ``source`` gets an answer only at a public address, unless
    ``Settings.pact_answer_private_sources``: else a requester could make this service
    POST into the network it runs in. Here an IP address or ``localhost`` is refused at
    once (400); a name is resolved and checked by :func:`deliver`, before it sends."""
    if services.settings.pact_answer_private_sources:
        return
    bad = non_public_address(url, resolve=False)  # a name is resolved when the answer goes
    if bad is not None:
        raise PactError(
            400,
            "BadRequest",
            f"event source {url!r} is not a public address ({bad}); answers go to a "
            "requester's own source only on the public internet. Ask the data owner to "
            "configure a partner for this source (pact_partners), or to answer private "
            "sources (pact_answer_private_sources, for tests and closed networks)",
        )


def answer_event(
    services: TenantServices,
    request: Request,
    spec: int,
    event: dict[str, Any],
    matches: Callable[[Doc], bool],
) -> dict[str, Any]:
    """The CloudEvent answering footprint request ``event`` (fulfilled or rejected)."""
    types = V3_EVENTS if spec == 3 else V2_EVENTS
    pfs = [d for d in all_documents(services, spec) if matches(d)]
    source = f"{app_base_url(request, services.settings)}/{spec}/events"
    attrs = {
        "type": types["fulfilled"] if pfs else types["rejected"],
        "source": source,
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "time": datetime.now(UTC),
        "datacontenttype": "application/json",
    }
    if pfs:
        data: dict[str, Any] = {"requestEventId": event["id"], "pfs": pfs}
    else:
        data = {
            "requestEventId": event["id"],
            "error": {"code": "NotFound", "message": "The requested footprint could not be found."},
        }
    return {"attributes": attrs, "data": data}


def deliver(
    services: TenantServices,
    url: str,
    token: str | None,
    answer: dict[str, Any],
    *,
    from_request: bool = False,
) -> None:
    """POST ``answer`` as a structured CloudEvent to the requester's events endpoint ``url``.

    ``from_request``: ``url`` is the requester's own event source, checked again here
    (its name may resolve elsewhere by now); not public, nothing is sent."""
    message = to_structured_event(CloudEvent(dict(answer["attributes"]), answer["data"]))
    headers, body = dict(message.headers), message.body
    headers["content-type"] = "application/cloudevents+json; charset=UTF-8"
    if token:
        headers["authorization"] = f"Bearer {token}"
    record: dict[str, Any] = {
        "to": url,
        "type": answer["attributes"]["type"],
        "request": answer["data"]["requestEventId"],
    }
    if from_request and not services.settings.pact_answer_private_sources:
        bad = non_public_address(url)
        if bad is not None:
            record["status"] = None
            record["error"] = f"not sent: {url} resolves to {bad}, not a public address"
            log.warning("PACT callback to %s not sent: resolves to %s", url, bad)
            services.deliveries.append(record)
            return
    try:
        with httpx.Client(timeout=services.settings.callback_timeout_s) as client:
            r = client.post(url, content=body, headers=headers)
        record["status"] = r.status_code
    except httpx.HTTPError as exc:
        record["status"] = None
        record["error"] = str(exc)
        log.warning("PACT callback to %s failed: %s", url, exc)
    services.deliveries.append(record)


async def handle_event(
    services: TenantServices,
    request: Request,
    background: BackgroundTasks,
    spec: int,
    criteria_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> Response:
    """Action Events of ``spec``.

    A footprint request from an authenticated requester is answered
    asynchronously (fulfilled or rejected) at the Action Events endpoint of the
    same spec version under its event ``source``, or of the partner configured
    for that source (``Settings.pact_partners``, which may add a token). Other
    PACT events are validated and kept in a bounded log.
    """
    kind, event = parse_event(await request.body(), spec)
    if kind == "request":
        url, token, from_request = _reply_to(services, event["source"], spec)
        matches = v3_filter(criteria_of(event["data"]))
        if from_request:
            _refuse_non_public(services, url)
        answer = answer_event(services, request, spec, event, matches)
        background.add_task(deliver, services, url, token, answer, from_request=from_request)
    else:
        services.received_events.append(event)
    return Response(status_code=200)
