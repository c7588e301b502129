"""The MQTT connector against a real Mosquitto, messages published by a real client."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import aiomqtt
import numpy as np
import pytest
from mqtt_helpers import SHARED, Mosquitto, require_shared_broker, unique, wait_for

from carbontwin.connectors.mqtt import MqttConnector
from carbontwin.connectors.mqtt_config import MqttConfig
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.mqtt


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class Sink:
    def __init__(self) -> None:
        self.batches: list[EventBatch] = []

    def __call__(self, batch: EventBatch) -> int:
        self.batches.append(batch)
        return len(batch)

    @property
    def events(self) -> EventBatch:
        return EventBatch.concat(self.batches) if self.batches else EventBatch()


def _config(tmp_path, topics, *, port=SHARED[1], client_id=None, **kw) -> MqttConfig:
    return MqttConfig.model_validate(
        {
            "broker": {
                "port": port,
                "client_id": client_id or unique("ct-conn"),
                "reconnect_max_delay_s": 0.3,
            },
            "spool": {"path": str(tmp_path / "spool.db"), "flush_interval_s": 0.05},
            "topics": topics,
            **kw,
        }
    )


async def _started(connector: MqttConnector) -> tuple[asyncio.Event, asyncio.Task]:
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    ready = asyncio.create_task(connector.ready.wait())
    await asyncio.wait([task, ready], timeout=15, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert connector.ready.is_set(), "the connector did not subscribe"
    return stop, task


def test_json_topics_map_by_pattern_with_json_paths_units_times_and_states(tmp_path):
    require_shared_broker()
    prefix = unique("ct-json")
    topics = [
        {
            "topic": f"{prefix}/{{machine}}/power",
            "kind": "power",
            "meter": "M-{machine}",
            "value": "$.p",
            "time": "$.ts",
            "unit": "W",
        },
        {
            "topic": f"{prefix}/{{machine}}/energy",
            "kind": "energy",
            "meter": "M-{machine}",
            "value": "$.data.e",
            "time": "$.time",
            "unit_path": "$.data.unit",
        },
        {
            "topic": f"{prefix}/{{machine}}/state",
            "kind": "state",
            "asset": "{machine}",
            "value": "$.s",
            "time": "$.ts",
        },
    ]
    cfg = _config(tmp_path, topics, state_names={"3": "FAULT", "RUN": "PROCESSING"})
    sink = Sink()
    t0 = _epoch("2019-03-04T06:00:00+00:00")
    messages = [
        ("press-1/power", {"p": 15000, "ts": int(t0 * 1000)}),  # epoch ms, W
        ("press-1/energy", {"data": {"e": 2.5, "unit": "MWh"}, "time": "2019-03-04T06:00:10Z"}),
        ("press-1/state", {"s": "RUN", "ts": t0 + 20}),  # epoch s, from state_names
        ("press-1/state", {"s": 3, "ts": t0 + 30}),  # a numeric code
        ("press-1/state", {"s": "Executing", "ts": t0 + 40}),  # Machinery name, built in
        ("press-1/state", {"s": "Warp", "ts": t0 + 50}),  # unknown: counted, not stored
        ("press-1/power", "not json"),
        ("cnc-2/power", {"p": 500.0, "ts": "2019-03-04T06:01:00+00:00"}),
    ]

    async def go():
        connector = MqttConnector(cfg, sink=sink)
        stop, task = await _started(connector)
        async with aiomqtt.Client(*SHARED, client_id=unique("ct-pub")) as pub:
            await pub.publish(f"{prefix}-other/x/power", json.dumps({"p": 1}), qos=1)
            for topic, body in messages:
                text = body if isinstance(body, str) else json.dumps(body)
                await pub.publish(f"{prefix}/{topic}", text, qos=1)
        assert await wait_for(lambda: connector.stats.notifications >= len(messages))
        assert await connector.wait_idle(quiet_s=0.3, timeout_s=10)
        stop.set()
        await task
        return connector

    connector = asyncio.run(go())
    ev = sink.events
    power = sorted(zip(ev.power_meter, ev.power_t, ev.power_kw, strict=True))
    assert power == [("M-cnc-2", t0 + 60, 0.5), ("M-press-1", t0, 15.0)]
    counters = list(zip(ev.counter_meter, ev.counter_t, ev.counter_kwh, strict=True))
    assert counters == [("M-press-1", t0 + 10, 2500.0)]
    states = sorted(zip(ev.state_asset, ev.state_t, ev.state, strict=True))
    assert states == [
        ("press-1", t0 + 20, "PROCESSING"),
        ("press-1", t0 + 30, "FAULT"),
        ("press-1", t0 + 40, "PROCESSING"),
    ]
    assert connector.stats.bad_values == 2  # 'Warp' and the text that is not JSON
    assert len(ev.gap_source) == 0


async def _publish_series(host_port, topic, values, period_s, acked, *, client_id):
    """Publish {"p": k, "ts": now} for each k, QoS 1, reconnecting when the broker is away;
    ``acked`` gets (k, ts) of each message the broker acknowledged."""
    k_iter = iter(values)
    k = next(k_iter, None)
    while k is not None:
        try:
            async with aiomqtt.Client(*host_port, client_id=client_id, timeout=2) as pub:
                while k is not None:
                    ts = time.time()
                    await pub.publish(topic, json.dumps({"p": k, "ts": ts}), qos=1)
                    acked.append((k, ts))
                    await asyncio.sleep(period_s)
                    k = next(k_iter, None)
        except aiomqtt.MqttError:
            k = next(k_iter, None)  # this value was not acknowledged: never published
            await asyncio.sleep(period_s)


def _power_topic(prefix):
    return [
        {
            "topic": f"{prefix}/{{m}}/p",
            "kind": "power",
            "meter": "{m}",
            "value": "$.p",
            "time": "$.ts",
            "unit": "kW",
        }
    ]


def test_a_persistent_session_keeps_what_arrives_while_the_connector_is_down(tmp_path):
    require_shared_broker()
    prefix = unique("ct-persist")
    cfg = _config(tmp_path, _power_topic(prefix))
    sink = Sink()
    topic = f"{prefix}/M-1/p"

    async def go():
        acked: list = []
        pub_id = unique("ct-pub")
        connector = MqttConnector(cfg, sink=sink)
        stop, task = await _started(connector)
        await _publish_series(SHARED, topic, range(0, 10), 0.02, acked, client_id=pub_id)
        assert await wait_for(lambda: connector.stats.notifications >= 10)
        stop.set()
        await task
        await _publish_series(SHARED, topic, range(10, 20), 0.02, acked, client_id=pub_id)
        again = MqttConnector(cfg, sink=sink)  # same client id: the same session
        stop, task = await _started(again)
        await _publish_series(SHARED, topic, range(20, 30), 0.02, acked, client_id=pub_id)
        assert await wait_for(lambda: again.stats.notifications >= 20)
        assert await again.wait_idle(quiet_s=0.3, timeout_s=10)
        stop.set()
        await task
        return acked, again

    acked, again = asyncio.run(go())
    ev = sink.events
    stored = sorted(zip(ev.power_t, ev.power_kw, strict=True))
    assert stored == sorted((ts, float(k)) for k, ts in acked)  # nothing lost, nothing twice
    assert len(stored) == 30
    # the restart is recorded: from the last value stored before it to the first after it
    by_k = dict(acked)
    assert list(zip(ev.gap_source, ev.gap_start, ev.gap_end, strict=True)) == [
        ("M-1", by_k[9], by_k[10])
    ]
    assert "not running" in ev.gap_reason[0]
    assert again.recorded[0].end == by_k[10]


def test_a_broker_restart_leaves_no_silent_hole(tmp_path, port):
    prefix = unique("ct-restart")
    cfg = _config(tmp_path, _power_topic(prefix), port=port)
    sink = Sink()
    topic = f"{prefix}/M-1/p"
    broker = Mosquitto(port, tmp_path / "broker")

    async def go():
        broker.start()
        acked: list = []
        connector = MqttConnector(cfg, sink=sink)
        stop, task = await _started(connector)
        pub = asyncio.create_task(
            _publish_series(
                ("127.0.0.1", port), topic, range(200), 0.02, acked, client_id=unique("ct-pub")
            )
        )
        await wait_for(lambda: len(acked) >= 30)
        broker.stop()  # a restart without persistence: the sessions are gone
        await asyncio.sleep(1.0)
        broker.start()
        await pub
        assert await connector.wait_idle(quiet_s=0.5, timeout_s=15)
        stop.set()
        await task
        return acked, connector

    try:
        acked, connector = asyncio.run(go())
    finally:
        broker.stop()
    ev = sink.events
    stored_t = np.sort(ev.power_t)
    published = dict((ts, k) for k, ts in acked)
    assert len(set(stored_t)) == len(stored_t)  # nothing twice
    assert all(published.get(t) == kw for t, kw in zip(ev.power_t, ev.power_kw, strict=True))
    assert connector.stats.reconnects >= 1
    assert len(ev.gap_source) == 1, list(zip(ev.gap_start, ev.gap_end, ev.gap_reason, strict=True))
    g0, g1 = float(ev.gap_start[0]), float(ev.gap_end[0])
    # the gap runs from the last value stored before the cut to the first one after it
    assert g0 == stored_t[stored_t < g1].max()
    assert g1 == stored_t[stored_t > g0].min()
    assert "connection to broker" in ev.gap_reason[0]
    # every acknowledged value that was not stored lies inside the recorded gap
    missing = sorted(set(published) - set(stored_t))
    assert all(g0 < t < g1 for t in missing), (missing, g0, g1)
    assert (stored_t > g1).sum() > 20  # and data flows again after the restart
