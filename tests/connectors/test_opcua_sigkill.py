"""`carbontwin connect` killed with SIGKILL in the middle of a flush loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time

import numpy as np
import pytest
import yaml

from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.connectors.spool import Spool
from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store

pytestmark = pytest.mark.opcua

BACKLOG = 100_000  # events a store outage left in the spool
BATCH = 20_000  # events per store transaction


def _backlog() -> EventBatch:
    meter = np.empty(BACKLOG, dtype=object)
    meter[:] = "M-backlog"
    t = 1.5e9 + np.arange(BACKLOG, dtype=np.float64)
    return EventBatch(power_meter=meter, power_t=t, power_kw=1.0 + (np.arange(BACKLOG) % 10))


async def _connector(cfg_path, log_path, *args):
    log = open(log_path, "ab")  # noqa: ASYNC230, SIM115 - the child writes to it
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "carbontwin.api.cli",
        "connect",
        str(cfg_path),
        *args,
        stdout=log,
        stderr=log,
    )
    return proc, log


def _last_flush(spool_path):
    with sqlite3.connect(spool_path, timeout=5) as db:
        return db.execute("SELECT id, n, state FROM flushes ORDER BY id DESC LIMIT 1").fetchone()


def test_sigkill_mid_flush_leaves_nothing_partial_and_the_spool_flushes_on_restart(
    tmp_path, port, events
):
    spool_path = tmp_path / "spool.db"
    spool = Spool(spool_path)
    spool.put(_backlog())
    spool.close()
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    Store.open(store_url).close()
    log_path = tmp_path / "connector.log"

    async def go():
        async with DemoLineServer(events, port=port, speed=1200) as server:
            cfg = server.connector_config(
                spool={"path": str(spool_path), "flush_batch": BATCH}, store={"url": store_url}
            )
            cfg_path = tmp_path / "connector.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg))  # noqa: ASYNC240
            replay = asyncio.create_task(server.replay())
            proc, log = await _connector(cfg_path, log_path)
            deadline = time.monotonic() + 60
            in_flight = None
            while time.monotonic() < deadline:
                last = _last_flush(spool_path)
                if last is not None and last[2] == "sent":
                    os.kill(proc.pid, signal.SIGKILL)
                    in_flight = last
                    break
                await asyncio.sleep(0.001)
            await proc.wait()
            log.close()
            killed = (proc.returncode, in_flight)
            # nothing partial: the store holds the acknowledged batches, plus the one in
            # flight if its transaction committed before the kill, and nothing else
            with sqlite3.connect(spool_path) as db:
                acked = db.execute("SELECT coalesce(sum(n), 0) FROM flushes WHERE state = 'acked'")
                acked_n = int(acked.fetchone()[0])
            store = Store.open(store_url)
            stored_n = sum(store.count_events().values())
            store.close()
            # restart: the spool flushes, new data is added, nothing twice
            await replay
            proc, log = await _connector(cfg_path, log_path, "--duration", "3")
            await proc.wait()
            log.close()
            return killed, acked_n, stored_n, proc.returncode

    (code, in_flight), acked_n, stored_n, restart_code = asyncio.run(go())
    assert code == -signal.SIGKILL
    assert in_flight is not None, "the connector never flushed"
    assert stored_n in (acked_n, acked_n + in_flight[1]), (stored_n, acked_n, in_flight)
    assert restart_code == 0, log_path.read_text()
    spool = Spool(spool_path)
    assert spool.pending() == 0
    spool.close()
    store = Store.open(store_url)
    stored = store.read_events()
    backlog = stored.power_t[stored.power_meter == "M-backlog"]
    assert len(backlog) == BACKLOG
    np.testing.assert_array_equal(np.sort(backlog), _backlog().power_t)
    live = stored.power_meter != "M-backlog"
    keys = set(zip(stored.power_meter[live], stored.power_t[live], strict=True))
    assert len(keys) == int(live.sum()) > 0
    assert set(zip(stored.power_meter[live], stored.power_kw[live], strict=True)) <= set(
        zip(events.power_meter, events.power_kw, strict=True)
    )
