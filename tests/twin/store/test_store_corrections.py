"""Store: corrections replace and keep history; bookings are keyed by their id; the
schema upgrade keeps material rows stored before bookings had ids."""

from __future__ import annotations

from datetime import timedelta

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
    from alembic.script import ScriptDirectory

    (head,) = ScriptDirectory.from_config(store.alembic_config()).get_heads()
    assert store.revision() == head  # upgraded past 0003 (booking ids) to the newest
    back = store.read_events()
    assert back.material_booking.tolist() == [""]
    assert back.material_quantity.tolist() == [12.5]
    # a second booking of the same material is now stored beside it
    assert (
        store.write_events(EventBatch.from_events([MaterialUse("O1", "steel", 1.0, booking="B")]))
        == 1
    )
    store.close()


def test_many_sources_in_one_batch_settle_each_row_by_its_own_key(store):
    """Sources whose batch spans lie close are looked up together; each row is still
    settled against its own source's stored row (hand-counted)."""

    def t(s: float):  # T + s seconds
        return T + timedelta(seconds=s)

    # 600 meters (more than one grouped query) at T and T + 1 s; one meter with a long
    # history (its own query); a meter whose rows lie an hour later (another group)
    stored = [PowerSample(f"M{i}", t(k), float(i)) for i in range(600) for k in (0, 1)]
    stored += [PowerSample("LONG", t(-7200 + 60 * k), 1.0) for k in range(200)]
    stored += [PowerSample("LATE", t(3600), 9.0)]
    assert store.write_events(EventBatch.from_events(stored)) == 1401
    again = [PowerSample(f"M{i}", t(1), float(i)) for i in range(600)]  # unchanged
    again += [PowerSample(f"M{i}", t(2), 0.5) for i in range(0, 600, 3)]  # new: 200
    again += [PowerSample("LONG", t(-7200), 1.0), PowerSample("LONG", t(5000), 2.0)]
    again += [PowerSample("LATE", t(3600), 9.0), PowerSample("NEW", t(1), 3.0)]
    done = store.ingest(EventBatch.from_events(again))
    assert (done.received, done.new, done.unchanged) == (804, 202, 602)
    # the same key with another value is a conflict, also for a meter in a group
    with pytest.raises(EventConflictError) as err:
        store.ingest(EventBatch.from_events([*again[:5], PowerSample("M7", t(0), 70.0)]))
    assert [(k, i) for k, i, _ in err.value.rows] == [("power", 5)]
