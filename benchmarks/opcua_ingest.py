"""OPC UA ingest: a raw asyncua subscription and the carbontwin connector, on one server at once.

A load server holds N Double variables and, once both readers are subscribed,
writes every variable every P ms; the value written is the write's sequence
number k (the same for all variables of one round), so each variable's values
are 1, 2, 3, ... and a missing number is a lost change, a number seen twice a
duplicate. The load server is ``opcua_load_server/load_server.js`` (Node.js >=
18 with node-opcua, pinned by its package-lock.json and installed once with
``npm ci`` into ``~/.cache/carbontwin/opcua-load-server/``): a server written
in Python (asyncua) serves only 2-4 k changes/s on two cores, far below the
rates measured here. At each offered rate (N / P changes per second) both
readers are subscribed to the same server at the same time, each in its
own process, with the same subscription settings:

- raw asyncua: a subscription reading each publish response's notifications
  straight from the message, keeping every value in memory (the usual
  ``datachange_notification`` handler dispatches value by value through a
  bounded queue and drops values well below these rates, so it would be a
  weaker peer);
- carbontwin: the connector (``OpcUaConnector``) reading the variables as power
  signals through its SQLite spool into a SQLite store; its rate is what the
  store has committed, the work a user waits for.

Rates are measured over the same ``--seconds`` window of rounds written (after
a warm-up); then the writes stop and both readers get time to drain. ``lost``
counts sequence numbers of the window missing in what a reader delivered (the
connector: in the store) that no gap event the connector recorded covers;
``gapped`` counts those a recorded gap covers (back-pressure that overflowed
the server's queues is recorded, never silent); ``duplicates`` counts numbers
delivered more than once; ``max_backlog`` is the largest spool backlog seen.

The load server's protocol (``--server-url`` takes any server that follows it):
namespace ``urn:carbontwin:bench-load``; Double variables ``s=v0`` ..
``s=v{N-1}`` written with k = 1, 2, 3, ... every round (source timestamp set;
each variable delivering every change to a monitored item with sampling
interval 0); Boolean ``s=run`` (writable: true starts the rounds, false stops
them); Double ``s=round`` (the last k written), ``s=round_time`` (when it was
written, epoch s), ``s=period_ms`` and UInt32 ``s=variables``. With
``--server-url`` one run is made at the server's own rate, N * 1000 / P.

Run::

    python benchmarks/opcua_ingest.py                 # 10 k, 20 k, 50 k changes/s, 30 s each
    python benchmarks/opcua_ingest.py --small         # tiny, for the tests
    python benchmarks/opcua_ingest.py --server-url opc.tcp://127.0.0.1:4840/  # external

The last line is JSON: {"runs": [{"offered_per_s", "served_per_s", "raw_per_s",
"carbontwin_per_s", "ratio", "lost", "duplicates", "max_backlog", "raw_cpu",
"carbontwin_cpu", ...}, ...], "load_average"}; ``*_cpu`` is each reader process's
CPU seconds per second of the window (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NS_URI = "urn:carbontwin:bench-load"
QUEUE_SIZE = 100  # per monitored item, both readers
PUBLISHING_MS = 100.0  # both readers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ----------------------------------------------------------------------------- server
SERVER_DIR = Path(__file__).parent / "opcua_load_server"


def _node_modules() -> Path:
    """node-opcua for the load server, installed once (``npm ci``) into a cache folder
    named by the lock file's digest."""
    lock = (SERVER_DIR / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = cache / "carbontwin" / "opcua-load-server" / hashlib.sha256(lock).hexdigest()[:16]
    if (home / "node_modules" / ".installed").exists():
        return home / "node_modules"
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(f"the load server needs Node.js >= 18 ({tool} is not on PATH)")
    home.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(SERVER_DIR / name, home / name)
    print(f"installing the load server's node-opcua into {home} (npm ci)", file=sys.stderr)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=home,
        check=True,
        stdout=sys.stderr,
    )
    (home / "node_modules" / ".installed").touch()
    return home / "node_modules"


def _start_server(n: int, period_ms: float, folder: str) -> tuple[subprocess.Popen[str], str]:
    """The load server (Node.js, node-opcua) on a free port: (process, endpoint)."""
    modules = _node_modules()
    port = _free_port()
    cmd = ["node", str(SERVER_DIR / "load_server.js"), "--port", str(port)]
    cmd += [
        "--variables",
        str(n),
        "--period-ms",
        str(period_ms),
        "--pki",
        str(Path(folder) / "pki"),
    ]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,  # the server ends when the benchmark closes it
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # node-opcua prints its notes before the ready line
        if line.startswith('{"ready"'):
            return proc, str(json.loads(line)["ready"])
    proc.wait(10)
    raise SystemExit(f"the load server did not start (exit {proc.returncode}): {' '.join(cmd)}")


