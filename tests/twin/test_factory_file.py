"""Factory files: validation errors that name the item, field and line; round trips."""

from __future__ import annotations

import json
import textwrap

import pytest
from factory_strategies import factories
from hypothesis import HealthCheck, given, settings

from carbontwin.twin._yaml_lines import read_with_lines
from carbontwin.twin.errors import FactoryModelError
from carbontwin.twin.examples import demo_factory, demo_factory_path
from carbontwin.twin.factory_file import (
    dump_factory,
    dumps_factory,
    factory_from_dict,
    factory_json_schema,
    factory_to_dict,
    load_factory,
    loads_factory,
)
from carbontwin.twin.model import (
    Carrier,
    State,
)

BASE = textwrap.dedent(
    """\
    id: small
    name: Small plant
    site:
      id: site-1
      country: DE
    lines:
      - id: L1
    machines:
      - id: cnc-1
        line: L1
        type: cnc
        power:
          idle: 6 kW
          processing: 20 kW
      - id: press-1
        line: L1
        type: press
        power: {off: 0, idle: 14 kW, processing: 40 kW}
    meters:
      - id: M1
        measures: [cnc-1]
      - id: M2
        measures: [press-1]
    utilities:
      - id: air
        kind: compressed_air
        power: {idle: 10 kW, processing: 30 kW}
        serves:
          - {asset: cnc-1}
          - {asset: press-1, weight: 2}
    materials:
      - {id: steel, unit: kg}
    suppliers:
      - id: sup-1
        supplies:
          - {material: steel, pcf_kg_per_unit: 2.0}
    products:
      - id: part
        bom:
          - {material: steel, quantity: 1.2 t, supplier: sup-1}
        routing:
          - {id: op10, machine: cnc-1, setup: 10 min, processing: 90 s}
          - {id: op20, machine: press-1, processing: 12 s}
    orders:
      - {id: O1, product: part, quantity: 10, release: 2019-03-04T06:00:00Z, due: 2019-03-05T06:00:00Z}
    """
)


def line_no(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def errors_of(text: str, filename: str = "factory.yaml") -> list[str]:
    with pytest.raises(FactoryModelError) as info:
        loads_factory(text, filename)
    assert info.value.errors
    assert all(e.startswith(f"{filename}") for e in info.value.errors)
    return info.value.errors


def only_error(text: str) -> str:
    errors = errors_of(text)
    assert len(errors) == 1, errors
    return errors[0]


def test_base_file_loads_with_units_converted():
    f = loads_factory(BASE)
    cnc = f.machine("cnc-1")
    assert cnc.power.power_kw[State.IDLE] == 6.0
    assert cnc.power.power_kw[State.SETUP] == 6.0  # setup defaults to idle
    assert cnc.power.power_kw[State.FAULT] == 0.0  # fault -> standby -> off
    part = f.product("part")
    assert part.bom[0].quantity_per_unit == pytest.approx(1200.0)  # 1.2 t in kg
    assert part.routing[0].setup_s == 600.0
    assert part.routing[0].processing_s_per_unit == 90.0
    assert f.utilities[0].serves[1].weight == 2.0
    assert f.lines[0].site == "site-1"
    assert f.orders[0].release.utcoffset().total_seconds() == 0


def test_meter_measures_unknown_asset_names_meter_and_line():
    text = BASE.replace("measures: [press-1]", "measures: [press-9]")
    err = only_error(text)
    assert err == (
        f"factory.yaml:{line_no(text, 'press-9')}: meter 'M2': measures: unknown asset 'press-9'"
    )


def test_an_item_with_bad_values_still_has_its_references_checked():
    """One pass names every problem: an item that fails its own checks (a power typo, a
    negative quantity) still gets its unknown references reported, each on its line."""
    text = (
        BASE.replace("line: L1\n    type: press", "line: L9\n    type: press")
        .replace("idle: 14 kW", "idle: 14 kWW")
        .replace("- {asset: press-1, weight: 2}", "- {asset: oven-3, weight: -2}")
        .replace("product: part, quantity: 10", "product: widget, quantity: -10")
    )
    errors = errors_of(text)
    assert (
        f"factory.yaml:{line_no(text, 'line: L9')}: machine 'press-1': line: unknown line 'L9'"
        in errors
    )
    assert any(
        e.startswith(f"factory.yaml:{line_no(text, '14 kWW')}: machine 'press-1': power.idle")
        for e in errors
    )
    assert (
        f"factory.yaml:{line_no(text, 'oven-3')}: utility 'air': serves[1].asset: unknown asset 'oven-3'"
        in errors
    )
    assert (
        f"factory.yaml:{line_no(text, 'widget')}: order 'O1': product: unknown product 'widget'"
        in errors
    )
    assert any("order 'O1': quantity" in e for e in errors)


def test_duplicate_id_across_asset_kinds():
    text = BASE.replace("- {id: steel, unit: kg}", "- {id: cnc-1, unit: kg}").replace(
        "material: steel", "material: cnc-1"
    )
    err = only_error(text)
    line = line_no(text, "- {id: cnc-1, unit: kg}")
    assert err.startswith(f"factory.yaml:{line}: material 'cnc-1': id: duplicate id 'cnc-1'")
    assert f"machine 'cnc-1' on line {line_no(text, '- id: cnc-1')}" in err


def test_utility_serves_unknown_asset():
    text = BASE.replace("- {asset: press-1, weight: 2}", "- {asset: oven-3, weight: 2}")
    err = only_error(text)
    assert err.startswith(f"factory.yaml:{line_no(text, 'oven-3')}: utility 'air': serves[1].asset")
    assert "unknown asset 'oven-3'" in err


def test_routing_on_missing_machine():
    text = BASE.replace("machine: press-1, processing: 12 s", "machine: mill-7, processing: 12 s")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'mill-7')}: product 'part': routing[1].machine"
    )
    assert "missing machine 'mill-7'" in err


