"""Hypothesis strategy for random valid factories (shared by the twin tests).

Imported by name: pytest puts this folder on ``sys.path`` (rootdir conftest,
``prepend`` import mode).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from carbontwin.twin.model import (
    BomItem,
    Carrier,
    CarrierFactor,
    ElectricityContract,
    FactorsSection,
    Factory,
    GridZoneFactors,
    Line,
    Machine,
    Material,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Supplier,
    SupplyLink,
    Utility,
    YearFactor,
)

__all__ = ["factories"]

# letters that spell YAML traps: yes/no/on/off/true/null/1e3/.5/06:00
IDS = st.text(alphabet="aeflnorstuy0123456789-_.:", min_size=1, max_size=6).filter(
    lambda s: s.strip() == s
)
# printable Latin text; C1 controls such as NEL (U+0085) are line breaks to YAML
NAMES = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_categories=("Cc",)),
    min_size=1,
    max_size=12,
)
NONNEG = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
CARRIERS = st.sampled_from(list(Carrier))
CLOCK = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))


def power_models(draw) -> PowerModel:
    return PowerModel(
        power_kw={s: draw(NONNEG) for s in State},
        warmup_s=draw(NONNEG),
        warmup_energy_kwh=draw(NONNEG),
        carrier=draw(CARRIERS),
    )


@st.composite
def factories(draw) -> Factory:
    n_lines = draw(st.integers(1, 2))
    n_machines = draw(st.integers(1, 4))
    n_utilities = draw(st.integers(0, 2))
    n_materials = draw(st.integers(0, 3))
    n_suppliers = draw(st.integers(0, 2))
    n_products = draw(st.integers(0, 3))
    total = 1 + n_lines + n_machines + n_utilities + n_materials + n_suppliers + n_products
    ids = iter(draw(st.lists(IDS, min_size=total, max_size=total, unique=True)))
    site = Site(
        id=next(ids),
        name=draw(NAMES),
        country=draw(st.sampled_from(["DE", "CN", "FR"])),
        timezone=draw(st.sampled_from(["UTC", "Europe/Berlin"])),
        grid_zone=draw(st.sampled_from(["", "DE"])),
    )
    lines = tuple(Line(id=next(ids), name=draw(NAMES), site=site.id) for _ in range(n_lines))
    machine_ids = [next(ids) for _ in range(n_machines)]
    utility_ids = [next(ids) for _ in range(n_utilities)]
    material_ids = [next(ids) for _ in range(n_materials)]
    supplier_ids = [next(ids) for _ in range(n_suppliers)]
    product_ids = [next(ids) for _ in range(n_products)]
    machines = tuple(
        Machine(
            id=mid,
            name=draw(NAMES),
            line=draw(st.sampled_from(lines)).id,
            type=draw(IDS),
            power=power_models(draw),
            capacity=draw(st.integers(1, 5)),
            mtbf_s=draw(st.none() | NONNEG),
            mttr_s=draw(st.none() | NONNEG),
            setup_matrix_s=draw(
                st.dictionaries(
                    st.tuples(st.sampled_from(product_ids), st.sampled_from(product_ids)),
                    NONNEG,
                    max_size=3,
                )
            )
            if product_ids
            else {},
        )
        for mid in machine_ids
    )
    utilities = []
    for uid in utility_ids:
        key = draw(st.sampled_from(["machine_hours", "declared"]))
        served = draw(st.lists(st.sampled_from(machine_ids), min_size=1, max_size=3, unique=True))
        weights = st.floats(min_value=0.01, max_value=100) if key == "declared" else NONNEG
        utilities.append(
            Utility(
                id=uid,
                name=draw(NAMES),
                kind=draw(st.sampled_from(["compressed_air", "hvac"])),
                power=power_models(draw),
                allocation_key=key,
                serves=tuple(ServesLink(asset=a, weight=draw(weights)) for a in served),
            )
        )
    carrier_of = {m.id: m.power.carrier for m in machines} | {
        u.id: u.power.carrier for u in utilities
    }
    meters = []
    measured: set[str] = set()  # an asset is behind one meter, or a main meter and its sub-meter
    for k, first in enumerate(draw(st.lists(st.sampled_from(sorted(carrier_of)), max_size=4))):
        if first in measured:
            continue
        same = [
            a
            for a in sorted(carrier_of)
            if carrier_of[a] == carrier_of[first] and a != first and a not in measured
        ]
        extra = draw(st.lists(st.sampled_from(same), unique=True, max_size=2)) if same else []
        measured.update([first, *extra])
        signal = draw(st.sampled_from(["power", "energy"]))
        meters.append(
            Meter(
                id=f"meter{k}",
                name=draw(NAMES),
                measures=(first, *extra),
                carrier=carrier_of[first],
                signal=signal,
                rollover_kwh=draw(st.none() | POSITIVE) if signal == "energy" else None,
            )
        )
    mains = [m for m in meters if len(m.measures) > 1]
    if mains and draw(st.booleans()):  # a sub-meter over some of a main meter's assets
        main = draw(st.sampled_from(mains))
        n = draw(st.integers(1, len(main.measures) - 1))
        signal = draw(st.sampled_from(["power", "energy"]))
        meters.append(
            Meter(
                id=f"{main.id}-sub",
                name=draw(NAMES),
                measures=main.measures[-n:],
                carrier=main.carrier,
                signal=signal,
                rollover_kwh=draw(st.none() | POSITIVE) if signal == "energy" else None,
                parent=main.id,
            )
        )
    ids_taken = (
        set(carrier_of)
        | {site.id}
        | {ln.id for ln in lines}
        | set(material_ids)
        | set(supplier_ids)
        | set(product_ids)
    )
    meters = [m for m in meters if m.id not in ids_taken]
    kept = {m.id for m in meters}
    meters = [m for m in meters if m.parent is None or m.parent in kept]
    materials = tuple(
        Material(id=mid, name=draw(NAMES), unit=draw(st.sampled_from(["kg", "piece", "m3"])))
        for mid in material_ids
    )
    suppliers = tuple(
        Supplier(
            id=sid,
            name=draw(NAMES),
            supplies=tuple(
                SupplyLink(
                    material=mat,
                    pcf_kg_per_unit=draw(NONNEG),
                    source=draw(NAMES),
                    primary=draw(st.booleans()),
                )
                for mat in draw(st.lists(st.sampled_from(material_ids), unique=True))
                if material_ids
            )
            if material_ids
            else (),
        )
        for sid in supplier_ids
    )
    supplied_by = {}
    for s in suppliers:
        for x in s.supplies:
            supplied_by.setdefault(x.material, []).append(s.id)
    products = []
    for pid in product_ids:
        op_ids = draw(st.lists(IDS, min_size=1, max_size=4, unique=True))
        routing = tuple(
            Operation(
                id=o,
                machine=draw(st.sampled_from(machine_ids)),
                setup_s=draw(NONNEG),
                processing_s_per_unit=draw(NONNEG),
            )
            for o in op_ids
        )
        bom = ()
        if supplied_by:
            bom = tuple(
                BomItem(
                    material=mat,
                    quantity_per_unit=draw(NONNEG),
                    supplier=draw(st.none() | st.sampled_from(supplied_by[mat])),
                )
                for mat in draw(st.lists(st.sampled_from(sorted(supplied_by)), max_size=2))
            )
        products.append(
            Product(
                id=pid,
                name=draw(NAMES),
                routing=routing,
                bom=bom,
                declared_unit=draw(st.sampled_from(["piece", "kg"])),
                mass_kg=draw(NONNEG),
            )
        )
    shifts = tuple(
        Shift(
            name=draw(IDS),
            start=draw(CLOCK),
            end=draw(CLOCK),
            weekdays=tuple(draw(st.lists(st.integers(0, 6), unique=True, max_size=7))),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    n_contracts = draw(st.integers(0, 2))
    contracts = tuple(
        ElectricityContract(
            name=draw(IDS),
            share=draw(st.floats(0, 0.5)),
            factor_kg_per_kwh=draw(NONNEG),
            source=draw(NAMES),
        )
        for _ in range(n_contracts)
    )
    orders = []
    if products:
        times = st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
        for k in range(draw(st.integers(0, 3))):
            release = draw(times)
            orders.append(
                Order(
                    id=f"order-{k}",
                    product=draw(st.sampled_from(products)).id,
                    quantity=draw(POSITIVE),
                    release=release,
                    due=release + timedelta(seconds=draw(st.integers(0, 10**7))),
                )
            )
    # purchased heat has no built-in factor: the file gives one (and sometimes own grid factors)
    heat = (Carrier.STEAM, Carrier.HEAT, Carrier.DISTRICT_HEAT)
    fuels = tuple(CarrierFactor(c, draw(NONNEG), draw(NAMES)) for c in heat)
    years = st.lists(
        st.builds(YearFactor, st.integers(1990, 2100), NONNEG, NAMES),
        max_size=2,
        unique_by=lambda y: y.year,
    )
    grid = tuple(
        GridZoneFactors(
            zone, tuple(draw(st.lists(IDS, max_size=1))), tuple(draw(years)), tuple(draw(years))
        )
        for zone in draw(st.lists(st.sampled_from(["DE", "AT", "US-CAMX"]), unique=True))
    )
    return Factory(
        id=draw(IDS),
        name=draw(NAMES),
        company_id=draw(st.sampled_from(["", "urn:x:y"])),
        site=site,
        lines=lines,
        machines=machines,
        meters=tuple(meters),
        utilities=tuple(utilities),
        materials=materials,
        suppliers=suppliers,
        products=tuple(products),
        shifts=shifts,
        orders=tuple(orders),
        contracts=contracts,
        factors=FactorsSection(grid=grid, fuels=fuels),
    )
