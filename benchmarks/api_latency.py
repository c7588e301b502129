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
``GET /labels/{order}?format=svg`` over all issued footprints, on keep-alive
connections (a new one is opened whenever all are busy). A latency runs from
the time a request was due to the time its response was read, so a server
that falls behind shows it in full, as it would to a user.

The last line printed is JSON: ``{"runs": [{"rate", "p50_ms", "p99_ms",
"errors", "factory_machines", ...}, ...]}`` plus the first run's keys at the
top level. ``offered_rate`` is the number of requests written within the run's
length per second (the arrival rate actually offered), ``send_lag_p99_ms`` how
late the client wrote them (already inside every latency), ``loadavg`` and
``loadavg_after`` the machine's 1-minute load average around the run (the
cores may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
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
#: a keep-alive connection idle longer than this is not reused (uvicorn's limit is 5 s)
KEEP_ALIVE_S = 4.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_store(folder: Path, machines: int) -> tuple[str, list[tuple[str, str]]]:
    """A SQLite store with the demo day issued; returns its URL and (footprint id, order)."""
    from carbontwin.api.demo import simulate_day
    from carbontwin.api.issuing import attribute_inputs, issue_footprints, read_inputs
    from carbontwin.plugins.signing import Signer, load_or_create_key
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
    inputs = read_inputs(store)
    signer = Signer(load_or_create_key(folder / "key.pem"))  # the key the server signs with
    issued = issue_footprints(store, inputs, attribute_inputs(inputs), signer)
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


class _Conn:
    """One keep-alive HTTP/1.1 connection on asyncio streams (a lean client: the load
    generator must not be what limits the rate)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = 0  # requests answered on it
        self.idle_since = 0.0

    def stale(self, now: float) -> bool:
        """Closed by the server, or idle so long that the server may be closing it
        (uvicorn drops keep-alive connections idle for 5 s)."""
        return (
            self.reader.at_eof() or self.writer.is_closing() or now - self.idle_since > KEEP_ALIVE_S
        )

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def open_loop(
    base: str,
    token: str,
    targets: list[tuple[str, str]],
    rate: float,
    seconds: float,
    max_connections: int = 256,
) -> dict[str, Any]:
    """Send ``rate`` requests/s for ``seconds``; latency from due time to response read.

    Requests go out on a pool of keep-alive connections; when every connection
    is busy at a request's due time, a new one is opened (up to ``max_connections``),
    so a slow server shows up as latency, never as a lower offered rate. A request
    that waits for a connection past its due time has that wait in its latency.
    """
    host, port = base.removeprefix("http://").split(":")
    n = int(rate * seconds)
    reqs = []
    for i in range(n):
        fid, order = targets[(i // 2) % len(targets)]
        path = f"/3/footprints/{fid}" if i % 2 == 0 else f"/labels/{order}?format=svg"
        reqs.append(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
    lat = np.full(n, np.nan)
    sent = np.full(n, np.nan)  # when each request was written, from t0 [s]
    status = np.zeros(n, dtype=np.int64)
    retried = np.zeros(n, dtype=bool)  # sent again after a kept-alive connection failed
    idle: list[_Conn] = []
    opened = 0
    sem = asyncio.Semaphore(max_connections)

    async def conn(fresh: bool = False) -> _Conn:
        nonlocal opened
        while idle and not fresh:
            c = idle.pop()
            if not c.stale(loop.time()):
                return c
            c.writer.close()
        opened += 1
        return _Conn(*await asyncio.open_connection(host, int(port)))

    async def get(c: _Conn, request: bytes) -> int:
        code = await c.get(request)
        c.used += 1
        c.idle_since = loop.time()
        idle.append(c)
        return code

    loop = asyncio.get_running_loop()
    # warm the server's first-use work on a few connections, not timed
    for r in reqs[: min(n, 20)]:
        await get(await conn(), r)
    # the client's own pauses would count as the server's latency: no cyclic garbage
    # collection of the heap built before the run (the store, the simulated day) while
    # requests are due
    gc.collect()
    gc.freeze()
    gc.disable()
    t0 = loop.time() + 0.05

    async def one(i: int, due: float) -> None:
        async with sem:
            c = await conn()
            sent[i] = loop.time() - t0
            try:
                status[i] = await get(c, reqs[i])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                c.writer.close()
                status[i] = -1
                # a kept-alive connection the server closed: once more on a new one, as
                # HTTP clients do for a GET (the time it takes is in the latency)
                if c.used:
                    retried[i] = True
                    with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
                        status[i] = await get(await conn(fresh=True), reqs[i])
            lat[i] = loop.time() - due

    tasks = []
    try:
        for i in range(n):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
        gc.unfreeze()
    for c in idle:
        c.writer.close()
    ok = status == 200
    ms = lat * 1000.0
    due = np.arange(n) / rate
    return {
        "requests": n,
        # requests written within the run's length: the arrival rate actually offered
        "offered_rate": round(float((sent <= seconds).sum()) / seconds, 2),
        # how late requests went out (the client's own delay; counted in every latency)
        "send_lag_p99_ms": round(float(np.percentile((sent - due) * 1000.0, 99)), 2),
        "errors": int((~ok).sum()),
        # non-200 answers by status (-1: no answer, the connection failed)
        "error_statuses": {
            str(k): int(v) for k, v in zip(*np.unique(status[~ok], return_counts=True), strict=True)
        },
        "connections": opened,
        "retried": int(retried.sum()),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(np.max(ms)), 2),
        "pact_p99_ms": round(float(np.percentile(ms[0::2], 99)), 2),
        "label_p99_ms": round(float(np.percentile(ms[1::2], 99)), 2),
    }


def _run(main: Any) -> Any:
    """Run a coroutine on uvloop when installed (a lighter client leaves the shared
    cores to the server), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


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
            out = _run(open_loop(base, tok, targets, rate, seconds))
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
        "loadavg_after": round(os.getloadavg()[0], 2),
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
