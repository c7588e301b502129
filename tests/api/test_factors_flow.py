"""A plant that is not the demo, in 2024: grid factors from its file, the command line, the
bundled series by the documented fallback, and series uploaded to the store.

The plant: one press on one power meter, order O1 processing 10:00-12:00 UTC on
6 May 2024 at a steady 20 kW (read every 15 min): 20 kWh in each hour, 40 kWh, all of it the order's. Every expected figure below is worked out by hand from
that and the factors given (or read straight from the bundled CSV).
"""

from __future__ import annotations

import csv
import hashlib
import json
import textwrap
from importlib import resources

import pytest
from api_helpers import get_token, make_settings
from db_helpers import postgres_schema
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbontwin.api import create_app
from carbontwin.api.cli import app

runner = CliRunner()

PLANT = """\
id: press-shop
name: Press shop
site:
  id: plant-1
  country: {country}
lines:
  - id: L1
machines:
  - id: press
    line: L1
    type: press
    power: {{idle: 5 kW, processing: 20 kW}}
meters:
  - id: M1
    measures: [press]
products:
  - id: bracket
    routing:
      - {{id: press, machine: press, processing: 72 s}}
orders:
  - {{id: O1, product: bracket, quantity: 100, release: "2024-05-06T09:00:00Z", due: "2024-05-06T18:00:00Z"}}
"""

EVENTS = {
    "states.csv": "asset,t,state\npress,2024-05-06T10:00:00Z,PROCESSING\n"
    "press,2024-05-06T12:00:00Z,IDLE\n",
    # a reading every 15 minutes (longer intervals would be gaps, filled from the model)
    "power.csv": "meter,t,power_kw\n"
    + "".join(f"M1,2024-05-06T{10 + q // 4:02d}:{15 * (q % 4):02d}:00Z,20\n" for q in range(9)),
    "steps.csv": "order,operation,asset,start,end,quantity,kind\n"
    "O1,press,press,2024-05-06T10:00:00Z,2024-05-06T12:00:00Z,100,processing\n",
}

HOURLY = "hour_start_utc,g_co2e_per_kwh\n2024-05-06T10:00:00Z,100\n2024-05-06T11:00:00Z,400\n"


def _plant(tmp_path, country: str = "AT", factors: str = "") -> tuple[str, str]:
    fac = tmp_path / "factory.yaml"
    fac.write_text(PLANT.format(country=country) + textwrap.dedent(factors), encoding="utf-8")
    ev = tmp_path / "events"
    ev.mkdir(exist_ok=True)
    for name, text in EVENTS.items():
        (ev / name).write_text(text, encoding="utf-8")
    return str(fac), str(ev)


