"""CBAM embedded emissions of an installation's goods, per CN code and reporting period.

Builds to Commission Implementing Regulation (EU) 2023/1773 (CBAM reporting
in the transitional period):

- Annex III, section F (specific embedded emissions of complex goods)::

      SEE_g,dir   = (AttrEm_g,dir   + EE_InpMat,dir)   / AL_g
      SEE_g,indir = (AttrEm_g,indir + EE_InpMat,indir) / AL_g
      EE_InpMat   = sum_i M_i * SEE_i          (relevant precursors i)

  with AL_g the activity level (tonnes of good produced in the period),
  AttrEm_g,dir the direct emissions attributed to the production process
  (here: the fuels burnt for the orders, scope 1) and AttrEm_g,indir the
  emissions of the electricity consumed (Annex III section D: electricity
  consumed x its emission factor; here the site grid's hourly location-based
  factor, which is the footprint's scope 2 location-based).
- Annex II, section 2 (aggregated goods categories and their relevant
  precursors: "Iron or steel products" take crude steel and iron or steel
  products; "Aluminium products" take unwrought aluminium and aluminium
  products) and section 3 (production routes).
- Annex IV (content of the communication from an installation's operator to
  the reporting declarant: installation, per good the CN code, the production
  route, the specific direct and indirect embedded emissions, and whether
  actual data or default values were used).

A precursor's embedded emissions are its supplier's declared footprint per
unit. A supplier value marked ``primary`` counts as actual data; any other
value stands in as a default value and is flagged, as Art. 4(3) of the
regulation requires it be identified. Suppliers declare cradle-to-gate
totals without the direct/indirect split of Annex III: such a precursor's
embedded emissions are reported as direct, and flagged so.

A good is a product whose ``cn_code`` falls under Annex I of Regulation (EU)
2023/956 for iron and steel or aluminium (chapter 72 without scrap 7204 and
most ferro-alloys; headings 7301-7311, 7318, 7326; 7601, 7603-7614, 7616). Products with other codes (or none) are
listed as not covered. The report uses the latest issued version of each
order's footprint; an order belongs to the quarter its reference period ends in.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from carbontwin.twin.errors import PluginError
from carbontwin.twin.footprint import Footprint

__all__ = [
    "CbamGood",
    "CbamPrecursor",
    "CbamReport",
    "cbam_category",
    "cbam_report",
    "parse_period",
    "period_of",
    "write_workbook",
]

REGULATION = "Commission Implementing Regulation (EU) 2023/1773, Annexes II-IV"

_STEEL_HEADINGS = {str(h) for h in range(7301, 7312)} | {"7318", "7326"}
_ALU_HEADINGS = {"7601"} | {str(h) for h in range(7603, 7615)} | {"7616"}

#: Production route of each aggregated goods category (Annex II section 3):
#: downstream products are made from precursors; all processes linked to it.
ROUTES = {
    "Iron or steel products": "Processing of iron or steel precursors (all processes "
    "directly or indirectly linked to the production of iron or steel products)",
    "Aluminium products": "Processing of aluminium precursors (all processes directly "
    "or indirectly linked to the production of aluminium products)",
    "Crude steel": "Steel production (route as declared by the supplier)",
}


def _digits(cn_code: str) -> str:
    return re.sub(r"\s+", "", cn_code or "")


def cbam_category(cn_code: str) -> str:
    """Aggregated goods category (Annex II) of ``cn_code``, or ``""`` if not a CBAM good
    of the iron and steel or aluminium sectors."""
    d = _digits(cn_code)
    if len(d) < 4 or not d.isdigit():
        return ""
    heading = d[:4]
    if heading == "7204" or (heading == "7202" and d[4:5] not in ("1", "4", "6")):
        return ""  # scrap, and ferro-alloys other than FeMn, FeCr, FeNi, are not in Annex I
    if heading in _STEEL_HEADINGS or heading.startswith("72"):
        if heading in ("7206", "7207", "7218", "7224"):
            return "Crude steel"
        return "Iron or steel products"
    if heading in _ALU_HEADINGS:
        return "Aluminium products"
    return ""


def parse_period(text: str) -> tuple[int, int]:
    """``"2026Q3"`` -> ``(2026, 3)``; a PluginError naming the period otherwise."""
    m = re.fullmatch(r"\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*", text or "")
    if m is None:
        msg = f"period {text!r} is not a quarter like 2026Q3"
        raise PluginError(msg, field="period")
    return int(m.group(1)), int(m.group(2))


def period_of(t: datetime) -> str:
    """Reporting period (calendar quarter, as CBAM reports) of time ``t``: ``"2026Q3"``."""
    return f"{t.year}Q{(t.month - 1) // 3 + 1}"


def _fmt_cn(cn_code: str) -> str:
    d = _digits(cn_code)
    return " ".join(d[i : i + 2] if i else d[:4] for i in (0, 4, 6) if len(d) > i).strip()


@dataclass(frozen=True, slots=True)
class CbamPrecursor:
    """A relevant precursor consumed for a good in one period.

    Attributes
    ----------
    material, name, cn_code : str
    category : str
        Aggregated goods category of the precursor.
    mass_t : float
        Mass consumed M_i [t].
    see_direct, see_indirect : float
        Specific embedded emissions of the precursor [t CO2e / t].
    embedded_direct_t, embedded_indirect_t : float
        M_i x SEE_i [t CO2e].
    data_type : str
        ``"actual"`` (the supplier's primary data) or ``"default"``.
    supplier : str
        Supplier id(s).
    """

    material: str
    name: str
    cn_code: str
    category: str
    mass_t: float
    see_direct: float
    see_indirect: float
    embedded_direct_t: float
    embedded_indirect_t: float
    data_type: str
    supplier: str


@dataclass(frozen=True, slots=True)
class CbamGood:
    """Specific embedded emissions of one good (CN code) in one reporting period.

    Attributes
    ----------
    period, cn_code, category, route : str
    products : tuple of str
        Product ids with this CN code.
    orders : tuple of str
        Orders counted.
    activity_t : float
        Activity level AL_g: tonnes produced in the period [t].
    attributed_direct_t, attributed_indirect_t : float
        AttrEm_g,dir and AttrEm_g,indir [t CO2e].
    electricity_mwh : float
        Electricity consumed [MWh]; ``electricity_factor_t_per_mwh`` its
        emission factor (consumption-weighted) [t CO2e / MWh].
    precursors : tuple of CbamPrecursor
    see_direct, see_indirect, see_total : float
        Specific embedded emissions [t CO2e / t good].
    default_share : float
        Share of the embedded emissions that come from default values (0..1).
    flags : tuple of str
    """

    period: str
    cn_code: str
    category: str
    route: str
    products: tuple[str, ...]
    orders: tuple[str, ...]
    activity_t: float
    attributed_direct_t: float
    attributed_indirect_t: float
    electricity_mwh: float
    electricity_factor_t_per_mwh: float
    precursors: tuple[CbamPrecursor, ...]
    see_direct: float
    see_indirect: float
    see_total: float
    default_share: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CbamReport:
    """The communication of one installation: its data and its goods per period."""

    installation: Mapping[str, str]
    periods: tuple[str, ...]
    goods: tuple[CbamGood, ...]
    not_covered: Mapping[str, str] = field(default_factory=dict)  # product -> CN code

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (tonnes and t CO2e per tonne, as the template reports)."""
        return {
            "regulation": REGULATION,
            "installation": dict(self.installation),
            "periods": list(self.periods),
            "goods": [asdict(g) for g in self.goods],
            "not_covered": dict(self.not_covered),
        }


def _latest(footprints: Iterable[Footprint]) -> list[Footprint]:
    fps = list(footprints)
    replaced = {f.replaces for f in fps if f.replaces}
    best: dict[str, Footprint] = {}
    for f in fps:
        if f.id in replaced:
            continue
        if f.order not in best or f.version > best[f.order].version:
            best[f.order] = f
    return sorted(best.values(), key=lambda f: (f.period_end, f.order))


def _supply(factory: Any, product: Any, material: str) -> tuple[str, float, bool] | None:
    """(supplier, pcf per unit, primary) of ``material`` for ``product``: the BOM's named
    supplier, else the first supplier by id that delivers it."""
    named = next((b.supplier for b in product.bom if b.material == material), None)
    for s in sorted(factory.suppliers, key=lambda x: x.id):
        if named is not None and s.id != named:
            continue
        for link in s.supplies:
            if link.material == material:
                return s.id, float(link.pcf_kg_per_unit), bool(link.primary)
    return None


def cbam_report(
    footprints: Iterable[Footprint], factory: Any, periods: Sequence[str] | None = None
) -> CbamReport:
    """CBAM goods of ``factory`` from its issued ``footprints``.

    Parameters
    ----------
    footprints : iterable of Footprint
        Issued footprints (all versions; the latest of each order counts).
    factory : carbontwin.twin.model.Factory
        Gives the products' CN codes and masses, the materials' CN codes and
        the suppliers' footprints.
    periods : sequence of str, optional
        Quarters (``"2026Q3"``) to report; every period in ``footprints`` when omitted.
    """
    wanted = {"{}Q{}".format(*parse_period(p)) for p in periods} if periods else None
    products = {p.id: p for p in factory.products}
    materials = {m.id: m for m in factory.materials}
    groups: dict[tuple[str, str], list[Footprint]] = defaultdict(list)
    not_covered: dict[str, str] = {}
    for fp in _latest(footprints):
        product = products.get(fp.product)
        if product is None:
            continue
        if not cbam_category(product.cn_code):
            not_covered[product.id] = product.cn_code
            continue
        period = period_of(fp.period_end)
        if wanted is None or period in wanted:
            groups[(period, _fmt_cn(product.cn_code))].append(fp)
    goods = [
        _good(period, cn, fps, factory, products, materials)
        for (period, cn), fps in sorted(groups.items())
    ]
    site = factory.site
    installation = {
        "name": site.name or factory.name,
        "id": site.id,
        "operator": factory.name,
        "company_id": factory.company_id,
        "country": site.country,
    }
    return CbamReport(
        installation=installation,
        periods=tuple(sorted({g.period for g in goods})),
        goods=tuple(goods),
        not_covered=dict(sorted(not_covered.items())),
    )


def _good(
    period: str,
    cn: str,
    fps: list[Footprint],
    factory: Any,
    products: Mapping[str, Any],
    materials: Mapping[str, Any],
) -> CbamGood:
    flags: list[str] = []
    activity_t = 0.0
    direct_t = indirect_t = elec_mwh = 0.0
    prec: dict[str, dict[str, Any]] = {}
    for fp in fps:
        product = products[fp.product]
        mass_kg = fp.quantity * (product.mass_kg if fp.declared_unit == "piece" else 1.0)
        activity_t += mass_kg / 1000.0
        direct_t += fp.scope1_kg / 1000.0
        indirect_t += fp.scope2_location_kg / 1000.0
        elec_mwh += fp.energy_by_carrier_kwh.get("electricity", 0.0) / 1000.0
        for material, co2e_kg in fp.co2e_by_material_kg.items():
            mat = materials.get(material)
            category = cbam_category(mat.cn_code) if mat is not None else ""
            if not category:
                flags.append(
                    f"material {material!r} has no CBAM CN code: its {co2e_kg / 1000:.6g} t "
                    "CO2e are not a relevant precursor and are left out"
                )
                continue
            supply = _supply(factory, product, material)
            if supply is None or supply[1] <= 0:
                msg = f"material {material!r} of product {product.id!r} has no supplier PCF"
                raise PluginError(msg, field="suppliers")
            supplier, pcf_kg_per_kg, primary = supply
            row = prec.setdefault(
                material,
                {
                    "mat": mat,
                    "category": category,
                    "mass_t": 0.0,
                    "embedded_t": 0.0,
                    "primary": primary,
                    "suppliers": set(),
                },
            )
            row["mass_t"] += co2e_kg / pcf_kg_per_kg / 1000.0
            row["embedded_t"] += co2e_kg / 1000.0
            row["primary"] = row["primary"] and primary
            row["suppliers"].add(supplier)
    if activity_t <= 0:
        msg = f"good {cn} in {period}: no production mass (product mass missing?)"
        raise PluginError(msg, field="mass")
    precursors = []
    default_t = 0.0
    for material, row in sorted(prec.items()):
        mass_t = row["mass_t"]
        data_type = "actual" if row["primary"] else "default"
        if data_type == "default":
            default_t += row["embedded_t"]
            flags.append(
                f"precursor {material!r}: no actual data from the supplier; its sector "
                "value is used as default value"
            )
        flags.append(
            f"precursor {material!r}: the supplier declares no direct/indirect split; "
            "its embedded emissions are reported as direct"
        )
        precursors.append(
            CbamPrecursor(
                material=material,
                name=row["mat"].name,
                cn_code=row["mat"].cn_code,
                category=row["category"],
                mass_t=mass_t,
                see_direct=row["embedded_t"] / mass_t if mass_t > 0 else 0.0,
                see_indirect=0.0,
                embedded_direct_t=row["embedded_t"],
                embedded_indirect_t=0.0,
                data_type=data_type,
                supplier=", ".join(sorted(row["suppliers"])),
            )
        )
    inp_direct = sum(p.embedded_direct_t for p in precursors)
    inp_indirect = sum(p.embedded_indirect_t for p in precursors)
    see_direct = (direct_t + inp_direct) / activity_t
    see_indirect = (indirect_t + inp_indirect) / activity_t
    total_t = direct_t + indirect_t + inp_direct + inp_indirect
    product_ids = tuple(sorted({fp.product for fp in fps}))
    category = cbam_category(cn)
    return CbamGood(
        period=period,
        cn_code=cn,
        category=category,
        route=ROUTES.get(category, ""),
        products=product_ids,
        orders=tuple(sorted(fp.order for fp in fps)),
        activity_t=activity_t,
        attributed_direct_t=direct_t,
        attributed_indirect_t=indirect_t,
        electricity_mwh=elec_mwh,
        electricity_factor_t_per_mwh=indirect_t / elec_mwh if elec_mwh > 0 else 0.0,
        precursors=tuple(precursors),
        see_direct=see_direct,
        see_indirect=see_indirect,
        see_total=see_direct + see_indirect,
        default_share=default_t / total_t if total_t > 0 else 0.0,
        flags=tuple(dict.fromkeys(flags)),
    )


# --- the communication template ------------------------------------------------

#: Sheet names of the EU communication template for installations (transitional
#: period) that this export fills: installation data, production processes,
#: purchased precursors, and the summary per product.
SHEETS = ("A_InstData", "D_Processes", "E_PurchPrec", "Summary_Products")

GOOD_COLUMNS = (
    "Reporting period",
    "CN code",
    "Aggregated goods category",
    "Production route",
    "Activity level [t]",
    "Directly attributed emissions [t CO2e]",
    "Electricity consumed [MWh]",
    "Emission factor of electricity [t CO2e/MWh]",
    "Indirect attributed emissions [t CO2e]",
    "Specific direct embedded emissions [t CO2e/t]",
    "Specific indirect embedded emissions [t CO2e/t]",
    "Specific total embedded emissions [t CO2e/t]",
    "Share from default values",
    "Data type",
    "Notes",
)
PRECURSOR_COLUMNS = (
    "Reporting period",
    "Good CN code",
    "Precursor",
    "Precursor CN code",
    "Aggregated goods category",
    "Mass consumed [t]",
    "Specific direct embedded emissions [t CO2e/t]",
    "Specific indirect embedded emissions [t CO2e/t]",
    "Embedded direct emissions [t CO2e]",
    "Embedded indirect emissions [t CO2e]",
    "Data type",
    "Supplier",
)


def write_workbook(report: CbamReport, path: str | Path) -> Path:
    """Write ``report`` as an .xlsx in the structure of the EU communication template.

    Sheets: ``A_InstData`` (installation, periods), ``D_Processes`` (per good and
    period: activity level, attributed direct and indirect emissions, electricity),
    ``E_PurchPrec`` (precursors with their own embedded emissions and data type),
    ``Summary_Products`` (specific direct, indirect and total embedded emissions
    per CN code and period, with default-value flags). Numbers are stored as
    numbers (tonnes, t CO2e per tonne).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    bold = Font(bold=True)
    inst = wb.active
    inst.title = SHEETS[0]
    rows: list[tuple[str, str]] = [
        ("CBAM communication for installations", REGULATION),
        ("Installation name", report.installation.get("name", "")),
        ("Installation id", report.installation.get("id", "")),
        ("Operator", report.installation.get("operator", "")),
        ("Operator id", report.installation.get("company_id", "")),
        ("Country", report.installation.get("country", "")),
        ("Reporting periods", ", ".join(report.periods)),
    ]
    for product, cn in report.not_covered.items():
        rows.append(("Not a CBAM good", f"{product} (CN {cn or 'none'})"))
    for row in rows:
        inst.append(list(row))
    inst["A1"].font = bold

    proc = wb.create_sheet(SHEETS[1])
    proc.append(
        [
            "Reporting period",
            "CN code",
            "Production route",
            "Products",
            "Orders",
            "Activity level [t]",
            "Directly attributed emissions [t CO2e]",
            "Electricity consumed [MWh]",
            "Indirect attributed emissions [t CO2e]",
        ]
    )
    for g in report.goods:
        proc.append(
            [
                g.period,
                g.cn_code,
                g.route,
                ", ".join(g.products),
                ", ".join(g.orders),
                g.activity_t,
                g.attributed_direct_t,
                g.electricity_mwh,
                g.attributed_indirect_t,
            ]
        )

    prec = wb.create_sheet(SHEETS[2])
    prec.append(list(PRECURSOR_COLUMNS))
    for g in report.goods:
        for p in g.precursors:
            prec.append(
                [
                    g.period,
                    g.cn_code,
                    p.name,
                    p.cn_code,
                    p.category,
                    p.mass_t,
                    p.see_direct,
                    p.see_indirect,
                    p.embedded_direct_t,
                    p.embedded_indirect_t,
                    p.data_type,
                    p.supplier,
                ]
            )

    summ = wb.create_sheet(SHEETS[3])
    summ.append(list(GOOD_COLUMNS))
    for g in report.goods:
        summ.append(
            [
                g.period,
                g.cn_code,
                g.category,
                g.route,
                g.activity_t,
                g.attributed_direct_t,
                g.electricity_mwh,
                g.electricity_factor_t_per_mwh,
                g.attributed_indirect_t,
                g.see_direct,
                g.see_indirect,
                g.see_total,
                g.default_share,
                "default values used (flagged)" if g.default_share > 0 else "actual data",
                "; ".join(g.flags),
            ]
        )
    for ws in (proc, prec, summ):
        for cell in ws[1]:
            cell.font = bold
    out = Path(path)
    wb.save(out)
    return out
