"""AAS export: the IDTA 02023 Carbon Footprint submodel of a footprint."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from basyx.aas import model
from basyx.aas.adapter.json import StrictAASFromJsonDecoder

from carbontwin.plugins.aas import SUBMODEL_SEMANTIC_ID, render_aas_json
from carbontwin.twin.footprint import Footprint

TEMPLATE = Path(__file__).parent / "specs" / "IDTA_02023-1-0-1_Template_CarbonFootprint.json"


def _fp() -> Footprint:
    return Footprint(
        order="O-1",
        product="bracket",
        quantity=40.0,
        declared_unit="piece",
        period_start=datetime(2019, 3, 4, 6, tzinfo=UTC),
        period_end=datetime(2019, 3, 4, 14, tzinfo=UTC),
        energy_kwh=80.0,
        co2e_kg=123.0,
        co2e_market_kg=100.0,
        scope1_kg=3.0,
        scope2_location_kg=40.0,
        scope2_market_kg=17.0,
        scope3_kg=80.0,
        issued_at=datetime(2019, 3, 5, tzinfo=UTC),
    )


def _shape(elements: list[dict]) -> dict:
    """idShort -> (modelType, semanticId, children shape) of template or export elements."""
    out = {}
    for e in elements:
        sem = e.get("semanticId", {}).get("keys", [{}])[0].get("value")
        children = e.get("value") if isinstance(e.get("value"), list) else []
        if e["modelType"] == "SubmodelElementList" and children:
            children = (
                children[0].get("value", [])
                if children[0]["modelType"] == "SubmodelElementCollection"
                else []
            )
        out[e.get("idShort")] = (e["modelType"], sem, _shape(children) if children else {})
    return out


def test_round_trips_through_basyx_strict_decoder():
    doc = render_aas_json(_fp(), pact_url="https://x.example/3/footprints/abc")
    sm = json.loads(json.dumps(doc), cls=StrictAASFromJsonDecoder)
    assert isinstance(sm, model.Submodel)
    assert sm.semantic_id.key[0].value == SUBMODEL_SEMANTIC_ID
    pcf = next(iter(sm.get_referable("ProductCarbonFootprints").value))
    assert pcf.get_referable("PcfCO2eq").value == Decimal("3.075")
    assert pcf.get_referable("ReferenceImpactUnitForCalculation").value == "piece"
    phases = [p.value for p in pcf.get_referable("LifeCyclePhases").value]
    assert phases[0].startswith("A1")
    assert phases[-1].startswith("A3")


def test_structure_matches_the_idta_template():
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))["submodels"][0]
    doc = render_aas_json(_fp(), pact_url="https://x.example/3/footprints/abc")
    assert doc["semanticId"] == template["semanticId"]
    want, got = _shape(template["submodelElements"]), _shape(doc["submodelElements"])
    for name in ("ProductCarbonFootprints", "ProductOrSectorSpecificCarbonFootprints"):
        assert got[name][:2] == want[name][:2], name
        # every element we emit exists in the template with the same type and semantics
        for child, spec in got[name][2].items():
            assert child in want[name][2], child
            assert spec[:2] == want[name][2][child][:2], child
    required = {
        "PcfCalculationMethods",
        "PcfCO2eq",
        "ReferenceImpactUnitForCalculation",
        "QuantityOfMeasureForCalculation",
        "LifeCyclePhases",
        "PublicationDate",
    }
    assert required <= set(got["ProductCarbonFootprints"][2])
