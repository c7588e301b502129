"""The command line for people: 80-column tables with whole numbers, breakdowns, exports.

Expected values come from the ``--json`` output (the footprint records and
their own breakdowns), a second path to the numbers the tables and the
exports compute from the attribution's pieces.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.connectors.files import write_events_dir
from carbontwin.simulation import simulate
from carbontwin.twin.examples import demo_factory, demo_factory_path

runner = CliRunner()
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?%?")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(invoke(args, columns), the --json document) on a simulated events folder."""
    factory = demo_factory()
    res = simulate(factory, list(factory.orders[:8]), seed=5)
    d = write_events_dir(res.events, tmp_path_factory.mktemp("events"))
    base = ["attribute", "--factory", str(demo_factory_path()), "--events", str(d)]

    def invoke(*args: str, columns: int = 80):
        out = runner.invoke(app, [*base, *args], env={"COLUMNS": str(columns)})
        assert out.exit_code == 0, out.output
        return out.stdout

    return invoke, json.loads(invoke("--json"))


def _rows(stdout: str) -> dict[str, list[str]]:
    """Table rows by their first cell."""
    out = {}
    for line in stdout.split("\ntotal ")[0].splitlines():
        cells = line.split()
        if (
            len(cells) > 1
            and re.fullmatch(r"[A-Za-z][\w.-]*", cells[0])
            and any(NUMBER.fullmatch(c) for c in cells[1:])
        ):
            out.setdefault(cells[0], cells[1:])
    return out


def test_attribute_at_80_columns_prints_every_number_whole(run):
    invoke, doc = run
    out = invoke()
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out
    rows = _rows(out)
    for o in doc["orders"]:
        cells = rows[o["order"]]
        assert f"{o['co2e_kg']:,.2f}" in cells, o["order"]
        assert f"{o['energy_kwh']:,.2f}" in cells, o["order"]
        assert f"{o['co2e_kg'] / o['quantity']:,.4f}" in cells, o["order"]
    assert "--wide shows them" in out


def test_wide_shows_every_column(run):
    invoke, doc = run
    out = invoke("--wide", columns=80)
    rows = _rows(out)
    for o in doc["orders"]:
        cells = rows[o["order"]]
        for key in ("scope1_kg", "scope2_location_kg", "scope3_kg"):
            assert f"{o[key]:,.2f}" in cells, (o["order"], key)
        assert f"{o['primary_data_share']:.0%}" in cells
    assert "--wide shows them" not in out


@pytest.mark.parametrize(
    ("by", "field", "keys"),
    [
        ("machine", "co2e_by_asset_kg", lambda f: {m.id for m in f.machines}),
        ("material", "co2e_by_material_kg", lambda f: {m.id for m in f.materials}),
    ],
)
def test_by_prints_the_breakdown(run, by, field, keys):
    invoke, doc = run
    out = invoke("--by", by)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    wanted: dict[str, float] = {}
    for o in doc["orders"]:
        for k, v in o[field].items():
            if k in keys(demo_factory()):
                wanted[k] = wanted.get(k, 0.0) + v
    rows = _rows(out.split(f"By {by}")[1])
    assert set(rows) == {k for k, v in wanted.items() if v}
    total = sum(wanted.values())
    for k, v in wanted.items():
        assert rows[k][0] == f"{v:,.2f}", k
        assert rows[k][1] == f"{v / total:.1%}", k


