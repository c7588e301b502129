"""POST /events: every event is stored or refused with its rows; corrections and bookings.

On SQLite and PostgreSQL. The plant (tests/intake_plant.py) is small enough to
work every figure out by hand: O1 draws 10 kWh; its BOM is 10 kg of steel at
2.0 kg CO2e/kg.
"""

from __future__ import annotations

import pytest
from api_helpers import events_json
from intake_plant import PCF_STEEL, hour_of_work, plant_document


def _post(client, body, status=200):
    r = client.post("/events", json=body)
    assert r.status_code == status, r.text
    return r.json()


def _issue(client, order="O1"):
    return client.post(f"/orders/{order}/footprint").json()["issued"]


@pytest.fixture
def tiny(db_client):
    assert db_client.put("/factory", json=plant_document()).status_code == 200
    body = events_json(hour_of_work())
    assert _post(db_client, body) == {"received": 10, "stored": 10, "unchanged": 0, "corrected": 0}
    return db_client, body


def test_the_same_events_again_are_a_no_op(tiny):
    client, body = tiny
    assert _post(client, body) == {"received": 10, "stored": 0, "unchanged": 10, "corrected": 0}


def test_another_value_at_the_same_meter_and_time_is_a_conflict_listing_the_rows(tiny):
    client, _ = tiny
    body = {
        "power": [
            {"meter": "M1", "t": "2019-03-04T06:15:00Z", "power_kw": 1.0},  # new: not stored
            {"meter": "M1", "t": "2019-03-04T06:30:00Z", "power_kw": 20.0},  # conflict
        ],
        "states": [{"asset": "m1", "t": "2019-03-04T07:00:00Z", "state": "off"}],  # conflict
    }
    err = _post(client, body, 409)
    assert err["detail"][0]["type"] == "EventConflictError"
    assert [(r["kind"], r["row"]) for r in err["rows"]] == [("states", 0), ("power", 1)]
    assert err["rows"][1]["msg"] == (
        "power[1]: power sample (meter 'M1', t 2019-03-04T06:30:00Z) has power_kw 20.0 but "
        "power_kw 10.0 is stored; send it as a correction to replace it"
    )
    # nothing of the refused batch was stored: the footprint is still 10 kWh
    (fp,) = _issue(client)
    assert fp["payload"]["energy_kwh"] == pytest.approx(10.0, rel=1e-12)


def test_a_correction_replaces_the_reading_keeps_history_and_issues_a_new_version(tiny):
    client, _ = tiny
    (v1,) = _issue(client)
    assert v1["payload"]["energy_kwh"] == pytest.approx(10.0, rel=1e-12)
    fix = {
        "power": [
            {"meter": "M1", "t": "2019-03-04T06:30:00Z", "power_kw": 20.0, "correction": True}
        ]
    }
    assert _post(client, fix) == {"received": 1, "stored": 0, "unchanged": 0, "corrected": 1}
    assert _post(client, fix) == {"received": 1, "stored": 0, "unchanged": 1, "corrected": 0}
    (v2,) = _issue(client)
    # five 10-minute readings at 10 kW and one at 20 kW
    assert v2["payload"]["energy_kwh"] == pytest.approx((5 * 10.0 + 20.0) / 6, rel=1e-12)
    assert v2["payload"]["version"] == 2
    assert v2["payload"]["replaces"] == v1["payload"]["id"]
    history = client.app.state.services.store.event_history()
    assert [(h["kind"], h["key"][0], h["old"], h["new"]) for h in history] == [
        ("power", "M1", [10.0], [20.0])
    ]


def test_two_bookings_of_one_material_both_count(tiny):
    client, _ = tiny
    (v1,) = _issue(client)  # no booking yet: the BOM, 10 pieces x 1 kg
    assert v1["payload"]["scope3_kg"] == pytest.approx(10 * 1.0 * PCF_STEEL, rel=1e-12)
    bookings = {
        "materials": [
            {"order": "O1", "material": "steel", "quantity": 6.0, "booking": "GI-4711"},
            {"order": "O1", "material": "steel", "quantity": 6.0, "booking": "GI-4712"},
        ]
    }
    assert _post(client, bookings)["stored"] == 2
    (v2,) = _issue(client)
    assert v2["payload"]["scope3_kg"] == pytest.approx((6.0 + 6.0) * PCF_STEEL, rel=1e-12)
    # the same booking again counts once; a changed quantity needs a correction
    assert _post(client, bookings)["unchanged"] == 2
    bookings["materials"][1]["quantity"] = 4.0
    err = _post(client, bookings, 409)
    assert [(r["kind"], r["row"]) for r in err["rows"]] == [("materials", 1)]
    bookings["materials"][1]["correction"] = True
    assert _post(client, bookings)["corrected"] == 1
    (v3,) = _issue(client)
    assert v3["payload"]["scope3_kg"] == pytest.approx((6.0 + 4.0) * PCF_STEEL, rel=1e-12)


def test_state_names_in_any_case_and_unknown_ids_listed(tiny):
    client, _ = tiny
    ok = {"states": [{"asset": "m1", "t": "2019-03-04T08:00:00Z", "state": "processing"}]}
    assert _post(client, ok)["stored"] == 1
    bad = {
        "states": [{"asset": "m9", "t": "2019-03-04T08:00:00Z", "state": "Idle"}],
        "power": [
            {"meter": "M1", "t": "2019-03-04T08:00:00Z", "power_kw": 1.0},
            {"meter": "M7", "t": "2019-03-04T08:00:00Z", "power_kw": 1.0},
        ],
    }
    err = _post(client, bad, 422)
    assert [r["msg"] for r in err["rows"]] == [
        "states[0]: unknown asset 'm9'",
        "power[1]: unknown meter 'M7'",
    ]
    assert client.app.state.services.store.count_events()["power_samples"] == 7


def test_the_extent_spans_the_stored_events_and_widens_with_more(db_client):
    assert db_client.put("/factory", json=plant_document()).status_code == 200
    assert db_client.get("/events/extent").json() == {"first": None, "last": None}
    _post(db_client, events_json(hour_of_work()))  # 06:00 to 07:00 on 2019-03-04
    assert db_client.get("/events/extent").json() == {
        "first": "2019-03-04T06:00:00Z",
        "last": "2019-03-04T07:00:00Z",
    }
    # a reading a day later and a step that ended before the first one widen it
    _post(db_client, {"power": [{"meter": "M1", "t": "2019-03-05T06:00:30Z", "power_kw": 0.0}]})
    step = {
        "order": "O1",
        "operation": "op05",
        "asset": "m1",
        "start": "2019-03-04T05:10:00Z",
        "end": "2019-03-04T05:20:00Z",
        "quantity": 10.0,
        "kind": "setup",
    }
    _post(db_client, {"steps": [step]})
    assert db_client.get("/events/extent").json() == {
        "first": "2019-03-04T05:10:00Z",
        "last": "2019-03-05T06:00:30Z",
    }
