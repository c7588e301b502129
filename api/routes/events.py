"""``POST /events``: a batch of shop-floor events, one JSON list per kind.

Nothing is dropped silently. Every event is stored, or the batch is refused
with a 4xx that lists the rows (``rows``: ``power[3]: ...``) and nothing of it
is stored: 422 for events naming an asset, meter or material the newest
factory model does not know (or otherwise invalid), 409 for a conflict. The
same event again is a no-op (``unchanged``); another value under a stored key
(meter and time, a booking id, ...) is a conflict unless the event is sent
with ``"correction": true`` — then it replaces the stored value, the old one
stays in the store's history, and the next footprint issued is a new version.
Each material booking carries its own ``booking`` id, so two bookings of one
material for one order both count.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from carbontwin.api._twin import current_factory
from carbontwin.api.deps import ReadDep, WriteDep
from carbontwin.api.errors import TooLarge
from carbontwin.twin.errors import EventRowsError
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
from carbontwin.twin.quantities import from_epoch

router = APIRouter(prefix="/events", tags=["events"])

Finite = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


def _state(value: Any) -> Any:
    try:
        return State.parse(value) if isinstance(value, str) else value
    except ValueError:
        return value  # pydantic names the valid states


class _Event(BaseModel):
    correction: bool = Field(
        False, description="Replace the stored event of the same key (keeps the old in history)."
    )


class StateIn(_Event):
    asset: Id
    t: AwareDatetime
    state: Annotated[State, BeforeValidator(_state)] = Field(
        description="OFF, STANDBY, IDLE, SETUP, PROCESSING or FAULT, in any letter case"
    )


class PowerIn(_Event):
    meter: Id
    t: AwareDatetime
    power_kw: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CounterIn(_Event):
    meter: Id
    t: AwareDatetime
    energy_kwh: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class StepIn(_Event):
    order: Id
    operation: Id
    asset: Id
    start: AwareDatetime
    end: AwareDatetime
    quantity: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    kind: StepKind = StepKind.PROCESSING


class MaterialIn(_Event):
    order: Id
    material: Id
    quantity: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    unit: str = "kg"
    booking: Id = Field(
        description="The booking's own id (e.g. the MES goods-issue number); "
        "two bookings of one material for one order both count"
    )


class GapIn(_Event):
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

    def count(self) -> int:
        """Events in the batch, all kinds."""
        lists = (self.states, self.power, self.counters, self.steps, self.materials, self.gaps)
        return sum(len(x) for x in lists)

    def batch(self) -> EventBatch:
        events: list[Any] = [StateChange(e.asset, e.t, e.state, e.correction) for e in self.states]
        events += [PowerSample(e.meter, e.t, e.power_kw, e.correction) for e in self.power]
        events += [EnergyCounter(e.meter, e.t, e.energy_kwh, e.correction) for e in self.counters]
        events += [
            OrderStep(
                e.order, e.operation, e.asset, e.start, e.end, e.quantity, e.kind, e.correction
            )
            for e in self.steps
        ]
        events += [
            MaterialUse(
                e.order, e.material, e.quantity, e.unit, booking=e.booking, correction=e.correction
            )
            for e in self.materials
        ]
        events += [Gap(e.source, e.start, e.end, e.reason, e.correction) for e in self.gaps]
        return EventBatch.from_events(events)

    def unknown(self, factory: Any) -> list[tuple[str, int, str, str]]:
        """Rows naming an asset, meter or material the factory does not know."""
        assets = set(factory.asset_ids)
        meters = {m.id for m in factory.meters}
        materials = {m.id for m in factory.materials}
        checks: list[tuple[str, list[Any], str, set[str], str]] = [
            ("states", self.states, "asset", assets, "asset"),
            ("power", self.power, "meter", meters, "meter"),
            ("counters", self.counters, "meter", meters, "meter"),
            ("steps", self.steps, "asset", assets, "asset"),
            ("materials", self.materials, "material", materials, "material"),
            ("gaps", self.gaps, "source", assets | meters, "meter or asset"),
        ]
        out = []
        for kind, items, attr, known, noun in checks:
            for i, e in enumerate(items):
                value = getattr(e, attr)
                if value not in known:
                    out.append((kind, i, f"{kind}[{i}]: unknown {noun} {value!r}", attr))
        return out


class EventsStored(BaseModel):
    """What became of every received event: ``received == stored + unchanged + corrected``."""

    received: int
    stored: int = Field(description="Events with a key not stored before.")
    unchanged: int = Field(description="Events already stored with the same values (no-ops).")
    corrected: int = Field(description="Corrections that replaced a stored value.")


@router.post("", operation_id="post_events", response_model=EventsStored)
def post_events(body: EventsCreate, services: WriteDep) -> Any:
    """Validate and store a batch, or refuse it whole with the rows that are wrong."""
    settings = services.settings
    count = body.count()
    if count > settings.max_events_per_request:
        msg = (
            f"{count:,} events in one batch; at most {settings.max_events_per_request:,} "
            "(setting max_events_per_request); send smaller batches"
        )
        raise TooLarge(msg, field="body")
    factory = current_factory(services.store)
    unknown = body.unknown(factory)
    if unknown:
        shown = "; ".join(r[2] for r in unknown[:20])
        more = f" (and {len(unknown) - 20} more)" if len(unknown) > 20 else ""
        msg = f"{len(unknown)} event(s) name what the factory does not know{more}: {shown}"
        rows = [(kind, i, text) for kind, i, text, _ in unknown]
        raise EventRowsError(msg, rows=rows, field=unknown[0][3])
    settled = services.store.ingest(body.batch())
    return {
        "received": settled.received,
        "stored": settled.new,
        "unchanged": settled.unchanged,
        "corrected": settled.corrected,
    }


class RetractionCreate(BaseModel):
    """Events of ``source`` with ``start <= t < end`` to take out of attribution."""

    source: Id = Field(description="A meter (power, counters), or an asset (states, steps)")
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1, max_length=2000, description="Kept on record")


class RetractionPublic(BaseModel):
    id: int
    source: str
    start: str
    end: str
    reason: str
    retracted_at: str | None
    events: dict[str, int] = Field(
        default_factory=dict, description="Stored events of each kind the retraction covers"
    )


@router.post(
    "/retractions",
    operation_id="retract_events",
    status_code=201,
    response_model=RetractionPublic,
)
def retract_events(body: RetractionCreate, services: WriteDep) -> Any:
    """Take stored events out of attribution, on record (never a delete).

    The events stay stored; the retraction is kept append-only with its reason.
    The next issue gives the orders whose figures change new footprint versions.
    """
    r, counts = services.store.retract_events(
        body.source, body.start.timestamp(), body.end.timestamp(), body.reason
    )
    return {**r.to_dict(), "events": counts}


@router.get("/retractions", operation_id="list_retractions", response_model=list[RetractionPublic])
def list_retractions(services: ReadDep) -> Any:
    """Every retraction, oldest first."""
    return [r.to_dict() for r in services.store.retractions()]


class EventsExtent(BaseModel):
    """The time span of the stored events (``null`` both when none are stored)."""

    first: AwareDatetime | None = Field(description="Earliest stored event time (UTC).")
    last: AwareDatetime | None = Field(
        description="Latest stored event time (UTC): a reading, a state change, a step's end."
    )


@router.get("/extent", operation_id="events_extent", response_model=EventsExtent)
def events_extent(services: ReadDep) -> Any:
    """The earliest and latest stored event times: what a span of the plant views
    (``start``, ``end``) can cover. Archived events stay in it."""
    ext = services.store.events_extent()
    if ext is None:
        return {"first": None, "last": None}
    return {"first": from_epoch(ext[0]), "last": from_epoch(ext[1])}
