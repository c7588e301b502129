"""PACT ProductFootprint rendering of an issued :class:`~carbontwin.twin.footprint.Footprint`.

Builds to the PACT Technical Specifications (WBCSD), data model v3.0 and v2.2
(``ProductFootprint`` / ``CarbonFootprint`` / ``DataQualityIndicators``). The
specification files are not shipped with carbontwin; the tests validate every
rendering against the ``ProductFootprint`` schema of the MIT-licensed PACT
conformance-service OpenAPI files (``tests/pact/specs/``).

Mapping from a carbontwin footprint
-----------------------------------
- ``id`` is the footprint version's UUID; a correction names the version it
  replaces in ``precedingPfIds``; a superseded version renders ``Deprecated``.
- Values are per declared unit [kg CO2e / declared unit]. v3 declares
  ``piece`` or ``kilogram`` as the product does; v2.2 has no ``piece`` unit, so
  a piece product is declared per ``kilogram`` with ``unitaryProductAmount`` =
  the piece's mass and values divided by it.
- carbontwin accounts fossil energy and supplier PCFs; it tracks no biogenic
  flows, so ``pcfExcludingBiogenicUptake == pcfIncludingBiogenicUptake ==
  fossilGhgEmissions`` (the location-based cradle-to-gate total).
- ``primaryDataShare`` is the footprint's measured share in percent.
- DQRs (1 best .. 3 worst) per dimension from what is known about each input,
  weighted by emissions (:mod:`._pact_quality`): temporal from the data's age (one step worse for the
  share of electricity whose grid factor came from a fallback),
  technological and geographical from the data's source, completeness (v2)
  from the energy filled by the power-state model.
- Fossil and biogenic carbon content from the materials' declared carbon
  content; where a material declares none the content is unknown: v3 leaves
  ``biogenicCarbonContent`` out (the spec's "blank if unknown") and reports
  the declared fossil part; v2, whose fields are all required, reports the
  declared part and says so in ``comment``.
- Product ids are per batch: an order is a production batch,
  ``urn:pact:<domain>:product-id:<product>:batch:<order>``. PACT lets product ids
  name batches ("supplier part number, GTIN, article number, batch number"),
  and this keeps one Active footprint per product id: footprints of two orders
  of the same product, valid at the same time, would otherwise both be Active
  for one product id, and a recipient could not tell which to use. The product
  itself and its CN code are ``productClassifications``.
- Validity: the spec's default, 3 years from the reference period end.
- IPCC characterisation: the assessment reports named by the emission factors'
  versions (``...-ar6``), AR6 when none is named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from carbontwin.twin.errors import PluginError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.quantities import plus_years

from ._methods import rule_phrases
from ._pact_quality import PactQuality, pact_quality

__all__ = [
    "PACT_V2_SPEC_VERSION",
    "PACT_V3_SPEC_VERSION",
    "PactContext",
    "boundary_description",
    "label_facts",
    "allocation_description",
    "pact_context",
    "product_urn",
    "render_pact_v2",
    "render_pact_v3",
]

PACT_V3_SPEC_VERSION = "3.0.0"
PACT_V2_SPEC_VERSION = "2.2.0"

#: Validity of a footprint without a declared one (PACT: 3 years from the reference period end).
VALIDITY_YEARS = 3


@dataclass(frozen=True, slots=True)
class PactContext:
    """What a PACT document needs beyond the footprint record.

    Attributes
    ----------
    company_name : str
        Reporting company.
    company_ids : tuple of str
        Company URNs (``urn:...``).
    product_name, product_description : str
        Product name of the company, and a description.
    product_ids : tuple of str
        Product URNs.
    product_mass_kg : float
        Mass of one declared unit's product [kg] (pieces) or 1.0 (kg products).
    country : str
        ISO 3166-1 alpha-2 of the producing site, or ``""`` (global).
    status : str
        ``"Active"`` or ``"Deprecated"`` (a later version supersedes it).
    classifications : tuple of str
        Product classification URNs (v3 ``productClassifications``).
    product_category_cpc : str
        UN CPC code (v2 ``productCategoryCpc``).
    ipcc_characterization_factors : tuple of str
        IPCC assessment reports of the GWP values (``"AR6"``).
    scope2_headline : str
        ``"location"`` or ``"market"``: the scope 2 method of the PCF figures
        (the comment gives the other).
    """

    company_name: str
    company_ids: tuple[str, ...]
    product_name: str
    product_ids: tuple[str, ...]
    product_description: str = ""
    product_mass_kg: float = 1.0
    country: str = ""
    status: str = "Active"
    classifications: tuple[str, ...] = ()
    product_category_cpc: str = "4"
    ipcc_characterization_factors: tuple[str, ...] = ("AR6",)
    extra_comment: str = field(default="")
    scope2_headline: str = "location"
    quality: PactQuality | None = None


def product_urn(domain: str, product: str, batch: str = "") -> str:
    """Custom PACT product id ``urn:pact:<domain>:product-id:<product>[:batch:<batch>]``."""
    urn = f"urn:pact:{domain}:product-id:{_urn_part(product)}"
    return f"{urn}:batch:{_urn_part(batch)}" if batch else urn


def cn_classification(cn_code: str) -> str:
    """PACT product classification URN of an EU Combined Nomenclature code."""
    return f"urn:pact:productclassification:cn:{''.join(cn_code.split())}"


def company_urn(domain: str, company: str) -> str:
    """Custom PACT company id ``urn:pact:<domain>:company-id:<company>``."""
    return f"urn:pact:{domain}:company-id:{_urn_part(company)}"


def _urn_part(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-._~" else "-" for c in text) or "unknown"


def pact_context(
    fp: Footprint,
    factory: Any | None = None,
    *,
    domain: str = "carbontwin.local",
    company_name: str = "",
    status: str = "Active",
    product_category_cpc: str = "4",
    classifications: Mapping[str, Sequence[str]] | None = None,
    scope2_headline: str = "location",
) -> PactContext:
    """Context for ``fp`` from its factory model (or from the footprint alone).

    Parameters
    ----------
    fp : Footprint
        The issued footprint.
    factory : carbontwin.twin.model.Factory, optional
        Its factory; gives the product name and mass, the site country and the
        company URN.
    domain : str
        Domain used in custom product and company URNs.
    company_name : str
        Overrides the factory name as company name.
    status : str
        ``"Active"`` or ``"Deprecated"``.
    classifications : Mapping, optional
        Product id -> classification URNs (``urn:eclass:...``, ``urn:pact:...``).
    """
    product_name = fp.product
    mass_kg = 1.0
    country = ""
    company = fp.company_id
    name = company_name
    classes = [
        *(classifications or {}).get(fp.product, ()),
        f"urn:pact:productclassification:{domain}:product:{_urn_part(fp.product)}",
    ]
    if factory is not None:
        try:
            product = factory.product(fp.product)
        except KeyError:
            product = None
        if product is not None:
            product_name = product.name or fp.product
            mass_kg = product.mass_kg if fp.declared_unit == "piece" else 1.0
            if product.cn_code:
                classes.append(cn_classification(product.cn_code))
        country = factory.site.country
        company = company or factory.company_id
        name = name or factory.name
    company = company or company_urn(domain, fp.factory or "factory")
    if not company.lower().startswith("urn:"):
        company = company_urn(domain, company)
    return PactContext(
        company_name=name or fp.factory or "carbontwin user",
        company_ids=(company,),
        product_name=product_name,
        product_description=f"{product_name}, production order {fp.order}",
        product_ids=(product_urn(domain, fp.product, fp.order),),
        product_mass_kg=mass_kg,
        country=country.upper() if len(country) == 2 else "",
        status=status,
        product_category_cpc=product_category_cpc,
        classifications=tuple(dict.fromkeys(classes)),
        ipcc_characterization_factors=ipcc_reports(fp),
        scope2_headline=scope2_headline,
        quality=pact_quality(fp, factory),
    )


def ipcc_reports(fp: Footprint) -> tuple[str, ...]:
    """IPCC assessment reports named by the footprint's factor versions (``...-ar5``),
    newest first; ``("AR6",)`` when none names one."""
    found = {
        m.upper()
        for v in fp.factor_versions.values()
        for m in re.findall(r"(?<![a-z])ar\d+", str(v).lower())
    }
    return tuple(sorted(found, key=lambda r: -int(r[2:]))) or ("AR6",)


def _dec(x: float, places: int = 6) -> str:
    """Decimal string without exponent (PACT ``string<decimal>``)."""
    if not math.isfinite(x):
        msg = f"cannot render non-finite value {x!r} as a PACT decimal"
        raise PluginError(msg)
    d = Decimal(repr(round(x, places))).quantize(Decimal(1).scaleb(-places))
    s = format(d.normalize(), "f")
    return "0" if s in ("-0", "") else s


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def boundary_description(fp: Footprint, scope2: str = "location") -> str:
    """PACT ``boundaryProcessesDescription`` of a carbontwin footprint."""
    carriers = ", ".join(sorted(fp.energy_by_carrier_kwh)) or "none metered"
    materials = ", ".join(sorted(fp.co2e_by_material_kg)) or "none"
    return (
        "Cradle-to-gate. Gate-to-gate: energy of the production order's machines and of "
        f"the utilities serving them (carriers: {carriers}), measured per machine state; "
        f"scope 1 fuels and scope 2 {scope2}-based electricity at the hour of use. "
        f"Upstream: purchased materials by supplier PCFs ({materials})."
    )


def allocation_description(fp: Footprint) -> str:
    """PACT ``allocationRulesDescription`` from the rules that produced ``fp`` (its
    method text, generated from the rule objects applied)."""
    rules = "; ".join(fp.method or rule_phrases(fp.rules)) or "no allocation rules recorded"
    return (
        "Energy measured at meters is split to the assets behind each meter by the "
        "power-state model, then to the order occupying the asset (setup and processing). "
        f"Rules: {rules}."
    )


def _comment(fp: Footprint, ctx: PactContext) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in sorted(fp.factor_versions.items()))
    flags = "; ".join(fp.flags)
    parts = [
        f"Order {fp.order}: {fp.quantity:g} {fp.declared_unit} of {fp.product}, "
        f"{fp.energy_kwh:.3f} kWh, {fp.co2e_kg:.3f} kg CO2e in total with location-based "
        f"scope 2, {fp.co2e_market_kg:.3f} kg CO2e with market-based scope 2; the PCF "
        f"figures are {ctx.scope2_headline}-based.",
    ]
    q = ctx.quality or pact_quality(fp)
    if q.fossil_carbon_kg is None:
        parts.append("Fossil carbon content: unknown (no material declares it); reported as 0.")
    elif not q.fossil_carbon_complete:
        parts.append(
            "Fossil carbon content: not declared for every material of the product; "
            "only the declared part is reported."
        )
    if q.biogenic_carbon_kg is None:
        parts.append("Biogenic carbon content: unknown (not declared for the materials).")
    if versions:
        parts.append(f"Emission factors: {versions}.")
    if flags:
        parts.append(f"Data quality notes: {flags}.")
    if fp.replaces:
        parts.append(f"Version {fp.version}, corrects {fp.replaces}.")
    if ctx.extra_comment:
        parts.append(ctx.extra_comment)
    return " ".join(parts)


def _quality(fp: Footprint, ctx: PactContext) -> PactQuality:
    return ctx.quality or pact_quality(fp)


def _carbon(value: float | None) -> str:
    """Carbon content per declared unit [kg C]; "0" where unknown (``comment`` says so)."""
    return "0" if value is None else _dec(value)


def _per_unit(fp: Footprint, scope2: str = "location") -> float:
    if fp.quantity <= 0:
        msg = f"footprint {fp.id} of order {fp.order!r} has quantity {fp.quantity}; it must be > 0"
        raise PluginError(msg, field="quantity")
    total = fp.co2e_market_kg if scope2 == "market" else fp.co2e_kg
    return total / fp.quantity


def _validity(fp: Footprint) -> tuple[datetime, datetime]:
    """Validity: the spec's default, 3 years from the reference period end."""
    return fp.period_end, plus_years(fp.period_end, VALIDITY_YEARS)


