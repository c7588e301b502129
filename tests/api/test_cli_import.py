"""``carbontwin import historian|mes|schema`` with the example exports, into a folder and a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.twin._yaml_lines import read_with_lines
from carbontwin.twin.examples import demo_factory, demo_factory_path
from carbontwin.twin.store import Store

runner = CliRunner()
EXAMPLES = Path(demo_factory_path()).parent
EXPORT = EXAMPLES / "historian_export.csv"
HIST_MAP = EXAMPLES / "historian_mapping.yaml"
MES = EXAMPLES / "mes_orders.csv"
MES_MAP = EXAMPLES / "mes_mapping.yaml"


def _column(name: str) -> list[str]:
    """A column of the example export, read here with plain string splitting."""
    lines = EXPORT.read_text(encoding="utf-8").splitlines()
    k = lines[0].split(";").index(name)
    return [line.split(";")[k] for line in lines[1:]]


def _num(text: str) -> float:
    return float(text.replace(",", "."))


def test_examples_into_a_folder_then_attribute(tmp_path):
    ev = tmp_path / "events"
    r = runner.invoke(
        app, ["import", "mes", str(MES), "--mapping", str(MES_MAP), "--out", str(ev), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"orders": 2, "steps": 6, "into": str(ev)}
    r = runner.invoke(
        app,
        [
            "import",
            "historian",
            str(EXPORT),
            "--mapping",
            str(HIST_MAP),
            "--out",
            str(ev),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["rows"] == 181
    assert got["power_samples"] == 181 + 179  # the laser's two "Bad" cells are no reading
    assert got["first"] == "2019-03-04T05:00:00+00:00"  # 06:00 CET
    r = runner.invoke(
        app, ["attribute", "--factory", str(demo_factory_path()), "--events", str(ev), "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    fps = {o["order"]: o for o in doc["orders"]}
    assert set(fps) == {"1000123", "1000124"}
    # the orders come from the MES export, products through the mapping's code list
    assert (fps["1000123"]["product"], fps["1000123"]["quantity"]) == ("bracket", 240)
    assert (fps["1000124"]["product"], fps["1000124"]["quantity"]) == ("cover", 150)
    # no material bookings: the BOMs of examples/demo_factory.yaml x the MES quantity
    assert fps["1000123"]["scope3_kg"] == pytest.approx(2.6 * 2.3 * 240, rel=1e-12)
    assert fps["1000124"]["scope3_kg"] == pytest.approx(0.8 * 0.7 * 150, rel=1e-12)
    # metered energy as the export says: the counter's rise, the 1-minute power steps
    press = [_num(x) for x in _column("Presse_E_MWh")]
    assert doc["metered_kwh"]["M-press"] == pytest.approx((press[-1] - press[0]) * 1000, rel=1e-9)
    cnc_w = [_num(x) for x in _column("CNC1_P_W")]
    assert doc["metered_kwh"]["M-cnc-1"] == pytest.approx(sum(cnc_w[:-1]) / 1000 / 60, rel=1e-9)


def test_into_the_store_checks_the_stored_factory(tmp_path):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    with Store.open(url) as store:
        store.save_factory(demo_factory())
    r = runner.invoke(
        app,
        [
            "import",
            "historian",
            str(EXPORT),
            "--mapping",
            str(HIST_MAP),
            "--database-url",
            url,
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["stored"] == got["power_samples"] + got["energy_counters"] + got["state_changes"]
    again = runner.invoke(
        app,
        [
            "import",
            "historian",
            str(EXPORT),
            "--mapping",
            str(HIST_MAP),
            "--database-url",
            url,
            "--json",
        ],
    )
    assert json.loads(again.stdout)["stored"] == 0  # the same events again are no-ops
    r = runner.invoke(
        app, ["import", "mes", str(MES), "--mapping", str(MES_MAP), "--database-url", url]
    )
    assert r.exit_code == 0, r.output
    with Store(url) as store:
        counts = store.count_events()
        orders = {o.id: o for o in store.list_orders()}
    assert counts["power_samples"] == 360
    assert counts["order_steps"] == 6
    assert orders["1000124"].product == "cover"
    assert orders["1000124"].quantity == 150

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        HIST_MAP.read_text(encoding="utf-8").replace("meter: M-press", "meter: M-presse"),
        encoding="utf-8",
    )
    r = runner.invoke(
        app, ["import", "historian", str(EXPORT), "--mapping", str(wrong), "--database-url", url]
    )
    assert r.exit_code == 1
    assert "unknown meter 'M-presse'" in r.output


def test_into_the_named_tenant(tmp_path):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    with Store.open(url) as store:
        store.admin.add_tenant("plant-a")
    with Store.open(url, tenant="plant-a") as store:
        store.save_factory(demo_factory())
    into = ["--database-url", url, "--tenant", "plant-a"]
    r = runner.invoke(app, ["import", "historian", str(EXPORT), "--mapping", str(HIST_MAP), *into])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["import", "mes", str(MES), "--mapping", str(MES_MAP), *into])
    assert r.exit_code == 0, r.output
    with Store(url, tenant="plant-a") as store:
        counts = store.count_events()
        orders = {o.id for o in store.list_orders()}
    assert (counts["power_samples"], counts["order_steps"]) == (360, 6)
    assert {"1000123", "1000124"} <= orders
    with Store(url) as store:  # nothing of it in the default tenant
        assert set(store.count_events().values()) == {0}
        assert store.list_orders() == []


def test_errors_exit_1_naming_file_and_line(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text(
        HIST_MAP.read_text(encoding="utf-8").replace("unit: MWh", "unit: MWW"), encoding="utf-8"
    )
    r = runner.invoke(
        app,
        ["import", "historian", str(EXPORT), "--mapping", str(bad), "--out", str(tmp_path / "ev")],
    )
    assert r.exit_code == 1
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "MWW" in t)
    assert f"m.yaml:{line}: signals.Presse_E_MWh: unit 'MWW'" in r.output.replace("\n", "")


def test_schema_describes_the_example_mappings():
    jsonschema = pytest.importorskip("jsonschema")
    for kind, example in (("historian", HIST_MAP), ("mes", MES_MAP)):
        r = runner.invoke(app, ["import", "schema", kind])
        assert r.exit_code == 0, r.output
        schema = json.loads(r.stdout)
        doc, _, _ = read_with_lines(example.read_text(encoding="utf-8"), "yaml")
        doc = json.loads(json.dumps(doc))  # as a JSON document: keys are strings
        jsonschema.validate(doc, schema)
        broken = dict(doc, unknown_key=1)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)
