"""What the dashboard and a plant's own tools read: the twin graph, the energy flow,
breakdowns per order and hotspots, all from the stored factory and events.

- ``GET /plant/graph``: the asset graph (lines, machines, meters, utilities,
  materials, suppliers, products) and who contains, measures, serves, feeds whom
- ``GET /plant/energy-flow``: energy from meters to assets to orders [kWh]
  (a Sankey diagram's links)
- ``GET /plant/hotspots``: machines, states and idle time that cost the most CO2e
- ``GET /breakdowns/{by}``: per order by machine, state, utility, material,
  scope or hour (``?order=`` for one order)

Every figure is computed by attributing the stored events (``start`` and ``end``: only
the allocation periods covering that span, read alone) on the newest stored factory
(the same path as issuing, :func:`carbontwin.api.issuing.attribute_stored`), so it
agrees with the footprints issued from the same events.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal, get_args

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from carbontwin.api._twin import current_factory
from carbontwin.api.breakdowns import BY, OVERHEAD, breakdown, hotspots, summary
from carbontwin.api.deps import ReadDep
from carbontwin.api.errors import NotFound
from carbontwin.api.issuing import (
    attribute_span,
    attribute_stored,
    history_exceeds,
    order_from_windows,
)
from carbontwin.twin.errors import AttributionError
from carbontwin.twin.graph import FactoryGraph

router = APIRouter(tags=["insights"])

By = Literal["machine", "state", "utility", "material", "scope", "hour"]
assert set(BY) == set(get_args(By))  # one list of dimensions


class GraphNode(BaseModel):
    id: str
    kind: str
    name: str
    parent: str | None = None


class GraphEdge(BaseModel):
    source: str
    target: str
    kind: str
    weight: float | None = None


class PlantGraph(BaseModel):
    factory: str
    name: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class FlowNode(BaseModel):
    id: str
    kind: str


class FlowLink(BaseModel):
    source: str
    target: str
    energy_kwh: float


class EnergyFlow(BaseModel):
    nodes: list[FlowNode]
    links: list[FlowLink]
    total_kwh: float
    orders_kwh: float
    overhead_kwh: float


class Hotspot(BaseModel):
    key: str
    energy_kwh: float
    co2e_kg: float
    orders_co2e_kg: float
    overhead_co2e_kg: float


class Hotspots(BaseModel):
    total_co2e_kg: float
    machines: list[Hotspot]
    states: list[Hotspot]
    idle: list[Hotspot]


class BreakdownPublic(BaseModel):
    by: str
    order: str | None
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: ISO 8601 UTC times, no NaN."""
    out = []
    for rec in df.to_dict(orient="records"):
        row: dict[str, Any] = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                v = v.isoformat().replace("+00:00", "Z")
            elif hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = None
            row[str(k)] = v
        out.append(row)
    return out


#: the span parameters of the plant views
Start = Query(
    None,
    description="Attribute only from this time (with end): the allocation periods "
    "covering [start, end), read alone, as windowed issuing does; default the whole "
    "stored history (refused past max_history_events events)",
)
End = Query(None, description="End of the span (with start)")


def _attribution(
    services: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    order: str | None = None,
) -> tuple[Any, Any]:
    """The attribution a view reads: of ``[start, end)`` when given; else of the whole
    history, or, for one ``order`` of a store too large for that, the pieces its
    attributed windows hold (:func:`~carbontwin.api.issuing.order_from_windows`), else
    the attribution of its own periods."""
    store = services.store
    factory = current_factory(store)
    if (start is None) != (end is None):
        msg = "give both start and end, or neither"
        raise AttributionError(msg, field="start" if start is None else "end")  # 422
    limit = services.settings.max_history_events
    if start is not None and end is not None:
        t0, t1 = start.timestamp(), end.timestamp()
        return factory, attribute_span(store, factory, t0, t1, limit=limit)[0]
    if order not in (None, OVERHEAD) and history_exceeds(store, limit):
        steps = store.order_events([order])
        combined = order_from_windows(store, factory, order, steps)  # its windows' pieces
        if combined is not None:
            return factory, combined
        if not steps.step_start.size:  # else the order's own periods
            msg = f"no attributed order {order!r} in the stored events"
            raise NotFound(msg, field="order")
        t0, t1 = float(steps.step_start.min()), float(steps.step_end.max())
        return factory, attribute_span(store, factory, t0, t1, limit=limit)[0]
    # an order's view has counted the store already
    checked = order not in (None, OVERHEAD)
    return factory, attribute_stored(store, factory, limit=None if checked else limit)