async def _control_async(endpoint: str, run: bool | None) -> dict:
    """Read the load server's counters, after setting ``run`` (start/stop writes) if given."""
    from asyncua import Client, ua

    async with Client(endpoint, timeout=30) as client:
        idx = await client.get_namespace_index(NS_URI)
        if run is not None:
            node = client.get_node(ua.NodeId("run", idx))
            await node.write_value(ua.DataValue(ua.Variant(run, ua.VariantType.Boolean)))
        names = ("round", "round_time", "variables", "period_ms")
        values = await client.read_values([client.get_node(ua.NodeId(x, idx)) for x in names])
        return dict(zip(names, values, strict=True))


def _control(endpoint: str, run: bool | None = None) -> dict:
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    return asyncio.run(_control_async(endpoint, run))


# ----------------------------------------------------------------------------- readers
async def _sample(get_count, samples: list, done: asyncio.Event) -> None:
    while not done.is_set():
        samples.append((time.time(), get_count(), time.process_time()))
        await asyncio.sleep(0.05)


def _raw(endpoint: str, n: int, queue: int, ready, finish, out_path: str) -> None:
    """Raw asyncua reader process: a subscription reading each publish response's
    notifications straight from the message (no per-value handler dispatch, no queue),
    keeping every value in memory; no spool, no store."""
    from asyncua import Client, ua
    from asyncua.common.subscription import Subscription

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)

    async def main() -> None:
        values: list[list[float]] = [[] for _ in range(n)]
        count = [0]
        index: dict[int, int] = {}  # client handle -> variable

        class RawSubscription(Subscription):
            async def publish_callback(self, publish_result: ua.PublishResult) -> None:
                self.last_publish_at = time.monotonic()
                msg = publish_result.NotificationMessage
                self.last_sequence_number = int(msg.SequenceNumber)
                for notif in msg.NotificationData or []:
                    if isinstance(notif, ua.DataChangeNotification):
                        for item in notif.MonitoredItems:
                            values[index[item.ClientHandle]].append(item.Value.Value.Value)
                        count[0] += len(notif.MonitoredItems)

        samples: list = []
        done = asyncio.Event()
        # the connector's settings: 30 s requests, a 5 s connection check
        async with Client(endpoint, timeout=30, watchdog_intervall=5) as client:
            idx = await client.get_namespace_index(NS_URI)
            nodes = [client.get_node(ua.NodeId(f"v{i}", idx)) for i in range(n)]
            params = ua.CreateSubscriptionParameters(
                RequestedPublishingInterval=PUBLISHING_MS,
                RequestedLifetimeCount=10000,
                RequestedMaxKeepAliveCount=client.get_keepalive_count(PUBLISHING_MS),
                MaxNotificationsPerPublish=0,
                PublishingEnabled=True,
                Priority=0,
            )
            sub = RawSubscription(client.uaclient.session, params, handler=None)
            await sub.init()
            for k in range(0, n, 1000):
                await sub.subscribe_data_change(
                    nodes[k : k + 1000], queuesize=queue, sampling_interval=0
                )
            by_node = {node.nodeid: i for i, node in enumerate(nodes)}
            for handle, item in sub._monitored_items.items():
                index[handle] = by_node[item.node.nodeid]
            sampler = asyncio.create_task(_sample(lambda: count[0], samples, done))
            ready.set()
            while not finish.is_set():  # noqa: ASYNC110 - a multiprocessing event
                await asyncio.sleep(0.05)
            done.set()
            await sampler
            await sub.delete()
        np.savez(
            out_path,
            samples=np.array(samples, dtype=np.float64),
            **{f"v{i}": np.asarray(v, dtype=np.float64) for i, v in enumerate(values)},
        )

    asyncio.run(main())