def test_routing_cycle_through_after_lists():
    text = BASE.replace(
        "- {id: op10, machine: cnc-1, setup: 10 min, processing: 90 s}",
        "- {id: op10, machine: cnc-1, setup: 10 min, processing: 90 s, after: [op20]}",
    )
    err = only_error(text)
    assert err.startswith(f"factory.yaml:{line_no(text, 'id: op10')}: product 'part': routing")
    assert "cycle: op10 -> op20 -> op10" in err or "cycle: op20 -> op10 -> op20" in err


def test_after_lists_order_the_routing_and_revisits_are_fine():
    text = BASE.replace(
        "- {id: op20, machine: press-1, processing: 12 s}",
        "- {id: op20, machine: press-1, processing: 12 s, after: [op30]}\n"
        "      - {id: op30, machine: cnc-1, processing: 5 s, after: [op10]}",
    )
    part = loads_factory(text).product("part")
    assert [op.id for op in part.routing] == ["op10", "op30", "op20"]
    assert [op.machine for op in part.routing] == ["cnc-1", "cnc-1", "press-1"]


def test_routing_on_a_utility():
    text = BASE.replace("machine: press-1, processing: 12 s", "machine: air, processing: 12 s")
    err = only_error(text)
    assert err.endswith(
        "routing[1].machine: operation 'op20' runs on 'air', which is a utility, not a machine"
    )


def test_unknown_time_zone():
    text = BASE.replace("  country: DE", "  country: DE\n  timezone: Europe/Berln")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'Berln')}: site 'site-1': timezone: unknown time zone"
    )


def test_repeated_operation_id_is_an_error():
    text = BASE.replace("- {id: op20, machine", "- {id: op10, machine")
    errors = errors_of(text)
    assert any(
        e.startswith(f"factory.yaml:{line_no(text, 'id: op10', 2)}: product 'part': routing[1].id")
        and "'op10' is used twice" in e
        for e in errors
    ), errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-5 kW", "must not be negative, got -5"),
        ("-5", "must not be negative, got -5"),
        ("fast", "cannot read 'fast' as a power quantity"),
        ("15 kWW", "cannot read '15 kWW' as a power quantity"),
        ("15 kg", "'15 kg' is not a power"),
        ("[1, 2]", "expected a power quantity"),
    ],
)
def test_bad_power_values(value, expected):
    text = BASE.replace("idle: 6 kW", f"idle: {value}")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'idle: ' + value)}: machine 'cnc-1': power.idle: "
    )
    assert expected in err


def test_unit_typo_in_a_duration():
    text = BASE.replace("setup: 10 min", "setup: 10 minn")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, '10 minn')}: product 'part': routing[0].setup: "
    )
    assert "'10 minn'" in err


def test_meter_that_measures_nothing():
    text = BASE.replace("measures: [cnc-1]", "measures: []")
    err = only_error(text)
    assert err.startswith(f"factory.yaml:{line_no(text, 'measures: []')}: meter 'M1': measures: ")
    assert "measures nothing" in err


