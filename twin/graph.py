"""The asset graph: a deterministic ``networkx.MultiDiGraph`` index of a factory.

Nodes are keyed by id (ids are unique across a factory, see
:mod:`carbontwin.twin.factory_file`) and carry ``kind`` and ``name``:

=========  ===============================================================
kind       further attributes
=========  ===============================================================
site       ``country``, ``timezone``, ``grid_zone``
line       ``site``
machine    ``line``, ``type``, ``capacity``, ``carrier``, ``power_kw``
           (state name -> kW), ``warmup_s``, ``warmup_energy_kwh``
utility    ``utility_kind``, ``allocation_key``, ``carrier``, ``power_kw``,
           ``warmup_s``, ``warmup_energy_kwh``
meter      ``signal`` ("power" or "energy"), ``carrier``, ``rollover_kwh``,
           ``parent`` (its main meter, or None)
material   ``unit``
supplier   (none)
product    ``declared_unit``, ``mass_kg``
=========  ===============================================================

Edges carry ``kind``:

- ``measures`` meter -> machine or utility;
- ``serves`` utility -> asset, with ``weight`` and ``allocation_key``;
- ``flows_to`` machine -> machine for consecutive operations of a routing on
  different machines, with ``product``, ``from_operation``, ``to_operation``;
- ``consumes`` product -> material, with ``quantity_per_unit`` and ``supplier``;
- ``supplies`` supplier -> material, with ``pcf_kg_per_unit``, ``source``, ``primary``;
- ``contains`` site -> line, site -> utility, line -> machine (the plant tree).

The graph is built in sorted order (nodes by id, edges by kind, ends and key),
so it is the same for the same factory whatever the hash seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx

from .model import Factory, Operation, PowerModel

__all__ = ["EDGE_KINDS", "NODE_KINDS", "FactoryGraph"]

NODE_KINDS = ("site", "line", "machine", "utility", "meter", "material", "supplier", "product")
EDGE_KINDS = ("contains", "measures", "serves", "flows_to", "consumes", "supplies")

_Edge = tuple[str, str, str, str, dict[str, Any]]  # kind, u, v, key, attributes


def _power_attrs(power: PowerModel) -> dict[str, Any]:
    return {
        "carrier": power.carrier.value,
        "power_kw": {state.value: kw for state, kw in power.power_kw.items()},
        "warmup_s": power.warmup_s,
        "warmup_energy_kwh": power.warmup_energy_kwh,
    }


class FactoryGraph:
    """The asset graph of ``factory`` and lookups over it.

    Parameters
    ----------
    factory : Factory
        A validated factory (as returned by
        :func:`~carbontwin.twin.factory_file.load_factory`).

    Attributes
    ----------
    factory : Factory
        The factory the graph indexes.
    graph : networkx.MultiDiGraph
        One node per site, line, machine, utility, meter, material, supplier
        and product; edges as listed in the module docstring.

    Examples
    --------
    >>> from carbontwin.twin.examples import demo_factory
    >>> g = FactoryGraph(demo_factory())
    >>> g.assets_of("M-cnc-23")
    ('cnc-2', 'cnc-3')
    """

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.graph: nx.MultiDiGraph[str] = nx.MultiDiGraph(name=factory.id)
        nodes = sorted(self._nodes(), key=lambda n: n[0])
        self.graph.add_nodes_from(nodes)
        for kind, u, v, key, attrs in sorted(self._edges(), key=lambda e: e[:4]):
            self.graph.add_edge(u, v, key=key, kind=kind, **attrs)
        self._routing = {p.id: p.routing for p in factory.products}

    # ------------------------------------------------------------ building

    def _nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        f = self.factory
        s = f.site
        yield (
            s.id,
            {
                "kind": "site",
                "name": s.name,
                "country": s.country,
                "timezone": s.timezone,
                "grid_zone": s.grid_zone,
            },
        )
        for ln in f.lines:
            yield ln.id, {"kind": "line", "name": ln.name, "site": ln.site}
        for m in f.machines:
            yield (
                m.id,
                {
                    "kind": "machine",
                    "name": m.name,
                    "line": m.line,
                    "type": m.type,
                    "capacity": m.capacity,
                    **_power_attrs(m.power),
                },
            )
        for u in f.utilities:
            yield (
                u.id,
                {
                    "kind": "utility",
                    "name": u.name,
                    "utility_kind": u.kind,
                    "allocation_key": u.allocation_key,
                    **_power_attrs(u.power),
                },
            )
        for mt in f.meters:
            yield (
                mt.id,
                {
                    "kind": "meter",
                    "name": mt.name,
                    "signal": mt.signal,
                    "carrier": mt.carrier.value,
                    "rollover_kwh": mt.rollover_kwh,
                    "parent": mt.parent,
                },
            )
        for mat in f.materials:
            yield mat.id, {"kind": "material", "name": mat.name, "unit": mat.unit}
        for sup in f.suppliers:
            yield sup.id, {"kind": "supplier", "name": sup.name}
        for p in f.products:
            yield (
                p.id,
                {
                    "kind": "product",
                    "name": p.name,
                    "declared_unit": p.declared_unit,
                    "mass_kg": p.mass_kg,
                },
            )

    def _edges(self) -> Iterator[_Edge]:
        f = self.factory
        for ln in f.lines:
            yield "contains", ln.site, ln.id, "contains", {}
        for u in f.utilities:
            yield "contains", f.site.id, u.id, "contains", {}
        for m in f.machines:
            yield "contains", m.line, m.id, "contains", {}
        for mt in f.meters:
            for asset in mt.measures:
                yield "measures", mt.id, asset, "measures", {}
        for u in f.utilities:
            for link in u.serves:
                yield (
                    "serves",
                    u.id,
                    link.asset,
                    "serves",
                    {"weight": link.weight, "allocation_key": u.allocation_key},
                )
        for p in f.products:
            for a, b in zip(p.routing, p.routing[1:], strict=False):
                if a.machine != b.machine:
                    yield (
                        "flows_to",
                        a.machine,
                        b.machine,
                        f"{p.id}:{a.id}->{b.id}",
                        {"product": p.id, "from_operation": a.id, "to_operation": b.id},
                    )
            for j, item in enumerate(p.bom):
                # one edge per BOM line: the same material twice stays two edges
                key = f"{p.id}:bom[{j}]"
                yield (
                    "consumes",
                    p.id,
                    item.material,
                    key,
                    {"quantity_per_unit": item.quantity_per_unit, "supplier": item.supplier},
                )
        for sup in f.suppliers:
            for x in sup.supplies:
                yield (
                    "supplies",
                    sup.id,
                    x.material,
                    "supplies",
                    {
                        "pcf_kg_per_unit": x.pcf_kg_per_unit,
                        "source": x.source,
                        "primary": x.primary,
                    },
                )

    # ------------------------------------------------------------- lookups

    def kind(self, node: str) -> str:
        """Node kind of ``node`` (``"machine"``, ``"meter"``, ...)."""
        return str(self._node(node)["kind"])

    def nodes_of_kind(self, kind: str) -> tuple[str, ...]:
        """Ids of all nodes of ``kind``, sorted."""
        return tuple(n for n, k in self.graph.nodes(data="kind") if k == kind)

    def _node(self, node: str) -> dict[str, Any]:
        try:
            attrs: dict[str, Any] = self.graph.nodes[node]
        except KeyError:
            msg = f"factory '{self.factory.id}' has no asset '{node}'"
            raise KeyError(msg) from None
        return attrs

    def _out(self, node: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        self._node(node)
        for _, v, attrs in self.graph.out_edges(node, data=True):
            if attrs["kind"] == kind:
                yield v, attrs

    def _in(self, node: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        self._node(node)
        for u, _, attrs in self.graph.in_edges(node, data=True):
            if attrs["kind"] == kind:
                yield u, attrs

    def meters_of(self, asset: str) -> tuple[str, ...]:
        """Meters that measure ``asset`` (machine or utility), sorted."""
        return tuple(sorted(u for u, _ in self._in(asset, "measures")))

    def sub_meters_of(self, meter: str) -> tuple[str, ...]:
        """Sub-meters whose main meter is ``meter``, sorted."""
        self._node(meter)
        return tuple(
            n for n in self.nodes_of_kind("meter") if self.graph.nodes[n]["parent"] == meter
        )

    def rest_assets_of(self, meter: str) -> tuple[str, ...]:
        """Assets of ``meter`` behind none of its sub-meters: its virtual rest meter's, sorted."""
        below = {a for sub in self.sub_meters_of(meter) for a in self.assets_of(sub)}
        return tuple(a for a in self.assets_of(meter) if a not in below)

    def assets_of(self, meter: str) -> tuple[str, ...]:
        """Assets behind ``meter``, sorted."""
        return tuple(sorted(v for v, _ in self._out(meter, "measures")))

    def utilities_serving(self, asset: str) -> dict[str, float]:
        """Utilities that serve ``asset``: utility id -> allocation weight (sorted by id)."""
        return {u: float(a["weight"]) for u, a in sorted(self._in(asset, "serves"))}

    def served_by(self, utility: str) -> dict[str, float]:
        """Assets ``utility`` serves: asset id -> allocation weight (sorted by id)."""
        return {v: float(a["weight"]) for v, a in sorted(self._out(utility, "serves"))}

    def routing(self, product: str) -> tuple[Operation, ...]:
        """Operations of ``product`` in precedence order."""
        try:
            return self._routing[product]
        except KeyError:
            msg = f"factory '{self.factory.id}' has no product '{product}'"
            raise KeyError(msg) from None

    def machines_of_line(self, line: str) -> tuple[str, ...]:
        """Machines on ``line``, sorted."""
        return tuple(sorted(v for v, _ in self._out(line, "contains")))

    def suppliers_of(self, material: str) -> dict[str, float]:
        """Suppliers of ``material``: supplier id -> PCF [kg CO2e per material unit]."""
        return {u: float(a["pcf_kg_per_unit"]) for u, a in sorted(self._in(material, "supplies"))}

    def downstream(self, machine: str) -> tuple[str, ...]:
        """Machines that receive work from ``machine`` in some routing, sorted."""
        return tuple(sorted({v for v, _ in self._out(machine, "flows_to")}))
