"""Whole-history issuing: read the stored inputs, attribute them, issue signed footprints.

An issuing run

1. reads its inputs (:func:`read_inputs`): the newest stored factory version
   (its document and id), the stored events, the factory's emission factors and
   the rules chosen (service settings, the route, the command line);
2. attributes them with the allocation rules of the entry-point group
   ``carbontwin.allocation`` (:func:`attribute_inputs`);
3. issues each order whose figures changed (:func:`issue_footprints`): the
   footprint gets its full lineage (factory version and hash, per-meter event
   digests, factor series hashes, rules, carbontwin version, filled gaps,
   supplier PCFs, the digest of all inputs), is signed once with the service's
   key, stored append-only and logged in the hash-chained issuance log; the
   events and factors read are kept under their digests, so a verifier's pack
   (:mod:`carbontwin.api.pack`) recomputes from exactly them.

:func:`attribute_and_issue` and :func:`issue_with_report` do all three for the
services; :func:`attribute_stored` and :func:`attribute_span` attribute the stored
history, or the allocation periods of a span, for the plant views. Attributing more
than ``max_history_events`` events at once is refused (:func:`check_history_size`,
:func:`history_exceeds`). See ``docs/architecture.md`` ("Issuing").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from carbontwin.api.errors import NotFound
from carbontwin.twin.attribution import Attribution, Rules
from carbontwin.twin.coverage import Uncovered, hold_uncovered
from carbontwin.twin.events import EventBatch
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory
from carbontwin.twin.store import Signer

from ._shared import (
    _allocation_targets,
    _same,
    _withdrawn_since,
    carbontwin_version,
    rules_from,
    with_orders,
)

if TYPE_CHECKING:  # the services are FastAPI's: not imported by the command line
    from carbontwin.api.deps import Services, TenantServices


@dataclass(frozen=True, slots=True, eq=False)
class IssueInputs:
    """What one issuing run reads."""

    factory: Factory
    factory_version: int
    factory_document: dict[str, Any]
    events: EventBatch
    factors: FactorSet
    rules: Rules


def read_inputs(
    store: Any,
    rules: Rules | Mapping[str, Any] | None = None,
    *,
    factors: FactorSet | None = None,
) -> IssueInputs:
    """What an issuing run reads: the newest stored factory version with the store's
    orders (:func:`with_orders`), the stored events and the factory's factors (the
    hourly series it names, read from the store, its annual factors and the library;
    ``factors`` replaces them, e.g. the demo's ``--grid-factor``).

    The factory attributed is built from its document (``factory_to_dict`` of the
    factory with the store's orders), which the lineage hashes and a verifier's pack
    carries, so a recomputation starts from exactly the same factory.
    """
    import json

    from carbontwin.plugins.factors import stored_factors
    from carbontwin.twin.factory_file import factory_from_dict, factory_to_dict

    fv, _ = store.factory_document()
    stored = store.load_factory(fv)
    orders = store.list_orders()
    if orders:
        doc = json.loads(json.dumps(factory_to_dict(with_orders(stored, orders))))
        factory = factory_from_dict(doc, filename=f"factory version {fv} with the stored orders")
    else:
        _, doc = store.factory_document(fv)
        factory = stored
    if factors is None:
        factors = stored_factors(factory, store)
    return IssueInputs(factory, fv, doc, store.read_events(), factors, rules_from(rules))


def attribute_inputs(inputs: IssueInputs) -> Attribution:
    """Attribute ``inputs`` with the allocation rules of ``carbontwin.allocation``."""
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.graph import FactoryGraph

    return attribute(
        FactoryGraph(inputs.factory),
        inputs.events,
        inputs.factors,
        inputs.rules,
        allocation=allocation_rules(),
    )


def history_exceeds(store: Any, limit: int | None, span: tuple[float, float] | None = None) -> bool:
    """Whether ``store`` holds more than ``limit`` events (in ``span`` [epoch s] when
    given), counting no further than that; ``None``: no limit."""
    if limit is None:
        return False
    a, b = span if span is not None else (None, None)
    return bool(store.count_events_upto(limit + 1, a, b) > limit)


def _too_large(limit: int, what: str, way_out: str) -> Exception:
    """The 413 of attributing more than ``limit`` events at once."""
    from carbontwin.api.errors import TooLarge

    msg = (
        f"{what} holds more than {limit:,} events: attributing them all at once is refused "
        f"(it would hold every one in memory); {way_out}, or raise max_history_events"
    )
    return TooLarge(msg, field="events" if what == "the store" else "start")


def check_history_size(store: Any, limit: int | None) -> None:
    """Refuse (413) to attribute a store of more than ``limit`` events at once: one
    request would hold them all in memory. ``None``: no limit."""
    if limit is not None and history_exceeds(store, limit):
        way_out = (
            "issue window by window with POST /footprints/issue or carbontwin issue, "
            "archive old events (carbontwin archive)"
        )
        raise _too_large(limit, "the store", way_out)


def _attribute_events(
    store: Any, factory: Factory, events: EventBatch, clip: tuple[float, float] | None = None
) -> Attribution:
    """``events`` attributed on ``factory`` with the store's orders and its factor set
    (see :func:`attribute_stored`), readings no factor covers held out."""
    from carbontwin.plugins.factors import stored_factors
    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.graph import FactoryGraph

    factory = with_orders(factory, store.list_orders())
    factors = stored_factors(factory, store)
    events, _ = hold_uncovered(factory, events, factors)
    return attribute(FactoryGraph(factory), events, factors, clip=clip)


def attribute_stored(store: Any, factory: Factory, *, limit: int | None = None) -> Attribution:
    """Attribute every event in ``store`` on ``factory`` with the store's orders and its factor set.

    The stored orders (``PUT /orders``, ``PUT /factory``, an MES import) replace
    the factory's orders of the same id (:func:`with_orders`). The factor set:
    the hourly series the factory names, read from the store (uploaded with
    ``PUT /factors/series/{name}``, newest version), its annual factors and the
    library. More than ``limit`` events are refused (413) before they are read.
    """
    check_history_size(store, limit)
    return _attribute_events(store, factory, store.read_events())


def attribute_span(
    store: Any, factory: Factory, start: float, end: float, *, limit: int | None = None
) -> tuple[Attribution, tuple[float, float]]:
    """Attribute the stored events of the allocation periods covering ``[start, end)``
    (cut to the stored events' time span) as :func:`attribute_stored` does the whole
    history, reading only that span (each meter's readings around it, the states and
    steps reaching into it, the material uses of its orders). Returns the attribution
    and the span used (period bounds): its pieces are the whole-history pieces inside it
    (the windowed issuing's property). A span of more than ``limit`` events is refused
    (413) before it is read.
    """
    from carbontwin.twin.errors import AttributionError
    from carbontwin.twin.windows import window_bounds

    if not end > start:
        msg = "the span ends before it starts"
        raise AttributionError(msg, field="end")
    ext = store.events_extent()
    # nothing is stored outside the events' own span: a span of centuries reads no more
    if ext is not None:
        start, end = max(start, ext[0]), min(end, ext[1] + 1.0)
    if ext is None or not end > start:
        msg = "no stored events in that span"
        raise NotFound(msg, field="start")
    bounds = window_bounds(factory, ext[0], ext[1], window="period")
    a = float(bounds[bounds <= start].max()) if (bounds <= start).any() else float(bounds[0])
    b = float(bounds[bounds >= end].min()) if (bounds >= end).any() else float(bounds[-1])
    if limit is not None and history_exceeds(store, limit, (a, b)):
        raise _too_large(limit, "that span", "pick a shorter one")
    events = store.read_window(a, b, [m.id for m in factory.meters], sorted(factory.asset_ids))[0]
    orders = sorted({str(o) for o in events.step_order.tolist()})
    events = EventBatch.concat([events, store.order_events(orders).materials()])
    return _attribute_events(store, factory, events, clip=(a, b)), (a, b)


def issue_footprints(
    store: Any,
    inputs: IssueInputs,
    result: Attribution,
    signer: Signer,
    orders: Iterable[str] | None = None,
) -> list[Footprint]:
    """Issue a new footprint version for each order of ``result`` whose figures changed.

    ``orders`` limits the issue to those orders (all of ``result`` by default);
    an order with no footprint in ``result`` is a 404. Orders whose latest
    stored footprint has the same figures and inputs issue nothing. Returns
    the newly issued footprints, in order id order.
    """

    from carbontwin.twin.lineage import complete, events_to_dict, factors_to_dict

    factory = inputs.factory
    wanted = set(result.footprints) if orders is None else set(orders)
    missing = wanted - set(result.footprints)
    if missing:
        msg = (
            f"no footprint for order(s) {', '.join(sorted(missing))}: the stored events "
            "have no steps of them"
        )
        raise NotFound(msg, field="order")
    cache: dict[str, Any] = {}
    allocation = _allocation_targets(inputs.rules, factory)
    ct_version = carbontwin_version()
    issued: list[Footprint] = []
    kept = False
    for order in sorted(wanted):
        fp = result.footprints[order]
        fp = replace(
            fp, factory=fp.factory or factory.id, company_id=fp.company_id or factory.company_id
        )
        fp = complete(
            fp,
            factory=factory,
            factory_version=inputs.factory_version,
            factory_document=inputs.factory_document,
            events=inputs.events,
            factors=inputs.factors,
            rules=inputs.rules.names(),
            allocation=allocation,
            carbontwin_version=ct_version,
            _cache=cache,
        )
        latest = store.latest_footprint(order)
        if latest is not None and _same(fp, latest):
            continue
        if latest is not None and _withdrawn_since(latest, fp):
            continue
        if not kept:  # the inputs of this run, once, before the first footprint needs them
            store.save_issuance_input(
                "events", fp.lineage["events"]["sha256"], events_to_dict(inputs.events)
            )
            store.save_issuance_input(
                "factors", fp.lineage["factors"]["sha256"], factors_to_dict(inputs.factors)
            )
            kept = True
        issued.append(store.issue_footprint(fp, signer))
    return issued


def attribute_and_issue(
    services: Services | TenantServices,
    orders: Iterable[str] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
) -> list[Footprint]:
    """Attribute the stored events and issue a footprint version per order that changed.

    ``rules`` default to the service settings' ``rules``. Returns the newly
    issued footprints (unchanged orders issue nothing); 409 when no factory is
    stored yet.
    """
    return issue_with_report(services, orders, rules).issued


@dataclass(frozen=True, slots=True)
class IssueReport:
    """What an issuing run issued, and the readings it held out (no factor covers them)."""

    issued: list[Footprint]
    uncovered: list[Uncovered]

    @property
    def held(self) -> set[str]:
        """Orders not issued because of the uncovered readings."""
        return {o for u in self.uncovered for o in u.orders}


def issue_with_report(
    services: Services | TenantServices,
    orders: Iterable[str] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
) -> IssueReport:
    """:func:`attribute_and_issue`, saying which readings were held out.

    Electricity readings no emission factor covers never block the other
    orders (:func:`carbontwin.twin.coverage.hold_uncovered`): they are left
    out, the orders they touch are held back (not issued; asked for by name,
    a 409 naming the readings), every other order is issued.
    """
    from carbontwin.api.errors import Conflict
    from carbontwin.twin.store import NotFoundError

    check_history_size(services.store, services.settings.max_history_events)
    try:
        inputs = read_inputs(services.store, services.settings.rules if rules is None else rules)
    except NotFoundError:
        msg = "no factory stored yet: PUT /factory first"
        raise Conflict(msg, field="factory") from None
    inputs, uncovered = hold_uncovered_inputs(inputs)
    report = IssueReport([], uncovered)
    if orders is not None:
        asked = set(orders)
        blocking = [u for u in uncovered if asked & set(u.orders)]
        if blocking:
            raise Conflict("; ".join(u.message for u in blocking), field="events")
    result = attribute_inputs(inputs)
    if orders is None and report.held:
        orders = [o for o in result.footprints if o not in report.held]
    report.issued.extend(issue_footprints(services.store, inputs, result, services.signer, orders))
    return report


def hold_uncovered_inputs(inputs: IssueInputs) -> tuple[IssueInputs, list[Uncovered]]:
    """``inputs`` without the electricity readings no factor covers, and those readings."""
    events, uncovered = hold_uncovered(inputs.factory, inputs.events, inputs.factors)
    return (replace(inputs, events=events) if uncovered else inputs), uncovered