def _check_status(status: str) -> None:
    if status not in ("Active", "Deprecated"):
        msg = f"PACT status {status!r} is not 'Active' or 'Deprecated'"
        raise PluginError(msg, field="status")


def _document(
    fp: Footprint, ctx: PactContext, spec_version: str, pcf: dict[str, Any]
) -> dict[str, Any]:
    """The ProductFootprint fields v2.2 and v3.0 share, around ``pcf``."""
    valid_from, valid_to = _validity(fp)
    sources = _factor_sources(fp)
    if sources:
        pcf["secondaryEmissionFactorSources"] = sources
    if ctx.country:
        pcf["geographyCountry"] = ctx.country
    return {
        "id": fp.id,
        "specVersion": spec_version,
        "created": _iso(fp.issued_at or fp.period_end),
        "status": ctx.status,
        "validityPeriodStart": _iso(valid_from),
        "validityPeriodEnd": _iso(valid_to),
        "companyName": ctx.company_name,
        "companyIds": list(ctx.company_ids),
        "productDescription": ctx.product_description or ctx.product_name,
        "productIds": list(ctx.product_ids),
        "productNameCompany": ctx.product_name,
        "comment": _comment(fp, ctx),
        "pcf": pcf,
    }


def render_pact_v3(fp: Footprint, ctx: PactContext | None = None) -> dict[str, Any]:
    """The footprint as a PACT v3.0 ``ProductFootprint`` (JSON-ready dict).

    Parameters
    ----------
    fp : Footprint
        An issued footprint (``issued_at`` gives ``created``; when unset the
        reference period end is used).
    ctx : PactContext, optional
        Company, product and site data; :func:`pact_context` of ``fp`` when omitted.
    """
    ctx = ctx or pact_context(fp)
    _check_status(ctx.status)
    per_unit = _per_unit(fp, ctx.scope2_headline)
    q = _quality(fp, ctx)
    piece = fp.declared_unit == "piece"
    pcf: dict[str, Any] = {
        "declaredUnitOfMeasurement": "piece" if piece else "kilogram",
        "declaredUnitAmount": "1",
        "productMassPerDeclaredUnit": _dec(ctx.product_mass_kg if piece else 1.0),
        "referencePeriodStart": _iso(fp.period_start),
        "referencePeriodEnd": _iso(fp.period_end),
        "boundaryProcessesDescription": boundary_description(fp, ctx.scope2_headline),
        "pcfExcludingBiogenicUptake": _dec(per_unit),
        "pcfIncludingBiogenicUptake": _dec(per_unit),
        "fossilGhgEmissions": _dec(per_unit),
        "fossilCarbonContent": _carbon(q.fossil_carbon_kg),
        "packagingEmissionsIncluded": False,
        "ipccCharacterizationFactors": list(ctx.ipcc_characterization_factors),
        "crossSectoralStandards": ["GHGP-Product", "ISO14067"],
        "exemptedEmissionsPercent": "0",
        "exemptedEmissionsDescription": "No exemptions.",
        "allocationRulesDescription": allocation_description(fp),
        "primaryDataShare": _dec(100.0 * fp.primary_data_share, 2),
        "dqi": {
            "technologicalDQR": _dec(q.technological, 2),
            "geographicalDQR": _dec(q.geographical, 2),
            "temporalDQR": _dec(q.temporal, 2),
        },
    }
    if q.biogenic_carbon_kg is not None:  # BIO rule: blank if unknown
        pcf["biogenicCarbonContent"] = _dec(q.biogenic_carbon_kg)
    doc = _document(fp, ctx, PACT_V3_SPEC_VERSION, pcf)
    if ctx.classifications:
        doc["productClassifications"] = list(ctx.classifications)
    if fp.replaces:
        doc["precedingPfIds"] = [fp.replaces]
    return doc