def _attribute(*args: str) -> dict:
    out = runner.invoke(app, ["attribute", *args, "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def _de_2020(hour: str) -> float:
    """The bundled DE 2020 series' value of one hour [kg/kWh], read from the CSV itself."""
    text = resources.files("carbontwin.twin.data").joinpath("DE_2020_hourly.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        if row["hour_start_utc"] == hour:
            return float(row["g_co2e_per_kwh"]) / 1000.0
    raise KeyError(hour)


ANNUAL_2024 = """\
factors:
  grid:
    AT:
      annual:
        - {year: 2024, factor: "0.2 kg/kWh", source: "utility disclosure 2024"}
"""


def test_two_hours_with_grid_factor_and_grid_factors(tmp_path):
    fac, ev = _plant(tmp_path, factors=ANNUAL_2024)
    const = _attribute("--factory", fac, "--events", ev, "--grid-factor", "0.35 kg/kWh")
    # 40 kWh x 0.35 kg/kWh
    assert const["total_kwh"] == pytest.approx(40.0, rel=1e-12)
    assert const["total_co2e_kg"] == pytest.approx(14.0, rel=1e-12)
    (o1,) = const["orders"]
    assert o1["co2e_kg"] == pytest.approx(14.0, rel=1e-12)
    assert o1["factor_fallback_share"] == 0.0
    grid = tmp_path / "grid.csv"
    grid.write_text(HOURLY, encoding="utf-8")
    hourly = _attribute("--factory", fac, "--events", ev, "--grid-factors", str(grid))
    # 20 kWh x 0.100 + 20 kWh x 0.400 = 2 + 8
    assert hourly["total_co2e_kg"] == pytest.approx(10.0, rel=1e-12)
    assert hourly["orders"][0]["flags"] == []
    # the user's own series is cited as theirs, not as the bundled data's
    assert hourly["factor_sources"]["electricity_location"].startswith(f"--grid-factors {grid}")
    assert hourly["attribution"] == []
    # the same constant as g/kWh, and in the text output
    out = runner.invoke(
        app, ["attribute", "--factory", fac, "--events", ev, "--grid-factor", "350 g/kWh"]
    )
    assert out.exit_code == 0, out.output
    assert "14.00" in out.stdout
    bad = runner.invoke(
        app, ["attribute", "--factory", fac, "--events", ev, "--grid-factor", "3 kg"]
    )
    assert bad.exit_code == 1
    assert "--grid-factor: '3 kg' is not an emission_factor" in bad.output


def test_annual_factor_from_the_factory_file(tmp_path):
    fac, ev = _plant(tmp_path, factors=ANNUAL_2024)
    doc = _attribute("--factory", fac, "--events", ev)
    (o1,) = doc["orders"]
    assert o1["co2e_kg"] == pytest.approx(40 * 0.2, rel=1e-12)  # the file's 2024 factor
    assert o1["factor_fallback_share"] == 0.0
    assert o1["flags"] == []
    assert "AT_2024_annual:factory" in o1["factor_versions"]["electricity_location"]
    assert doc["factor_sources"]["electricity_location"].startswith("utility disclosure 2024")


def test_factory_hourly_series_file_and_a_fallback_outside_it(tmp_path):
    series = tmp_path / "grid" / "AT_2024_hourly.csv"
    series.parent.mkdir()
    series.write_text(HOURLY.splitlines()[0] + "\n" + HOURLY.splitlines()[1] + "\n")  # 10:00 only
    fac, ev = _plant(
        tmp_path,
        factors="""\
        factors:
          grid:
            AT:
              hourly: grid/AT_2024_hourly.csv
              annual: [{year: 2024, factor: 0.2 kg/kWh, source: utility 2024}]
        """,
    )
    (o1,) = _attribute("--factory", fac, "--events", ev)["orders"]
    # 10:00 from the file's series (0.100); 11:00 outside it: the zone's only profile is that
    # one-hour series of 2024, which has no 11:00, so the 2024 annual factor, flagged
    assert o1["co2e_kg"] == pytest.approx(20 * 0.1 + 20 * 0.2, rel=1e-12)
    assert o1["factor_fallback_share"] == pytest.approx(4.0 / 6.0, rel=1e-12)
    assert any("used the 2024 annual factor" in f for f in o1["flags"])


def test_german_plant_in_2024_falls_back_to_the_bundled_profile(tmp_path):
    fac, ev = _plant(tmp_path, country="DE")
    doc = _attribute("--factory", fac, "--events", ev)
    (o1,) = doc["orders"]
    # no 2024 series and no 2024 annual factor for DE: the DE 2020 profile (nearest year)
    # at the same hour of the year (2020 and 2024 are both leap years), unscaled
    want = 20 * _de_2020("2020-05-06T10:00:00Z") + 20 * _de_2020("2020-05-06T11:00:00Z")
    assert o1["co2e_kg"] == pytest.approx(want, rel=1e-12)
    assert o1["factor_fallback_share"] == 1.0
    assert any(
        "profile of 2020 (DE_2020_hourly)" in f and "unscaled (no 2024 annual factor known)" in f
        for f in o1["flags"]
    ), o1["flags"]
    assert doc["attribution"]
    assert "ENTSO-E" in doc["attribution"][0]
    out = runner.invoke(app, ["attribute", "--factory", fac, "--events", ev])
    assert "1 order(s) used fallback grid factors" in out.stdout


def test_zone_without_factor_is_refused_at_validate_and_named(tmp_path):
    fac, ev = _plant(tmp_path, country="XK")
    out = runner.invoke(app, ["factory", "validate", fac])
    assert out.exit_code == 1
    assert "no emission factor for grid zone 'XK'" in out.output
    assert "factors.grid.XK" in out.output
    # a series file the factors: section names must exist and read
    named = PLANT.format(country="AT") + "factors:\n  grid:\n    AT: {hourly: missing.csv}\n"
    (tmp_path / "named.yaml").write_text(named, encoding="utf-8")
    out = runner.invoke(app, ["factory", "validate", str(tmp_path / "named.yaml")])
    assert out.exit_code == 1
    assert "cannot read hourly factor series" in out.output
    assert "missing.csv" in out.output
    # a factor on the command line is enough to attribute it
    doc = _attribute("--factory", fac, "--events", ev, "--grid-factor", "0.5")
    assert doc["total_co2e_kg"] == pytest.approx(20.0, rel=1e-12)


def _events_body() -> dict:
    rows = {n: list(csv.DictReader(t.splitlines())) for n, t in EVENTS.items()}
    return {
        "states": rows["states.csv"],
        "power": [{**r, "power_kw": float(r["power_kw"])} for r in rows["power.csv"]],
        "steps": [{**r, "quantity": float(r["quantity"])} for r in rows["steps.csv"]],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


def test_the_same_plants_issue_over_http_with_stored_series(tmp_path, database_url):
    app = create_app(make_settings(tmp_path, database_url=database_url))
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {get_token(client)}"}
        plant = (
            PLANT.format(country="AT")
            + "factors:\n  grid:\n    AT:\n      hourly: [AT_2024_hourly.csv]\n"
        )
        yaml_headers = {**headers, "Content-Type": "application/yaml"}
        assert client.put("/factory", content=plant, headers=yaml_headers).status_code == 200
        assert client.post("/events", json=_events_body(), headers=headers).status_code == 200
        # the factory names a series the store does not have yet: a conflict that says what to do
        r = client.post("/footprints/attribute", headers=headers)
        assert r.status_code == 409, r.text
        assert "PUT /factors/series/AT_2024_hourly" in r.text
        r = client.put(
            "/factors/series/AT_2024_hourly",
            content=HOURLY,
            headers={**headers, "Content-Type": "text/csv"},
            params={"source": "grid operator, 2024"},
        )
        assert r.status_code == 200, r.text
        v1 = f"AT_2024_hourly@sha256:{hashlib.sha256(HOURLY.encode()).hexdigest()[:12]}"
        assert r.json()["version"] == v1
        assert r.json()["hours"] == 2
        r = client.post("/footprints/attribute", headers=headers)
        assert r.status_code == 200, r.text
        (fp,) = [x["payload"] for x in r.json()["issued"]]
        assert fp["co2e_kg"] == pytest.approx(10.0, rel=1e-12)
        assert fp["factor_versions"]["electricity_location"].startswith(v1)
        # a new upload is a new version; issuing uses it and issues version 2 of the footprint
        doubled = HOURLY.replace(",100", ",200").replace(",400", ",800")
        r = client.put(
            "/factors/series/AT_2024_hourly",
            content=doubled,
            headers={**headers, "Content-Type": "text/csv"},
        )
        v2 = r.json()["version"]
        assert v2 != v1
        r = client.post("/footprints/attribute", headers=headers)
        (fp2,) = [x["payload"] for x in r.json()["issued"]]
        assert fp2["co2e_kg"] == pytest.approx(20.0, rel=1e-12)
        assert fp2["version"] == 2
        assert fp2["factor_versions"]["electricity_location"].startswith(v2)
        listed = client.get("/factors/series", headers=headers).json()
        assert [x["version"] for x in listed] == [v1, v2]
        # bad CSV is a 422 naming the column, never a 500
        r = client.put(
            "/factors/series/AT_2024_hourly",
            content="time,value\n1,2\n",
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert r.status_code == 422, r.text
        assert "hour_start_utc" in r.text

        # the German plant: bundled profile by the fallback, flagged, lower temporal DQR
        de = PLANT.format(country="DE")
        assert client.put("/factory", content=de, headers=yaml_headers).status_code == 200
        r = client.post("/footprints/attribute", headers=headers)
        (fp3,) = [x["payload"] for x in r.json()["issued"]]
        want = 20 * _de_2020("2020-05-06T10:00:00Z") + 20 * _de_2020("2020-05-06T11:00:00Z")
        assert fp3["co2e_kg"] == pytest.approx(want, rel=1e-12)
        assert any("profile of 2020" in f for f in fp3["flags"])
        pact = client.get(f"/footprints/{fp3['id']}/pact", headers=headers).json()
        pact_before = client.get(f"/footprints/{fp2['id']}/pact", headers=headers).json()
        dqi, dqi_before = (
            p.get("pcf", p.get("carbonFootprint"))["dqi"] for p in (pact, pact_before)
        )
        # measured data throughout (technological 1); the fallback costs one temporal step
        assert float(dqi_before["temporalDQR"]) == 1.0
        assert float(dqi["temporalDQR"]) == 2.0
        assert float(dqi["technologicalDQR"]) == 1.0
    app.state.services.close()


def test_simulate_takes_grid_factor_and_grid_factors(tmp_path):
    from datetime import UTC, datetime, timedelta

    from carbontwin.twin.examples import example_path

    week = str(example_path("demo_week.yaml"))
    t0 = datetime(2019, 3, 2, tzinfo=UTC)
    rows = "".join(
        f"{(t0 + timedelta(hours=h)).isoformat().replace('+00:00', 'Z')},1000\n"
        for h in range(24 * 12)
    )
    grid = tmp_path / "flat.csv"
    grid.write_text("hour_start_utc,g_co2e_per_kwh\n" + rows, encoding="utf-8")

    def co2e(*opts: str) -> dict[str, float]:
        out = runner.invoke(app, ["simulate", week, "-n", "1", "--workers", "1", "--json", *opts])
        assert out.exit_code == 0, out.output
        res = json.loads(out.stdout)["results"]
        return {k: v["co2e_kg"]["values"][0] for k, v in res.items()}

    flat_csv = co2e("--grid-factors", str(grid))
    flat = co2e("--grid-factor", "1 kg/kWh")
    # the same flat 1 kg/kWh given both ways gives the same KPI ...
    assert flat_csv == pytest.approx(flat, rel=1e-12)
    # ... and a flat grid leaves carbon-aware release nothing to choose: it is as-is
    assert flat["Carbon-aware release"] == pytest.approx(flat["As-is"], rel=1e-12)
    assert flat["Idle shutdown"] < flat["As-is"]
    out = runner.invoke(app, ["simulate", week, "--grid-factor", "1 kg"])
    assert out.exit_code == 2
    assert "is not an emission_factor" in out.output


@pytest.mark.opcua
@pytest.mark.slow
def test_demo_with_a_constant_grid_factor(tmp_path):
    out = runner.invoke(
        app,
        ["demo", "--json", "--seconds", "5", "--out", str(tmp_path), "--grid-factor", "350 g/kWh"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.stderr
    fps = json.loads(out.stdout)
    assert len(fps) >= 5
    for fp in fps:
        # every kWh of electricity at 0.35 kg, whatever arrived through OPC UA
        elec = fp["energy_by_carrier_kwh"].get("electricity", 0.0)
        assert fp["scope2_location_kg"] == pytest.approx(0.35 * elec, rel=1e-9), fp["order"]
        assert fp["factor_versions"]["electricity_location"] == "grid-factor:constant 0.35 kg/kWh"


def test_scenario_of_a_factory_with_its_own_series(tmp_path):
    from carbontwin.simulation.scenario import (
        load_scenario,
        replication_task,
        run_replication,
        scenario_factors,
    )

    (tmp_path / "AT_2024_hourly.csv").write_text(HOURLY, encoding="utf-8")
    _plant(tmp_path, factors="factors:\n  grid:\n    AT: {hourly: AT_2024_hourly.csv}\n")
    body = (
        "factory: factory.yaml\nreplications: 1\nattribute: true\n"
        "start: 2024-05-06T09:00:00Z\nend: 2024-05-06T18:00:00Z\n"
        "baseline: {name: FIFO, policy: fifo}\n"
    )
    (tmp_path / "own.yaml").write_text(body, encoding="utf-8")
    (tmp_path / "flat.yaml").write_text(body + "grid: 0.3 kg/kWh\n", encoding="utf-8")
    own = load_scenario(tmp_path / "own.yaml")
    assert [s.name for s in own.factor_series] == ["AT_2024_hourly"]
    v1 = f"AT_2024_hourly@sha256:{hashlib.sha256(HOURLY.encode()).hexdigest()[:12]}"
    assert scenario_factors(own).versions["electricity_location"].startswith(v1)
    flat = load_scenario(tmp_path / "flat.yaml")
    kpis = run_replication(replication_task(flat, 0, 0))
    # an all-electric plant with no materials: attributed CO2e = 0.3 kg/kWh x its energy
    assert kpis["attributed_co2e_kg"] == pytest.approx(0.3 * kpis["energy_kwh"], rel=1e-6)
    assert kpis["co2e_kg"] == pytest.approx(0.3 * kpis["energy_kwh"], rel=1e-9)
