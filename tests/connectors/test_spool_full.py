"""A full spool (the store away too long): readings give way to gaps, nothing else is lost."""

from __future__ import annotations

import asyncio
import time

import pytest
from opcua_lines import check_holes, line_events

from carbontwin.connectors._config_common import SpoolConfig
from carbontwin.connectors._live import SpooledConnector
from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.connectors.spool import Spool
from carbontwin.twin.events import EventBatch


def _readings(c: SpooledConnector, times: list[float], meter: str = "M-1") -> list[tuple]:
    """Rows of power readings of ``meter``, noted as new values the way connectors do."""
    seen: dict = {}
    for t in times:
        c._fresh(f"node-{meter}", t)
        c._seen(meter, f"node-{meter}", t, seen)
    return [("power", meter, t, None, 10.0, "", "", "") for t in times], seen


def test_readings_past_max_events_become_a_gap_from_the_last_spooled_one(tmp_path):
    cfg = SpoolConfig(path=tmp_path / "spool.db", max_events=10)
    c = SpooledConnector(cfg, None, sink=lambda b: len(b))
    c.spool = Spool(cfg.path)  # no flusher: the store is away until the test flushes

    def commit(times, extra=()):
        rows, seen = _readings(c, times)
        c._commit(rows + list(extra), seen)

    commit([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    commit([6.0, 7.0, 8.0, 9.0])  # 6 waiting before: all spooled, now 10
    assert c.spool.span() == 10
    state = ("state", "press-1", 10.0, None, None, "IDLE", "", "")
    commit([10.0, 11.0], [state])  # 10 waiting: full
    assert c.stats.spool_full == 2
    assert "M-1" in c.gaps
    # the meter's last time, saved for the next start, is its last spooled reading
    assert c.spool.get_state("source_times") == {"M-1": 9.0}
    commit([12.0])  # still full: still dropped, the gap keeps its start
    assert c.stats.spool_full == 3
    # the store takes what waits; under 90 % the readings are spooled again
    taken = c.spool.take(100)
    kinds = sorted(r[0] for r in _rows_of(taken.events))
    assert kinds == ["power"] * 10 + ["state"]
    c.spool.ack(taken)
    commit([13.0, 14.0])
    assert "M-1" not in c.gaps
    rest = c.spool.take(100).events
    assert rest.power_t.tolist() == [13.0, 14.0]
    assert list(
        zip(rest.gap_source, rest.gap_start, rest.gap_end, rest.gap_reason, strict=True)
    ) == [("M-1", 9.0, 13.0, "spool full")]
    assert c.stats.gaps == 1
    assert c.stats.errors == 3
    assert c.spool.get_state("source_times") == {"M-1": 14.0}
    c.spool.close()


def test_a_meter_whose_first_reading_is_lost_gets_a_gap_from_that_reading(tmp_path):
    cfg = SpoolConfig(path=tmp_path / "spool.db", max_events=2)
    c = SpooledConnector(cfg, None, sink=lambda b: len(b))
    c.spool = Spool(cfg.path)
    rows, seen = _readings(c, [0.0, 1.0], meter="M-1")
    c._commit(rows, seen)
    rows, seen = _readings(c, [5.0, 6.0], meter="M-2")  # M-2 never spooled a reading
    c._commit(rows, seen)
    assert c.spool.get_state("source_times") == {"M-1": 1.0}
    c.spool.ack(c.spool.take(100))
    rows, seen = _readings(c, [8.0], meter="M-2")
    c._commit(rows, seen)
    got = c.spool.take(100).events
    assert list(zip(got.gap_source, got.gap_start, got.gap_end, strict=True)) == [("M-2", 5.0, 8.0)]
    c.spool.close()


def test_a_source_with_states_and_readings_still_gets_its_gap(tmp_path):
    """A meter named like an asset: its state is spooled, its lost readings leave a gap."""
    cfg = SpoolConfig(path=tmp_path / "spool.db", max_events=2)
    c = SpooledConnector(cfg, None, sink=lambda b: len(b))
    c.spool = Spool(cfg.path)
    rows, seen = _readings(c, [0.0, 1.0], meter="press-1")
    c._commit(rows, seen)
    rows, seen = _readings(c, [2.0, 3.0], meter="press-1")
    c._commit(rows + [("state", "press-1", 2.0, None, None, "IDLE", "", "")], seen)
    assert c.stats.spool_full == 2
    assert "press-1" in c.gaps
    c.spool.ack(c.spool.take(100))
    rows, seen = _readings(c, [4.0], meter="press-1")
    c._commit(rows, seen)
    got = c.spool.take(100).events
    assert list(zip(got.gap_source, got.gap_start, got.gap_end, strict=True)) == [
        ("press-1", 1.0, 4.0)
    ]
    c.spool.close()


def _rows_of(batch: EventBatch) -> list[tuple]:
    from carbontwin.connectors.spool import _rows

    return list(_rows(batch))


SPEED = 600.0  # 10 simulated minutes per second; meters sample every 10 s
METERS = ("M-0", "M-1")


@pytest.mark.opcua
@pytest.mark.slow
def test_a_store_away_past_the_spools_bound_leaves_gaps_and_keeps_states_and_steps(tmp_path, port):
    events = line_events(minutes=400, period_s=10.0)
    got: list[EventBatch] = []
    store_up = {"v": False}

    def sink(batch):
        if not store_up["v"]:
            raise ConnectionError("store down")
        got.append(batch)
        return len(batch)

    async def go():
        server = DemoLineServer(events, port=port, speed=SPEED)
        await server.start()
        try:
            cfg = server.connector_config(
                spool={"path": str(tmp_path / "spool.db"), "flush_interval_s": 0.05,
                       "max_events": 150},
                publishing_interval_ms=50,
            )  # fmt: skip
            connector = OpcUaConnector(ConnectorConfig.model_validate(cfg), sink=sink)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            await asyncio.wait_for(connector.ready.wait(), 30)
            replay = asyncio.create_task(server.replay())
            deadline = time.monotonic() + 30
            while connector.stats.spool_full < 40 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            t_full = connector.t_max
            store_up["v"] = True
            back = time.monotonic()
            while connector.t_max <= t_full + 1200 and time.monotonic() - back < 20:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            replay.cancel()
            assert await connector.wait_idle(quiet_s=0.5, timeout_s=20)
            stop.set()
            await task
            return connector
        finally:
            await server.stop()

    connector = asyncio.run(go())
    stored = EventBatch.concat(got)
    assert connector.stats.spool_full >= 40, "the spool never filled"
    assert set(stored.gap_reason) == {"spool full"}
    lost = 0
    for meter in METERS:
        gaps = check_holes(events, stored, meter)  # each from the last spooled to the next
        assert gaps, meter
        sent = events.power_t[events.power_meter == meter]
        lost += sum(int(((sent > g0) & (sent < g1)).sum()) for g0, g1 in gaps)
    # every reading not spooled lies inside its meter's gap, and nothing else does
    assert lost == connector.stats.spool_full
    # states and order steps are never given up: all the server published up to the end
    end = stored.power_t.max()
    published = {
        (a, t) for a, t in zip(events.state_asset, events.state_t, strict=True) if t <= end
    }
    assert published <= set(zip(stored.state_asset, stored.state_t, strict=True))
    steps = {(o, k) for o, k, t in zip(events.step_order, events.step_kind, events.step_end, strict=True)
             if t <= end}  # fmt: skip
    assert steps <= set(zip(stored.step_order, stored.step_kind, strict=True))
