"""A footprint as an Asset Administration Shell submodel, IDTA 02023 Carbon Footprint.

Builds the submodel of the template "IDTA 02023 Carbon Footprint" 1.0 / 1.0.1
(IDTA, CC BY 4.0; semantic id ``.../CarbonFootprint/CarbonFootprint/1/0``)
with the Eclipse BaSyx Python SDK: one ``ProductCarbonFootprint`` (PCF per
declared unit, cradle-to-gate life-cycle phases A1-A3, publication and
expiration dates) and one ``ProductOrSectorSpecificCarbonFootprint`` whose
``ExternalPcfApi`` points to the footprint's PACT document.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from basyx.aas import model
from basyx.aas.adapter.json import AASToJsonEncoder

from carbontwin.twin.errors import PluginError
from carbontwin.twin.footprint import Footprint

__all__ = ["SUBMODEL_SEMANTIC_ID", "carbon_footprint_submodel", "render_aas_json"]

_IDTA = "https://admin-shell.io/idta/CarbonFootprint"
SUBMODEL_SEMANTIC_ID = f"{_IDTA}/CarbonFootprint/1/0"
_ECLASS = {
    "methods": "0173-1#02-ABG854#003",
    "co2eq": "0173-1#02-ABG855#003",
    "unit": "0173-1#02-ABG856#003",
    "quantity": "0173-1#02-ABG857#003",
    "phases": "0173-1#02-ABG858#003",
}
#: Cradle-to-gate (EN 15804 modules A1-A3).
CRADLE_TO_GATE = (
    "A1 - raw material supply (and upload)",
    "A2 - cradle-to-gate transport to factory",
    "A3 - production",
)
VALIDITY = timedelta(days=3 * 365)


def _ref(value: str) -> model.ExternalReference:
    return model.ExternalReference((model.Key(model.KeyTypes.GLOBAL_REFERENCE, value),))


def _prop(id_short: str | None, value_type: Any, value: Any, semantic: str) -> model.Property:
    return model.Property(id_short, value_type, value=value, semantic_id=_ref(semantic))


def _strings(
    id_short: str, values: tuple[str, ...], list_semantic: str, item_semantic: str
) -> model.SubmodelElementList[model.Property]:
    return model.SubmodelElementList(
        id_short,
        model.Property,
        value=[_prop(None, str, v, item_semantic) for v in values],
        semantic_id=_ref(list_semantic),
        semantic_id_list_element=_ref(item_semantic),
        value_type_list_element=str,
    )


def _methods_element(methods: tuple[str, ...]) -> model.SubmodelElementList[model.Property]:
    """A new ``PcfCalculationMethods`` list (an AAS element belongs to one parent only)."""
    return _strings(
        "PcfCalculationMethods", methods, f"{_IDTA}/PcfCalculationMethods/1/0", _ECLASS["methods"]
    )


def carbon_footprint_submodel(
    fp: Footprint, *, pact_url: str = "", submodel_id: str | None = None
) -> model.Submodel:
    """The IDTA 02023 Carbon Footprint submodel of footprint ``fp``.

    Parameters
    ----------
    fp : Footprint
        An issued footprint; ``PcfCO2eq`` is its location-based cradle-to-gate
        value per declared unit [kg CO2e].
    pact_url : str
        URL of the footprint's PACT document (``ExternalPcfApi/PcfApiEndpoint``).
    submodel_id : str, optional
        Submodel id; default ``urn:uuid:<footprint id>``.
    """
    if not fp.quantity > 0:
        msg = f"footprint {fp.id} has quantity {fp.quantity}; it must be > 0"
        raise PluginError(msg, field="quantity")
    published: datetime = fp.issued_at or fp.period_end
    methods = ("ISO 14067", "GHG Protocol")
    pcf = model.SubmodelElementCollection(
        None,
        value=[
            _methods_element(methods),
            _prop(
                "PcfCO2eq", Decimal, Decimal(f"{fp.co2e_kg / fp.quantity:.6f}"), _ECLASS["co2eq"]
            ),
            _prop(
                "ReferenceImpactUnitForCalculation",
                str,
                "piece" if fp.declared_unit == "piece" else "kg",
                _ECLASS["unit"],
            ),
            _prop("QuantityOfMeasureForCalculation", float, 1.0, _ECLASS["quantity"]),
            _strings(
                "LifeCyclePhases", CRADLE_TO_GATE, f"{_IDTA}/LifeCyclePhases/1/0", _ECLASS["phases"]
            ),
            _prop("PublicationDate", datetime, published, f"{_IDTA}/PublicationDate/1/0"),
            _prop(
                "ExpirationDate",
                datetime,
                max(published, fp.period_end) + VALIDITY,
                f"{_IDTA}/ExpirationDate/1/0",
            ),
        ],
        semantic_id=_ref(f"{_IDTA}/ProductCarbonFootprint/1/0"),
        description=_method_text(fp),
    )
    elements: list[model.SubmodelElement] = [
        model.SubmodelElementList(
            "ProductCarbonFootprints",
            model.SubmodelElementCollection,
            value=[pcf],
            semantic_id=_ref(f"{_IDTA}/ProductCarbonFootprints/1/0"),
            semantic_id_list_element=_ref(f"{_IDTA}/ProductCarbonFootprint/1/0"),
        )
    ]
    if pact_url:
        rule = f"{_IDTA}/ProductOrSectorSpecificRule"
        api = f"{_IDTA}/ExternalPcfApi"
        specific = model.SubmodelElementCollection(
            None,
            value=[
                _methods_element(methods),
                model.SubmodelElementCollection(
                    "ProductOrSectorSpecificRule",
                    value=[
                        _prop("PcfRuleOperator", str, "PACT", f"{rule}/Operator/1/0"),
                        _prop("PcfRuleName", str, "PACT Methodology", f"{rule}/Name/1/0"),
                        _prop("PcfRuleVersion", str, "3.0", f"{rule}/Version/1/0"),
                    ],
                    semantic_id=_ref(f"{rule}/1/0"),
                ),
                model.SubmodelElementCollection(
                    "ExternalPcfApi",
                    value=[
                        _prop(
                            "PcfApiEndpoint",
                            model.datatypes.AnyURI,
                            model.datatypes.AnyURI(pact_url),
                            f"{api}/Endpoint/1/0",
                        ),
                        _prop("PcfApiQuery", str, f"id={fp.id}", f"{api}/Query/1/0"),
                    ],
                    semantic_id=_ref(f"{api}/1/0"),
                ),
                model.SubmodelElementCollection(
                    "PcfInformation", value=[], semantic_id=_ref(f"{_IDTA}/PcfInformation/1/0")
                ),
            ],
            semantic_id=_ref(f"{_IDTA}/ProductOrSectorSpecificCarbonFootprint/1/0"),
        )
        elements.append(
            model.SubmodelElementList(
                "ProductOrSectorSpecificCarbonFootprints",
                model.SubmodelElementCollection,
                value=[specific],
                semantic_id=_ref(f"{_IDTA}/ProductOrSectorSpecificCarbonFootprints/1/0"),
                semantic_id_list_element=_ref(
                    f"{_IDTA}/ProductOrSectorSpecificCarbonFootprint/1/0"
                ),
            )
        )
    return model.Submodel(
        submodel_id or f"urn:uuid:{fp.id}",
        submodel_element=elements,
        id_short="CarbonFootprint",
        semantic_id=_ref(SUBMODEL_SEMANTIC_ID),
        administration=model.AdministrativeInformation(version="1", revision="0"),
    )


#: Longest text of an AAS LangString (metamodel V3: MultiLanguageTextType, 1023).
_TEXT_MAX = 1023


def _method_text(fp: Footprint) -> model.MultiLanguageTextType | None:
    """The footprint's allocation method, as generated from the rules applied, in the
    PCF's description (shortened to the metamodel's 1023 characters with an ellipsis)."""
    if not fp.method and not fp.rules:
        return None
    rules = ", ".join(f"{k}={v}" for k, v in sorted(fp.rules.items()) if v != "")
    text = f"Allocation rules applied ({rules}): " + "; ".join(fp.method)
    if len(text) > _TEXT_MAX:
        text = text[: _TEXT_MAX - 1] + "…"
    return model.MultiLanguageTextType({"en": text})


def render_aas_json(fp: Footprint, *, pact_url: str = "") -> dict[str, Any]:
    """The submodel as AAS JSON (metamodel V3), a JSON-ready dict."""
    sm = carbon_footprint_submodel(fp, pact_url=pact_url)
    return json.loads(json.dumps(sm, cls=AASToJsonEncoder))  # type: ignore[no-any-return]