@router.get("/plant/graph", operation_id="plant_graph", response_model=PlantGraph)
def plant_graph(services: ReadDep) -> Any:
    """The twin graph of the newest stored factory: nodes by kind, edges by relation."""
    factory = current_factory(services.store)
    g = FactoryGraph(factory).graph
    parents: dict[str, str] = {}
    edges = []
    for u, v, data in g.edges(data=True):
        if data["kind"] == "contains":
            parents[v] = u
        weight = data.get("weight")
        edges.append(
            {
                "source": u,
                "target": v,
                "kind": data["kind"],
                "weight": float(weight) if weight is not None else None,
            }
        )
    nodes = [
        {"id": n, "kind": d["kind"], "name": d.get("name") or n, "parent": parents.get(n)}
        for n, d in g.nodes(data=True)
    ]
    return {"factory": factory.id, "name": factory.name, "nodes": nodes, "edges": edges}


@router.get("/plant/energy-flow", operation_id="energy_flow", response_model=EnergyFlow)
def energy_flow(
    services: ReadDep, start: AwareDatetime | None = Start, end: AwareDatetime | None = End
) -> Any:
    """Energy from each meter (or model fill) to each asset, and from each asset to each
    order or to plant overhead [kWh]; the links into orders add up to the metered total."""
    factory, res = _attribution(services, start, end)
    p = res.pieces
    kinds = {m.id: "meter" for m in factory.meters}
    kinds.update({m.id: "machine" for m in factory.machines})
    kinds.update({u.id: "utility" for u in factory.utilities})
    a = p.groupby(["source", "asset"], observed=True)["energy_kwh"].sum()
    b = p.groupby(["asset", "order"], observed=True)["energy_kwh"].sum()
    links = [
        {"source": str(s), "target": str(t), "energy_kwh": float(e)}
        for (s, t), e in list(a.items()) + list(b.items())
        if e > 0
    ]
    names: dict[str, str] = {}
    for (s, t), _ in a.items():
        names[str(s)] = kinds.get(str(s), "model")
        names[str(t)] = kinds.get(str(t), "asset")
    for (_, o), _ in b.items():
        names[str(o)] = "overhead" if str(o) == OVERHEAD else "order"
    orders_kwh = float(sum(fp.energy_kwh for fp in res.footprints.values()))
    return {
        "nodes": [{"id": n, "kind": k} for n, k in names.items()],
        "links": links,
        "total_kwh": res.total_kwh,
        "orders_kwh": orders_kwh,
        "overhead_kwh": res.overhead_kwh,
    }


@router.get("/plant/hotspots", operation_id="plant_hotspots", response_model=Hotspots)
def plant_hotspots(
    services: ReadDep,
    limit: int = Query(10, ge=1, le=100),
    start: AwareDatetime | None = Start,
    end: AwareDatetime | None = End,
) -> Any:
    """What cost the most CO2e (scopes 1 and 2, location-based), orders and overhead
    together: machines (their own energy and the utilities' share they drew), power
    states, and idle time (IDLE and STANDBY) per machine."""
    factory, res = _attribution(services, start, end)
    return hotspots(res, factory, limit=limit)


@router.get("/breakdowns/{by}", operation_id="get_breakdown", response_model=BreakdownPublic)
def get_breakdown(
    by: By,
    services: ReadDep,
    order: str | None = Query(None, description="One order (or 'overhead'); all when omitted"),
    start: AwareDatetime | None = Start,
    end: AwareDatetime | None = End,
) -> Any:
    """Energy [kWh] and kg CO2e per order by ``by``, with totals per key (``summary``).

    On a store too large to attribute at once, one ``order``'s breakdown is combined
    from the pieces its attributed windows hold (windowed issuing), or, where late data
    reached them since, attributed from the periods of its own steps (the same figures
    either way)."""
    factory, res = _attribution(services, start, end, order)
    if order is not None and order != OVERHEAD and order not in res.footprints:
        msg = f"no attributed order {order!r} in the stored events"
        raise NotFound(msg, field="order")
    df = breakdown(res, factory, by, order=order)
    return {
        "by": by,
        "order": order,
        "rows": _records(df),
        "summary": _records(summary(df, by)),
    }
