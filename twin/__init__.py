"""carbontwin.twin: the domain — factory model, asset graph, events, emission
factors, attribution and footprints — and ``twin.store``, their persistence."""

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
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

# the records, imported on first use (numpy, pandas and pint load with them), so that
# importing an error class or a command-line module stays cheap
_EXPORTS = {
    "EnergyCounter": ".events",
    "EventBatch": ".events",
    "Gap": ".events",
    "MaterialUse": ".events",
    "OrderStep": ".events",
    "PowerSample": ".events",
    "StateChange": ".events",
    "Footprint": ".footprint",
    "Factory": ".model",
    "State": ".model",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .events import (
        EnergyCounter,
        EventBatch,
        Gap,
        MaterialUse,
        OrderStep,
        PowerSample,
        StateChange,
    )
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