def test_product_without_routing():
    start = BASE.index("    routing:\n")
    end = BASE.index("orders:")
    text = BASE[:start] + BASE[end:]
    err = only_error(text)
    assert err.startswith(f"factory.yaml:{line_no(text, '- id: part')}: product 'part': routing: ")
    assert "has no routing" in err


def test_bom_material_without_supplier_pcf():
    text = BASE.replace(
        "supplies:\n      - {material: steel, pcf_kg_per_unit: 2.0}", "supplies: []"
    )
    text = text.replace(", supplier: sup-1}", "}")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'material: steel, quantity')}: product 'part': bom[0]"
    )
    assert "material 'steel' has no supplier PCF" in err


def test_bom_supplier_that_does_not_supply_the_material():
    text = BASE.replace(
        "- {id: steel, unit: kg}", "- {id: steel, unit: kg}\n  - {id: alu, unit: kg}"
    )
    text = text.replace("{material: steel, quantity", "{material: alu, quantity")
    text = text.replace(
        "pcf_kg_per_unit: 2.0}",
        "pcf_kg_per_unit: 2.0}\n  - id: sup-2\n    supplies: [{material: alu, pcf_kg_per_unit: 16}]",
    )
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'material: alu, quantity')}: product 'part': bom[0].supplier"
    )
    assert "supplier 'sup-1' gives no PCF for material 'alu'" in err


def test_all_errors_are_collected_in_line_order():
    text = (
        BASE.replace("measures: [press-1]", "measures: [press-9]")
        .replace("idle: 6 kW", "idle: 6 kWW")
        .replace("machine: press-1, processing", "machine: nope, processing")
        .replace("product: part, quantity", "product: ghost, quantity")
    )
    errors = errors_of(text)
    assert len(errors) == 4
    lines = [int(e.split(":")[1]) for e in errors]
    assert lines == sorted(lines)
    assert lines == [
        line_no(text, "6 kWW"),
        line_no(text, "press-9"),
        line_no(text, "nope"),
        line_no(text, "ghost"),
    ]
    assert "4 problem(s)" in str(pytest.raises(FactoryModelError, loads_factory, text).value)


def test_unknown_field_and_missing_field():
    text = BASE.replace("type: press", "typ: press")
    errors = errors_of(text)
    typ_line = line_no(text, "typ: press")
    assert f"factory.yaml:{typ_line}: machine 'press-1': typ: unknown field (a typo?)" in errors
    assert any(
        e.startswith("factory.yaml:") and "machine 'press-1': type: is required" in e
        for e in errors
    )


def test_yaml_syntax_error_has_a_line():
    text = BASE.replace("  - id: L1", "  - id: L1\n   bad: [")
    err = only_error(text)
    assert err.startswith("factory.yaml:")
    assert "not valid YAML" in err


def test_duplicate_yaml_key_is_reported():
    text = BASE.replace("processing: 20 kW", "processing: 20 kW\n      processing: 25 kW")
    err = only_error(text)
    assert err.startswith(f"factory.yaml:{line_no(text, 'processing: 25 kW')}: machine 'cnc-1'")
    assert "given twice" in err


def test_off_key_and_clock_times_are_strings():
    text = BASE + "shifts:\n  - {name: early, start: 06:00, end: 14:00}\n"
    f = loads_factory(text)
    assert (f.shifts[0].start, f.shifts[0].end) == ("06:00", "14:00")
    assert f.machine("press-1").power.power_kw[State.OFF] == 0.0


def test_json_errors_carry_lines():
    data = factory_to_dict(loads_factory(BASE))
    data["meters"][1]["measures"] = ["press-9"]
    text = json.dumps(data, indent=2)
    err = only_error_json(text)
    assert err == (
        f"factory.json:{line_no(text, 'press-9')}: meter 'M2': measures: unknown asset 'press-9'"
    )


def only_error_json(text: str) -> str:
    errors = errors_of(text, "factory.json")
    assert len(errors) == 1, errors
    return errors[0]


def test_dict_errors_name_the_item_without_line():
    data = factory_to_dict(loads_factory(BASE))
    data["machines"][0]["power"]["idle"] = "15 kg"
    with pytest.raises(FactoryModelError) as info:
        factory_from_dict(data)
    assert info.value.errors[0].startswith(
        "<dict>: machine 'cnc-1': power.idle: '15 kg' is not a power"
    )


def test_wrong_meter_carrier_and_bad_order_dates():
    text = BASE.replace("measures: [cnc-1]", "measures: [cnc-1]\n    carrier: natural_gas").replace(
        "due: 2019-03-05T06:00:00Z", "due: 2019-03-03T06:00:00Z"
    )
    errors = errors_of(text)
    assert len(errors) == 2
    assert (
        "meter 'M1': carrier: meters natural_gas but asset 'cnc-1' draws electricity" in errors[0]
    )
    assert "order 'O1': due: due 2019-03-03" in errors[1]


