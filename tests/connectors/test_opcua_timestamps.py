"""A server whose source timestamps are coarser than its changes: two different values
of one node at the same source time, from a real asyncua server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Server, ua

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.opcua

URI = "urn:carbontwin:test-timestamps"
T0 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)


def test_a_different_value_at_the_same_source_time_is_counted_and_logged(tmp_path, port, caplog):
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    # (source time, power [W], state name) as the server stamps them: the second write
    # changes both values but keeps the first's timestamp (a clock of one minute)
    writes = [
        (T0, 1000.0, "Execute"),
        (T0, 1500.0, "Aborted"),
        (T0 + timedelta(minutes=1), 2000.0, "Stopped"),
    ]

    async def go():
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/stamps/")
        idx = await server.register_namespace(URI)
        objs = server.nodes.objects
        power = await objs.add_variable(ua.NodeId("P", idx), "P", 0.0, ua.VariantType.Double)
        state = await objs.add_variable(ua.NodeId("S", idx), "S", "", ua.VariantType.String)
        waiting = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData))
        for n in (power, state):
            await server.write_attribute_value(n.nodeid, waiting)
        async with server:
            cfg = ConnectorConfig.model_validate(
                {
                    "endpoint": f"opc.tcp://127.0.0.1:{port}/stamps/",
                    "spool": {"path": str(tmp_path / "spool.db")},
                    "publishing_interval_ms": 50,
                    "signals": [
                        {"kind": "power", "meter": "M-1", "node": f"nsu={URI};s=P", "unit": "W"},
                        {"kind": "state", "asset": "press", "node": f"nsu={URI};s=S"},
                    ],
                }
            )
            connector = OpcUaConnector(cfg, sink=sink)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            await asyncio.wait_for(connector.ready.wait(), 20)
            for src, watts, name in writes:
                for node, v, vt in (
                    (power, watts, ua.VariantType.Double),
                    (state, name, ua.VariantType.String),
                ):
                    dv = ua.DataValue(ua.Variant(v, vt), SourceTimestamp=src)
                    await server.write_attribute_value(node.nodeid, dv)
                await asyncio.sleep(0.15)  # each write in a publish of its own
            assert await connector.wait_idle(quiet_s=0.4, timeout_s=20)
            stop.set()
            await task
            return connector

    with caplog.at_level(logging.WARNING, logger="carbontwin.connectors"):
        connector = asyncio.run(go())
    s = connector.stats
    # one change of each node at T0 came with T0's stamp again: counted, not as duplicates
    assert (s.same_time_changes, s.duplicates, s.errors) == (2, 0, 0)
    assert f"node 'nsu={URI};s=P' (M-1) sent 1500.0 at 2024-05-06T07:00:00" in caplog.text
    assert "the first value of that time is kept" in caplog.text
    ev = EventBatch.concat(got)
    # the first value of each time is the one stored: 1000 W = 1 kW at T0, 2 kW a minute on
    assert sorted(zip(ev.power_t, ev.power_kw, strict=True)) == [
        (T0.timestamp(), 1.0),
        ((T0 + timedelta(minutes=1)).timestamp(), 2.0),
    ]
    assert sorted(zip(ev.state_t, ev.state, strict=True)) == [
        (T0.timestamp(), "PROCESSING"),  # PackML Execute
        ((T0 + timedelta(minutes=1)).timestamp(), "STANDBY"),  # PackML Stopped
    ]
