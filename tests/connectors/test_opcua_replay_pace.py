"""The demo line server's replay does not outrun its readers.

asyncua's server drops a monitored item's oldest queued value when the queue is full
and sets no Overflow bit: a reader behind a fast replay would lose values unawares.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest
from asyncua import Client, ua
from opcua_lines import line_events, read_all

from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.opcua


def test_a_reader_with_short_queues_gets_every_value_of_a_fast_replay(tmp_path, port):
    # one meter, 400 samples 10 s apart: at 100,000x the replay would take 0.04 s
    events = line_events(minutes=67, period_s=10.0, meters=1)
    n = len(events.power_t)
    assert n == 402
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        async with DemoLineServer(events, port=port, speed=100_000) as server:
            cfg = server.connector_config(
                spool={"path": str(tmp_path / "spool.db")}, publishing_interval_ms=100
            )
            for s in cfg["signals"]:
                s["queue_size"] = 20  # 100 ms of this replay would be ~1,000 values
            connector = await read_all(server, ConnectorConfig.model_validate(cfg), sink)
            return connector, server.paused_s

    connector, paused = asyncio.run(go())
    stored = EventBatch.concat(got)
    assert connector.stats.overflows == 0
    # every sample, each once, with its own time and value
    want = sorted(zip(np.round(events.power_t, 3), events.power_kw, strict=True))
    have = sorted(zip(np.round(stored.power_t, 3), stored.power_kw, strict=True))
    assert have == want
    # ~40 publishes of 10 to 15 values, 100 ms apart: the line waited most of 4 s
    assert paused > 1.5


def test_a_reader_that_takes_nothing_is_waited_for_only_so_long(port, caplog):
    events = line_events(minutes=20, period_s=10.0, meters=1)

    async def go():
        async with (
            DemoLineServer(events, port=port, speed=100_000, reader_stall_s=0.5) as server,
            Client(server.endpoint) as client,
        ):
            # a subscription with publishing disabled: its queues fill and never empty
            sub = await client.create_subscription(100, None, publishing=False)
            # the meter's power node, "nsu=<uri>;s=<id>" in the connector file
            uri, ident = server.connector_config()["signals"][0]["node"].split(";s=")
            ns = await client.get_namespace_index(uri.removeprefix("nsu="))
            nodeid = ua.NodeId(ident, ns)
            params = ua.MonitoringParameters(
                ClientHandle=1, SamplingInterval=0, QueueSize=10, DiscardOldest=True
            )
            req = ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=nodeid, AttributeId=ua.AttributeIds.Value),
                MonitoringMode=ua.MonitoringMode.Reporting,
                RequestedParameters=params,
            )
            await sub.create_monitored_items([req])
            t0 = time.monotonic()
            writes = await server.replay()
            return writes, time.monotonic() - t0, server.paused_s

    with caplog.at_level(logging.WARNING, logger="carbontwin.connectors.opcua_server"):
        writes, took, paused = asyncio.run(go())
    assert writes >= len(events.power_t)
    # waited once, about reader_stall_s, then went on
    assert 0.4 < paused < 3.0
    assert took < 5.0
    assert "took no notifications" in caplog.text
