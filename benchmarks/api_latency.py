"""API latency benchmark: open-loop load on ``carbontwin serve`` (one worker) on 127.0.0.1.

Run from the repository root::

    python benchmarks/api_latency.py                    # 300 req/s for 20 s, demo and 500 machines
    python benchmarks/api_latency.py --rate 100 --seconds 5 --machines 8
    python benchmarks/api_latency.py --small            # a few seconds (the test suite runs this)

For each factory size it builds a SQLite store (the demo factory's first day,
simulated and issued through :mod:`carbontwin.api.issuing`; the large factory
is the demo plant plus copies of its machines up to ``--machines``), starts
``carbontwin serve`` in its own process and sends requests at a fixed arrival
rate — request *i* is due at ``t0 + i / rate`` whatever happened to the ones
before (open loop, so a slow server is not hidden by a client that waits). The
requests alternate between ``GET /3/footprints/{id}`` (PACT v3) and
``GET /labels/{order}?format=svg`` over all issued footprints. A latency runs
from the time a request was due to the time its response was read, so
queueing in the client counts against the server, as it would for a user.

The last line printed is JSON: ``{"runs": [{"rate", "p50_ms", "p99_ms",
"errors", "factory_machines", ...}, ...]}`` plus the first run's keys at the
top level.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-not-for-production"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(folder: Path, machines: int) -> tuple[str, list[tuple[str, str]]]:
    """A SQLite store with the demo day issued; returns its URL and (footprint id, order)."""
    from carbontwin.api.demo import simulate_day
    from carbontwin.api.issuing import issue_footprints
    from carbontwin.plugins.factors import factor_set
    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.store import Store

    day = simulate_day(seed=0)
    factory = day.factory
    base = factory.machines
    extra = []
    k = 0
    while len(base) + len(extra) < machines:
        m = base[k % len(base)]
        extra.append(dataclasses.replace(m, id=f"x{k:04d}-{m.id}", setup_matrix_s={}))
        k += 1
    if extra:
        factory = dataclasses.replace(factory, machines=base + tuple(extra))
    url = f"sqlite:///{folder / 'carbontwin.db'}"
    store = Store.open(url)
    store.save_factory(factory)
    store.save_orders(day.orders)
    store.write_events(day.events)
    result = attribute(factory, store.read_events(), factor_set(factory))
    issued = issue_footprints(store, factory, result)
    getattr(store, "close", lambda: None)()
    return url, [(fp.id, fp.order) for fp in issued]


def start_server(url: str, folder: Path) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    env = {
        **os.environ,
        "CARBONTWIN_CLIENT_ID": CLIENT_ID,
        "CARBONTWIN_CLIENT_SECRET": CLIENT_SECRET,
    }
    cmd = [sys.executable, "-m", "carbontwin.api.cli", "serve", "--port", str(port)]
    cmd += ["--database-url", url, "--key-path", str(folder / "key.pem"), "--insecure-http"]
    proc = subprocess.Popen(
        cmd, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1.0).raise_for_status()
            return proc, base
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = proc.stderr.read() if proc.stderr else ""
                msg = f"carbontwin serve did not start: {err[-2000:]}"
                raise RuntimeError(msg) from None
            time.sleep(0.1)


async def open_loop(
    base: str, token: str, targets: list[tuple[str, str]], rate: float, seconds: float
) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``seconds``; latency from due time to response read."""
    n = int(rate * seconds)
    paths = []
    for i in range(n):
        fid, order = targets[(i // 2) % len(targets)]
        paths.append(f"/3/footprints/{fid}" if i % 2 == 0 else f"/labels/{order}?format=svg")
    lat = np.full(n, np.nan)
    status = np.zeros(n, dtype=np.int64)
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers, timeout=30) as c:
        # warm the connection pool and the server's first-use work, not timed
        await asyncio.gather(*(c.get(p) for p in paths[: min(n, 20)]))
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def one(i: int) -> None:
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                r = await c.get(paths[i])
                await r.aread()
                status[i] = r.status_code
            except httpx.HTTPError:
                status[i] = -1
            lat[i] = loop.time() - due

        await asyncio.gather(*(one(i) for i in range(n)))
    ok = status == 200
    ms = lat * 1000.0
    return {
        "requests": n,
        "errors": int((~ok).sum()),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(np.max(ms)), 2),
        "pact_p99_ms": round(float(np.percentile(ms[0::2], 99)), 2),
        "label_p99_ms": round(float(np.percentile(ms[1::2], 99)), 2),
    }


def run(machines: int, rate: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="carbontwin-api-bench-") as tmp:
        folder = Path(tmp)
        url, targets = build_store(folder, machines)
        proc, base = start_server(url, folder)
        try:
            tok = httpx.post(
                f"{base}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
            ).json()["access_token"]
            load0 = os.getloadavg()[0]
            out = asyncio.run(open_loop(base, tok, targets, rate, seconds))
        finally:
            proc.terminate()
            proc.wait(10)
    return {
        "rate": rate,
        "seconds": seconds,
        "factory_machines": machines,
        "footprints": len(targets),
        **out,
        "loadavg": round(load0, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=300.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each run [s]")
    ap.add_argument(
        "--machines", type=int, nargs="+", default=[8, 500], help="factory sizes (8: the demo)"
    )
    ap.add_argument("--small", action="store_true", help="a few seconds, for the test suite")
    args = ap.parse_args(argv)
    if args.small:
        args.rate, args.seconds, args.machines = 50.0, 2.0, [8]
    runs = []
    for m in args.machines:
        r = run(m, args.rate, args.seconds)
        print(
            f"{m} machines: {r['requests']} requests at {r['rate']:g}/s, p50 {r['p50_ms']} ms, "
            f"p99 {r['p99_ms']} ms (PACT {r['pact_p99_ms']}, label {r['label_p99_ms']}), "
            f"{r['errors']} errors; load average {r['loadavg']}",
            file=sys.stderr,
        )
        runs.append(r)
    doc = {**runs[0], "runs": runs}
    print(json.dumps(doc))
    return doc


if __name__ == "__main__":
    main()
