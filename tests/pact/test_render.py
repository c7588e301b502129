"""Every rendered PACT document validates against the conformance-service schemas."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pact_helpers import assert_valid, make_footprint, schema_validator

from carbontwin.plugins.pact import pact_context, render_pact_v2, render_pact_v3
from carbontwin.twin.errors import PluginError
from carbontwin.twin.examples import demo_factory

FACTORY = demo_factory()


@pytest.mark.parametrize(("render", "version"), [(render_pact_v3, 3), (render_pact_v2, 2)])
@pytest.mark.parametrize(
    "case", ["piece", "kg", "correction", "deprecated", "no-factory", "flags", "zero-emissions"]
)
def test_rendered_footprints_validate(render, version, case):
    fp = make_footprint("O-1001", "bracket", declared_unit="kg" if case == "kg" else "piece")
    status = "Active"
    factory = None if case == "no-factory" else FACTORY
    if case == "correction":
        fp = replace(fp, version=2, replaces=str(uuid.uuid4()), issued_at=datetime.now(UTC))
    if case == "deprecated":
        status = "Deprecated"
    if case == "flags":
        fp = replace(fp, flags=("gap filled from the power-state model",), primary_data_share=0.4)
    if case == "zero-emissions":
        fp = replace(fp, co2e_kg=0.0, scope1_kg=0.0, scope2_location_kg=0.0, scope3_kg=0.0)
    doc = render(fp, pact_context(fp, factory, status=status))
    assert_valid(doc, version)
    assert doc["id"] == fp.id
    assert doc["status"] == status
    if case == "correction":
        assert doc["precedingPfIds"] == [fp.replaces]
    if factory is not None:
        assert doc["pcf"]["geographyCountry"] == "DE"
        assert doc["productNameCompany"] == "Steel mounting bracket"
        assert doc["companyIds"] == ["urn:carbontwin:demo:company"]


def test_v3_values_per_declared_unit():
    fp = make_footprint("O-1001", "bracket", co2e_kg=123.0, quantity=40.0)
    pcf = render_pact_v3(fp, pact_context(fp, FACTORY))["pcf"]
    assert pcf["declaredUnitOfMeasurement"] == "piece"
    assert pcf["pcfExcludingBiogenicUptake"] == "3.075"
    assert pcf["fossilGhgEmissions"] == "3.075"
    assert pcf["productMassPerDeclaredUnit"] == "2"  # the bracket weighs 2 kg
    assert pcf["primaryDataShare"] == "93"
    assert set(pcf["dqi"]) == {"technologicalDQR", "geographicalDQR", "temporalDQR"}
    assert "processing time" in pcf["allocationRulesDescription"]
    assert pcf["secondaryEmissionFactorSources"] == [
        {"name": "DE_2019_hourly", "version": "2019.1"},
        {"name": "fuel", "version": "2024"},
    ]


def test_v2_declares_pieces_per_kilogram():
    fp = make_footprint("O-1001", "bracket", co2e_kg=120.0, quantity=40.0)
    pcf = render_pact_v2(fp, pact_context(fp, FACTORY))["pcf"]
    assert pcf["declaredUnit"] == "kilogram"
    assert pcf["unitaryProductAmount"] == "2"
    assert pcf["pCfExcludingBiogenic"] == "1.5"  # 3 kg CO2e per 2 kg piece


def test_schema_rejects_a_broken_document():
    fp = make_footprint("O-1001", "bracket")
    doc = render_pact_v3(fp, pact_context(fp, FACTORY))
    del doc["pcf"]["fossilGhgEmissions"]
    doc["companyIds"] = ["not-a-urn"]
    messages = " ".join(e.message for e in schema_validator(3).iter_errors(doc))
    assert "fossilGhgEmissions" in messages
    assert "not-a-urn" in messages


def test_bad_status_and_quantity_are_plugin_errors():
    fp = make_footprint("O-1001", "bracket")
    with pytest.raises(PluginError, match="status"):
        render_pact_v3(fp, pact_context(fp, FACTORY, status="Withdrawn"))
    with pytest.raises(PluginError, match="quantity"):
        render_pact_v3(replace(fp, quantity=0.0))


@settings(max_examples=40, deadline=None)
@given(
    co2e=st.floats(0, 1e6),
    qty=st.floats(0.01, 1e5),
    share=st.floats(0, 1),
    hours=st.floats(0.01, 2000),
    unit=st.sampled_from(["piece", "kg"]),
    product=st.sampled_from(["bracket", "shaft", "housing", "cover", "unknown product/42"]),
)
def test_any_footprint_renders_valid(co2e, qty, share, hours, unit, product):
    fp = make_footprint(
        "O-x", product, co2e_kg=co2e, quantity=qty, declared_unit=unit, primary=share
    )
    fp = replace(fp, period_end=fp.period_start + timedelta(hours=hours))
    for render, version in ((render_pact_v3, 3), (render_pact_v2, 2)):
        doc = render(fp, pact_context(fp, FACTORY))
        assert_valid(doc, version)


def test_ipcc_reports_follow_the_factor_versions():
    fp = replace(
        make_footprint("O-1001", "bracket"),
        factor_versions={
            "electricity_location": "DE_2019_hourly",
            "fuel:natural_gas": "ipcc2006-ar5",
        },
    )
    v3 = render_pact_v3(fp, pact_context(fp, FACTORY))
    v2 = render_pact_v2(fp, pact_context(fp, FACTORY))
    assert v3["pcf"]["ipccCharacterizationFactors"] == ["AR5"]
    assert v2["pcf"]["characterizationFactors"] == "AR5"
    assert_valid(v3, 3)
    assert_valid(v2, 2)
