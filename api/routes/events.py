"""``POST /events``: a batch of shop-floor events, one JSON list per kind.

Idempotent: the store keeps each event once by its natural key, so a re-sent
batch stores nothing new (``stored == 0``). Events are checked against the
newest factory model (known assets and meters, finite values, time order).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from carbontwin.api._twin import current_factory
from carbontwin.api.deps import StoreDep, TokenDep
from carbontwin.twin.errors import EventError
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    MaterialUse,
    OrderStep,
    PowerSample,
    StateChange,
    StepKind,
)
from carbontwin.twin.model import State

router = APIRouter(prefix="/events", tags=["events"])

Finite = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


class StateIn(BaseModel):
    asset: Id
    t: AwareDatetime
    state: State


class PowerIn(BaseModel):
    meter: Id
    t: AwareDatetime
    power_kw: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CounterIn(BaseModel):
    meter: Id
    t: AwareDatetime
    energy_kwh: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StepIn(BaseModel):
    order: Id
    operation: Id
    asset: Id
    start: AwareDatetime
    end: AwareDatetime
    quantity: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    kind: StepKind = StepKind.PROCESSING


class MaterialIn(BaseModel):
    order: Id
    material: Id
    quantity: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    unit: str = "kg"


class GapIn(BaseModel):
    source: Id
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""


class EventsCreate(BaseModel):
    """One batch; every list is optional."""

    states: list[StateIn] = []
    power: list[PowerIn] = []
    counters: list[CounterIn] = []
    steps: list[StepIn] = []
    materials: list[MaterialIn] = []
    gaps: list[GapIn] = []

    def batch(self) -> EventBatch:
        events: list[Any] = [StateChange(e.asset, e.t, e.state) for e in self.states]
        events += [PowerSample(e.meter, e.t, e.power_kw) for e in self.power]
        events += [EnergyCounter(e.meter, e.t, e.energy_kwh) for e in self.counters]
        events += [
            OrderStep(e.order, e.operation, e.asset, e.start, e.end, e.quantity, e.kind)
            for e in self.steps
        ]
        events += [MaterialUse(e.order, e.material, e.quantity, e.unit) for e in self.materials]
        events += [Gap(e.source, e.start, e.end, e.reason) for e in self.gaps]
        return EventBatch.from_events(events)


class EventsStored(BaseModel):
    received: int
    stored: int


@router.post("", operation_id="post_events", response_model=EventsStored)
def post_events(body: EventsCreate, store: StoreDep, _sub: TokenDep) -> Any:
    """Validate and store a batch; ``stored`` counts the events not seen before."""
    factory = current_factory(store)
    batch = body.batch()
    batch.validate(assets=factory.asset_ids, meters=[m.id for m in factory.meters])
    materials = {m.id for m in factory.materials}
    for i, m in enumerate(batch.material_id):
        if m not in materials:
            msg = f"material use #{i} names unknown material {m!r}; the factory has {sorted(materials)}"
            raise EventError(msg, field="material")
    return {"received": len(batch), "stored": store.write_events(batch)}