def test_missing_file():
    with pytest.raises(FactoryModelError, match="cannot read factory file"):
        load_factory("/nonexistent/factory.yaml")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_demo_round_trips_through_files(tmp_path, suffix):
    demo = demo_factory()
    path = tmp_path / f"plant{suffix}"
    dump_factory(demo, path)
    assert load_factory(path) == demo
    assert factory_from_dict(factory_to_dict(demo)) == demo
    assert loads_factory(dumps_factory(demo)) == demo


def test_dump_writes_canonical_numbers():
    data = factory_to_dict(demo_factory())
    furnace = next(m for m in data["machines"] if m["id"] == "furnace-1")
    assert furnace["power"]["processing"] == 240.0
    assert furnace["warmup"] == 10800.0
    assert furnace["warmup_energy"] == 620.0
    assert furnace["carrier"] == Carrier.NATURAL_GAS.value
    assert data["orders"][0]["release"] == "2019-03-04T05:00:00Z"
    json.dumps(data)  # plain JSON types only


# ------------------------------------------------------------ property tests


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(factories())
def test_load_dump_load_is_equal(factory):
    assert factory_from_dict(factory_to_dict(factory)) == factory
    assert loads_factory(dumps_factory(factory, "yaml"), "f.yaml") == factory
    assert loads_factory(dumps_factory(factory, "json"), "f.json") == factory


def test_json_schema_accepts_the_demo_and_rejects_bad_shapes():
    import jsonschema  # dev dependency through openapi-schema-validator

    schema = factory_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    validator.check_schema(schema)
    # the file as written (quantities with units; times as strings)
    data, _, _ = read_with_lines(demo_factory_path().read_text(), "yaml")  # YAML 1.2 'off'
    raw = json.loads(json.dumps(data, default=str))
    assert list(validator.iter_errors(raw)) == []
    assert list(validator.iter_errors(factory_to_dict(demo_factory()))) == []
    raw["machines"][0]["power"]["idle"] = [15]
    raw["meters"][0]["signal"] = "counter"
    raw["machines"][1]["colour"] = "red"
    bad = sorted(".".join(map(str, e.absolute_path)) for e in validator.iter_errors(raw))
    assert bad == ["machines.0.power.idle", "machines.1", "meters.0.signal"]


def test_yaml_anchors_and_merge_keys_with_overrides():
    text = BASE.replace(
        "machines:\n",
        "x-cnc: &cnc {line: L1, type: cnc, power: {idle: 6 kW, processing: 20 kW}}\nmachines:\n",
    ).replace(
        "  - id: press-1\n",
        "  - {id: cnc-2, <<: *cnc, type: cnc-lathe}\n  - {id: cnc-3, <<: *cnc, power: {idle: 7 kWW, processing: 1 kW}}\n  - id: press-1\n",
    )
    errors = errors_of(text)
    # the override on cnc-3's own line is the one reported, and no key counts as given twice
    assert errors == [
        f"factory.yaml:{line_no(text, 'cnc-3')}: machine 'cnc-3': power.idle: "
        "cannot read '7 kWW' as a power quantity: 'kWW' is not defined in the unit registry"
    ]
    fixed = loads_factory(text.replace("7 kWW", "7 kW"))
    assert fixed.machine("cnc-2").type == "cnc-lathe"
    assert fixed.machine("cnc-2").power.power_kw[State.IDLE] == 6.0
    assert fixed.machine("cnc-3").power.power_kw[State.IDLE] == 7.0


def test_recursive_alias_is_an_error_not_a_hang():
    text = BASE.replace("name: Small plant", "name: Small plant\nx-loop: &loop [*loop]")
    assert loads_factory(text).id == "small"  # x- keys are free
    err = only_error(text.replace("x-loop", "loop"))
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'x-loop')}: factory: loop: unknown top-level key"
    )


def test_empty_and_non_mapping_documents():
    assert (
        only_error("")
        == "factory.yaml: factory: a factory file must be a mapping with 'id', 'site', 'machines', ..."
    )
    assert "must be a mapping" in only_error("- a\n- b\n")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_byte_order_mark_from_windows_editors(tmp_path, suffix):
    path = tmp_path / f"plant{suffix}"
    text = BASE if suffix == ".yaml" else json.dumps(factory_to_dict(loads_factory(BASE)))
    path.write_text("\ufeff" + text, encoding="utf-8")
    assert load_factory(path) == loads_factory(BASE)