def test_by_state_adds_up_to_the_orders_energy(run):
    invoke, doc = run
    rows = _rows(invoke("--by", "state", "--wide").split("By state")[1])
    want: dict[str, float] = {}
    for o in doc["orders"]:
        for k, v in o["energy_by_state_kwh"].items():
            want[k] = want.get(k, 0.0) + v
    for state, kwh in want.items():
        assert rows[state][2] == f"{kwh:,.2f}", state


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_exports_round_trip_through_pandas(run, tmp_path, suffix):
    invoke, doc = run
    path = tmp_path / f"orders.{suffix}"
    invoke(f"--{suffix}", str(path))
    if suffix == "xlsx":
        sheets = pd.read_excel(path, sheet_name=None)
    else:
        sheets = {"orders": pd.read_csv(path)}
        for p in tmp_path.glob("orders-by_*.csv"):
            sheets[p.stem.split("-", 1)[1]] = pd.read_csv(p)
    assert set(sheets) == {
        "orders",
        "by_machine",
        "by_state",
        "by_utility",
        "by_material",
        "by_scope",
        "by_hour",
    }
    orders = sheets["orders"].set_index("order")
    assert len(orders) == len(doc["orders"])
    for o in doc["orders"]:
        row = orders.loc[o["order"]]
        for key in ("energy_kwh", "co2e_kg", "scope1_kg", "scope3_kg", "primary_data_share"):
            assert row[key] == pytest.approx(o[key], rel=1e-12), (o["order"], key)
        assert row["product"] == o["product"]
        # Excel keeps times to the millisecond
        start = pd.Timestamp(row["period_start_utc"]).tz_localize(None)
        assert abs(start - pd.Timestamp(o["period_start"]).tz_localize(None)) <= pd.Timedelta("1ms")
        # per order: machines + utilities == its energy; each machine as the record says
        m = sheets["by_machine"][sheets["by_machine"]["order"] == o["order"]]
        u = sheets["by_utility"][sheets["by_utility"]["order"] == o["order"]]
        assert m["energy_kwh"].sum() + u["energy_kwh"].sum() == pytest.approx(
            o["energy_kwh"], rel=1e-9
        )
        for machine, kwh in zip(m["machine"], m["energy_kwh"], strict=True):
            assert kwh == pytest.approx(o["energy_by_asset_kwh"][machine], rel=1e-9)
        s = sheets["by_state"][sheets["by_state"]["order"] == o["order"]]
        assert dict(zip(s["state"], s["energy_kwh"], strict=True)) == pytest.approx(
            o["energy_by_state_kwh"], rel=1e-9
        )
        mat = sheets["by_material"][sheets["by_material"]["order"] == o["order"]]
        got = mat.groupby("material")["co2e_kg"].sum().to_dict()
        assert got == pytest.approx(o["co2e_by_material_kg"], rel=1e-9)
        h = sheets["by_hour"][sheets["by_hour"]["order"] == o["order"]]
        assert h["co2e_kg"].sum() == pytest.approx(
            o["scope1_kg"] + o["scope2_location_kg"], rel=1e-9
        )
    oh = sheets["by_machine"][sheets["by_machine"]["order"] == "overhead"]["energy_kwh"].sum()
    oh += sheets["by_utility"][sheets["by_utility"]["order"] == "overhead"]["energy_kwh"].sum()
    assert oh == pytest.approx(doc["overhead_kwh"], rel=1e-9)


def test_unknown_by_names_the_choices(run):
    invoke, _ = run
    out = runner.invoke(
        app,
        ["attribute", "--factory", str(demo_factory_path()), "--events", ".", "--by", "colour"],
    )
    assert out.exit_code == 2
    assert "machine, state, utility, material, scope, hour" in out.output


@pytest.mark.opcua
@pytest.mark.slow
def test_demo_at_80_columns_prints_every_number_whole(tmp_path):
    out = runner.invoke(
        app, ["demo", "--seconds", "3", "--out", str(tmp_path)], env={"COLUMNS": "80"}
    )
    assert out.exit_code == 0, out.output
    assert "…" not in out.stdout
    table = out.stdout.split("balance:")[0]  # later lines name folders, as long as they are
    assert max(len(line) for line in table.splitlines()) <= 80
    rows = _rows(table)
    issued = [json.loads(p.read_text()) for p in (tmp_path / "footprints").glob("*.json")]
    assert len(issued) >= 5
    for fp in issued:
        assert f"{fp['co2e_kg']:,.2f}" in rows[fp["order"]], fp["order"]
        assert f"{fp['energy_kwh']:,.2f}" in rows[fp["order"]], fp["order"]
