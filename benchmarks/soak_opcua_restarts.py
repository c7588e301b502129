"""Soak: OPC UA server restarts under a running connector; every gap accounted for.

A demo line server on 127.0.0.1 replays a synthetic line (power meters sampled
every 10 simulated seconds, one press changing state) at ``--speed`` simulated
seconds per second. The carbontwin connector (``OpcUaConnector``, with its
SQLite spool) reads it the whole time. ``--restarts`` times, evenly over
``--minutes``, the server is stopped, stays down ``--down-s`` seconds and a
new server starts on the same port with the same line clock (so the values
published while it was down are gone for good).

Afterwards, per meter, every value the servers published up to the last one
the connector holds is either delivered or lies inside a gap the connector
recorded; each gap starts at the last value delivered before it and ends at
the first one after it. ``lost`` counts published values neither delivered
nor inside a gap (must be 0), ``duplicates`` values delivered twice (must be
0), ``bad_gaps`` gaps not bounded by delivered values (must be 0).

Run::

    python benchmarks/soak_opcua_restarts.py                  # 10 restarts in 5 minutes
    python benchmarks/soak_opcua_restarts.py --restarts 2 --minutes 0.25   # tiny (tests)

The last line is JSON: {"restarts", "minutes", "meters", "published", "delivered",
"gaps", "gaps_per_restart", "lost", "duplicates", "bad_gaps", "reconnects",
"max_resume_s", "max_server_start_s", "longest_gap_s", "wall_s", "ok"}. ``max_resume_s``
is how long after a server came back the connector had new data;
``max_server_start_s`` how long the slowest new server took to build its address
space and listen; ``longest_gap_s`` the longest gap in wall seconds (down time,
server start and reconnect).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.opcua_server import DemoLineServer, ReplayClock
from carbontwin.twin.events import EventBatch, PowerSample, StateChange
from carbontwin.twin.model import State

T0 = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)
METERS = ("M-0", "M-1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def line(sim_seconds: float, period_s: float = 10.0) -> EventBatch:
    """Power of two meters every ``period_s`` and a press cycling through its states."""
    events: list = []
    for k in range(int(sim_seconds / period_s) + 1):
        t = T0 + timedelta(seconds=k * period_s)
        for j, meter in enumerate(METERS):
            events.append(PowerSample(meter, t, 5.0 + j + (k % 7) * 0.25))
    cycle = (State.IDLE, State.SETUP, State.PROCESSING, State.STANDBY)
    for k in range(int(sim_seconds / 300) + 1):
        events.append(StateChange("press-1", T0 + timedelta(seconds=300 * k), cycle[k % 4]))
    return EventBatch.from_events(events)


def account(events: EventBatch, got: EventBatch, t_last: float) -> dict[str, float]:
    """Published values up to ``t_last`` against the delivered ones and the gaps."""
    lost = duplicates = bad_gaps = published = delivered = gaps = 0
    longest = 0.0
    for meter in METERS:
        sent = np.sort(events.power_t[events.power_meter == meter])
        sent = sent[sent <= t_last]
        have = got.power_t[got.power_meter == meter]
        duplicates += int(have.size - np.unique(have).size)
        have = np.unique(have)
        spans = [
            (float(a), float(b))
            for s, a, b in zip(got.gap_source, got.gap_start, got.gap_end, strict=True)
            if s == meter
        ]
        inside = np.zeros(sent.size, dtype=bool)
        for g0, g1 in spans:
            inside |= (sent > g0) & (sent < g1)
            before, after = have[have <= g0], have[have >= g1]
            if not (before.size and before[-1] == g0 and (not after.size or after[0] == g1)):
                bad_gaps += 1
        lost += int((~inside & ~np.isin(sent, have)).sum())
        longest = max([longest, *(g1 - g0 for g0, g1 in spans)])
        published += int(sent.size)
        delivered += int(have.size)
        gaps += len(spans)
    return {
        "published": published,
        "delivered": delivered,
        "gaps": gaps,
        "lost": lost,
        "duplicates": duplicates,
        "bad_gaps": bad_gaps,
        "longest_gap_sim_s": longest,
    }


async def soak(restarts: int, minutes: float, down_s: float, speed: float) -> dict[str, object]:
    run_s = minutes * 60.0
    events = line(sim_seconds=(run_s + 30.0) * speed)
    port = _free_port()
    got: list[EventBatch] = []

    def sink(batch: EventBatch) -> int:
        got.append(batch)
        return len(batch)

    with tempfile.TemporaryDirectory(prefix="carbontwin-soak-") as tmp:
        server = DemoLineServer(events, port=port, speed=speed)
        await server.start()
        cfg = ConnectorConfig.model_validate(
            server.connector_config(
                spool={"path": str(Path(tmp) / "spool.db"), "flush_interval_s": 0.05},
                publishing_interval_ms=50,
                reconnect_max_delay_s=0.5,
            )
        )
        connector = OpcUaConnector(cfg, sink=sink)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        await asyncio.wait_for(connector.ready.wait(), 30)
        clock = server.clock = ReplayClock(float(events.power_t.min()), time.time(), speed)
        replay = asyncio.create_task(server.replay())
        started = time.monotonic()
        cycle = run_s / restarts
        resume: list[float] = []
        starts: list[float] = []  # how long each new server took to build and listen
        for k in range(restarts):
            await asyncio.sleep(max(0.0, started + (k + 1) * cycle - down_s - time.monotonic()))
            replay.cancel()
            await server.stop()
            t_before = connector.t_max
            await asyncio.sleep(down_s)
            server = DemoLineServer(events, port=port, speed=speed, clock=clock)
            t_start = time.monotonic()
            await server.start()
            back = time.monotonic()
            starts.append(back - t_start)
            replay = asyncio.create_task(server.replay())
            while connector.t_max <= t_before and time.monotonic() - back < 30:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            resume.append(time.monotonic() - back)
        await asyncio.sleep(1.0)
        replay.cancel()
        await connector.wait_idle(quiet_s=0.5, timeout_s=30)
        stop.set()
        await task
        await server.stop()
    batch = EventBatch.concat(got)
    counts = account(events, batch, float(batch.power_t.max()))
    out: dict[str, object] = {
        "restarts": restarts,
        "minutes": minutes,
        "down_s": down_s,
        "speed": speed,
        "meters": len(METERS),
        **counts,
        "gaps_per_restart": counts["gaps"] / (restarts * len(METERS)),
        "reconnects": connector.stats.reconnects,
        "max_resume_s": round(max(resume), 3) if resume else 0.0,
        "max_server_start_s": round(max(starts), 3) if starts else 0.0,
        # the longest gap in wall seconds: down time, the new server's start, the reconnect
        "longest_gap_s": round(counts["longest_gap_sim_s"] / speed, 2),
        "wall_s": round(time.monotonic() - started, 1),
    }
    out["ok"] = counts["lost"] == counts["duplicates"] == counts["bad_gaps"] == 0
    return out


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--restarts", type=int, default=10, help="server restarts (default 10)")
    p.add_argument("--minutes", type=float, default=5.0, help="length of the run (default 5)")
    p.add_argument("--down-s", type=float, default=3.0, help="seconds each server stays down")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # a restart makes asyncua log tracebacks
    result = asyncio.run(soak(a.restarts, a.minutes, a.down_s, a.speed))
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
