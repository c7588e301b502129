"""Validate parsed factory data and build the frozen :class:`Factory`.

Private to :mod:`carbontwin.twin.factory_file` (which documents the rules).
Every problem is collected with its path in the document; the path gives the
line (from :mod:`._yaml_lines`) and the item (``meter 'M7'``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from ._factory_errors import Problems, field_name
from ._factory_meters import check_meter_tree
from ._factory_products import build_product
from ._factory_schema import (
    ContractIn,
    FactorsIn,
    HeaderIn,
    LineIn,
    MachineIn,
    MaterialIn,
    MeterIn,
    OrderIn,
    PowerIn,
    ProductIn,
    ShiftIn,
    SiteIn,
    SupplierIn,
    UtilityIn,
)
from ._yaml_lines import Path, line_of
from .model import (
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
    Order,
    PowerModel,
    ServesLink,
    Shift,
    Site,
    State,
    Supplier,
    SupplyLink,
    Utility,
    YearFactor,
)

__all__ = ["build_factory"]

#: collection key -> (item model, singular name used in messages)
_COLLECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "lines": (LineIn, "line"),
    "machines": (MachineIn, "machine"),
    "meters": (MeterIn, "meter"),
    "utilities": (UtilityIn, "utility"),
    "materials": (MaterialIn, "material"),
    "suppliers": (SupplierIn, "supplier"),
    "products": (ProductIn, "product"),
    "shifts": (ShiftIn, "shift"),
    "contracts": (ContractIn, "contract"),
    "orders": (OrderIn, "order"),
}
#: collections whose ids share one namespace with the site (graph nodes)
_NODE_COLLECTIONS = (
    "lines",
    "machines",
    "meters",
    "utilities",
    "materials",
    "suppliers",
    "products",
)
_TOP_KEYS = ("id", "name", "company_id", "site", "factors", *_COLLECTIONS)


def _raw_items(data: Mapping[str, Any], key: str, errs: Problems) -> Iterator[tuple[int, Any]]:
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        errs.add((key,), key, f"expected a list of items, got {type(value).__name__}")
        return
    yield from enumerate(value)


def _validate_items(
    data: Mapping[str, Any], errs: Problems
) -> tuple[dict[str, list[tuple[int, Any]]], dict[str, list[tuple[int, Any]]]]:
    """Validate each collection item on its own.

    Returns the valid items (validated) and the invalid ones (raw), each with its index.
    """
    valid: dict[str, list[tuple[int, Any]]] = {}
    invalid: dict[str, list[tuple[int, Any]]] = {}
    for key, (model, _) in _COLLECTIONS.items():
        valid[key] = []
        invalid[key] = []
        for index, raw in _raw_items(data, key, errs):
            try:
                valid[key].append((index, model.model_validate(raw)))
            except ValidationError as exc:
                errs.pydantic((key, index), exc)
                invalid[key].append((index, raw))
    return valid, invalid


#: references checked on items that failed their own validation:
#: collection -> (list field or None, key in the entry, referenced collections, message noun)
_RAW_REFERENCES: dict[str, tuple[tuple[str | None, str, tuple[str, ...], str], ...]] = {
    "machines": ((None, "line", ("lines",), "line"),),
    "meters": (("measures", "", ("machines", "utilities"), "asset"),),
    "utilities": (("serves", "asset", ("machines", "utilities"), "asset"),),
    "suppliers": (("supplies", "material", ("materials",), "material"),),
    "products": (
        ("routing", "machine", ("machines",), "machine"),
        ("bom", "material", ("materials",), "material"),
    ),
    "orders": ((None, "product", ("products",), "product"),),
}


def _check_raw_references(
    invalid: Mapping[str, list[tuple[int, Any]]], kinds: Mapping[str, set[str]], errs: Problems
) -> None:
    """Unknown references of items that failed their own checks, so one pass finds them all."""
    for key, refs in _RAW_REFERENCES.items():
        for index, raw in invalid.get(key, ()):
            if not isinstance(raw, Mapping):
                continue
            for list_field, name, targets, noun in refs:
                known = set().union(*(kinds.get(t, set()) for t in targets))
                if list_field is None:
                    entries: list[tuple[Path, str, Any]] = [
                        ((key, index, name), name, raw.get(name))
                    ]
                else:
                    value = raw.get(list_field)
                    entries = []
                    for j, entry in enumerate(value if isinstance(value, list) else ()):
                        if name:
                            ref = entry.get(name) if isinstance(entry, Mapping) else None
                            entries.append(
                                (
                                    (key, index, list_field, j, name),
                                    f"{list_field}[{j}].{name}",
                                    ref,
                                )
                            )
                        else:
                            entries.append(((key, index, list_field, j), list_field, entry))
                for path, field, ref in entries:
                    if isinstance(ref, str) and ref not in known:
                        errs.add(path, field, f"unknown {noun} '{ref}'")


def _power(p: PowerIn, warmup_s: float, warmup_kwh: float, carrier: Carrier) -> PowerModel:
    standby = p.off if p.standby is None else p.standby
    return PowerModel(
        power_kw={
            State.OFF: p.off,
            State.STANDBY: standby,
            State.IDLE: p.idle,
            State.SETUP: p.idle if p.setup is None else p.setup,
            State.PROCESSING: p.processing,
            State.FAULT: standby if p.fault is None else p.fault,
        },
        warmup_s=warmup_s,
        warmup_energy_kwh=warmup_kwh,
        carrier=carrier,
    )


def _raw_ids(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, str]]:
    value = data.get(key)
    if isinstance(value, list):
        for index, raw in enumerate(value):
            if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                yield index, raw["id"]


def _check_ids(data: Mapping[str, Any], errs: Problems) -> dict[str, set[str]]:
    """Ids must be unique across all graph nodes; returns collection -> its ids."""
    owner: dict[str, Path] = {}
    ids: dict[str, set[str]] = {key: set() for key in _NODE_COLLECTIONS}
    site = data.get("site")
    if isinstance(site, Mapping) and isinstance(site.get("id"), str):
        owner[site["id"]] = ("site",)
    for key in _NODE_COLLECTIONS:
        for index, ident in _raw_ids(data, key):
            path: Path = (key, index)
            ids[key].add(ident)
            if ident in owner:
                first_path = owner[ident]
                line = line_of(errs.lines, first_path) if errs.lines else None
                at = f" on line {line}" if line is not None else ""
                errs.add(
                    (*path, "id"),
                    "id",
                    f"duplicate id '{ident}' (already used by {errs.item(first_path)}{at})",
                )
            else:
                owner[ident] = path
    seen: set[str] = set()
    for index, ident in _raw_ids(data, "orders"):
        if ident in seen:
            errs.add(("orders", index, "id"), "id", f"duplicate order id '{ident}'")
        seen.add(ident)
    return ids


class _FactorsDoc(BaseModel):
    factors: FactorsIn


def _factors(data: Mapping[str, Any], errs: Problems) -> FactorsSection:
    """The ``factors:`` section (zone ids upper case, aliases such as UK -> GB resolved)."""
    from .factors import normalize_zone

    raw = data.get("factors")
    if raw is None:
        return FactorsSection()
    try:
        sec = _FactorsDoc.model_validate({"factors": raw}).factors
    except ValidationError as exc:
        errs.pydantic((), exc)
        return FactorsSection()
    grid = []
    seen: dict[str, str] = {}
    for key, z in sec.grid.items():
        zone = normalize_zone(key)
        if zone in seen:
            errs.add(
                ("factors", "grid", key),
                f"factors.grid.{key}",
                f"zone '{zone}' is given twice (also as '{seen[zone]}')",
            )
        seen[zone] = key
        for what in ("annual", "residual_mix"):
            years = [y.year for y in getattr(z, what)]
            for j, y in enumerate(years):
                if y in years[:j]:
                    errs.add(
                        ("factors", "grid", key, what, j, "year"),
                        f"factors.grid.{key}.{what}[{j}].year",
                        f"year {y} is given twice",
                    )

        def entries(items: list[Any]) -> tuple[YearFactor, ...]:
            return tuple(YearFactor(y.year, y.factor, y.source) for y in items)

        grid.append(
            GridZoneFactors(
                zone=zone,
                hourly=tuple(z.hourly),
                annual=entries(z.annual),
                residual_mix=entries(z.residual_mix),
            )
        )
    fuels = tuple(CarrierFactor(c, f.factor, f.source) for c, f in sec.fuels.items())
    if Carrier.ELECTRICITY in sec.fuels:
        errs.add(
            ("factors", "fuels", "electricity"),
            "factors.fuels.electricity",
            "electricity takes grid factors: give them under factors.grid.<zone>",
        )
    return FactorsSection(grid=tuple(grid), fuels=fuels)


def _check_factors(factory: Factory, data: Mapping[str, Any], errs: Problems) -> None:
    """Every zone and carrier the plant uses must have a factor (one message each)."""
    from .factors import missing_factors, normalize_zone

    raw = data.get("factors")
    raw = raw if isinstance(raw, Mapping) else {}
    given = {f"carrier:{k}" for k in (raw.get("fuels") or {}) if isinstance(k, str)}
    if any(
        isinstance(k, str) and normalize_zone(k) == normalize_zone(factory.grid_zone)
        for k in (raw.get("grid") or {})
    ):
        given.add("zone")  # given, but invalid: its own error says why
    for what, message in missing_factors(factory):
        if what in given:
            continue
        if what == "zone":
            site = data.get("site")
            key = "grid_zone" if isinstance(site, Mapping) and "grid_zone" in site else "country"
            errs.add(("site", key), key, message)
        else:
            errs.add(("factors",) if "factors" in data else (), "factors", message)


def build_factory(
    data: Any,
    filename: str,
    lines: Mapping[Path, int],
    dups: Sequence[tuple[Path, int]],
    *,
    check_factors: bool = True,
) -> Factory:
    """Validate ``data`` (a parsed factory document) and build the :class:`Factory`.

    With ``check_factors`` (the default), a grid zone or energy carrier without
    any emission factor is a problem too.

    Raises
    ------
    FactoryModelError
        Listing every problem found.
    """
    errs = Problems(filename, lines, data)
    if not isinstance(data, Mapping):
        errs.add((), "", "a factory file must be a mapping with 'id', 'site', 'machines', ...")
        errs.raise_if_any()
    for path, line in dups:
        errs.add(
            path,
            field_name(path[2:] if len(path) > 2 else path),
            f"key '{path[-1]}' is given twice (the last one would win)",
            line=line,
        )
    for key in data:
        if key not in _TOP_KEYS and not str(key).startswith("x-"):
            errs.add(
                (str(key),),
                str(key),
                f"unknown top-level key; expected one of {list(_TOP_KEYS)} "
                "(keys starting with 'x-' are free, e.g. for YAML anchors)",
            )
    header: HeaderIn | None = None
    try:
        header = HeaderIn.model_validate(
            {k: data[k] for k in ("id", "name", "company_id") if k in data}
        )
    except ValidationError as exc:
        errs.pydantic((), exc)
    site: SiteIn | None = None
    if "site" not in data:
        errs.add((), "site", "is required")
    else:
        try:
            site = SiteIn.model_validate(data["site"])
        except ValidationError as exc:
            errs.pydantic(("site",), exc)
    items, invalid = _validate_items(data, errs)
    kinds = _check_ids(data, errs)
    _check_raw_references(invalid, kinds, errs)
    factors = _factors(data, errs)
    factory = _cross_check(items, kinds, header, site, data, errs)
    if factory is not None:
        factory = replace(factory, factors=factors)
        if check_factors:
            _check_factors(factory, data, errs)
    errs.raise_if_any()
    assert factory is not None  # no errors -> built
    return factory


def _cross_check(
    items: dict[str, list[tuple[int, Any]]],
    kinds: Mapping[str, set[str]],
    header: HeaderIn | None,
    site: SiteIn | None,
    data: Mapping[str, Any],
    errs: Problems,
) -> Factory | None:
    assets = kinds["machines"] | kinds["utilities"]
    materials_unit = {m.id: m.unit for _, m in items["materials"]}
    material_ids = kinds["materials"]
    product_ids = kinds["products"]
    line_ids = kinds["lines"]
    machine_ids = kinds["machines"]
    site_id = site.id if site is not None else None

    lines: list[Line] = []
    for index, ln in items["lines"]:
        if ln.site is not None and site_id is not None and ln.site != site_id:
            errs.add(
                ("lines", index, "site"),
                "site",
                f"unknown site '{ln.site}' (the site is '{site_id}')",
            )
        lines.append(Line(id=ln.id, name=ln.name or ln.id, site=ln.site or site_id or ""))

    machines: list[Machine] = []
    carrier_of: dict[str, Carrier] = {}
    for index, m in items["machines"]:
        base: Path = ("machines", index)
        carrier_of[m.id] = m.carrier
        if m.line not in line_ids:
            errs.add((*base, "line"), "line", f"unknown line '{m.line}'")
        matrix: dict[tuple[str, str], float] = {}
        for j, entry in enumerate(m.setup_matrix):
            where: Path = (*base, "setup_matrix", j)
            for name, ident in (("from", entry.from_), ("to", entry.to)):
                if ident not in product_ids:
                    errs.add(
                        (*where, name), f"setup_matrix[{j}].{name}", f"unknown product '{ident}'"
                    )
            if (entry.from_, entry.to) in matrix:
                errs.add(
                    where,
                    f"setup_matrix[{j}]",
                    f"changeover {entry.from_} -> {entry.to} is given twice",
                )
            matrix[(entry.from_, entry.to)] = entry.time
        machines.append(
            Machine(
                id=m.id,
                name=m.name or m.id,
                line=m.line,
                type=m.type,
                power=_power(m.power, m.warmup, m.warmup_energy, m.carrier),
                capacity=m.capacity,
                mtbf_s=m.mtbf,
                mttr_s=m.mttr,
                setup_matrix_s=matrix,
                off_shift=State(m.off_shift.upper()),
            )
        )

    utilities: list[Utility] = []
    for index, u in items["utilities"]:
        base = ("utilities", index)
        carrier_of[u.id] = u.carrier
        if not u.serves:
            errs.add(
                (*base, "serves"),
                "serves",
                "is empty: the utility serves nothing; list the assets it serves",
            )
        served: set[str] = set()
        for j, link in enumerate(u.serves):
            where = (*base, "serves", j, "asset")
            if link.asset == u.id:
                errs.add(where, f"serves[{j}].asset", "a utility cannot serve itself")
            elif link.asset not in assets:
                errs.add(where, f"serves[{j}].asset", f"unknown asset '{link.asset}'")
            if link.asset in served:
                errs.add(where, f"serves[{j}].asset", f"serves '{link.asset}' twice")
            served.add(link.asset)
        if u.allocation_key == "declared" and u.serves and sum(s.weight for s in u.serves) <= 0:
            errs.add((*base, "serves"), "serves", "declared allocation weights add up to 0")
        utilities.append(
            Utility(
                id=u.id,
                name=u.name or u.id,
                kind=u.kind,
                power=_power(u.power, u.warmup, u.warmup_energy, u.carrier),
                serves=tuple(ServesLink(asset=s.asset, weight=s.weight) for s in u.serves),
                allocation_key=u.allocation_key,
            )
        )

    meters: list[Meter] = []
    for index, mt in items["meters"]:
        base = ("meters", index)
        if not mt.measures:
            errs.add(
                (*base, "measures"),
                "measures",
                "is empty: the meter measures nothing; list the assets behind it",
            )
        for j, asset in enumerate(mt.measures):
            if asset not in assets:
                errs.add((*base, "measures", j), "measures", f"unknown asset '{asset}'")
            elif carrier_of.get(asset, mt.carrier) != mt.carrier:
                errs.add(
                    (*base, "carrier"),
                    "carrier",
                    f"meters {mt.carrier.value} but asset '{asset}' draws "
                    f"{carrier_of[asset].value}",
                )
        if len(set(mt.measures)) != len(mt.measures):
            errs.add((*base, "measures"), "measures", "lists an asset twice")
        if mt.rollover is not None and mt.signal != "energy":
            errs.add((*base, "rollover"), "rollover", "only an 'energy' counter meter rolls over")
        meters.append(
            Meter(
                id=mt.id,
                name=mt.name or mt.id,
                measures=tuple(mt.measures),
                carrier=mt.carrier,
                signal=mt.signal,
                rollover_kwh=mt.rollover,
                parent=mt.parent,
            )
        )
    check_meter_tree(items["meters"], errs)

    materials = [
        Material(
            id=m.id,
            name=m.name or m.id,
            unit=m.unit,
            cn_code=m.cn_code,
            fossil_carbon_kg_per_unit=m.fossil_carbon_kg_per_unit,
            biogenic_carbon_kg_per_unit=m.biogenic_carbon_kg_per_unit,
        )
        for _, m in items["materials"]
    ]

    suppliers: list[Supplier] = []
    supplied: dict[str, set[str]] = {}  # supplier -> materials
    for index, s in items["suppliers"]:
        base = ("suppliers", index)
        supplied[s.id] = set()
        for j, link in enumerate(s.supplies):
            if link.material not in material_ids:
                errs.add(
                    (*base, "supplies", j, "material"),
                    f"supplies[{j}].material",
                    f"unknown material '{link.material}'",
                )
            if link.material in supplied[s.id]:
                errs.add(
                    (*base, "supplies", j, "material"),
                    f"supplies[{j}].material",
                    f"material '{link.material}' is listed twice",
                )
            supplied[s.id].add(link.material)
        suppliers.append(
            Supplier(
                id=s.id,
                name=s.name or s.id,
                supplies=tuple(
                    SupplyLink(
                        material=x.material,
                        pcf_kg_per_unit=x.pcf_kg_per_unit,
                        source=x.source,
                        primary=x.primary,
                        pact_id=x.pact_id,
                        pact_version=x.pact_version,
                        primary_data_share=x.primary_data_share,
                        dqr=x.dqr,
                    )
                    for x in s.supplies
                ),
            )
        )
    any_supplier = {mat for mats in supplied.values() for mat in mats}

    products = [
        p
        for p in (
            build_product(
                index,
                p,
                machine_ids,
                material_ids,
                materials_unit,
                supplied,
                any_supplier,
                kinds,
                errs,
            )
            for index, p in items["products"]
        )
        if p is not None
    ]

    shifts = [
        Shift(name=s.name, start=s.start, end=s.end, weekdays=tuple(s.weekdays))
        for _, s in items["shifts"]
    ]

    contracts: list[ElectricityContract] = []
    for _, c in items["contracts"]:
        contracts.append(
            ElectricityContract(
                name=c.name, share=c.share, factor_kg_per_kwh=c.factor_kg_per_kwh, source=c.source
            )
        )
    if sum(c.share for c in contracts) > 1.0 + 1e-12:
        errs.add(("contracts",), "share", "contract shares add up to more than 1")

    orders: list[Order] = []
    for index, o in items["orders"]:
        base = ("orders", index)
        if o.product not in product_ids:
            errs.add((*base, "product"), "product", f"unknown product '{o.product}'")
        if o.due < o.release:
            errs.add(
                (*base, "due"),
                "due",
                f"due {o.due.isoformat()} is before release {o.release.isoformat()}",
            )
        orders.append(
            Order(id=o.id, product=o.product, quantity=o.quantity, release=o.release, due=o.due)
        )

    if header is None or site is None:
        return None
    return Factory(
        id=header.id,
        name=header.name or header.id,
        company_id=header.company_id,
        site=Site(
            id=site.id,
            name=site.name or site.id,
            country=site.country,
            timezone=site.timezone,
            grid_zone=site.grid_zone,
        ),
        lines=tuple(lines),
        machines=tuple(machines),
        meters=tuple(meters),
        utilities=tuple(utilities),
        materials=tuple(materials),
        suppliers=tuple(suppliers),
        products=tuple(products),
        shifts=tuple(shifts),
        orders=tuple(orders),
        contracts=tuple(contracts),
    )
