"""Data quality ratings and carbon content of a footprint for PACT (private to :mod:`.pact`).

Data quality ratings (DQR, 1 good .. 3 poor) follow the PACT Methodology's
qualitative scale for each indicator, applied to what carbontwin knows about
each input, and aggregated as the methodology asks: weighted by each input's
share of the emissions. Inputs and how each dimension is rated:

=====================  ==============================  ===================  =====================
input (weight)         technological                   geographical         temporal
=====================  ==============================  ===================  =====================
electricity (scope 2)  1 measured on the machines;     1 the site's own     by the factor
                       2 for energy filled from the    grid zone, 2 another data's age, one
                       power-state model               zone, 3 none         step worse for the
                                                                            fallback share (the
                                                                            worse of the two)
fuels (scope 1)        2 IPCC default for the fuel     3 global default     by the factor's age
materials (scope 3)    the supplier's DQR when its     (same)               (same)
                       PACT footprint gives one; else
                       1 primary, 2 sector value       1 primary, 3 else    by its source's year
=====================  ==============================  ===================  =====================

Temporal rating of a data source by its age, the years between its year and
the year of the footprint's reference period: 0-1 years 1, up to 5 years 2,
older or of unknown year 3. Completeness (PACT v2) from the energy filled by
the power-state model: 1 + 2 x filled share (1 when every kWh was metered).
Reliability (v2): 1 + 2 x (1 - primary data share).

Carbon content of the product (kg C per declared unit) comes from the
materials' declared carbon content (``fossil_carbon_kg_per_unit``,
``biogenic_carbon_kg_per_unit`` in the factory file): the product's mass split
over its bill of materials by mass. A material without a declaration makes
the content unknown (``None``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from carbontwin.twin.footprint import Footprint

__all__ = ["PactQuality", "carbon_content", "pact_quality", "temporal_rating"]

_FILLED = re.compile(r"([0-9.eE+-]+) kWh of this order's energy filled")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")


@dataclass(frozen=True, slots=True)
class PactQuality:
    """DQRs (1 .. 3) and carbon content per declared unit [kg C] (``None``: unknown)."""

    technological: float
    geographical: float
    temporal: float
    completeness: float
    reliability: float
    fossil_carbon_kg: float | None
    biogenic_carbon_kg: float | None
    fossil_carbon_complete: bool = True


def temporal_rating(data_year: int | None, reference_year: int) -> float:
    """1 for data of the reference year or the one before/after, 2 up to 5 years apart,
    3 older or of unknown year."""
    if data_year is None:
        return 3.0
    age = abs(reference_year - data_year)
    return 1.0 if age <= 1 else 2.0 if age <= 5 else 3.0


def _year(text: str) -> int | None:
    years = [int(y) for y in _YEAR.findall(text or "")]
    return max(years) if years else None


def filled_kwh(fp: Footprint) -> float:
    """Energy of ``fp`` filled from the power-state model [kWh] (from its flags)."""
    total = 0.0
    for flag in fp.flags:
        m = _FILLED.search(flag)
        if m:
            try:
                total += float(m.group(1))
            except ValueError:
                continue
    return total


def _weighted(parts: Iterable[tuple[float, float, float, float]]) -> tuple[float, float, float]:
    rows = [p for p in parts if p[0] > 0]
    w = sum(p[0] for p in rows)
    if w <= 0:
        return 1.0, 1.0, 1.0
    return (
        sum(p[0] * p[1] for p in rows) / w,
        sum(p[0] * p[2] for p in rows) / w,
        sum(p[0] * p[3] for p in rows) / w,
    )


def _link(factory: Any, product: Any, material: str) -> Any | None:
    named = next((b.supplier for b in product.bom if b.material == material), None)
    for s in sorted(factory.suppliers, key=lambda x: x.id):
        if named is not None and s.id != named:
            continue
        for link in s.supplies:
            if link.material == material:
                return link
    return None


def pact_quality(fp: Footprint, factory: Any | None = None) -> PactQuality:
    """DQRs of ``fp`` per dimension and its product's carbon content (see the module)."""
    ref_year = fp.period_end.year
    energy = max(fp.energy_kwh, 0.0)
    filled_share = min(max(filled_kwh(fp) / energy, 0.0), 1.0) if energy > 0 else 0.0
    country = factory.site.country.upper() if factory is not None else ""
    loc_version = str(fp.factor_versions.get("electricity_location", ""))
    zone = loc_version.split("_", 1)[0].split(":", 1)[0].upper()
    elec_geo = 3.0 if not zone else 1.0 if country and zone.startswith(country) else 2.0
    parts: list[tuple[float, float, float, float]] = [
        (
            fp.scope2_location_kg,
            1.0 + filled_share,
            elec_geo,
            # the share whose grid factor came from a fallback (another year's profile
            # or the annual factor) is one step less representative of its hours,
            # unless the factor's age already rates it lower
            max(
                temporal_rating(_year(loc_version), ref_year),
                1.0 + min(max(fp.factor_fallback_share, 0.0), 1.0),
            ),
        )
    ]
    fuel_years = [_year(str(v)) for k, v in fp.factor_versions.items() if str(k).startswith("fuel")]
    parts.append(
        (
            fp.scope1_kg,
            2.0,
            3.0,
            max((temporal_rating(y, ref_year) for y in fuel_years), default=3.0),
        )
    )
    product = None
    if factory is not None:
        try:
            product = factory.product(fp.product)
        except KeyError:
            product = None
    for material, co2e in sorted(fp.co2e_by_material_kg.items()):
        link = _link(factory, product, material) if product is not None else None
        if link is not None and getattr(link, "dqr", None):
            tech, geo, temp = link.dqr
        elif link is not None:
            tech, geo = (1.0, 1.0) if link.primary else (2.0, 3.0)
            temp = temporal_rating(_year(link.source), ref_year)
        else:
            tech, geo, temp = 3.0, 3.0, 3.0
        parts.append((co2e, float(tech), float(geo), float(temp)))
    tech, geo, temp = _weighted(parts)
    fossil, biogenic = carbon_content(fp, factory, product)
    declared_fossil = carbon_content(fp, factory, product, partial=True)[0]
    share = min(max(fp.primary_data_share, 0.0), 1.0)
    return PactQuality(
        technological=tech,
        geographical=geo,
        temporal=temp,
        completeness=1.0 + 2.0 * filled_share,
        reliability=1.0 + 2.0 * (1.0 - share),
        fossil_carbon_kg=fossil if fossil is not None else declared_fossil,
        biogenic_carbon_kg=biogenic,
        fossil_carbon_complete=fossil is not None,
    )


def carbon_content(
    fp: Footprint, factory: Any | None, product: Any | None, *, partial: bool = False
) -> tuple[float | None, float | None]:
    """(fossil, biogenic) carbon per declared unit [kg C]; ``None`` where not declared
    for every material (``partial``: the declared materials' part, undeclared ones left out)."""
    if factory is None or product is None or not product.bom:
        return None, None
    materials: Mapping[str, Any] = {m.id: m for m in factory.materials}
    items = [(materials.get(b.material), b.quantity_per_unit) for b in product.bom]
    if any(m is None or m.unit != "kg" for m, _ in items):
        return None, None
    bom_kg = sum(q for _, q in items)
    if bom_kg <= 0:
        return None, None
    mass = product.mass_kg if fp.declared_unit == "piece" else 1.0
    out: list[float | None] = []
    for attr in ("fossil_carbon_kg_per_unit", "biogenic_carbon_kg_per_unit"):
        values = [getattr(m, attr) for m, _ in items]
        if all(v is None for v in values) or (not partial and any(v is None for v in values)):
            out.append(None)
            continue
        out.append(
            mass
            * sum(q / bom_kg * v for (_, q), v in zip(items, values, strict=True) if v is not None)
        )
    return out[0], out[1]
