"""Sparkplug B through the MQTT connector: a real edge node process and the real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from mqtt_helpers import require_shared_broker, unique, wait_for
from test_mqtt import Sink, _started

from carbontwin.connectors.mqtt import MqttConnector
from carbontwin.connectors.mqtt_config import MqttConfig

pytestmark = pytest.mark.mqtt

EDGE = Path(__file__).parent / "sparkplug_edge.py"


def _config(tmp_path, group) -> MqttConfig:
    return MqttConfig.model_validate(
        {
            "broker": {"client_id": unique("ct-host"), "reconnect_max_delay_s": 0.3},
            "spool": {"path": str(tmp_path / "spool.db"), "flush_interval_s": 0.05},
            "state_names": {"1": "PROCESSING", "0": "IDLE"},
            "sparkplug": {
                "group_id": group,
                "metrics": [
                    {
                        "device": "{device}",
                        "metric": "Power",
                        "kind": "power",
                        "meter": "M-{device}",
                        "unit": "kW",
                    },
                    {"device": "{device}", "metric": "State", "kind": "state", "asset": "{device}"},
                ],
            },
        }
    )


class Edge:
    """The edge node process and what it printed."""

    def __init__(self, group: str, *args: str) -> None:
        self.args = [sys.executable, str(EDGE), "--group", group, "--node", "N1"]
        self.args += ["--device", "press", "--period", "0.03", *args]
        self.lines: list[dict] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(*self.args, stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    @property
    def data(self) -> list[dict]:
        return [x for x in self.lines if "power" in x]

    async def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()
        await self._reader

    async def wait(self) -> None:
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), 30)
        await self._reader


def _with_host(tmp_path, group, sink, edges):
    """Run the connector (a Sparkplug host) around ``edges(connector)``; drain, stop."""

    async def go():
        connector = MqttConnector(_config(tmp_path, group), sink=sink)
        stop, task = await _started(connector)
        result = await edges(connector)
        assert await connector.wait_idle(quiet_s=0.3, timeout_s=10)
        stop.set()
        await task
        return connector, result

    return asyncio.run(go())


def test_births_aliases_ddata_and_an_ndeath_gap_up_to_the_rebirth(tmp_path):
    require_shared_broker()
    group = unique("ctg")
    sink = Sink()

    async def edges(connector):
        first = Edge(group, "--first", "0")
        await first.start()
        assert await wait_for(lambda: len(first.data) >= 25, timeout=20)
        await first.kill()  # the broker publishes the node's will: NDEATH
        assert await wait_for(lambda: "M-press" in connector.gaps, timeout=10)
        await asyncio.sleep(0.3)
        second = Edge(group, "--first", "1000", "--count", "15")
        await second.start()
        await second.wait()
        return first, second

    connector, (first, second) = _with_host(tmp_path, group, sink, edges)
    ev = sink.events
    stored = dict(zip(ev.power_t, ev.power_kw, strict=True))
    # DDATA carried aliases only: read through the DBIRTH's names
    sent_before = {x["t"] / 1000: x["power"] for x in first.data}
    sent_after = {x["t"] / 1000: x["power"] for x in second.data}
    last_before = max(t for t in stored if t in sent_before)
    birth = second.lines[0]["birth"] / 1000  # DBIRTH values: the first after the death
    assert stored[birth] == 1010.0
    assert {t: stored[t] for t in sent_after} == sent_after
    assert all(stored[t] == x for t, x in sent_before.items() if t <= last_before)
    gaps = sorted(zip(ev.gap_source, ev.gap_start, ev.gap_end, ev.gap_reason, strict=True))
    assert [(s, a, b) for s, a, b, _ in gaps] == [
        ("M-press", last_before, birth),
        ("press", last_before, birth),
    ]
    assert all("NDEATH" in r for *_, r in gaps)
    # states from Int32 codes through state_names: 1 running, 0 idle, every 5 messages
    states = dict(zip(ev.state_t, ev.state, strict=True))
    expected = {
        x["t"] / 1000: ("PROCESSING" if (int(x["power"] - 10) // 5) % 2 == 0 else "IDLE")
        for x in first.data
        if x["t"] / 1000 <= last_before
    }
    assert {t: states[t] for t in expected} == expected
    assert connector.stats.sequence_gaps == 0


def test_a_skipped_sequence_number_is_a_gap_and_asks_for_a_rebirth(tmp_path):
    require_shared_broker()
    group = unique("ctg")
    sink = Sink()

    async def edges(connector):
        edge = Edge(group, "--count", "40", "--skip-seq-after", "20")
        await edge.start()
        await edge.wait()
        return edge

    connector, edge = _with_host(tmp_path, group, sink, edges)
    ev = sink.events
    assert connector.stats.sequence_gaps == 1
    assert connector.stats.rebirths == 1
    assert any("rebirth" in x for x in edge.lines), edge.lines  # the edge got the NCMD
    data = edge.data
    # the message after the skipped number is stored and ends the gap that opened at the last
    # value before it: a gap ends at the first good value
    t_before, t_after = data[19]["t"] / 1000, data[20]["t"] / 1000
    gaps = sorted(zip(ev.gap_source, ev.gap_start, ev.gap_end, strict=True))
    assert gaps == [("M-press", t_before, t_after), ("press", t_before, t_after)]
    assert set(ev.power_t) >= {x["t"] / 1000 for x in data}
