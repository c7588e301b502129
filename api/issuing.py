"""The issuing path: read the stored events, attribute them, issue footprints, store them.

One module used by every way in: the HTTP routes (``POST /footprints/issue``
and the routes that issue on demand), the ``demo`` command and anything a host
platform composes. See ``docs/architecture.md`` ("Issuing").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from carbontwin.twin.attribution import Attribution
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory, Order

from .deps import Services
from .errors import NotFound

__all__ = ["attribute_and_issue", "attribute_stored", "issue_footprints", "with_orders"]

#: footprint fields that differ between two issues of the same figures
_VOLATILE = ("id", "version", "replaces", "issued_at")


def _same(a: Footprint, b: Footprint) -> bool:
    da, db = a.to_dict(), b.to_dict()
    return all(da[k] == db[k] for k in da if k not in _VOLATILE)


def with_orders(factory: Factory, orders: Iterable[Order]) -> Factory:
    """``factory`` with ``orders``: each replaces the factory's order of the same id, others are added.

    The orders attribution uses are the plant's current ones (an MES import,
    ``PUT /orders``, an events folder's ``orders.csv``), not only those written
    into the factory file; the factory file's orders stay the default.
    """
    given = {o.id: o for o in orders}
    if not given:
        return factory
    kept = [given.pop(o.id, o) for o in factory.orders]
    return replace(factory, orders=(*kept, *sorted(given.values(), key=lambda o: o.id)))


def attribute_stored(store: Any, factory: Factory) -> Attribution:
    """Attribute every event in ``store`` on ``factory`` with the store's orders and its factor set.

    The stored orders (``PUT /orders``, ``PUT /factory``, an MES import) replace
    the factory's orders of the same id (:func:`with_orders`). The factor set:
    the hourly series the factory names, read from the store (uploaded with
    ``PUT /factors/series/{name}``, newest version), its annual factors and the
    library.
    """
    from carbontwin.plugins.factors import stored_factors
    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.graph import FactoryGraph

    factory = with_orders(factory, store.list_orders())
    events = store.read_events()
    return attribute(FactoryGraph(factory), events, stored_factors(factory, store))


def issue_footprints(
    store: Any,
    factory: Factory,
    result: Attribution,
    orders: Iterable[str] | None = None,
) -> list[Footprint]:
    """Issue a new footprint version for each order of ``result`` whose figures changed.

    ``orders`` limits the issue to those orders (all of ``result`` by default);
    an order with no footprint in ``result`` is a 404. Orders whose latest
    stored footprint has the same figures issue nothing. Returns the newly
    issued footprints, in order id order.
    """
    wanted = set(result.footprints) if orders is None else set(orders)
    missing = wanted - set(result.footprints)
    if missing:
        msg = (
            f"no footprint for order(s) {', '.join(sorted(missing))}: the stored events "
            "have no steps of them"
        )
        raise NotFound(msg, field="order")
    issued = []
    for order in sorted(wanted):
        fp = result.footprints[order]
        fp = replace(
            fp, factory=fp.factory or factory.id, company_id=fp.company_id or factory.company_id
        )
        latest = store.latest_footprint(order)
        if latest is not None and _same(fp, latest):
            continue
        issued.append(store.issue_footprint(fp))
    return issued


def attribute_and_issue(
    services: Services,
    orders: Iterable[str] | None = None,
) -> list[Footprint]:
    """Attribute the stored events and issue a footprint version per order that changed.

    Returns the newly issued footprints (unchanged orders issue nothing); 409
    when no factory is stored yet.
    """
    from ._twin import current_factory

    factory = current_factory(services.store)
    result = attribute_stored(services.store, factory)
    return issue_footprints(services.store, factory, result, orders)
