"""No silent holes: a stopped or killed connector and a network cut, against the demo server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from datetime import datetime

import pytest
import yaml
from opcua_lines import check_holes, line_events

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store

pytestmark = [pytest.mark.opcua, pytest.mark.slow]

SPEED = 600.0  # 10 simulated minutes per second; meters sample every 10 s
METERS = ("M-0", "M-1")


def _last_power(spool_path, store_path) -> dict[str, float]:
    """Latest power time per meter in the store and the spool together (read directly)."""
    out: dict[str, float] = {}
    queries = [(store_path, "SELECT meter, max(t) FROM power_samples GROUP BY meter")]
    queries.append(
        (spool_path, "SELECT source, max(t) FROM events WHERE kind='power' GROUP BY source")
    )
    for path, sql in queries:
        with sqlite3.connect(path, timeout=10) as db:
            try:
                rows = db.execute(sql).fetchall()
            except sqlite3.OperationalError:
                rows = []
        for meter, t in rows:
            if t is not None:
                out[meter] = max(out.get(meter, -1.0), float(t))
    return out


def test_sigkill_and_a_clean_stop_each_leave_a_gap_from_the_last_stored_value(tmp_path, port):
    events = line_events(minutes=400, period_s=10.0)
    spool_path, store_path = tmp_path / "spool.db", tmp_path / "store.db"
    store_url = f"sqlite:///{store_path}"
    Store.open(store_url).close()
    log_path = tmp_path / "connector.log"

    async def connector(cfg_path, *args):
        log = open(log_path, "ab")  # noqa: ASYNC230, SIM115 - the child writes to it
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "carbontwin.api.cli", "connect", str(cfg_path), *args,
            stdout=log, stderr=log,
        )  # fmt: skip
        return proc, log

    async def until_stored(after: dict[str, float]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _last_power(spool_path, store_path)
            if all(now.get(m, -1) > after.get(m, -1) + 120 for m in METERS):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no new data in 60 s: {log_path.read_text()}")

    async def go():
        server = DemoLineServer(events, port=port, speed=SPEED)
        await server.start()
        try:
            cfg = server.connector_config(
                spool={"path": str(spool_path), "flush_interval_s": 0.05},
                store={"url": store_url},
                publishing_interval_ms=50,
            )
            cfg_path = tmp_path / "connector.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg))  # noqa: ASYNC240
            replay = asyncio.create_task(server.replay())
            lasts = []
            proc, log = await connector(cfg_path)
            for how in (signal.SIGKILL, signal.SIGTERM):
                await until_stored(lasts[-1] if lasts else {})
                os.kill(proc.pid, how)
                await proc.wait()
                log.close()
                assert proc.returncode == (-signal.SIGKILL if how == signal.SIGKILL else 0)
                lasts.append(_last_power(spool_path, store_path))
                await asyncio.sleep(1.0)  # 10 simulated minutes without a connector
                proc, log = await connector(cfg_path, *(["--json"] if lasts[1:] else []))
            await until_stored(lasts[-1])
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            log.close()
            replay.cancel()
            return lasts
        finally:
            await server.stop()

    lasts = asyncio.run(go())
    store = Store.open(store_url)
    stored = store.read_events()
    store.close()
    for meter in METERS:
        gaps = check_holes(events, stored, meter)
        # one gap per stop, starting at what the stopped connector had stored (read from
        # its files right after it stopped), at least the simulated time it was away
        assert [g0 for g0, _ in gaps] == [last[meter] for last in lasts], (meter, gaps, lasts)
        assert all(g1 - g0 >= 0.5 * SPEED for g0, g1 in gaps), gaps
    reasons = set(stored.gap_reason)
    assert reasons == {"connector not running"}, reasons
    # `connect --json` reports the gap it recorded on start
    report = json.loads(log_path.read_text().strip().splitlines()[-1])
    reported = {g["source"]: g for g in report["gaps"]}
    for meter in METERS:
        start = datetime.fromisoformat(reported[meter]["start"]).timestamp()
        assert start == pytest.approx(lasts[-1][meter], abs=1.0)
        assert reported[meter]["reason"] == "connector not running"
    assert report["stats"]["gaps"] == len(report["gaps"]) >= 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 whose link can be cut: open connections are dropped and new
    ones refused until :meth:`restore`."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port, self.target_port = port, target_port
        self.up = True
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers += [writer, up_writer]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                w.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def test_a_network_cut_leaves_no_hole_or_a_gap_ending_at_the_first_good_value(tmp_path, port):
    events = line_events(minutes=400, period_s=10.0)
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        server = DemoLineServer(events, port=port, speed=SPEED)
        await server.start()
        proxy = CuttableProxy(_free_port(), port)
        await proxy.start()
        try:
            cfg = server.connector_config(
                spool={"path": str(tmp_path / "spool.db"), "flush_interval_s": 0.05},
                publishing_interval_ms=50,
                reconnect_max_delay_s=0.5,
            )
            cfg["endpoint"] = cfg["endpoint"].replace(str(port), str(proxy.port))
            connector = OpcUaConnector(ConnectorConfig.model_validate(cfg), sink=sink)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            await asyncio.wait_for(connector.ready.wait(), 30)
            replay = asyncio.create_task(server.replay())
            await asyncio.sleep(1.0)
            proxy.cut()
            t_cut = connector.t_max
            await asyncio.sleep(2.0)  # 20 simulated minutes, as long as the line's queues
            proxy.restore()
            back = time.monotonic()
            while connector.t_max <= t_cut + 1200 and time.monotonic() - back < 20:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            await asyncio.sleep(1.0)
            replay.cancel()
            await connector.wait_idle(quiet_s=0.5, timeout_s=20)
            stop.set()
            await task
            return connector, t_cut
        finally:
            await proxy.stop()
            await server.stop()

    connector, t_cut = asyncio.run(go())
    stored = EventBatch.concat(got)
    assert connector.stats.reconnects >= 1, "the cut was not noticed"
    assert stored.power_t.max() > t_cut + 1200, "data did not resume after the cut"
    for meter in METERS:
        keys = stored.power_t[stored.power_meter == meter]
        assert len(keys) == len(set(keys))  # nothing twice
        check_holes(events, stored, meter)  # no hole, or each gap ends at the first good value
