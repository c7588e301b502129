"""States of any shape from a real asyncua server: codes, MultiStateDiscrete,
MultiStateValueDiscrete, an enumeration data type, strings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asyncua import Server, ua
from asyncua.common.structures104 import new_enum

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.opcua

URI = "urn:carbontwin:test-states"
T0 = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)

# (asset, published values in order) and the states they must become: mapped by hand
# from each variable's declared names and the file's state_names below
CASES = {
    "codes": ([1, 3, 0], ["PROCESSING", "FAULT", "OFF"]),  # Int32, state_names "1", "3", "0"
    "msvd": ([1, 2, 0], ["PROCESSING", "SETUP", "OFF"]),  # EnumValues 0 Off 1 Running 2 Setup
    "msd": ([1, 0], ["PROCESSING", "STANDBY"]),  # EnumStrings Stopped, Execute (PackML)
    "enum": ([2, 1], ["PROCESSING", "IDLE"]),  # enumeration type: Off, Idle, Run
    "text": (["Execute", "Aborted"], ["PROCESSING", "FAULT"]),  # strings, PackML names
}
STATE_NAMES = {"1": "PROCESSING", "3": "FAULT", "0": "OFF", "Running": "PROCESSING",
               "Setup": "SETUP", "Off": "OFF", "Run": "PROCESSING"}  # fmt: skip


async def _server(port: int):
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/states/")
    idx = await server.register_namespace(URI)
    mode_type = await new_enum(server, idx, "MachineMode", ["Off", "Idle", "Run"])
    objs = server.nodes.objects
    nodes = {}
    nodes["codes"] = await objs.add_variable(
        ua.NodeId("codes", idx), "codes", 0, ua.VariantType.Int32
    )
    msvd = await objs.add_variable(ua.NodeId("msvd", idx), "msvd", 0, ua.VariantType.UInt32)
    await msvd.add_property(
        ua.NodeId("msvd.EnumValues", idx), ua.QualifiedName("EnumValues", 0),
        ua.Variant([ua.EnumValueType(Value=k, DisplayName=ua.LocalizedText(n))
                    for k, n in ((0, "Off"), (1, "Running"), (2, "Setup"))],
                   ua.VariantType.ExtensionObject),
    )  # fmt: skip
    nodes["msvd"] = msvd
    msd = await objs.add_variable(ua.NodeId("msd", idx), "msd", 0, ua.VariantType.UInt32)
    await msd.add_property(
        ua.NodeId("msd.EnumStrings", idx), ua.QualifiedName("EnumStrings", 0),
        ua.Variant([ua.LocalizedText("Stopped"), ua.LocalizedText("Execute")],
                   ua.VariantType.LocalizedText),
    )  # fmt: skip
    nodes["msd"] = msd
    nodes["enum"] = await objs.add_variable(
        ua.NodeId("enum", idx), "enum", 0, ua.VariantType.Int32, datatype=mode_type.nodeid
    )
    nodes["text"] = await objs.add_variable(
        ua.NodeId("text", idx), "text", "", ua.VariantType.String
    )
    waiting = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData))
    for n in nodes.values():
        await server.write_attribute_value(n.nodeid, waiting)
    return server, nodes


def test_numeric_enumerated_and_text_states_map_through_state_names(tmp_path, port):
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        server, nodes = await _server(port)
        async with server:
            cfg = ConnectorConfig.model_validate(
                {
                    "endpoint": f"opc.tcp://127.0.0.1:{port}/states/",
                    "spool": {"path": str(tmp_path / "spool.db")},
                    "state_names": STATE_NAMES,
                    "publishing_interval_ms": 50,
                    "signals": [
                        {"kind": "state", "asset": a, "node": f"nsu={URI};s={a}"} for a in CASES
                    ],
                }
            )
            connector = OpcUaConnector(cfg, sink=sink)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            await asyncio.wait_for(connector.ready.wait(), 20)
            for asset, (values, _) in CASES.items():
                node = nodes[asset]
                vtype = await node.read_data_type_as_variant_type()
                for k, v in enumerate(values):
                    src = T0.replace(minute=k)
                    dv = ua.DataValue(ua.Variant(v, vtype), SourceTimestamp=src)
                    await server.write_attribute_value(node.nodeid, dv)
                    await asyncio.sleep(0.12)
            assert await connector.wait_idle(quiet_s=0.4, timeout_s=20)
            stop.set()
            await task
            return connector

    connector = asyncio.run(go())
    ev = EventBatch.concat(got)
    for asset, (_, expected) in CASES.items():
        rows = sorted(
            (t, s)
            for a, t, s in zip(ev.state_asset, ev.state_t, ev.state, strict=True)
            if a == asset
        )
        assert [s for _, s in rows] == expected, asset
        assert [t for t, _ in rows] == [
            T0.replace(minute=k).timestamp() for k in range(len(expected))
        ]
    assert connector.stats.bad_values == 0
