"""pydantic models of one factory file item each (the boundary of twin/model.py).

Each collection item (a machine, a meter, ...) is validated on its own, so one
bad machine does not hide the errors of the next one. Quantities may be given
with units (``"15 kW"``, ``"90 s"``, ``"2.5 MWh"``, ``"1.2 t"``) and are parsed
once, here, with :func:`carbontwin.twin.quantities.parse_quantity`; a bare
number is in the canonical unit (kW, kWh, s, kg).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from .model import Carrier
from .quantities import CANONICAL_UNITS, parse_quantity

__all__ = [
    "BomIn",
    "ContractIn",
    "FactorsIn",
    "FactoryDocument",
    "HeaderIn",
    "LineIn",
    "MachineIn",
    "MaterialIn",
    "MeterIn",
    "OperationIn",
    "OrderIn",
    "PowerIn",
    "ProductIn",
    "ServesIn",
    "SetupIn",
    "ShiftIn",
    "SiteIn",
    "SupplierIn",
    "SupplyIn",
    "UtilityIn",
]


def _quantity(kind: str) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        return parse_quantity(value, kind)

    return parse


def _not_negative(value: float) -> float:
    if value < 0:
        msg = f"must not be negative, got {value:g}"
        raise ValueError(msg)
    return value


def _finite_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"expected a number, got {value!r}"
        raise ValueError(msg)
    if not math.isfinite(value):
        msg = f"expected a finite number, got {value!r}"
        raise ValueError(msg)
    return float(value)


def _unit_input(kind: str, example: str) -> tuple[BeforeValidator, Any]:
    """Parse a number in the canonical unit or a string with a unit; say so in the schema."""
    text = f"{kind}: a number in {CANONICAL_UNITS[kind]} or a string with a unit, e.g. '{example}'"
    return (
        BeforeValidator(_quantity(kind), json_schema_input_type=float | str),
        Field(description=text),
    )


_POWER = _unit_input("power", "15 kW")
_ENERGY = _unit_input("energy", "2.5 MWh")
_DURATION = _unit_input("duration", "90 s")
_MASS = _unit_input("mass", "1.2 t")
_FACTOR = _unit_input("emission_factor", "0.202 kg/kWh")
_NON_NEGATIVE = AfterValidator(_not_negative)
PowerKW = Annotated[float, _POWER[0], _NON_NEGATIVE, _POWER[1]]
EnergyKWh = Annotated[float, _ENERGY[0], _NON_NEGATIVE, _ENERGY[1]]
DurationS = Annotated[float, _DURATION[0], _NON_NEGATIVE, _DURATION[1]]
MassKg = Annotated[float, _MASS[0], _NON_NEGATIVE, _MASS[1]]
FactorKgPerKWh = Annotated[float, _FACTOR[0], _NON_NEGATIVE, _FACTOR[1]]
Number = Annotated[float, BeforeValidator(_finite_number)]
NonNegative = Annotated[float, BeforeValidator(_finite_number), AfterValidator(_not_negative)]
Id = Annotated[str, Field(min_length=1, pattern=r"^\S(.*\S)?$")]

_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _clock(value: Any) -> str:
    if not isinstance(value, str) or not _CLOCK.match(value):
        msg = f"expected a local time 'HH:MM' such as '06:00', got {value!r}"
        raise ValueError(msg)
    return value


def _urn(value: str) -> str:
    # PACT needs company ids as URNs (RFC 8141): urn:<namespace>:<specific part>
    if value and not re.fullmatch(r"(?i:urn):[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+", value):
        msg = f"expected a URN such as 'urn:carbontwin:demo:company', got {value!r}"
        raise ValueError(msg)
    return value


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        msg = f"expected an ISO 3166-1 alpha-2 country code such as 'DE', got {value!r}"
        raise ValueError(msg)
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'"
        raise ValueError(msg) from None
    return value


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HeaderIn(_Item):
    """Top-level scalars of the file."""

    id: Id
    name: str = ""
    company_id: Annotated[str, AfterValidator(_urn)] = ""


class SiteIn(_Item):
    id: Id
    name: str = ""
    country: Annotated[str, AfterValidator(_country)]
    timezone: Annotated[str, AfterValidator(_zone)] = "UTC"
    grid_zone: str = ""


class LineIn(_Item):
    id: Id
    name: str = ""
    site: str | None = None


class PowerIn(_Item):
    """Power per state. ``off`` defaults to 0, ``standby`` to ``off``,
    ``setup`` to ``idle`` and ``fault`` to ``standby``."""

    off: PowerKW = 0.0
    standby: PowerKW | None = None
    idle: PowerKW
    setup: PowerKW | None = None
    processing: PowerKW
    fault: PowerKW | None = None


class SetupIn(_Item):
    """One entry of a setup matrix: changing over from product ``from`` to ``to``."""

    from_: Id = Field(alias="from")
    to: Id
    time: DurationS


class MachineIn(_Item):
    id: Id
    name: str = ""
    line: Id
    type: Id
    power: PowerIn
    warmup: DurationS = 0.0
    warmup_energy: EnergyKWh = 0.0
    carrier: Carrier = Carrier.ELECTRICITY
    capacity: Annotated[int, Field(ge=1)] = 1
    mtbf: DurationS | None = None
    mttr: DurationS | None = None
    setup_matrix: list[SetupIn] = []
    off_shift: Literal["off", "standby", "idle"] = "off"


class MeterIn(_Item):
    id: Id
    name: str = ""
    measures: list[Id]
    carrier: Carrier = Carrier.ELECTRICITY
    signal: Literal["power", "energy"] = "power"
    rollover: EnergyKWh | None = None
    parent: Id | None = Field(
        None,
        description="Main meter of this sub-meter; the sub-meter measures some of its assets "
        "and the main meter's rest (main minus sub-meters) goes to its other assets",
    )


class ServesIn(_Item):
    asset: Id
    weight: NonNegative = 1.0


class UtilityIn(_Item):
    id: Id
    name: str = ""
    kind: Id
    power: PowerIn
    warmup: DurationS = 0.0
    warmup_energy: EnergyKWh = 0.0
    carrier: Carrier = Carrier.ELECTRICITY
    allocation_key: Literal["machine_hours", "declared"] = "machine_hours"
    serves: list[ServesIn]


CnCode = Annotated[
    str,
    Field(
        pattern=r"^\d{4}(\s?\d{2}){0,2}$",
        description="EU Combined Nomenclature code, 4 to 8 digits ('7326 90 98')",
    ),
]


class MaterialIn(_Item):
    id: Id
    name: str = ""
    unit: Id = "kg"
    cn_code: CnCode = ""
    fossil_carbon_kg_per_unit: NonNegative | None = None
    biogenic_carbon_kg_per_unit: NonNegative | None = None


class SupplyIn(_Item):
    material: Id
    pcf_kg_per_unit: NonNegative
    source: str = ""
    primary: bool = True
    pact_id: str = ""
    pact_version: str = ""
    primary_data_share: Annotated[float, Field(ge=0, le=1)] | None = None
    dqr: (
        tuple[
            Annotated[float, Field(ge=1, le=3)],
            Annotated[float, Field(ge=1, le=3)],
            Annotated[float, Field(ge=1, le=3)],
        ]
        | None
    ) = None


class SupplierIn(_Item):
    id: Id
    name: str = ""
    supplies: list[SupplyIn]


class OperationIn(_Item):
    """A routing step. ``after`` lists the operations it follows; by default the
    one listed just before it (none for the first). ``alternatives`` lists other
    machines that may run it, with the same setup and processing times (the
    optimizer chooses; ``machine`` is the plant's default)."""

    id: Id
    machine: Id
    setup: DurationS = 0.0
    processing: DurationS
    after: list[Id] | None = None
    alternatives: list[Id] = []


class BomIn(_Item):
    """``quantity`` per declared product unit, in the material's unit
    (``"1.8 kg"`` or ``1.8`` for a material counted in kg)."""

    material: Id
    quantity: str | float
    supplier: Id | None = None


class ProductIn(_Item):
    id: Id
    name: str = ""
    declared_unit: Literal["piece", "kg"] = "piece"
    mass: MassKg = 1.0
    cn_code: CnCode = ""
    routing: list[OperationIn] = []
    bom: list[BomIn] = []


class ShiftIn(_Item):
    name: Id
    start: Annotated[str, BeforeValidator(_clock)]
    end: Annotated[str, BeforeValidator(_clock)]
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = [0, 1, 2, 3, 4]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class OrderIn(_Item):
    id: Id
    product: Id
    quantity: Annotated[float, BeforeValidator(_finite_number), Field(gt=0)]
    release: Annotated[AwareDatetime, AfterValidator(_utc)]
    due: Annotated[AwareDatetime, AfterValidator(_utc)]


class ContractIn(_Item):
    name: Id
    share: Annotated[float, BeforeValidator(_finite_number), Field(ge=0, le=1)]
    factor_kg_per_kwh: NonNegative
    source: str = ""


class YearFactorIn(_Item):
    """A factor for one year: ``{year: 2024, factor: "0.35 kg/kWh", source: "..."}``."""

    year: Annotated[int, Field(ge=1900, le=2200)]
    factor: FactorKgPerKWh
    source: str = ""


def _names(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class GridZoneIn(_Item):
    """Factors of one grid zone. ``hourly``: CSV file(s) ``hour_start_utc,g_co2e_per_kwh``
    relative to the factory file (over HTTP: series uploaded under the file's stem)."""

    hourly: Annotated[list[Id], BeforeValidator(_names)] = []
    annual: list[YearFactorIn] = []
    residual_mix: list[YearFactorIn] = []


class CarrierFactorIn(_Item):
    """Factor of a fuel or of purchased steam or heat: ``{factor: "56.1 t/TJ", source: ...}``."""

    factor: FactorKgPerKWh
    source: str = ""


class FactorsIn(_Item):
    """The ``factors:`` section: grid factors per zone, fuel and heat factors per carrier."""

    grid: dict[Id, GridZoneIn] = {}
    fuels: dict[Carrier, CarrierFactorIn] = {}


class FactoryDocument(HeaderIn):
    """The whole file, for its JSON Schema (the loader validates item by item)."""

    model_config = ConfigDict(title="carbontwin factory file")

    site: SiteIn
    lines: list[LineIn] = []
    machines: list[MachineIn] = []
    meters: list[MeterIn] = []
    utilities: list[UtilityIn] = []
    materials: list[MaterialIn] = []
    suppliers: list[SupplierIn] = []
    products: list[ProductIn] = []
    shifts: list[ShiftIn] = []
    contracts: list[ContractIn] = []
    factors: FactorsIn = FactorsIn()
    orders: list[OrderIn] = []
