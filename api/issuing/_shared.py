"""What both issuing paths share: the carbontwin version, the rules, the stored orders,
the entry points that ran the allocation, and when a footprint issues nothing.

Whole-history issuing (:mod:`carbontwin.api.issuing._history`) and windowed issuing
(:mod:`carbontwin.api.issuing._windows`) both complete a footprint's lineage with
:func:`carbontwin_version` and :func:`_allocation_targets`, take their rules through
:func:`rules_from` and their orders through :func:`with_orders`, and skip an order
whose new footprint is :func:`_same` as its latest or :func:`_withdrawn_since` it.
See ``docs/architecture.md`` ("Issuing").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from carbontwin.twin.attribution import Rules
from carbontwin.twin.footprint import DEPRECATED, Footprint
from carbontwin.twin.model import Factory, Order

#: footprint fields that differ between two issues of the same figures
_VOLATILE = ("id", "version", "replaces", "issued_at", "lineage")


def carbontwin_version() -> str:
    """The installed carbontwin version (recorded in every footprint's lineage)."""
    try:
        return version("carbontwin")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def rules_from(value: Rules | Mapping[str, Any] | None) -> Rules:
    """Rules from a mapping (settings, a request, a rules file) or as given, checked:
    ``idle`` and ``utility_key`` must name rules of ``carbontwin.allocation``."""
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.twin.allocation import idle_rule, utility_key

    rules = value if isinstance(value, Rules) else Rules.from_mapping(value or {})
    table = allocation_rules()
    idle_rule(table, rules.idle)
    if rules.utility_key:
        utility_key(table, rules.utility_key)
    return rules


def _withdrawn_since(latest: Footprint, fp: Footprint) -> bool:
    """``latest`` is a withdrawal and nothing ``fp`` was computed from changed since:
    the order stays withdrawn (new inputs issue a new version)."""
    return latest.status == DEPRECATED and latest.lineage.get("input_sha256") == fp.lineage.get(
        "input_sha256"
    )


def _same(a: Footprint, b: Footprint) -> bool:
    """Same inputs and the same figures: what ``to_dict()`` of both says outside
    :data:`_VOLATILE`, field by field, without making the dicts (a fresh footprint
    and one read back differ in tuples against lists and in datetimes' zones)."""
    if a.lineage.get("input_sha256") != b.lineage.get("input_sha256"):
        return False  # other inputs: a new version, whatever the figures
    for k in _COMPARED:
        x, y = getattr(a, k), getattr(b, k)
        if k in _SEQUENCES:
            x, y = list(x), list(y)
        elif k in _TIMES:
            x, y = _iso(x), _iso(y)
        elif isinstance(x, Mapping) or isinstance(y, Mapping):
            x, y = _dict_of(x), _dict_of(y)
        if x != y:
            return False
    return True


_COMPARED = tuple(k for k in Footprint.__dataclass_fields__ if k not in _VOLATILE)
_SEQUENCES = ("flags", "method")
_TIMES = ("period_start", "period_end")


def _iso(t: Any) -> Any:
    return t if t is None else t.isoformat().replace("+00:00", "Z")  # as to_dict writes it


def _dict_of(m: Any) -> Any:
    """A mapping field as ``to_dict()`` gives it (string keys)."""
    if not isinstance(m, Mapping) or (type(m) is dict and all(type(k) is str for k in m)):
        return m
    return {str(k): v for k, v in sorted(m.items())}


def _allocation_targets(rules: Rules, factory: Factory) -> dict[str, str]:
    """Rule name -> the entry point (``module:attr``) that ran it."""
    from carbontwin.plugins.registry import list_plugins

    used = {rules.idle, rules.utility_key} if rules.utility_key else {rules.idle}
    if not rules.utility_key:
        used |= {u.allocation_key for u in factory.utilities}
    return {
        p.name: f"{p.target} ({p.distribution})"
        for p in list_plugins("carbontwin.allocation")
        if p.name in used
    }


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
