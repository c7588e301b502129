"""The factory model: frozen dataclasses the core works with.

A factory is described once, in a YAML or JSON file (``factory.yaml``, read by
:mod:`carbontwin.twin.factory_file`), and reaches the core as a :class:`Factory`.
All quantities here are already in canonical units (see
:mod:`carbontwin.twin.quantities`): kW, kWh, s, kg, kg CO2e.

The asset graph (:mod:`carbontwin.twin.graph`) is derived from a :class:`Factory`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "BomItem",
    "Carrier",
    "CarrierFactor",
    "ElectricityContract",
    "FactorsSection",
    "Factory",
    "GridZoneFactors",
    "Line",
    "Machine",
    "Material",
    "Meter",
    "Operation",
    "Order",
    "PowerModel",
    "Product",
    "ServesLink",
    "Shift",
    "Site",
    "State",
    "Supplier",
    "SupplyLink",
    "Utility",
    "YearFactor",
]


class State(StrEnum):
    """Power state of an asset (docs/architecture.md, "Events").

    Mapped from OPC 40001-1 MachineryItemState / MachineryOperationMode and
    from PackML by name, never by number.
    """

    OFF = "OFF"
    STANDBY = "STANDBY"
    IDLE = "IDLE"
    SETUP = "SETUP"
    PROCESSING = "PROCESSING"
    FAULT = "FAULT"

    @classmethod
    def parse(cls, value: object) -> State:
        """The state named ``value``, in any letter case (``"processing"`` as in the
        factory file's ``power:`` keys, ``"Processing"``, ``"PROCESSING"``).

        Raises ``ValueError`` naming the valid states.
        """
        if isinstance(value, State):
            return value
        text = str(value).strip().upper()
        try:
            return cls(text)
        except ValueError:
            msg = (
                f"unknown state {value!r}; expected one of "
                f"{', '.join(s.value for s in cls)} (any letter case)"
            )
            raise ValueError(msg) from None


#: States in a fixed order; ``STATE_INDEX[state]`` is the column in state arrays.
STATES: tuple[State, ...] = tuple(State)
STATE_INDEX: Mapping[State, int] = {s: i for i, s in enumerate(STATES)}


class Carrier(StrEnum):
    """Energy carrier of a meter or an asset."""

    ELECTRICITY = "electricity"
    NATURAL_GAS = "natural_gas"
    DIESEL = "diesel"
    LPG = "lpg"
    FUEL_OIL = "fuel_oil"
    STEAM = "steam"
    HEAT = "heat"
    DISTRICT_HEAT = "district_heat"


@dataclass(frozen=True, slots=True)
class PowerModel:
    """Power-state model of one asset.

    Attributes
    ----------
    power_kw : Mapping[State, float]
        Expected power per state [kW]. Every :class:`State` has a value.
    warmup_s : float
        Time from OFF to ready (IDLE) [s].
    warmup_energy_kwh : float
        Energy used while warming up [kWh].
    carrier : Carrier
        Energy carrier the asset draws (a gas furnace burns natural gas).
    """

    power_kw: Mapping[State, float]
    warmup_s: float = 0.0
    warmup_energy_kwh: float = 0.0
    carrier: Carrier = Carrier.ELECTRICITY

    def expected_kw(self, state: State) -> float:
        """Expected power in ``state`` [kW]."""
        return self.power_kw[state]

    @property
    def break_even_s(self) -> float:
        """Shortest idle period for which switching off saves energy [s].

        Switching off for a period ``T`` saves ``(P_idle - P_off) * T`` and costs
        the warm-up energy less what the asset would have drawn idling during
        warm-up (Mouzon, Yildirim and Twomey 2007, "Operational methods for
        minimization of energy consumption of manufacturing equipment",
        Int. J. Prod. Res. 45(18–19)). Infinite when idling is no dearer than OFF.
        """
        saving_kw = self.power_kw[State.IDLE] - self.power_kw[State.OFF]
        if saving_kw <= 0:
            return float("inf")
        extra_kwh = self.warmup_energy_kwh - self.power_kw[State.IDLE] * self.warmup_s / 3600.0
        return max(self.warmup_s, extra_kwh * 3600.0 / saving_kw + self.warmup_s)


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    country: str  # ISO 3166-1 alpha-2, e.g. "DE"
    timezone: str = "UTC"  # IANA zone for shifts, e.g. "Europe/Berlin"
    grid_zone: str = ""  # hourly grid series id, e.g. "DE"


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    name: str
    site: str


@dataclass(frozen=True, slots=True)
class Machine:
    """A production machine.

    ``capacity`` is how many orders it can hold at once (a batch furnace: >1;
    simultaneous orders share its energy by quantity or mass).
    ``setup_matrix_s`` maps (previous product, next product) to setup time [s];
    when a pair is missing the operation's own setup time applies.
    ``off_shift`` is the state the plant leaves the machine in outside its
    shifts (nights, weekends): OFF (warmed up again before the next shift),
    STANDBY or IDLE (kept running, e.g. a furnace held at temperature).
    """

    id: str
    name: str
    line: str
    type: str  # cnc, press, furnace, paint_booth, washer, ...
    power: PowerModel
    capacity: int = 1
    mtbf_s: float | None = None
    mttr_s: float | None = None
    setup_matrix_s: Mapping[tuple[str, str], float] = field(default_factory=dict)
    off_shift: State = State.OFF


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter over one or several assets (machines or utilities).

    ``signal`` says what it reports: ``"power"`` samples [kW] or ``"energy"``
    cumulative counter [kWh]. ``rollover_kwh`` is the counter's wrap value.

    Meters may form a hierarchy: a sub-meter names its main meter in
    ``parent`` and measures some of the main meter's assets. The main meter's
    own energy is then its virtual rest meter (main minus its sub-meters),
    which goes to the main meter's assets behind no sub-meter; so no energy
    is counted twice.
    """

    id: str
    name: str
    measures: tuple[str, ...]
    carrier: Carrier = Carrier.ELECTRICITY
    signal: str = "power"
    rollover_kwh: float | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class ServesLink:
    """A utility serves an asset with an allocation weight.

    With the default key ``machine_hours`` the weight multiplies the asset's
    non-OFF hours; with a ``declared`` key the weights are fixed shares.
    """

    asset: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Utility:
    """Compressed air, HVAC, chiller, lighting: energy that serves other assets."""

    id: str
    name: str
    kind: str  # compressed_air, hvac, chiller, lighting
    power: PowerModel
    serves: tuple[ServesLink, ...]
    allocation_key: str = "machine_hours"  # or "declared"


@dataclass(frozen=True, slots=True)
class Material:
    id: str
    name: str
    unit: str = "kg"
    cn_code: str = ""  # EU Combined Nomenclature code ("7208"), "" if none given
    fossil_carbon_kg_per_unit: float | None = None  # kg C per unit; None: not declared
    biogenic_carbon_kg_per_unit: float | None = None  # kg C per unit; None: not declared


@dataclass(frozen=True, slots=True)
class SupplyLink:
    """A supplier delivers a material with its product carbon footprint."""

    material: str
    pcf_kg_per_unit: float  # kg CO2e per material unit, cradle-to-gate
    source: str = ""
    primary: bool = True  # supplier-specific (primary) data, or a secondary database value
    pact_id: str = ""  # id of the supplier's PACT ProductFootprint the value came from
    pact_version: str = ""  # its version (PACT v2), "" for v3
    primary_data_share: float | None = None  # supplier's own share 0..1; None: 1 if primary
    dqr: tuple[float, float, float] | None = None  # supplier's technological, geographical,
    # temporal DQR (1 best .. 3 worst), None if not given


@dataclass(frozen=True, slots=True)
class Supplier:
    id: str
    name: str
    supplies: tuple[SupplyLink, ...]


@dataclass(frozen=True, slots=True)
class Operation:
    """One step of a routing: on which machine, with which times.

    ``alternatives`` are other machines that may run the step instead of
    ``machine`` (the one the plant uses by default), with the same setup and
    processing times; the optimizer chooses among them per order.
    """

    id: str
    machine: str
    setup_s: float
    processing_s_per_unit: float
    alternatives: tuple[str, ...] = ()

    @property
    def machines(self) -> tuple[str, ...]:
        """Every machine that may run the step, the default first."""
        return (self.machine, *self.alternatives)


@dataclass(frozen=True, slots=True)
class BomItem:
    material: str
    quantity_per_unit: float  # material units per declared product unit
    supplier: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    routing: tuple[Operation, ...]
    bom: tuple[BomItem, ...] = ()
    declared_unit: str = "piece"  # "piece" or "kg"
    mass_kg: float = 1.0  # per piece
    cn_code: str = ""  # EU Combined Nomenclature code ("7326 90 98"), "" if none given


@dataclass(frozen=True, slots=True)
class Shift:
    """A working shift, in the site's local time, on the given weekdays (0 = Monday)."""

    name: str
    start: str  # "06:00"
    end: str  # "14:00"; an end before the start runs past midnight
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    product: str
    quantity: float
    release: datetime  # UTC
    due: datetime  # UTC


@dataclass(frozen=True, slots=True)
class ElectricityContract:
    """Contractual instrument for market-based scope 2 (PPA, guarantees of origin)."""

    name: str
    share: float  # fraction of the site's electricity, 0..1
    factor_kg_per_kwh: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class YearFactor:
    """A factor for one calendar year, with its source (annual grid factor, residual mix)."""

    year: int
    factor_kg_per_kwh: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class GridZoneFactors:
    """The factory file's factors of one grid zone.

    ``hourly`` names hourly series: CSV files (``hour_start_utc,g_co2e_per_kwh``)
    relative to the factory file, or, over HTTP, series uploaded to the store
    under the file's stem. ``annual`` and ``residual_mix`` give one factor per year.
    """

    zone: str
    hourly: tuple[str, ...] = ()
    annual: tuple[YearFactor, ...] = ()
    residual_mix: tuple[YearFactor, ...] = ()


@dataclass(frozen=True, slots=True)
class CarrierFactor:
    """The factory file's factor of a fuel or of purchased steam or heat [kg CO2e/kWh]."""

    carrier: Carrier
    factor_kg_per_kwh: float
    source: str = ""


@dataclass(frozen=True, slots=True)
class FactorsSection:
    """The factory file's ``factors:`` section (see :mod:`carbontwin.twin.factors`)."""

    grid: tuple[GridZoneFactors, ...] = ()
    fuels: tuple[CarrierFactor, ...] = ()

    def zone(self, zone: str) -> GridZoneFactors | None:
        for z in self.grid:
            if z.zone == zone:
                return z
        return None


@dataclass(frozen=True, slots=True)
class Factory:
    """A whole plant. Ids are unique across all assets."""

    id: str
    name: str
    site: Site
    lines: tuple[Line, ...] = ()
    machines: tuple[Machine, ...] = ()
    meters: tuple[Meter, ...] = ()
    utilities: tuple[Utility, ...] = ()
    materials: tuple[Material, ...] = ()
    suppliers: tuple[Supplier, ...] = ()
    products: tuple[Product, ...] = ()
    shifts: tuple[Shift, ...] = ()
    orders: tuple[Order, ...] = ()
    contracts: tuple[ElectricityContract, ...] = ()
    company_id: str = ""  # URN of the reporting company, for PACT (urn:...)
    factors: FactorsSection = field(default_factory=FactorsSection)

    @property
    def grid_zone(self) -> str:
        """The site's grid zone: ``site.grid_zone``, else its country (upper case)."""
        return (self.site.grid_zone or self.site.country).strip().upper()

    def machine(self, machine_id: str) -> Machine:
        for m in self.machines:
            if m.id == machine_id:
                return m
        raise KeyError(machine_id)

    def product(self, product_id: str) -> Product:
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(product_id)

    def order(self, order_id: str) -> Order:
        for o in self.orders:
            if o.id == order_id:
                return o
        raise KeyError(order_id)

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """Ids of everything that can be in a state or draw power."""
        return tuple(m.id for m in self.machines) + tuple(u.id for u in self.utilities)

    def sub_meters(self, meter_id: str) -> tuple[Meter, ...]:
        """The meters whose ``parent`` is ``meter_id``, by id."""
        return tuple(sorted((m for m in self.meters if m.parent == meter_id), key=lambda m: m.id))

    def rest_assets(self, meter_id: str) -> tuple[str, ...]:
        """Assets of meter ``meter_id`` behind none of its sub-meters (its rest meter's)."""
        meter = next(m for m in self.meters if m.id == meter_id)
        below = {a for sub in self.sub_meters(meter_id) for a in sub.measures}
        return tuple(a for a in meter.measures if a not in below)

    def power_model(self, asset_id: str) -> PowerModel:
        for m in self.machines:
            if m.id == asset_id:
                return m.power
        for u in self.utilities:
            if u.id == asset_id:
                return u.power
        raise KeyError(asset_id)