def _factor_sources(fp: Footprint) -> list[dict[str, str]]:
    return [
        {"name": str(k), "version": str(v)}
        for k, v in sorted(fp.factor_versions.items())
        if str(k) and str(v) and not str(k).startswith("supplier:")  # primary supplier data
    ]


def render_pact_v2(fp: Footprint, ctx: PactContext | None = None) -> dict[str, Any]:
    """The footprint as a PACT v2.2 ``ProductFootprint`` (JSON-ready dict).

    v2.2 has no ``piece`` unit: a piece product is declared per kilogram, with
    ``unitaryProductAmount`` the mass of one piece [kg].
    """
    ctx = ctx or pact_context(fp)
    _check_status(ctx.status)
    per_unit = _per_unit(fp, ctx.scope2_headline)
    q = _quality(fp, ctx)
    if fp.declared_unit == "piece":
        if not ctx.product_mass_kg > 0:
            msg = (
                f"product {fp.product!r} has mass {ctx.product_mass_kg} kg per piece; PACT v2 "
                "declares per kilogram and needs a positive mass"
            )
            raise PluginError(msg, field="mass_kg")
        amount = ctx.product_mass_kg
        per_kg = per_unit / ctx.product_mass_kg
    else:
        amount = 1.0
        per_kg = per_unit
    pcf: dict[str, Any] = {
        "declaredUnit": "kilogram",
        "unitaryProductAmount": _dec(amount),
        "pCfExcludingBiogenic": _dec(per_kg),
        "pCfIncludingBiogenic": _dec(per_kg),
        "fossilGhgEmissions": _dec(per_kg),
        "fossilCarbonContent": _carbon(
            None if q.fossil_carbon_kg is None else q.fossil_carbon_kg / amount
        ),
        "biogenicCarbonContent": _carbon(
            None if q.biogenic_carbon_kg is None else q.biogenic_carbon_kg / amount
        ),
        "characterizationFactors": "AR6"
        if ctx.ipcc_characterization_factors[0] == "AR6"
        else "AR5",
        "ipccCharacterizationFactorsSources": list(ctx.ipcc_characterization_factors),
        "crossSectoralStandardsUsed": ["GHG Protocol Product standard", "ISO Standard 14067"],
        "boundaryProcessesDescription": boundary_description(fp, ctx.scope2_headline),
        "referencePeriodStart": _iso(fp.period_start),
        "referencePeriodEnd": _iso(fp.period_end),
        "exemptedEmissionsPercent": 0,
        "exemptedEmissionsDescription": "No exemptions.",
        "packagingEmissionsIncluded": False,
        "allocationRulesDescription": allocation_description(fp),
        "primaryDataShare": round(100.0 * fp.primary_data_share, 2),
        "dqi": {
            "coveragePercent": 100,
            "technologicalDQR": round(q.technological, 2),
            "temporalDQR": round(q.temporal, 2),
            "geographicalDQR": round(q.geographical, 2),
            "completenessDQR": round(q.completeness, 2),
            "reliabilityDQR": round(q.reliability, 2),
        },
    }
    doc = _document(fp, ctx, PACT_V2_SPEC_VERSION, pcf)
    doc["version"] = int(fp.version)
    doc["productCategoryCpc"] = ctx.product_category_cpc or "4"
    if fp.replaces:
        doc["precedingPfIds"] = [fp.replaces]
    if fp.withdrawal_reason:
        doc["statusComment"] = f"Withdrawn: {fp.withdrawal_reason}"
    elif ctx.status == "Deprecated":
        doc["statusComment"] = "Superseded by a later version of this order's footprint."
    return doc


def statuses(versions: Sequence[Footprint]) -> Mapping[str, str]:
    """PACT status per footprint id: the latest version of an order is Active.

    A version named by another one's ``replaces`` is Deprecated.
    """
    replaced = {v.replaces for v in versions if v.replaces}
    return {v.id: "Deprecated" if v.id in replaced else "Active" for v in versions}


def label_facts(doc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Label lines from a rendered PACT v3 document: validity, mass per declared unit,
    DQRs and the spec version."""
    pcf = doc["pcf"]
    dqi = pcf.get("dqi", {})
    unit = pcf.get("declaredUnitOfMeasurement", "")
    return (
        ("Valid", f"{doc['validityPeriodStart'][:10]} – {doc['validityPeriodEnd'][:10]}"),
        ("Mass", f"{pcf['productMassPerDeclaredUnit']} kg per {unit}"),
        (
            "Data quality",
            f"DQR tech. {dqi.get('technologicalDQR')} · geo. {dqi.get('geographicalDQR')} · "
            f"time {dqi.get('temporalDQR')} (1 best .. 3)",
        ),
        ("Specification", f"PACT {doc['specVersion']}"),
    )
