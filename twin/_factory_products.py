"""Products of a factory file: routing precedence, BOM quantities and PCF sources.

Private to :mod:`carbontwin.twin.factory_file` (which documents the rules).
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from ._factory_errors import Problems
from ._factory_schema import BomIn, ProductIn
from ._yaml_lines import Path
from .model import BomItem, Operation, Product
from .quantities import QuantityError, parse_quantity

__all__ = ["build_product"]

#: material unit -> quantity kind for BOM quantities with units
_UNIT_KIND = {
    "kg": "mass",
    "piece": "dimensionless",
    "m**3": "volume",
    "m3": "volume",
    "kWh": "energy",
}


def build_product(
    index: int,
    p: ProductIn,
    machine_ids: set[str],
    material_ids: set[str],
    materials_unit: Mapping[str, str],
    supplied: Mapping[str, set[str]],
    any_supplier: set[str],
    kinds: Mapping[str, set[str]],
    errs: Problems,
) -> Product | None:
    base: Path = ("products", index)
    if not p.routing:
        errs.add((*base, "routing"), "routing", "has no routing; list its operations")
    op_index: dict[str, int] = {}
    for j, op in enumerate(p.routing):
        where: Path = (*base, "routing", j)
        if op.id in op_index:
            errs.add((*where, "id"), f"routing[{j}].id", f"operation id '{op.id}' is used twice")
        op_index.setdefault(op.id, j)
        if op.machine not in machine_ids:
            what = (
                f"'{op.machine}', which is a utility, not a machine"
                if op.machine in kinds["utilities"]
                else f"missing machine '{op.machine}'"
            )
            errs.add(
                (*where, "machine"), f"routing[{j}].machine", f"operation '{op.id}' runs on {what}"
            )
        seen = {op.machine}
        for k, alt in enumerate(op.alternatives):
            field = f"routing[{j}].alternatives[{k}]"
            if alt in seen:
                errs.add(
                    (*where, "alternatives", k),
                    field,
                    f"operation '{op.id}' lists machine '{alt}' twice",
                )
            elif alt not in machine_ids:
                what = (
                    f"'{alt}', which is a utility, not a machine"
                    if alt in kinds["utilities"]
                    else f"missing machine '{alt}'"
                )
                errs.add(
                    (*where, "alternatives", k),
                    field,
                    f"operation '{op.id}' has an alternative {what}",
                )
            seen.add(alt)
    precedence: nx.DiGraph[int] = nx.DiGraph()
    precedence.add_nodes_from(range(len(p.routing)))
    for j, op in enumerate(p.routing):
        before = op.after if op.after is not None else ([p.routing[j - 1].id] if j else [])
        for k, name in enumerate(before):
            if name not in op_index:
                errs.add(
                    (*base, "routing", j, "after", k),
                    f"routing[{j}].after",
                    f"operation '{op.id}' follows unknown operation '{name}'",
                )
            else:
                precedence.add_edge(op_index[name], j)
    order = list(range(len(p.routing)))
    try:
        cycle = nx.find_cycle(precedence)
    except nx.NetworkXNoCycle:
        order = list(nx.lexicographical_topological_sort(precedence, key=lambda n: n))
    else:
        names = [p.routing[a].id for a, _ in cycle] + [p.routing[cycle[0][0]].id]
        first = min(a for a, _ in cycle)
        errs.add(
            (*base, "routing", first), "routing", "operations form a cycle: " + " -> ".join(names)
        )
    bom: list[BomItem] = []
    for j, item in enumerate(p.bom):
        quantity = _bom_quantity(item, j, base, materials_unit, errs)
        _check_bom_source(item, j, base, material_ids, supplied, any_supplier, kinds, errs)
        bom.append(
            BomItem(material=item.material, quantity_per_unit=quantity, supplier=item.supplier)
        )
    routing = tuple(
        Operation(
            id=p.routing[j].id,
            machine=p.routing[j].machine,
            setup_s=p.routing[j].setup,
            processing_s_per_unit=p.routing[j].processing,
            alternatives=tuple(p.routing[j].alternatives),
        )
        for j in order
    )
    return Product(
        id=p.id,
        name=p.name or p.id,
        routing=routing,
        bom=tuple(bom),
        declared_unit=p.declared_unit,
        mass_kg=p.mass,
        cn_code=p.cn_code,
    )


def _bom_quantity(
    item: BomIn, j: int, base: Path, materials_unit: Mapping[str, str], errs: Problems
) -> float:
    unit = materials_unit.get(item.material)
    where: Path = (*base, "bom", j, "quantity")
    try:
        kind = _UNIT_KIND.get(unit or "", "dimensionless")
        if unit is not None and unit not in _UNIT_KIND and isinstance(item.quantity, str):
            float(item.quantity)  # units unknown to carbontwin: plain numbers only
        value = parse_quantity(item.quantity, kind)
    except (QuantityError, ValueError) as exc:
        errs.add(
            where,
            f"bom[{j}].quantity",
            f"{exc} (material '{item.material}' is counted in {unit or '?'})",
        )
        return 0.0
    if value < 0:
        errs.add(where, f"bom[{j}].quantity", f"must not be negative, got {value:g}")
    return value


def _check_bom_source(
    item: BomIn,
    j: int,
    base: Path,
    material_ids: set[str],
    supplied: Mapping[str, set[str]],
    any_supplier: set[str],
    kinds: Mapping[str, set[str]],
    errs: Problems,
) -> None:
    where: Path = (*base, "bom", j)
    if item.material not in material_ids:
        errs.add((*where, "material"), f"bom[{j}].material", f"unknown material '{item.material}'")
        return
    if item.supplier is not None:
        if item.supplier not in kinds["suppliers"]:
            errs.add(
                (*where, "supplier"), f"bom[{j}].supplier", f"unknown supplier '{item.supplier}'"
            )
        elif item.supplier in supplied and item.material not in supplied[item.supplier]:
            errs.add(
                (*where, "supplier"),
                f"bom[{j}].supplier",
                f"supplier '{item.supplier}' gives no PCF for material '{item.material}'",
            )
    elif item.material not in any_supplier:
        errs.add(
            (*where, "material"),
            f"bom[{j}].material",
            f"material '{item.material}' has no supplier PCF; add it to a supplier's supplies",
        )