def _connector(
    endpoint: str, n: int, queue: int, folder: str, ready, finish, out_path: str
) -> None:
    """carbontwin connector process: spool (SQLite) -> store (SQLite)."""
    from carbontwin.connectors.opcua_client import OpcUaConnector
    from carbontwin.connectors.opcua_config import ConnectorConfig
    from carbontwin.twin.store import Store

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    # counted, not printed (CARBONTWIN_BENCH_LOG=WARNING prints the connector's log)
    level = os.environ.get("CARBONTWIN_BENCH_LOG", "CRITICAL")
    logging.getLogger("carbontwin").setLevel(level)
    logging.getLogger("asyncua").setLevel(level)

    async def main() -> None:
        store = Store.open(f"sqlite:///{Path(folder) / 'store.db'}")
        cfg = ConnectorConfig.model_validate(
            {
                "endpoint": endpoint,
                "publishing_interval_ms": PUBLISHING_MS,
                "timeout_s": 30,
                "watchdog_s": 5,
                "spool": {"path": str(Path(folder) / "spool.db"), "flush_batch": 20000},
                "signals": [
                    {
                        "kind": "power",
                        "meter": f"v{i}",
                        "node": f"nsu={NS_URI};s=v{i}",
                        "unit": "kW",
                        "queue_size": queue,
                    }
                    for i in range(n)
                ],
            }
        )
        connector = OpcUaConnector(cfg, sink=store.write_events)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        await asyncio.wait_for(connector.ready.wait(), 300)
        samples: list = []
        backlog = [0]

        def committed() -> int:
            backlog[0] = max(backlog[0], connector.backlog())
            return connector.flushed()

        done = asyncio.Event()
        sampler = asyncio.create_task(_sample(committed, samples, done))
        ready.set()
        while not finish.is_set():  # noqa: ASYNC110 - a multiprocessing event
            await asyncio.sleep(0.05)
        await connector.wait_idle(quiet_s=1.0, timeout_s=120)
        done.set()
        await sampler
        stop.set()
        await task
        ev = store.read_events()
        store.close()
        stats = {
            k: int(getattr(connector.stats, k))
            for k in ("overflows", "sequence_gaps", "reconnects", "gaps", "late")
        }
        np.savez(
            out_path,
            samples=np.array(samples, dtype=np.float64),
            meter=np.array([int(str(m)[1:]) for m in ev.power_meter], dtype=np.int64),
            seq=np.asarray(ev.power_kw, dtype=np.float64),
            gap_meter=np.array([int(str(m)[1:]) for m in ev.gap_source], dtype=np.int64),
            gap_start=np.asarray(ev.gap_start, dtype=np.float64),
            gap_end=np.asarray(ev.gap_end, dtype=np.float64),
            power_t=np.asarray(ev.power_t, dtype=np.float64),
            max_backlog=np.array([backlog[0]]),
            stats=np.array([json.dumps(stats)]),
        )

    asyncio.run(main())


# ----------------------------------------------------------------------------- counting
def _rate(samples: np.ndarray, t0: float, t1: float, col: int = 1) -> float:
    """Values (col 1) or CPU seconds (col 2) per second between wall times t0 and t1,
    from (time, count, CPU time) samples."""
    if len(samples) < 2:
        return 0.0
    c0, c1 = np.interp([t0, t1], samples[:, 0], samples[:, col])
    return float((c1 - c0) / (t1 - t0))


def _count(per_var: list[np.ndarray], k0: int, k1: int) -> tuple[int, int, list[np.ndarray]]:
    """(lost, duplicates, missing numbers per variable) of rounds k0..k1."""
    lost = dup = 0
    missing = []
    want = np.arange(k0, k1 + 1, dtype=np.float64)
    for seqs in per_var:
        s = seqs[(seqs >= k0) & (seqs <= k1)]
        uniq = np.unique(s)
        dup += int(len(s) - len(uniq))
        miss = np.setdiff1d(want, uniq, assume_unique=True)
        missing.append(miss)
        lost += int(len(miss))
    return lost, dup, missing


