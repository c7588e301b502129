"""Scope 3: materials x supplier PCF per order (private helper of :mod:`.attribution`).

An order's materials are its MaterialUse events; an order with none is
charged its product's bill of materials x the order quantity (and flagged by
the caller). Each material's PCF is that of the named supplier, else the
first supplier (by id) that delivers it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_inputs import Inputs
from .errors import AttributionError
from .model import Factory
from .quantities import QuantityError, parse_quantity

__all__ = ["material_rows"]


def _pcf_table(factory: Factory) -> dict[str, list[tuple[str, float, bool]]]:
    out: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)
    for s in sorted(factory.suppliers, key=lambda x: x.id):
        for link in s.supplies:
            out[link.material].append((s.id, link.pcf_kg_per_unit, link.primary))
    return out


class _Strings:
    """A text column made of codes into its distinct values (``distinct``, then each
    new value in the order added): the frame holds what it would hold made from the
    whole list of strings (pandas infers the dtype from the distinct values), without
    converting every repeated string."""

    def __init__(self, distinct: Sequence[str] = ()) -> None:
        self._index = {v: k for k, v in enumerate(distinct)}
        self._codes: list[npt.NDArray[np.intp]] = []

    def add_codes(self, codes: npt.NDArray[np.intp]) -> None:
        """Append rows given by their codes into ``distinct``."""
        self._codes.append(codes)

    def add(self, value: str, n: int) -> None:
        """Append ``value`` in ``n`` rows."""
        self._codes.append(np.full(n, self._index.setdefault(value, len(self._index))))

    def column(self) -> Any:
        """All rows appended, as the array a frame holds."""
        distinct = pd.Series(list(self._index)).array
        return distinct.take(np.concatenate(self._codes)) if self._codes else distinct[:0]


def material_rows(inp: Inputs) -> tuple[pd.DataFrame, set[str]]:
    """Scope 3 rows: MaterialUse events, else the product BOM x order quantity."""
    f = inp.factory
    pcfs = _pcf_table(f)
    units = {m.id: m.unit for m in f.materials}
    orders = {o.id: o for o in f.orders}
    products = {p.id: p for p in f.products}
    rows: list[dict[str, Any]] = []
    from_bom: set[str] = set()
    used = {o for o, *_ in inp.materials}

    def pcf(order: str, material: str, supplier: str | None) -> tuple[str, float, bool]:
        cands = pcfs.get(material, [])
        if supplier is not None:
            cands = [c for c in cands if c[0] == supplier]
        if not cands:
            msg = (
                f"order {order!r}: material {material!r} has no supplier PCF"
                + (f" from supplier {supplier!r}" if supplier else "")
                + "; add one under suppliers in the factory file"
            )
            raise AttributionError(msg)
        return cands[0]

    for o, m, q, unit in inp.materials:
        target = units.get(m)
        if target is None:
            msg = f"order {o!r} uses unknown material {m!r}"
            raise AttributionError(msg)
        if unit != target:
            try:
                if target != "kg":
                    raise QuantityError(unit)
                q = parse_quantity(f"{q} {unit}", "mass")
            except QuantityError:
                msg = (
                    f"order {o!r}: material {m!r} used in {unit!r}, but it is counted in {target!r}"
                )
                raise AttributionError(msg) from None
        sup, factor, primary = pcf(o, m, None)
        rows.append(
            {
                "order": o,
                "material": m,
                "quantity": q,
                "unit": target,
                "supplier": sup,
                "pcf_kg_per_unit": factor,
                "co2e_kg": q * factor,
                "primary": primary,
                "basis": "material_use",
            }
        )
    frames = [pd.DataFrame(rows)] if rows else []
    by_product: dict[str, list[int]] = defaultdict(list)  # product -> its orders' codes
    for k, o in enumerate(inp.orders):
        if o not in used and o in orders and orders[o].product in products:
            by_product[orders[o].product].append(k)
    # the BOM rows of all products, column by column, as one frame
    text = {k: _Strings() for k in ("material", "unit", "supplier", "basis")}
    text["order"] = _Strings(inp.orders)
    bom_num: dict[str, list[np.ndarray]] = {k: [] for k in ("quantity", "pcf", "co2e", "primary")}
    for pid, codes in sorted(by_product.items()):
        prod = products[pid]
        oids = [inp.orders[k] for k in codes]
        order_codes = np.asarray(codes, dtype=np.intp)
        qty = np.array([orders[o].quantity for o in oids], dtype=np.float64)
        n = len(oids)
        for item in prod.bom:
            sup, factor, primary = pcf(oids[0], item.material, item.supplier)
            q_arr = item.quantity_per_unit * qty
            text["order"].add_codes(order_codes)
            text["material"].add(item.material, n)
            text["unit"].add(units.get(item.material, "kg"), n)
            text["supplier"].add(sup, n)
            text["basis"].add("bom", n)
            bom_num["quantity"].append(q_arr)
            bom_num["pcf"].append(np.full(n, factor))
            bom_num["co2e"].append(q_arr * factor)
            bom_num["primary"].append(np.full(n, primary))
        if prod.bom:
            from_bom.update(oids)
    if bom_num["quantity"]:
        frames.append(
            pd.DataFrame(
                {
                    "order": text["order"].column(),
                    "material": text["material"].column(),
                    "quantity": np.concatenate(bom_num["quantity"]),
                    "unit": text["unit"].column(),
                    "supplier": text["supplier"].column(),
                    "pcf_kg_per_unit": np.concatenate(bom_num["pcf"]),
                    "co2e_kg": np.concatenate(bom_num["co2e"]),
                    "primary": np.concatenate(bom_num["primary"]),
                    "basis": text["basis"].column(),
                }
            )
        )
    cols = [
        "order",
        "material",
        "quantity",
        "unit",
        "supplier",
        "pcf_kg_per_unit",
        "co2e_kg",
        "primary",
        "basis",
        "primary_share",
    ]
    if not frames:
        return pd.DataFrame(columns=cols), from_bom
    out = pd.concat(frames, ignore_index=True)
    # the supplier's own primary data share (a PACT footprint's primaryDataShare)
    # where given, else all or nothing by the link's primary flag
    shares = {
        (s.id, link.material): link.primary_data_share
        for s in f.suppliers
        for link in s.supplies
        if link.primary_data_share is not None
    }
    primary = out["primary"].to_numpy(dtype=bool)
    out["primary_share"] = (
        [
            shares.get((sup, m), 1.0 if p else 0.0)
            for sup, m, p in zip(
                out["supplier"].tolist(), out["material"].tolist(), primary.tolist(), strict=True
            )
        ]
        if shares
        else np.where(primary, 1.0, 0.0)
    )
    return out[cols], from_bom
