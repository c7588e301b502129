"""`carbontwin factory validate|show` through the real typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.twin.examples import demo_factory_path

runner = CliRunner()

BROKEN = """\
id: broken
site: {id: s1, country: DE}
lines: [{id: L1}]
machines:
  - {id: m1, line: L1, type: cnc, power: {idle: 5 kWW, processing: 10 kW}}
meters:
  - {id: M7, measures: [press-9]}
"""


def test_validate_demo_file(tmp_path):
    result = runner.invoke(app, ["factory", "validate", str(demo_factory_path())])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK ")
    assert "factory 'demo-plant'" in result.stdout
    assert "8 machines, 9 meters, 2 utilities" in result.stdout
    assert "44 orders" in result.stdout


def test_validate_reports_every_problem_with_its_line(tmp_path):
    path = tmp_path / "factory.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(app, ["factory", "validate", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert (
        lines[0]
        == f"{path}:5: machine 'm1': power.idle: cannot read '5 kWW' as a power quantity: 'kWW' is not defined in the unit registry"
    )
    assert lines[1] == f"{path}:7: meter 'M7': measures: unknown asset 'press-9'"
    assert lines[2] == f"{path}: 2 problem(s); the factory is not valid"
    assert result.stdout == ""


def test_validate_missing_file(tmp_path):
    result = runner.invoke(app, ["factory", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read factory file" in result.stderr


def test_bundled_example_is_found_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["factory", "validate", "examples/demo_factory.yaml"])
    assert result.exit_code == 0, result.output
    assert "using the copy bundled with carbontwin" in result.stderr
    assert str(demo_factory_path()) in result.stderr
    assert "factory 'demo-plant'" in result.stdout


def test_a_local_file_wins_over_the_bundled_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "demo_factory.yaml").write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(app, ["factory", "validate", "examples/demo_factory.yaml"])
    assert result.exit_code == 1
    assert "bundled" not in result.stderr
    assert "examples/demo_factory.yaml:7: meter 'M7'" in result.stderr


@pytest.mark.parametrize("name", ["examples/demo_factory.yaml", "demo_factory.yaml"])
def test_show_prints_the_plant_tree(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["factory", "show", name])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "site site-stuttgart" in out
    assert "line line-machining: Machining line" in out
    assert "cnc-1 [cnc] 5-axis machining centre" in out
    assert "off 0 | standby 2.5 | idle 7.5 | setup 8.5 | processing 22 | fault 2.5 kW" in out
    assert "processing 240 | fault 40 kW (natural_gas)" in out
    assert "M-cnc-23 power (electricity) -> cnc-2, cnc-3" in out
    assert "air-1 [compressed_air]" in out
    assert "bom: al-6082-primary 2.8 kg from sup-alu-primary, 16 kg CO2e/kg" in out
    assert "orders: 44, released from 2019-03-04 05:00" in out
    # lines come before their machines, machines in file order
    assert out.index("line-forming") < out.index("laser-1 [laser]") < out.index("press-1 [press]")


def test_show_broken_file_exits_1(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = runner.invoke(app, ["factory", "show", str(path)])
    assert result.exit_code == 1
    assert "2 problem(s)" in result.stderr


def test_factory_help_lists_the_commands():
    result = runner.invoke(app, ["factory", "--help"])
    assert result.exit_code == 0
    assert "validate" in result.stdout
    assert "show" in result.stdout


def test_schema_command_prints_json_schema():
    result = runner.invoke(app, ["factory", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "carbontwin factory file"
    assert "machines" in schema["properties"]
    assert set(schema["required"]) == {"id", "site"}
