"""PACT data quality ratings per dimension, carbon content, validity and AR6,
against hand-worked cases (weights: each input's share of the emissions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pact_helpers import assert_valid

from carbontwin.plugins.pact import pact_context, render_pact_v2, render_pact_v3
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factors import FUEL_FACTORS
from carbontwin.twin.footprint import Footprint

FACTORY = demo_factory()
T0 = datetime(2019, 3, 4, 6, tzinfo=UTC)


def _fp(*, year: int = 2019, filled_kwh: float = 25.0, **kw) -> Footprint:
    """Bracket order: 30 kg CO2e electricity (DE 2019 hourly), 10 kg natural gas
    (IPCC 2006 defaults), 60 kg hot-rolled sheet from sup-nordstahl (a sector value
    from a 2023 source, not primary); 100 kWh, ``filled_kwh`` of it filled."""
    t0 = T0.replace(year=year)
    flags = (
        (
            f"{filled_kwh:.6g} kWh of this order's energy filled from the power-state model "
            "(secondary data)",
        )
        if filled_kwh
        else ()
    )
    base = {
        "order": "O-1001",
        "product": "bracket",
        "quantity": 10.0,
        "declared_unit": "piece",
        "period_start": t0,
        "period_end": t0 + timedelta(hours=6),
        "energy_kwh": 100.0,
        "co2e_kg": 100.0,
        "co2e_market_kg": 85.0,
        "scope1_kg": 10.0,
        "scope2_location_kg": 30.0,
        "scope2_market_kg": 15.0,
        "scope3_kg": 60.0,
        "energy_by_carrier_kwh": {"electricity": 80.0, "natural_gas": 20.0},
        "co2e_by_material_kg": {"steel-sheet-s235": 60.0},
        "primary_data_share": 0.3,
        "factor_versions": {
            "electricity_location": "DE_2019_hourly:DE_2019_hourly@sha256:1c0781e4cf98",
            "fuel:natural_gas": "ipcc2006-ar6",
        },
        "flags": flags,
    }
    return Footprint(**{**base, **kw})


def _dqi(fp: Footprint, factory=FACTORY) -> dict:
    return render_pact_v2(fp, pact_context(fp, factory))["pcf"]["dqi"]


def approx(x: float):
    return pytest.approx(x, abs=0.0051)  # DQRs are rendered to 2 decimals


def test_hand_worked_ratings():
    # electricity (w 30): tech 1 + 0.25 filled = 1.25, geo 1 (DE site, DE zone), temp 1 (2019)
    # fuel (w 10): tech 2, geo 3 (global default), temp 3 (2006 factors for 2019)
    # sheet (w 60): tech 2, geo 3 (sector value), temp 2 (2023 source for 2019)
    dqi = _dqi(_fp())
    assert dqi["technologicalDQR"] == approx((30 * 1.25 + 10 * 2 + 60 * 2) / 100)
    assert dqi["geographicalDQR"] == approx((30 * 1 + 10 * 3 + 60 * 3) / 100)
    assert dqi["temporalDQR"] == approx((30 * 1 + 10 * 3 + 60 * 2) / 100)
    assert dqi["completenessDQR"] == approx(1.5)  # 25 % of the energy filled
    assert dqi["reliabilityDQR"] == approx(1 + 2 * 0.7)


def test_temporal_follows_the_datas_age():
    # produced in 2026: the 2019 grid factors are 7 years old (3), the 2006 fuel
    # factors too (3), the 2023 steel source 3 years (2); the others stay
    old, new = _dqi(_fp()), _dqi(_fp(year=2026))
    assert new["temporalDQR"] == approx((30 * 3 + 10 * 3 + 60 * 2) / 100)
    assert new["technologicalDQR"] == old["technologicalDQR"]
    assert new["geographicalDQR"] == old["geographicalDQR"]


def test_geographical_follows_the_datas_source():
    # the same German grid factors for a French site: another zone (2)
    fr = replace(FACTORY, site=replace(FACTORY.site, country="FR"))
    old, new = _dqi(_fp()), _dqi(_fp(), fr)
    assert new["geographicalDQR"] == approx((30 * 2 + 10 * 3 + 60 * 3) / 100)
    assert new["technologicalDQR"] == old["technologicalDQR"]
    assert new["temporalDQR"] == old["temporalDQR"]


def test_technological_follows_the_datas_source():
    # the sheet's supplier sends its own PACT footprint with its DQRs (1.2, 1.5, 1.1)
    suppliers = tuple(
        replace(
            s,
            supplies=tuple(replace(x, primary=True, dqr=(1.2, 1.5, 1.1)) for x in s.supplies),
        )
        if s.id == "sup-nordstahl"
        else s
        for s in FACTORY.suppliers
    )
    dqi = _dqi(_fp(), replace(FACTORY, suppliers=suppliers))
    assert dqi["technologicalDQR"] == approx((30 * 1.25 + 10 * 2 + 60 * 1.2) / 100)
    assert dqi["geographicalDQR"] == approx((30 * 1 + 10 * 3 + 60 * 1.5) / 100)
    assert dqi["temporalDQR"] == approx((30 * 1 + 10 * 3 + 60 * 1.1) / 100)


@pytest.mark.parametrize(("filled", "expected"), [(0.0, 1.0), (50.0, 2.0), (100.0, 3.0)])
def test_completeness_follows_filled_energy(filled, expected):
    dqi = _dqi(_fp(filled_kwh=filled))
    assert dqi["completenessDQR"] == approx(expected)
    assert dqi["geographicalDQR"] == _dqi(_fp())["geographicalDQR"]


def test_carbon_content_from_declared_material_data_and_unknown_left_blank():
    fp = _fp()
    v3 = render_pact_v3(fp, pact_context(fp, FACTORY))
    assert_valid(v3, 3)
    # bracket 2.0 kg of S235 sheet, 0.17 % C (declared): 0.0034 kg C per piece
    assert v3["pcf"]["fossilCarbonContent"] == "0.0034"
    assert v3["pcf"]["biogenicCarbonContent"] == "0"  # declared: metals hold none
    v2 = render_pact_v2(fp, pact_context(fp, FACTORY))
    assert v2["pcf"]["fossilCarbonContent"] == "0.0017"  # per kilogram in v2
    unknown = replace(
        FACTORY,
        materials=tuple(
            replace(m, fossil_carbon_kg_per_unit=None, biogenic_carbon_kg_per_unit=None)
            for m in FACTORY.materials
        ),
    )
    v3 = render_pact_v3(fp, pact_context(fp, unknown))
    assert_valid(v3, 3)
    assert "biogenicCarbonContent" not in v3["pcf"]  # the spec's BIO rule: blank if unknown
    assert "Biogenic carbon content: unknown" in v3["comment"]
    assert "Fossil carbon content: unknown" in v3["comment"]


def test_validity_is_three_years_from_the_reference_period_end():
    fp = _fp()
    doc = render_pact_v3(fp, pact_context(fp, FACTORY))
    assert doc["validityPeriodStart"] == "2019-03-04T12:00:00Z"
    assert doc["validityPeriodEnd"] == "2022-03-04T12:00:00Z"


def test_fuel_factors_and_documents_carry_ar6():
    assert {f.version for f in FUEL_FACTORS.values()} == {"ipcc2006-ar6"}
    fp = _fp()
    assert render_pact_v3(fp, pact_context(fp, FACTORY))["pcf"]["ipccCharacterizationFactors"] == [
        "AR6"
    ]
    assert render_pact_v2(fp, pact_context(fp, FACTORY))["pcf"]["characterizationFactors"] == "AR6"


def test_product_ids_are_per_batch_and_the_product_a_classification():
    fp = _fp()
    doc = render_pact_v3(fp, pact_context(fp, FACTORY))
    assert doc["productIds"] == ["urn:pact:carbontwin.local:product-id:bracket:batch:O-1001"]
    assert "urn:pact:productclassification:cn:73269098" in doc["productClassifications"]
    assert (
        "urn:pact:productclassification:carbontwin.local:product:bracket"
        in doc["productClassifications"]
    )
