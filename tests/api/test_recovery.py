"""Readings no emission factor covers never block other orders; a retraction unblocks.

The plant: one press on one power meter M1, in a grid zone (XX-TEST) whose only
factor is an uploaded hourly series for 6 May 2024, 08:00-14:00 UTC, at
100 g/kWh. O1 processes 10:00-11:00, O2 12:00-13:00, at a steady 20 kW read
every 15 minutes; the press is OFF (0 kW) in between and after. Worked by
hand: each order 20 kWh x 0.1 kg/kWh = 2.0 kg CO2e, all scope 2 (no BOM).

Then M1 reports two readings stamped the next night (03:00, 03:15 on 7 May: a
wrong clock), hours no factor covers. Before, that made every attribution
fail. Now: O1 issues; O2, whose last step runs up to M1's last covered
reading (13:00) before the bad ones, is held back and named; after
``events retract`` of M1 on 7 May, O2 issues with the same hand-worked figures,
O1 is unchanged (no new version), and the bad readings are still stored.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from api_helpers import get_token, make_settings
from db_helpers import postgres_schema
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbontwin.api import create_app
from carbontwin.api.cli import app as cli

PLANT = """\
id: press-shop
name: Press shop
site:
  id: plant-1
  country: AT
  grid_zone: XX-TEST
lines:
  - id: L1
machines:
  - id: press
    line: L1
    type: press
    power: {idle: 5 kW, processing: 20 kW}
meters:
  - id: M1
    measures: [press]
products:
  - id: bracket
    routing:
      - {id: press, machine: press, processing: 36 s}
orders:
  - {id: O1, product: bracket, quantity: 100, release: "2024-05-06T09:00:00Z", due: "2024-05-06T18:00:00Z"}
  - {id: O2, product: bracket, quantity: 100, release: "2024-05-06T09:00:00Z", due: "2024-05-06T18:00:00Z"}
factors:
  grid:
    XX-TEST:
      hourly: [XX_2024.csv]
