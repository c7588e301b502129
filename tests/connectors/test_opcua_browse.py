"""`carbontwin opcua browse` against the demo line server, and namespace hints."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
import yaml

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import (
    CARBONTWIN_URI,
    MACHINERY_URI,
    load_connector_config,
)
from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.opcua


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carbontwin.api.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def test_browse_lists_the_machinery_namespace_and_the_energy_variables(tmp_path, port, events):
    suggested = tmp_path / "suggested.yaml"
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        async with DemoLineServer(events, port=port, speed=3600) as server:
            browsed = await _cli(
                "opcua", "browse", server.endpoint, "--path", "Machines", "--depth", "7",
                "--json", "--suggest-config", str(suggested),
            )  # fmt: skip
            cfg = load_connector_config(suggested)
            cfg = cfg.model_copy(
                update={"spool": cfg.spool.model_copy(update={"path": tmp_path / "spool.db"})}
            )
            connector = OpcUaConnector(cfg, sink=sink)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            await asyncio.wait_for(connector.ready.wait(), 30)
            await server.replay()
            await connector.wait_idle(quiet_s=0.5, timeout_s=30)
            stop.set()
            await task
            return browsed, cfg

    (code, out, err), cfg = asyncio.run(go())
    assert code == 0, err
    result = json.loads(out)
    ns = {n["uri"]: (n["index"], n["alias"]) for n in result["namespaces"]}
    assert ns[MACHINERY_URI][1] == "mach"
    assert CARBONTWIN_URI in ns
    ct = ns[CARBONTWIN_URI][1]
    nodes = {n["path"]: n for n in result["nodes"]}
    base = f"Objects/mach:Machines/{ct}:M-0/{ct}:Monitoring/{ct}:Consumption/{ct}:Electricity/{ct}:Main"
    power = nodes[f"{base}/{ct}:AcActivePowerTotal"]
    energy = nodes[f"{base}/{ct}:AcActiveEnergyTotalImportLp"]
    assert (power["class"], power["data_type"], power["unit"]) == ("Variable", "Double", "W")
    assert (energy["data_type"], energy["unit"]) == ("Double", "Wh")
    assert "R" in power["access"]
    assert power["nodeid"] == f"nsu={CARBONTWIN_URI};s=M-0.Electricity.Main.AcActivePowerTotal"
    state = nodes[
        f"Objects/mach:Machines/{ct}:press-1/di:MachineryBuildingBlocks/mach:MachineryItemState/CurrentState/Id"
    ]
    assert state["data_type"] == "NodeId"
    # properties describe their variable; they are not listed
    assert not any(p.endswith("EngineeringUnits") for p in nodes)
    # the suggested file reads the meters (energy counters) and the press's states
    signals = {(s.kind, s.source) for s in cfg.signals}
    assert signals == {
        ("energy", "M-0.Electricity.Main"),
        ("energy", "M-1.Electricity.Main"),
        ("state", "press-1"),
    }
    stored = EventBatch.concat(got)
    assert set(zip(stored.state_t, stored.state, strict=True)) == set(
        zip(events.state_t, events.state, strict=True)
    )
    assert len(stored.counter_t) > 0


def test_a_namespace_index_or_a_wrong_uri_is_answered_with_the_server_uris(tmp_path, port, events):
    from asyncua import Client

    from carbontwin.connectors._opcua_nodes import resolve_nodes
    from carbontwin.connectors.live import namespace_index_hints
    from carbontwin.connectors.opcua_browse import browse

    node = "s=M-0.Electricity.Main.AcActivePowerTotal"

    async def go():
        server = DemoLineServer(events, port=port, speed=3600)
        async with server, Client(server.endpoint) as client:
            ns = await client.get_namespace_array()
            i = ns.index(CARBONTWIN_URI)
            # a connector file naming a namespace by index: refused, with the URI to write
            path = tmp_path / "by_index.yaml"
            cfg = {"endpoint": server.endpoint, "signals": [
                {"kind": "power", "meter": "M-0", "unit": "W", "node": f"ns={i};{node}"}]}  # fmt: skip
            path.write_text(yaml.safe_dump(cfg))  # noqa: ASYNC240
            with pytest.raises(ConnectorError, match="names a namespace by index"):
                load_connector_config(path)
            hints = await namespace_index_hints(path)
            # a namespace URI the server does not have: its namespaces are listed
            with pytest.raises(ConnectorError) as resolving:
                await resolve_nodes(client, ["nsu=urn:nowhere;s=x"], {}, server.endpoint)
            with pytest.raises(ConnectorError) as browsing:
                await browse(client, server.endpoint, path="nsu=urn:nowhere;s=x")
            return i, hints, resolving.value.message, browsing.value.message

    i, hints, resolving, browsing = asyncio.run(go())
    assert hints == [
        f"ns={i};{node}: write nsu={CARBONTWIN_URI};{node} (namespace {i} on this server is "
        f"{CARBONTWIN_URI})"
    ]
    for message in (resolving, browsing):
        assert "no namespace 'urn:nowhere'" in message
        assert f"{i} {CARBONTWIN_URI}" in message
        assert MACHINERY_URI in message
