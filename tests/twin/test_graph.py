"""The asset graph of the demo factory: concrete nodes, edges and lookups."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import networkx as nx
import pytest
from factory_strategies import factories
from hypothesis import HealthCheck, given, settings

from carbontwin.twin.examples import demo_factory
from carbontwin.twin.graph import EDGE_KINDS, NODE_KINDS, FactoryGraph


@pytest.fixture(scope="module")
def g() -> FactoryGraph:
    return FactoryGraph(demo_factory())


def test_node_kinds_and_counts(g):
    kinds = Counter(k for _, k in g.graph.nodes(data="kind"))
    assert kinds == {
        "site": 1,
        "line": 2,
        "machine": 8,
        "utility": 2,
        "meter": 9,
        "material": 4,
        "supplier": 4,
        "product": 4,
    }
    assert set(kinds) == set(NODE_KINDS)
    assert g.kind("furnace-1") == "machine"
    assert g.graph.nodes["furnace-1"]["carrier"] == "natural_gas"
    assert g.graph.nodes["furnace-1"]["power_kw"]["PROCESSING"] == 240.0
    assert g.graph.nodes["M-press"]["signal"] == "energy"
    assert g.graph.nodes["site-stuttgart"]["grid_zone"] == "DE"


def test_edge_kinds_and_counts(g):
    kinds = Counter(k for _, _, k in g.graph.edges(data="kind"))
    # 4 routings: 3 + 3 + 3 + 4 machine changes; 2 lines + 2 utilities + 8 machines contained
    assert kinds == {
        "flows_to": 13,
        "contains": 12,
        "serves": 11,
        "measures": 10,
        "supplies": 5,
        "consumes": 4,
    }
    assert set(kinds) == set(EDGE_KINDS)


def test_shared_meter_and_meter_lookups(g):
    assert g.assets_of("M-cnc-23") == ("cnc-2", "cnc-3")
    assert g.meters_of("cnc-2") == ("M-cnc-23",)
    assert g.meters_of("cnc-3") == ("M-cnc-23",)
    assert g.meters_of("air-1") == ("M-air",)
    assert g.assets_of("M-furnace-gas") == ("furnace-1",)


def test_utilities_serving_with_weights(g):
    assert g.utilities_serving("paint-1") == {"air-1": 2.0, "hvac-1": 0.5}
    assert g.utilities_serving("furnace-1") == {}
    assert g.served_by("hvac-1") == {
        "cnc-1": 0.1,
        "cnc-2": 0.1,
        "cnc-3": 0.1,
        "paint-1": 0.5,
        "washer-1": 0.2,
    }
    edge = g.graph.get_edge_data("air-1", "laser-1")["serves"]
    assert edge == {"kind": "serves", "weight": 1.5, "allocation_key": "machine_hours"}


def test_routing_and_flows(g):
    assert [op.machine for op in g.routing("cover")] == [
        "laser-1",
        "press-1",
        "cnc-1",
        "washer-1",
        "paint-1",
    ]
    # laser -> press carries both sheet-metal products
    flows = g.graph.get_edge_data("laser-1", "press-1")
    assert sorted(a["product"] for a in flows.values()) == ["bracket", "cover"]
    assert g.downstream("washer-1") == ("paint-1",)
    assert g.downstream("cnc-2") == ("furnace-1", "washer-1")
    assert g.machines_of_line("line-forming") == ("furnace-1", "laser-1", "paint-1", "press-1")
    with pytest.raises(KeyError, match="no product 'ghost'"):
        g.routing("ghost")


def test_materials_and_suppliers(g):
    assert g.suppliers_of("steel-sheet-s235") == {"sup-nordstahl": 2.3, "sup-rheinstahl": 1.0}
    consumes = g.graph.get_edge_data("housing", "al-6082-primary")
    (attrs,) = consumes.values()
    assert attrs["quantity_per_unit"] == 2.8
    assert attrs["supplier"] is None
    assert g.nodes_of_kind("material") == (
        "al-5754-recycled",
        "al-6082-primary",
        "steel-bar-42crmo4",
        "steel-sheet-s235",
    )


def test_plant_tree_reaches_every_machine(g):
    site = g.nodes_of_kind("site")[0]
    tree = g.graph.edge_subgraph(
        [(u, v, k) for u, v, k, kind in g.graph.edges(keys=True, data="kind") if kind == "contains"]
    )
    assert set(nx.descendants(tree, site)) >= set(g.nodes_of_kind("machine"))


def test_unknown_node_is_a_clear_key_error(g):
    with pytest.raises(KeyError, match="no asset 'press-9'"):
        g.meters_of("press-9")


def test_graph_is_deterministic_whatever_the_input_order():
    f = demo_factory()
    rng = random.Random(7)

    def shuffled(items):
        items = list(items)
        rng.shuffle(items)
        return tuple(items)

    other = replace(
        f,
        machines=shuffled(f.machines),
        meters=shuffled(f.meters),
        utilities=shuffled(f.utilities),
        products=shuffled(f.products),
        suppliers=shuffled(f.suppliers),
        materials=shuffled(f.materials),
    )
    a, b = FactoryGraph(f).graph, FactoryGraph(other).graph
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(keys=True, data=True)) == list(b.edges(keys=True, data=True))
    assert list(a.nodes) == sorted(a.nodes)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factories())
def test_graph_mirrors_any_valid_factory(f):
    g = FactoryGraph(f)
    n_nodes = 1 + sum(
        len(c)
        for c in (f.lines, f.machines, f.utilities, f.meters, f.materials, f.suppliers, f.products)
    )
    assert g.graph.number_of_nodes() == n_nodes
    kinds = Counter(k for _, _, k in g.graph.edges(data="kind"))
    assert kinds["measures"] == sum(len(m.measures) for m in f.meters)
    assert kinds["serves"] == sum(len(u.serves) for u in f.utilities)
    assert kinds["supplies"] == sum(len(s.supplies) for s in f.suppliers)
    assert kinds["consumes"] == sum(len(p.bom) for p in f.products)
    assert kinds["contains"] == len(f.lines) + len(f.utilities) + len(f.machines)
    assert kinds["flows_to"] == sum(
        a.machine != b.machine
        for p in f.products
        for a, b in zip(p.routing, p.routing[1:], strict=False)
    )
    for m in f.meters:
        assert g.assets_of(m.id) == tuple(sorted(m.measures))
        for asset in m.measures:
            assert m.id in g.meters_of(asset)
    for u in f.utilities:
        for link in u.serves:
            assert g.utilities_serving(link.asset)[u.id] == link.weight
    for p in f.products:
        assert g.routing(p.id) == p.routing
    assert list(FactoryGraph(f).graph.edges(keys=True, data=True)) == list(
        g.graph.edges(keys=True, data=True)
    )
