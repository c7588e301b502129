"""OPC UA ingest: a raw asyncua subscription vs. the carbontwin connector, same load server.

A load server (its own process) holds N Double variables and writes every one of
them every P ms; each value is a sequence number, so a skipped number is a lost
change. In the same run, first a raw asyncua subscription (the usual handler
with ``datachange_notification``) counts notifications per second, then the
carbontwin connector reads the same variables as power signals through its
SQLite spool into a SQLite store; its rate is the events committed to the
store per second. ``lost`` counts sequence numbers missing in either reader.

Run::

    python benchmarks/opcua_ingest.py --variables 2000 --period-ms 200 --seconds 10

The last line is JSON: {"variables", "raw_per_s", "carbontwin_per_s", "ratio", "lost"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

NS_URI = "urn:carbontwin:bench-load"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int, n: int, period_ms: float, ready, stop, changes) -> None:
    """Load server process: n variables, all written every period_ms."""
    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)  # a reader's goodbye is not news

    async def main() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench/")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NS_URI)
        folder = await server.nodes.objects.add_folder(ua.NodeId("Load", idx), "Load")
        nodes = []
        for i in range(n):
            v = await folder.add_variable(
                ua.NodeId(f"v{i}", idx), f"v{i}", 0.0, varianttype=ua.VariantType.Double
            )
            nodes.append(v.nodeid)
        async with server:
            ready.set()
            seq, t_next = 0, time.monotonic()
            while not stop.is_set():
                seq += 1
                now = datetime.now(UTC)
                for nodeid in nodes:
                    dv = ua.DataValue(
                        ua.Variant(float(seq), ua.VariantType.Double), SourceTimestamp=now
                    )
                    await server.write_attribute_value(nodeid, dv)
                changes.value += n
                t_next += period_ms / 1000.0
                await asyncio.sleep(max(t_next - time.monotonic(), 0.0))

    asyncio.run(main())


def _lost(seqs_by_var: dict[str, list[float]]) -> int:
    lost = 0
    for seqs in seqs_by_var.values():
        s = np.sort(np.asarray(seqs))
        if s.size > 1:
            d = np.diff(s)
            lost += int(np.sum(d[d > 1] - 1))
    return lost


async def _raw(endpoint: str, n: int, seconds: float, warmup: float) -> tuple[float, int]:
    from asyncua import Client, ua

    seqs: dict[str, list[float]] = {}
    counted = {"n": 0, "on": False}

    class Handler:
        def datachange_notification(self, node, val, data) -> None:
            if counted["on"]:
                counted["n"] += 1
                seqs.setdefault(str(node.nodeid.Identifier), []).append(val)

    async with Client(endpoint) as client:
        idx = await client.get_namespace_index(NS_URI)
        sub = await client.create_subscription(100, Handler())
        nodes = [client.get_node(ua.NodeId(f"v{i}", idx)) for i in range(n)]
        for k in range(0, n, 1000):
            await sub.subscribe_data_change(nodes[k : k + 1000], queuesize=100, sampling_interval=0)
        await asyncio.sleep(warmup)
        counted["on"] = True
        await asyncio.sleep(seconds)
        counted["on"] = False
        await sub.delete()
    return counted["n"] / seconds, _lost(seqs)


async def _carbontwin(endpoint: str, n: int, seconds: float, warmup: float, folder: Path):
    from carbontwin.connectors.opcua_client import OpcUaConnector
    from carbontwin.connectors.opcua_config import ConnectorConfig
    from carbontwin.twin.store import Store

    store = Store.open(f"sqlite:///{folder / 'store.db'}")
    cfg = ConnectorConfig.model_validate(
        {
            "endpoint": endpoint,
            "spool": {"path": str(folder / "spool.db"), "synchronous": "NORMAL"},
            "signals": [
                {
                    "kind": "power",
                    "meter": f"v{i}",
                    "node": f"nsu={NS_URI};s=v{i}",
                    "unit": "W",
                    "queue_size": 100,
                }
                for i in range(n)
            ],
        }
    )
    connector = OpcUaConnector(cfg, sink=store.write_events)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    await asyncio.wait_for(connector.ready.wait(), 120)
    await asyncio.sleep(warmup)
    start = sum(store.count_events().values())
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    end = sum(store.count_events().values())
    rate = (end - start) / (time.monotonic() - t0)
    stop.set()
    await task
    events = store.read_events()
    seqs: dict[str, list[float]] = {}
    for m, kw in zip(events.power_meter, events.power_kw, strict=True):
        seqs.setdefault(str(m), []).append(round(kw * 1000.0))
    errors = connector.stats.errors
    store.close()
    return rate, _lost(seqs) + errors, connector.stats


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variables", type=int, default=2000)
    p.add_argument("--period-ms", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time of each reader")
    p.add_argument("--warmup", type=float, default=2.0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    port = _free_port()
    ctx = mp.get_context("spawn")
    ready, stop, changes = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
    proc = ctx.Process(
        target=_serve, args=(port, a.variables, a.period_ms, ready, stop, changes), daemon=True
    )
    proc.start()
    try:
        if not ready.wait(120):
            raise SystemExit("the load server did not start")
        endpoint = f"opc.tcp://127.0.0.1:{port}/bench/"
        offered = a.variables * 1000.0 / a.period_ms
        print(
            f"load server: {a.variables} variables every {a.period_ms:g} ms "
            f"({offered:,.0f} changes/s offered)",
            file=sys.stderr,
        )
        c0, t0 = changes.value, time.monotonic()
        raw_rate, raw_lost = asyncio.run(_raw(endpoint, a.variables, a.seconds, a.warmup))
        served = (changes.value - c0) / (time.monotonic() - t0)
        print(
            f"raw asyncua subscription: {raw_rate:,.0f} notifications/s, lost {raw_lost} "
            f"(server wrote {served:,.0f} changes/s)",
            file=sys.stderr,
        )
        with tempfile.TemporaryDirectory(prefix="carbontwin-bench-") as tmp:
            c0, t0 = changes.value, time.monotonic()
            ct_rate, ct_lost, stats = asyncio.run(
                _carbontwin(endpoint, a.variables, a.seconds, a.warmup, Path(tmp))
            )
            served = (changes.value - c0) / (time.monotonic() - t0)
        print(
            f"carbontwin connector -> spool -> store: {ct_rate:,.0f} events/s, lost {ct_lost} "
            f"(server wrote {served:,.0f} changes/s; {stats})",
            file=sys.stderr,
        )
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
    result = {
        "variables": a.variables,
        "raw_per_s": round(raw_rate, 1),
        "carbontwin_per_s": round(ct_rate, 1),
        "ratio": round(ct_rate / raw_rate, 3) if raw_rate else 0.0,
        "lost": raw_lost + ct_lost,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
