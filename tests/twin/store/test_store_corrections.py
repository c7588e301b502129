"""Store: corrections replace and keep history; bookings are keyed by their id; the
schema upgrade keeps material rows stored before bookings had ids."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from carbontwin.twin.errors import EventConflictError
from carbontwin.twin.events import EventBatch, MaterialUse, OrderStep, PowerSample
from carbontwin.twin.quantities import utc
from carbontwin.twin.store import Store

T = utc("2024-05-06T08:00:00Z")
T2 = utc("2024-05-06T08:05:00Z")


def test_correction_round_trip(store):
    first = EventBatch.from_events(
        [
            PowerSample("M1", T, 4.0),
            PowerSample("M1", T2, 5.0),
            OrderStep("O1", "op10", "m1", T, T2, 3.0),
        ]
    )
    assert store.write_events(first) == 3
    again = store.ingest(first)
    assert (again.received, again.new, again.unchanged, again.corrected) == (3, 0, 3, 0)
    # a step that ended later and a corrected reading, sent as corrections
    fix = EventBatch.from_events(
        [
            PowerSample("M1", T, 4.5, correction=True),
            OrderStep("O1", "op10", "m1", T, utc("2024-05-06T08:07:00Z"), 3.0, correction=True),
        ]
    )
    done = store.ingest(fix)
    assert (done.new, done.unchanged, done.corrected) == (0, 0, 2)
    back = store.read_events()
    assert back.power_kw.tolist() == [4.5, 5.0]
    assert back.step_end.tolist() == [T.timestamp() + 420.0]
    history = [(h["kind"], h["key"], h["old"], h["new"]) for h in store.event_history()]
    assert history == [
        ("power", ["M1", T.timestamp()], [4.0], [4.5]),
        (
            "steps",
            ["O1", "op10", "m1", T.timestamp(), "processing"],
            [T2.timestamp(), 3.0],
            [T.timestamp() + 420.0, 3.0],
        ),
    ]
    assert store.event_history("steps")[0]["new"] == [T.timestamp() + 420.0, 3.0]
    # without the flag the same change is a conflict, and nothing of its batch is stored
    clash = EventBatch.from_events(
        [PowerSample("M1", T, 4.5), PowerSample("M1", T2, 6.0), PowerSample("M1", T2, 6.5)]
    )
    with pytest.raises(EventConflictError) as err:
        store.ingest(clash)
    assert [(k, i) for k, i, _ in err.value.rows] == [("power", 1), ("power", 2)]
    assert store.read_events().power_kw.tolist() == [4.5, 5.0]


def test_bookings_are_keyed_by_their_id(store):
    b = EventBatch.from_events(
        [
            MaterialUse("O1", "steel", 6.0, booking="GI-1"),
            MaterialUse("O1", "steel", 6.0, booking="GI-2"),
            MaterialUse("O1", "steel", 6.0, booking="GI-1"),  # the first one again
        ]
    )
    s = store.ingest(b)
    assert (s.received, s.new, s.unchanged) == (3, 2, 1)
    back = store.read_events()
    assert sorted(
        zip(back.material_booking.tolist(), back.material_quantity.tolist(), strict=True)
    ) == [
        ("GI-1", 6.0),
        ("GI-2", 6.0),
    ]


def test_upgrade_keeps_material_rows_stored_before_booking_ids(db_url):
    store = Store(db_url)
    store.upgrade("0002")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO material_uses (order_id, material, quantity, unit) "
                "VALUES ('O1', 'steel', 12.5, 'kg')"
            )
        )
    store.upgrade()
    assert store.revision() == "0006"  # the newest migration (tenants)
    back = store.read_events()
    assert back.material_booking.tolist() == [""]
    assert back.material_quantity.tolist() == [12.5]
    # a second booking of the same material is now stored beside it
    assert (
        store.write_events(EventBatch.from_events([MaterialUse("O1", "steel", 1.0, booking="B")]))
        == 1
    )
    store.close()
