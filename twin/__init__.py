"""carbontwin.twin: the domain — factory model, asset graph, events, emission
factors, attribution and footprints — and ``twin.store``, their persistence."""

from .errors import (
    AttributionError,
    CarbonTwinError,
    ConnectorError,
    EventError,
    FactoryModelError,
    PluginError,
    SimulationError,
    StoreError,
)
from .events import EnergyCounter, EventBatch, Gap, MaterialUse, OrderStep, PowerSample, StateChange
from .footprint import Footprint
from .model import Factory, State

__all__ = [
    "AttributionError",
    "CarbonTwinError",
    "ConnectorError",
    "EnergyCounter",
    "EventBatch",
    "EventError",
    "Factory",
    "FactoryModelError",
    "Footprint",
    "Gap",
    "MaterialUse",
    "OrderStep",
    "PluginError",
    "PowerSample",
    "SimulationError",
    "State",
    "StateChange",
    "StoreError",
]
