"""The store-and-forward spool and its flusher."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from opcua_lines import T0, line_events

from carbontwin.connectors.spool import Flusher, Spool
from carbontwin.twin.events import EventBatch, Gap, MaterialUse
from carbontwin.twin.store import Store


def _all(events: EventBatch) -> EventBatch:
    extra = EventBatch.from_events(
        [MaterialUse("O-1", "steel", 12.5, "kg"), Gap("M-0", T0, T0.replace(minute=5), "lost")]
    )
    return EventBatch.concat([events, extra])


def _keys(b: EventBatch) -> list:
    return sorted(repr(e) for e in b.events())


def test_every_kind_round_trips_through_the_spool(tmp_path):
    batch = _all(line_events(minutes=10))
    spool = Spool(tmp_path / "s.db")
    assert spool.put(batch) == len(batch)
    taken = spool.take(10_000)
    assert _keys(taken.events) == _keys(batch)
    spool.ack(taken)
    assert spool.pending() == 0
    assert spool.flushes()[-1][-1] == "acked"


def test_a_batch_spooled_twice_is_kept_once(tmp_path):
    batch = line_events(minutes=10)
    spool = Spool(tmp_path / "s.db")
    spool.put(batch)
    assert spool.put(batch) == len(batch.state_t)  # state rows are replaced, nothing added
    assert spool.pending() == len(batch)


def test_state_and_metrics_survive_reopening(tmp_path):
    spool = Spool(tmp_path / "s.db")
    spool.put(EventBatch(), state={"cursors": {"a": 1.5}}, metrics={"overflows": 2})
    spool.close()
    again = Spool(tmp_path / "s.db")
    assert again.get_state("cursors") == {"a": 1.5}
    assert again.metrics() == {"overflows": 2}


def test_take_is_oldest_first_and_ack_forgets_only_what_was_taken(tmp_path):
    spool = Spool(tmp_path / "s.db")
    spool.put(line_events(minutes=10, meters=1))
    n = spool.pending()
    first = spool.take(7)
    assert len(first) == 7
    spool.ack(first)
    assert spool.pending() == n - 7
    second = spool.take(7)
    assert second.first_id > first.last_id


def test_a_store_outage_loses_nothing(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    failures = {"left": 2}

    def flaky(batch):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("store down")
        return store.write_events(batch)

    batch = line_events(minutes=20)
    spool = Spool(tmp_path / "s.db")
    spool.put(batch)
    flusher = Flusher(spool, flaky, batch_size=100, interval_s=0.01)

    async def go():
        stop = asyncio.Event()
        task = asyncio.create_task(flusher.run(stop))
        while spool.pending():  # noqa: ASYNC110 - polling the spool file is the point
            await asyncio.sleep(0.01)
        stop.set()
        await task

    asyncio.run(go())
    assert flusher.store_errors == 2
    assert flusher.flushed == len(batch)
    stored = store.read_events()
    assert len(stored) == len(batch)
    np.testing.assert_allclose(np.sort(stored.power_kw), np.sort(batch.power_kw))


def test_flush_all_writes_to_the_store_once_even_when_resent(tmp_path, sqlite_url):
    store = Store.open(sqlite_url)
    batch = line_events(minutes=10)
    spool = Spool(tmp_path / "s.db")
    spool.put(batch)
    taken = spool.take(50)
    store.write_events(taken.events)  # committed, then the process died before ack
    n = Flusher(spool, store.write_events, batch_size=50).flush_all()
    assert n == len(batch)
    assert sum(store.count_events().values()) == len(batch)


def test_an_unwritable_spool_is_a_connector_error(tmp_path):
    from carbontwin.twin.errors import ConnectorError

    (tmp_path / "dir.db").mkdir()
    with pytest.raises(ConnectorError, match="cannot open the spool"):
        Spool(tmp_path / "dir.db")