"""

SERIES = "hour_start_utc,g_co2e_per_kwh\n" + "".join(
    f"2024-05-06T{h:02d}:00:00Z,100\n" for h in range(8, 14)
)


def _t(h: int, m: int = 0, day: int = 6) -> str:
    return f"2024-05-{day:02d}T{h:02d}:{m:02d}:00Z"


def _body() -> dict:
    power = [
        {
            "meter": "M1",
            "t": _t(10 + q // 4, 15 * (q % 4)),
            "power_kw": 20.0 if q // 4 in (0, 2) else 0.0,
        }
        for q in range(13)  # 10:00 ... 13:00
    ]
    states = [
        {"asset": "press", "t": _t(10), "state": "PROCESSING"},
        {"asset": "press", "t": _t(11), "state": "OFF"},
        {"asset": "press", "t": _t(12), "state": "PROCESSING"},
        {"asset": "press", "t": _t(13), "state": "OFF"},
    ]
    steps = [
        {
            "order": o,
            "operation": "press",
            "asset": "press",
            "start": _t(h),
            "end": _t(h + 1),
            "quantity": 100.0,
            "kind": "processing",
        }
        for o, h in (("O1", 10), ("O2", 12))
    ]
    return {"power": power, "states": states, "steps": steps}


BAD = {"power": [{"meter": "M1", "t": _t(3, m, day=7), "power_kw": 50.0} for m in (0, 15)]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'twin.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as url:
        yield url


def _issued(r) -> dict[str, dict]:
    assert r.status_code == 200, r.text
    return {x["payload"]["order"]: x["payload"] for x in r.json()["issued"]}


def test_uncovered_readings_hold_one_order_and_a_retraction_releases_it(tmp_path, database_url):
    app = create_app(make_settings(tmp_path, database_url=database_url))
    with TestClient(app, base_url="https://testserver") as client:
        h = {"Authorization": f"Bearer {get_token(client)}"}
        yaml = {**h, "Content-Type": "application/yaml"}
        assert client.put("/factory", content=PLANT, headers=yaml).status_code == 200
        r = client.put(
            "/factors/series/XX_2024", content=SERIES, headers={**h, "Content-Type": "text/csv"}
        )
        assert r.status_code == 200, r.text
        assert client.post("/events", json=_body(), headers=h).status_code == 200
        assert client.post("/events", json=BAD, headers=h).status_code == 200

        r = client.post("/footprints/attribute", headers=h)
        issued = _issued(r)
        assert set(issued) == {"O1"}
        assert issued["O1"]["energy_kwh"] == pytest.approx(20.0, rel=1e-9)
        assert issued["O1"]["co2e_kg"] == pytest.approx(2.0, rel=1e-9)
        (held,) = r.json()["uncovered"]
        assert held["meter"] == "M1"
        assert held["count"] == 2
        assert held["orders"] == ["O2"]
        assert held["first"] == "2024-05-07T03:00:00+00:00"
        assert "events retract --source M1" in held["message"]
        # asked for by name, the held order is a 409 that names the readings
        r = client.post("/orders/O2/footprint", headers=h)
        assert r.status_code == 409, r.text
        assert "meter 'M1'" in r.text

        # take the wrong-clock readings out, on record
        r = client.post(
            "/events/retractions",
            json={
                "source": "M1",
                "start": _t(0, day=7),
                "end": _t(0, day=8),
                "reason": "meter clock off by a day after a power cut",
            },
            headers=h,
        )
        assert r.status_code == 201, r.text
        assert r.json()["events"] == {"power": 2}
        listed = client.get("/events/retractions", headers=h).json()
        assert [x["reason"] for x in listed] == ["meter clock off by a day after a power cut"]

        r = client.post("/footprints/attribute", headers=h)
        issued = _issued(r)
        assert set(issued) == {"O2"}  # O1's inputs did not change: no new version
        assert issued["O2"]["energy_kwh"] == pytest.approx(20.0, rel=1e-9)
        assert issued["O2"]["co2e_kg"] == pytest.approx(2.0, rel=1e-9)
        assert r.json()["uncovered"] == []
        versions = client.get("/orders/O1/footprint", headers=h).json()["versions"]
        assert len(versions) == 1

        store = app.state.services.store
        assert store.count_events()["power_samples"] == 15  # nothing deleted
        assert len(store.read_events(retracted=True).power_t) == 15
        assert len(store.read_events().power_t) == 13
        # the retraction is append-only
        with pytest.raises(sa.exc.DatabaseError), store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM event_retractions"))
        assert len(store.retractions()) == 1
    app.state.services.close()


def test_a_retraction_of_covered_readings_gives_a_new_version(tmp_path):
    """Retracting O1's 20 kW readings 10:00-10:45 leaves M1's first reading at 11:00, so
    no metered energy in O1's hour: O1 0 kWh (hand-worked), version 2."""
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    app = create_app(make_settings(tmp_path, database_url=url))
    with TestClient(app, base_url="https://testserver") as client:
        h = {"Authorization": f"Bearer {get_token(client)}"}
        client.put("/factory", content=PLANT, headers={**h, "Content-Type": "application/yaml"})
        client.put(
            "/factors/series/XX_2024", content=SERIES, headers={**h, "Content-Type": "text/csv"}
        )
        client.post("/events", json=_body(), headers=h)
        assert set(_issued(client.post("/footprints/attribute", headers=h))) == {"O1", "O2"}
    app.state.services.close()

    runner = CliRunner()
    out = runner.invoke(
        cli,
        [
            "events",
            "retract",
            "--source",
            "M1",
            "--from",
            _t(10),
            "--to",
            _t(10, 50),
            "--reason",
            "sensor stuck",
            "--database-url",
            url,
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    done = json.loads(out.stdout)
    assert done["events"] == {"power": 4}
    assert done["reason"] == "sensor stuck"

    app = create_app(make_settings(tmp_path, database_url=url))
    with TestClient(app, base_url="https://testserver") as client:
        h = {"Authorization": f"Bearer {get_token(client)}"}
        issued = _issued(client.post("/footprints/attribute", headers=h))
        # both orders read M1, whose readings changed: both get version 2 (lineage);
        # O1's figures change, O2's stay
        assert {o: f["version"] for o, f in issued.items()} == {"O1": 2, "O2": 2}
        assert issued["O1"]["energy_kwh"] == pytest.approx(0.0, abs=1e-9)
        assert issued["O2"]["energy_kwh"] == pytest.approx(20.0, rel=1e-9)
    app.state.services.close()


def test_attribute_command_names_the_uncovered_readings_and_goes_on(tmp_path):
    import csv
    import io

    (tmp_path / "factory.yaml").write_text(PLANT, encoding="utf-8")
    (tmp_path / "XX_2024.csv").write_text(SERIES, encoding="utf-8")
    ev = tmp_path / "events"
    ev.mkdir()
    body = _body()
    body["power"] += BAD["power"]
    for name, cols in (
        ("power", ["meter", "t", "power_kw"]),
        ("states", ["asset", "t", "state"]),
        ("steps", ["order", "operation", "asset", "start", "end", "quantity", "kind"]),
    ):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(body[name])
        (ev / f"{name}.csv").write_text(buf.getvalue(), encoding="utf-8")
    out = CliRunner().invoke(
        cli,
        ["attribute", "--factory", str(tmp_path / "factory.yaml"), "--events", str(ev), "--json"],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    (u,) = doc["uncovered"]
    assert (u["meter"], u["count"], u["orders"]) == ("M1", 2, ["O2"])
    o1 = next(o for o in doc["orders"] if o["order"] == "O1")
    assert o1["co2e_kg"] == pytest.approx(2.0, rel=1e-9)