def run_rate(
    rate: float,
    period_ms: float,
    seconds: float,
    warmup: float,
    server_url: str | None = None,
    queue: int = QUEUE_SIZE,
) -> dict:
    """One rate: the load server (ours, or ``server_url``), both readers, the counts."""
    ctx = mp.get_context("spawn")
    ready_raw, ready_ct, finish = ctx.Event(), ctx.Event(), ctx.Event()
    with tempfile.TemporaryDirectory(prefix="carbontwin-bench-") as tmp:
        raw_out, ct_out = os.path.join(tmp, "raw.npz"), os.path.join(tmp, "ct.npz")
        server: subprocess.Popen[str] | None = None
        procs: list = []
        try:
            if server_url is None:
                n = max(1, round(rate * period_ms / 1000.0))
                server, endpoint = _start_server(n, period_ms, tmp)
            else:
                endpoint = server_url
                info = _control(endpoint, run=False)
                n, period_ms = int(info["variables"]), float(info["period_ms"])
                rate = n * 1000.0 / period_ms
            raw = ctx.Process(target=_raw, args=(endpoint, n, queue, ready_raw, finish, raw_out))
            ct = ctx.Process(
                target=_connector, args=(endpoint, n, queue, tmp, ready_ct, finish, ct_out)
            )
            raw.start()
            ct.start()
            procs += [raw, ct]
            for ev, who in ((ready_raw, "raw asyncua"), (ready_ct, "the connector")):
                if not ev.wait(600):
                    raise SystemExit(f"{who} did not subscribe")
            _control(endpoint, run=True)
            time.sleep(warmup)
            k0, w0 = int(_control(endpoint)["round"]) + 1, time.time()
            time.sleep(seconds)
            info = _control(endpoint)
            k1, w1 = int(info["round"]), float(info["round_time"])
            info = _control(endpoint, run=False)
            served = (k1 - k0 + 1) * n / max(w1 - w0, 1e-9)
            time.sleep(3.0)  # the readers drain
            finish.set()
            for p in procs:
                p.join(300)
        finally:
            finish.set()
            for p in procs:
                p.join(30)
                if p.is_alive():
                    p.terminate()
            if server is not None:
                assert server.stdin is not None
                server.stdin.close()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        r, c = np.load(raw_out), np.load(ct_out)
        raw_lost, raw_dup, _ = _count([r[f"v{i}"] for i in range(n)], k0, k1)
        meter, seq = c["meter"], c["seq"]
        order = np.argsort(meter, kind="stable")
        bounds = np.searchsorted(meter[order], np.arange(n + 1))
        by_var = seq[order]  # once: each slice below is a view of this one array
        per_var = [by_var[bounds[i] : bounds[i + 1]] for i in range(n)]
        ct_lost_all, ct_dup, missing = _count(per_var, k0, k1)
        # a missing number inside a gap the connector recorded is not silent
        gapped = 0
        pt = c["power_t"]
        covered = [np.zeros(len(m), dtype=bool) for m in missing]
        for g_m, g0, g1 in zip(c["gap_meter"], c["gap_start"], c["gap_end"], strict=True):
            sl = order[bounds[int(g_m)] : bounds[int(g_m) + 1]]
            s, t = seq[sl], pt[sl]
            lo = s[t <= g0].max(initial=0.0)
            hi = s[t >= g1].min(initial=np.inf)
            miss = missing[int(g_m)]
            covered[int(g_m)] |= (miss > lo) & (miss < hi)
        gapped = int(sum(int(m.sum()) for m in covered))
        raw_rate = _rate(r["samples"], w0, w1)
        ct_rate = _rate(c["samples"], w0, w1)
        stats = json.loads(str(c["stats"][0]))
        return {
            "offered_per_s": rate,
            "queue_size": queue,
            "variables": n,
            "served_per_s": round(served, 1),
            "raw_per_s": round(raw_rate, 1),
            "carbontwin_per_s": round(ct_rate, 1),
            "ratio": round(ct_rate / raw_rate, 3) if raw_rate else 0.0,
            "lost": int(ct_lost_all - gapped) + raw_lost,
            "duplicates": ct_dup + raw_dup,
            "max_backlog": int(c["max_backlog"][0]),
            # CPU seconds per second of each reader process over the window
            "raw_cpu": round(_rate(r["samples"], w0, w1, col=2), 3),
            "carbontwin_cpu": round(_rate(c["samples"], w0, w1, col=2), 3),
            "raw": {"lost": raw_lost, "duplicates": raw_dup},
            "carbontwin": {
                "lost": int(ct_lost_all - gapped),
                "gapped": gapped,
                "duplicates": ct_dup,
                **stats,
            },
            "rounds": int(k1 - k0 + 1),
        }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", type=float, nargs="+", default=[10_000, 20_000, 50_000])
    p.add_argument("--period-ms", type=float, default=100.0)
    p.add_argument("--seconds", type=float, default=30.0, help="measuring window per rate")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--small", action="store_true", help="tiny: 500 changes/s for 2 s")
    p.add_argument(
        "--server-url",
        help="an external load server following the protocol above (one run at its own rate)",
    )
    p.add_argument(
        "--queue-size",
        type=int,
        default=QUEUE_SIZE,
        help="monitored item queue size of both readers (small: the server's queues overflow)",
    )
    a = p.parse_args(argv)
    if a.small:
        a.rates, a.seconds, a.warmup = [500.0], 2.0, 1.0
    runs = []
    for rate in a.rates if a.server_url is None else [0.0]:
        run = run_rate(rate, a.period_ms, a.seconds, a.warmup, a.server_url, a.queue_size)
        rate = run["offered_per_s"]
        runs.append(run)
        print(
            f"{rate:>8,.0f}/s offered ({run['variables']} variables every {a.period_ms:g} ms; "
            f"served {run['served_per_s']:,.0f}/s): raw asyncua {run['raw_per_s']:,.0f}/s, "
            f"carbontwin {run['carbontwin_per_s']:,.0f}/s committed (ratio {run['ratio']:.3f}); "
            f"lost {run['lost']}, duplicates {run['duplicates']}, max backlog {run['max_backlog']}; "
            f"raw {run['raw']}, connector {run['carbontwin']}",
            file=sys.stderr,
        )
    result = {"runs": runs, "load_average": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