def test_company_id_must_be_a_urn():
    text = BASE.replace("name: Small plant", "name: Small plant\ncompany_id: ACME GmbH")
    err = only_error(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'ACME')}: factory: company_id: expected a URN"
    )
    ok = loads_factory(text.replace("ACME GmbH", "urn:uuid:69585GB6-56T9-6958-E526-6FDGZJHU1326"))
    assert ok.company_id.startswith("urn:uuid:")


def test_binary_file_is_a_factory_error(tmp_path):
    path = tmp_path / "plant.yaml"
    path.write_bytes(b"id: x\nname: \xff\xfe\n")
    with pytest.raises(FactoryModelError, match=r"not a UTF-8 text file \(byte 12\)"):
        load_factory(path)
    with pytest.raises(FactoryModelError, match="cannot read factory file"):
        load_factory(tmp_path)


FACTORS = textwrap.dedent(
    """\
    factors:
      grid:
        uk:
          hourly: grid/GB_2024.csv
          annual:
            - {year: 2024, factor: "0.207 kg CO2e/kWh", source: DESNZ 2024}
          residual_mix:
            - {year: 2024, factor: 350 g/kWh, source: AIB}
      fuels:
        natural_gas: {factor: 56.1 t/TJ, source: IPCC 2006}
        steam: {factor: "0.25 kg/kWh", source: boiler house}
    """
)


def test_factors_section_with_units_and_zone_aliases():
    f = loads_factory(BASE.replace("country: DE", "country: GB") + FACTORS)
    (gb,) = f.factors.grid
    assert gb.zone == "GB"  # 'uk' is the United Kingdom's ISO code GB
    assert gb.hourly == ("grid/GB_2024.csv",)
    assert [(y.year, y.factor_kg_per_kwh, y.source) for y in gb.annual] == [
        (2024, pytest.approx(0.207), "DESNZ 2024")
    ]
    assert gb.residual_mix[0].factor_kg_per_kwh == pytest.approx(0.35)
    fuels = {c.carrier.value: c.factor_kg_per_kwh for c in f.factors.fuels}
    # 56.1 t/TJ = 56,100 kg / 277,777.8 kWh
    assert fuels == {"natural_gas": pytest.approx(56_100 / (1e12 / 3.6e6)), "steam": 0.25}
    assert factory_from_dict(factory_to_dict(f)) == f


def test_zone_without_any_factor_is_an_error_at_validate():
    text = BASE.replace("country: DE", "country: DE\n  grid_zone: XK")
    (err,) = errors_of(text)
    assert err.startswith(
        f"factory.yaml:{line_no(text, 'grid_zone: XK')}: site 'site-1': grid_zone:"
    )
    assert "no emission factor for grid zone 'XK'" in err
    assert "add factors.grid.XK with an annual factor" in err
    assert "--grid-factor" in err
    # the same zone with an annual factor in the file is fine, and so is --grid-factor
    ok = text + "factors:\n  grid:\n    XK: {annual: [{year: 2024, factor: 0.9 kg/kWh}]}\n"
    assert loads_factory(ok).factors.grid[0].annual[0].factor_kg_per_kwh == 0.9
    assert loads_factory(text, check_factors=False).site.grid_zone == "XK"


def test_heat_carrier_without_factor_and_bad_factor_units():
    text = BASE.replace("measures: [cnc-1]", "measures: [cnc-1]\n    carrier: electricity").replace(
        "type: press\n", "type: press\n    carrier: steam\n"
    )
    text = text.replace("measures: [press-1]", "measures: [press-1]\n    carrier: steam")
    (err,) = errors_of(text)
    assert "no emission factor for energy carrier 'steam'; add factors.fuels.steam" in err
    bad = text + "factors:\n  fuels:\n    steam: {factor: 3 kg}\n"
    (err,) = errors_of(bad)
    assert err.startswith(f"factory.yaml:{line_no(bad, 'steam: {factor: 3 kg}')}:")
    assert "factors.fuels.steam.factor" in err
    assert "'3 kg' is not an emission_factor" in err
    twice = (
        BASE
        + "factors:\n  grid:\n    DE:\n      annual:\n        - {year: 2024, factor: 0.3}\n        - {year: 2024, factor: 0.4}\n"
    )
    (err,) = errors_of(twice)
    assert "factors.grid.DE.annual[1].year: year 2024 is given twice" in err
