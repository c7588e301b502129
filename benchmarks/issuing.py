"""Issuing benchmark: events in, signed footprints stored, day by day into one growing store.

Run from the repository root::

    python benchmarks/issuing.py                          # 1 k, 10 k and 100 k orders, SQLite
    python benchmarks/issuing.py --database-url postgresql+psycopg://postgres@127.0.0.1/test
    python benchmarks/issuing.py --stages 60,200 --cells 1 # tiny (the test suite runs this)

The plant is ``--cells`` copies of the demo factory's eight machines (two on one
shared meter, the rest on their own), each cell with a metered compressed-air
unit and a modelled HVAC unit. Every day each machine runs ``--ops`` orders
(setup then processing) between 05:00 and 21:00 UTC, and every meter reports
power every ``--sample-s`` seconds (60). A day arrives as a connector and an MES
would deliver it: the day's orders (``Store.save_orders``) and one event batch
(``Store.write_events``); then ``carbontwin issue`` runs
(:func:`carbontwin.api.issuing.issue_windows`, day windows), which attributes the
window that closed and issues, signs and stores the footprints of its orders.

Timed per day, all of it: the store writes of the day's orders and events, and
the issue (reading the window, attribution, pieces, combining, signing, storing).
Not timed: generating the day's synthetic data.

Then (unless ``--one-process``) the same days again into a new store the way a
plant runs it on two cores: one process stores each day's orders and events, as
the connector and MES import do, and attributes the windows they close
(``carbontwin issue --stage attribute``); a second process issues the orders of
every attributed window as it appears (``carbontwin issue --stage issue``). The
days are generated and written to files first (not timed); each is read back
from its file in the storing process (timed). The clock runs from the first
day's delivery to the last footprint stored.

The last line printed is JSON: ``orders_per_s`` (orders issued per second while
the store grows from the first to the second stage, 1 k to 10 k orders, in the
two-process run; ``orders_per_cpu_s`` the same per second of both processes' CPU
time), ``orders_per_s_one_process`` and ``orders_per_cpu_s_one_process`` (the same of
the one-process run), ``window_s_first`` and ``window_s_last`` (median time of one day's
delivery and issue over the first and the last five days that issued footprints: the
smallest and the largest store; ``window_cpu_s_*`` the same in CPU time), ``peak_rss_mb`` (the process's peak), ``rss_mb_at`` (resident
memory at each stage: it should not grow with the history), ``stages`` (orders
issued, days, seconds, orders per second per stage; ``two_process_stages`` the same of
the two-process run), ``events`` (rows stored).

On PostgreSQL the run works in a schema of its own (created empty, dropped at
the end), so that runs on one database never see each other's rows.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from carbontwin.api.issuing import issue_windows
from carbontwin.plugins.signing import Signer
from carbontwin.twin.events import EventBatch
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.model import STATES, Factory, Meter, Order, ServesLink, State
from carbontwin.twin.store import Store

DAY_S = 86_400.0
DAY0 = datetime(2019, 3, 4, tzinfo=UTC).timestamp()  # a Monday; the DE 2019 hourly series
_IDX = {s: i for i, s in enumerate(STATES)}


def _obj(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def plant(cells: int) -> tuple[Factory, dict[str, tuple[str, ...]]]:
    """The benchmark factory (no orders: they arrive day by day) and meter -> assets."""
    demo = demo_factory()
    air = next(u for u in demo.utilities if u.kind == "compressed_air")
    hvac = next((u for u in demo.utilities if u.kind == "hvac"), air)
    machines, meters, utilities = [], [], []
    for c in range(cells):
        cell = [
            dataclasses.replace(m, id=f"c{c:02d}-{m.id}", setup_matrix_s={}, capacity=1)
            for m in demo.machines
        ]
        machines += cell
        ids = [m.id for m in cell]
        shared = (ids[1], ids[2])
        meters.append(Meter(f"M-c{c:02d}-shared", "shared", shared))
        meters += [
            Meter(f"M-{m.id}", m.id, (m.id,), carrier=m.power.carrier)
            for m in cell
            if m.id not in shared
        ]
        utilities.append(
            dataclasses.replace(air, id=f"c{c:02d}-air", serves=tuple(ServesLink(m) for m in ids))
        )
        utilities.append(
            dataclasses.replace(
                hvac,
                id=f"c{c:02d}-hvac",
                allocation_key="declared",
                serves=tuple(ServesLink(m, 1.0 + (k % 3)) for k, m in enumerate(ids)),
            )
        )
        meters.append(Meter(f"M-c{c:02d}-air", "air", (f"c{c:02d}-air",)))
    products = tuple(  # routings on the first cell's machines
        dataclasses.replace(
            p,
            routing=tuple(
                dataclasses.replace(
                    op,
                    machine=f"c00-{op.machine}",
                    alternatives=tuple(f"c00-{m}" for m in op.alternatives),
                )
                for op in p.routing
            ),
        )
        for p in demo.products
    )
    factory = dataclasses.replace(
        demo,
        machines=tuple(machines),
        meters=tuple(meters),
        utilities=tuple(utilities),
        products=products,
        orders=(),
    )
    return factory, {m.id: m.measures for m in meters}


def day_events(
    factory: Factory,
    measures: dict[str, tuple[str, ...]],
    day: int,
    ops: int,
    sample_s: float,
    rng: np.random.Generator,
) -> tuple[list[Order], EventBatch]:
    """One day's orders and events (states, order steps, power samples)."""
    d0 = DAY0 + day * DAY_S
    t_first, t_last = d0 + 5 * 3600.0, d0 + 21 * 3600.0
    products = demo_factory().products
    orders: list[Order] = []
    st_a: list[str] = []
    st_t: list[np.ndarray] = []
    st_s: list[np.ndarray] = []
    sp_o: list[str] = []
    sp_a: list[str] = []
    sp_k: list[str] = []
    sp_f: list[np.ndarray] = []
    states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    slot = (t_last - t_first) / ops
    release = datetime.fromtimestamp(d0, tz=UTC)
    for mi, m in enumerate(factory.machines):
        start = t_first + slot * np.arange(ops) + rng.uniform(0, 0.05, ops) * slot
        s_end = start + rng.uniform(0.1, 0.25, ops) * slot
        p_end = s_end + rng.uniform(0.5, 0.7, ops) * slot
        qty = rng.integers(5, 200, ops).astype(float)
        oid = [f"D{day:04d}-{mi:03d}-{k:02d}" for k in range(ops)]
        prod = products[mi % len(products)]
        orders += [
            Order(o, prod.id, float(q), release, release) for o, q in zip(oid, qty, strict=True)
        ]
        sp_o += oid * 2
        sp_a += [m.id] * (2 * ops)
        sp_k += ["setup"] * ops + ["processing"] * ops
        sp_f.append(np.stack([np.r_[start, s_end], np.r_[s_end, p_end], np.r_[qty, qty]]))
        t_s = np.r_[d0, t_first - 900.0, start, s_end, p_end, t_last + 3600.0]
        s_s = np.r_[
            _IDX[State.OFF],
            _IDX[State.IDLE],
            np.full(ops, _IDX[State.SETUP]),
            np.full(ops, _IDX[State.PROCESSING]),
            np.full(ops, _IDX[State.IDLE]),
            _IDX[State.OFF],
        ]
        o = np.argsort(t_s, kind="stable")
        states[m.id] = (t_s[o], s_s[o])
    for u in factory.utilities:
        states[u.id] = (
            np.array([d0, t_first - 900.0, t_last + 3600.0]),
            np.array([_IDX[State.OFF], _IDX[State.PROCESSING], _IDX[State.OFF]]),
        )
    for a, (t_s, s_s) in states.items():
        st_a += [a] * t_s.size
        st_t.append(t_s)
        st_s.append(s_s)
    t = d0 + np.arange(0.0, DAY_S, sample_s)
    power = {a: np.array([factory.power_model(a).power_kw[s] for s in STATES]) for a in states}
    p_m: list[np.ndarray] = []
    p_kw: list[np.ndarray] = []
    for meter, assets in measures.items():
        kw = np.zeros(t.size)
        for a in assets:
            t_s, s_s = states[a]
            kw += power[a][s_s[np.searchsorted(t_s, t, side="right") - 1]]
        p_kw.append(kw * (1.0 + 0.05 * rng.standard_normal(t.size).clip(-3, 3)))
        p_m.append(np.full(t.size, meter, dtype=object))
    f = np.concatenate(sp_f, axis=1)
    batch = EventBatch(
        state_asset=_obj(st_a),
        state_t=np.concatenate(st_t),
        state=_obj([STATES[i].value for i in np.concatenate(st_s)]),
        power_meter=np.concatenate(p_m),
        power_t=np.tile(t, len(measures)),
        power_kw=np.concatenate(p_kw),
        step_order=_obj(sp_o),
        step_operation=_obj(["op"] * len(sp_o)),
        step_asset=_obj(sp_a),
        step_start=f[0],
        step_end=f[1],
        step_quantity=f[2],
        step_kind=_obj(sp_k),
    )
    return orders, batch


def _stage_rows(
    marks: list[tuple[int, int, float, float]], stages: list[int]
) -> list[dict[str, Any]]:
    """Per stage: orders issued, days delivered, seconds and CPU seconds since the stage
    before, from ``marks`` (issued so far, days delivered, seconds, CPU seconds) taken
    when the issued total first reached each stage. A stage reached in the same issuing
    pass as the one before (a tiny run) counts from the start instead."""
    rows: list[dict[str, Any]] = []
    n0, d0, t0, c0 = 0, 0, 0.0, 0.0
    for (n, d, t, c), _ in zip(marks, stages, strict=False):
        if t <= t0:
            n0, d0, t0, c0 = 0, 0, 0.0, 0.0
        secs, cpu = t - t0, c - c0
        rows.append(
            {
                "orders": n,
                "days": d - d0,
                "seconds": round(secs, 3),
                "orders_per_s": round((n - n0) / secs, 1) if secs else None,
                "cpu_s": round(cpu, 3),
                "orders_per_cpu_s": round((n - n0) / cpu, 1) if cpu else None,
            }
        )
        n0, d0, t0, c0 = n, d, t, c
    return rows


def _store_and_attribute(
    url: str, tenant: str, folder: str, days: int, cells: int, ready: Any, go: Any, out: Any
) -> None:
    """The storing process of the two-process run: each day's orders and events from its
    file into the store, then the windows they close attributed (``stage="attribute"``)."""
    import pickle
    import resource

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    store = Store.open(url, tenant=tenant)
    factory, _ = plant(cells)
    factors = FactorSet.default(factory)
    signer = Signer(Ed25519PrivateKey.generate())  # not used: this process issues nothing
    ready.set()
    go.wait()
    c0 = time.process_time()
    for d in range(days):
        with open(Path(folder) / f"day{d:05d}.pkl", "rb") as f:
            orders, batch = pickle.load(f)
        store.save_orders(orders)
        store.write_events(batch)
        issue_windows(store, signer, factors=factors, window="day", stage="attribute")
        out.put(("day", d + 1, time.process_time() - c0))
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(("done", time.process_time() - c0, peak))


def two_processes(
    args: argparse.Namespace, stages: list[int], days: int, folder: str
) -> dict[str, Any]:
    """The days in ``folder`` through a storing-and-attributing process and this one,
    issuing (see the module's docstring); the stage figures and both processes' CPU."""
    import multiprocessing as mp
    import queue

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    ctx = mp.get_context("spawn")  # the child opens the store itself
    # a store of its own: a new SQLite file, or on a server a tenant of its own
    url = args.database_url or f"sqlite:///{Path(folder) / 'two.db'}"
    tenant = "two-process" if args.database_url else "default"
    store = Store.open(url, tenant=tenant)
    factory, _ = plant(args.cells)
    store.save_factory(factory)
    factors = FactorSet.default(factory)
    signer = Signer(Ed25519PrivateKey.generate())
    ready, go, events = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(
        target=_store_and_attribute,
        args=(url, tenant, folder, days, args.cells, ready, go, events),
    )
    child.start()
    if not ready.wait(120):
        child.kill()
        raise SystemExit("the storing process did not start")
    go.set()
    t0, c0 = time.perf_counter(), time.process_time()
    delivered, issued, child_cpu, child_peak = 0, 0, None, 0.0
    child_so_far = 0.0  # the storing process's CPU time at its last delivered day
    marks: list[tuple[int, int, float, float]] = []

    def take(msg: tuple[Any, ...]) -> None:
        nonlocal delivered, child_so_far, child_cpu, child_peak
        if msg[0] == "day":
            delivered, child_so_far = msg[1], msg[2]
        else:
            child_cpu, child_peak = msg[1], msg[2]

    seen = 0  # days delivered when the last issuing pass started
    while True:
        while True:  # what the storing process reported meanwhile
            try:
                take(events.get_nowait())
            except queue.Empty:
                break
        finished = child_cpu is not None
        if delivered == seen and not finished:  # no new window: wait for one, not poll
            try:
                take(events.get(timeout=10))
            except queue.Empty:
                if not child.is_alive():
                    raise SystemExit("the storing process stopped") from None
            continue
        seen = delivered
        run = issue_windows(
            store, signer, factors=factors, window="day", stage="issue", batch=args.batch
        )
        issued += len(run.issued)
        now, cpu = time.perf_counter() - t0, time.process_time() - c0 + child_so_far
        while len(marks) < len(stages) and issued >= stages[len(marks)]:
            marks.append((issued, delivered, now, cpu))
        if finished and not run.issued:
            break
    child.join(60)
    store.close()
    wall = time.perf_counter() - t0
    issuer_cpu = time.process_time() - c0
    return {
        "stages": _stage_rows(marks, stages),
        "orders": issued,
        "seconds": round(wall, 3),
        "cpu_s_issuing": round(issuer_cpu, 3),
        "cpu_s_storing": round(child_cpu or 0.0, 3),
        "peak_rss_mb_storing": round(child_peak, 1),
    }


@contextlib.contextmanager
def _fresh_schema(url: str | None) -> Iterator[str | None]:
    """``url`` itself, but on PostgreSQL with its search_path on a new, empty schema that is
    dropped afterwards: each run starts from an empty store, whatever the database holds."""
    if not url or not url.startswith("postgresql"):
        yield url
        return
    import uuid

    import sqlalchemy as sa

    schema = f"carbontwin_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        inner = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield inner.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="1000,10000,100000", help="orders issued at each stage")
    ap.add_argument("--cells", type=int, default=5, help="cells of 8 machines (default 5)")
    ap.add_argument("--ops", type=int, default=12, help="orders per machine and day")
    ap.add_argument("--sample-s", type=float, default=60.0, help="power sample interval [s]")
    ap.add_argument("--database-url", default=None, help="store URL (default: a SQLite file)")
    ap.add_argument("--batch", type=int, default=1000, help="footprints per transaction")
    ap.add_argument(
        "--one-process", action="store_true", help="skip the two-process run (storing | issuing)"
    )
    args = ap.parse_args(argv)
    stages = [int(x) for x in args.stages.split(",")]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp, _fresh_schema(args.database_url) as server_url:
        args.database_url = server_url
        url = args.database_url or f"sqlite:///{Path(tmp) / 'issuing.db'}"
        store = Store.open(url)
        factory, measures = plant(args.cells)
        store.save_factory(factory)
        factors = FactorSet.default(factory)
        signer = Signer(Ed25519PrivateKey.generate())
        rng = np.random.default_rng(11)
        per_day: list[float] = []
        cpu_day: list[float] = []
        issued_on: list[int] = []
        issued_total = 0
        rows = 0
        marks: list[tuple[int, int, float, float]] = []  # see _stage_rows
        rss_at: dict[str, float] = {}
        elapsed = 0.0
        cpu = 0.0
        day = 0
        while len(marks) < len(stages):
            orders, batch = day_events(factory, measures, day, args.ops, args.sample_s, rng)
            t0 = time.perf_counter()
            c0 = time.process_time()
            store.save_orders(orders)
            rows += store.write_events(batch)
            run = issue_windows(store, signer, factors=factors, window="day", batch=args.batch)
            dt = time.perf_counter() - t0
            dc = time.process_time() - c0
            cpu += dc
            elapsed += dt
            per_day.append(dt)
            cpu_day.append(dc)
            issued_total += len(run.issued)
            issued_on.append(len(run.issued))
            day += 1
            if issued_total >= stages[len(marks)]:
                n0, _, t_0, _ = marks[-1] if marks else (0, 0, 0.0, 0.0)
                n, secs = issued_total - n0, elapsed - t_0
                rss_at[str(stages[len(marks)])] = round(proc.memory_info().rss / 2**20, 1)
                print(
                    f"stage {stages[len(marks)]:>7} orders: {n} issued in {secs:.1f} s "
                    f"({n / secs:.0f}/s), {day} days, {rows:,} rows stored",
                    file=sys.stderr,
                )
                marks.append((issued_total, day, elapsed, cpu))
        store.close()
        stage_rows = _stage_rows(marks, stages)
        peak = proc.memory_info().rss  # of the one-process run (the next run is another)
        try:
            import resource

            peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        except ImportError:  # pragma: no cover - not on Linux
            pass
        two: dict[str, Any] | None = None
        if not args.one_process:
            import pickle

            rng = np.random.default_rng(11)  # the same days again, written to files first
            for d in range(day):
                with open(Path(tmp) / f"day{d:05d}.pkl", "wb") as f:
                    pickle.dump(day_events(factory, measures, d, args.ops, args.sample_s, rng), f)
            two = two_processes(args, stages, day, tmp)
            t_at = two["stages"][1] if len(two["stages"]) > 1 else two["stages"][0]
            print(
                f"two processes: {two['orders']} issued in {two['seconds']:.1f} s, "
                f"{t_at['orders_per_s']}/s at stage {t_at['orders']}",
                file=sys.stderr,
            )
    k = min(5, max(1, len(per_day) // 4))
    # day 0 closes no window; only days that issued count (a weekend's window closes on
    # Monday, with three days of orders)
    busy = [i for i in range(1, len(per_day)) if issued_on[i]] or list(range(len(per_day)))
    first_i, last_i = busy[:k], busy[-k:]
    first = [per_day[i] for i in first_i]
    last = [per_day[i] for i in last_i]
    first_cpu = [cpu_day[i] for i in first_i]
    last_cpu = [cpu_day[i] for i in last_i]
    at = stage_rows[1] if len(stage_rows) > 1 else stage_rows[0]
    two_at = None
    if two is not None:
        two_at = two["stages"][1] if len(two["stages"]) > 1 else two["stages"][0]
    out = {
        "database": url.split(":", 1)[0],
        "orders_per_s": two_at["orders_per_s"] if two_at else None,
        "orders_per_cpu_s": two_at["orders_per_cpu_s"] if two_at else None,
        "orders_per_s_one_process": at["orders_per_s"],
        "orders_per_cpu_s_one_process": at["orders_per_cpu_s"],
        "window_s_first": round(statistics.median(first), 4),
        "window_s_last": round(statistics.median(last), 4),
        "window_ratio": round(statistics.median(last) / statistics.median(first), 3),
        "window_cpu_s_first": round(statistics.median(first_cpu), 4),
        "window_cpu_s_last": round(statistics.median(last_cpu), 4),
        "window_cpu_ratio": round(statistics.median(last_cpu) / statistics.median(first_cpu), 3),
        "peak_rss_mb": round(peak / 2**20, 1),
        "rss_mb_at": rss_at,
        "stages": stage_rows,
        "two_process": two,
        "events": rows,
        "machines": len(factory.machines),
        "orders_per_day": len(factory.machines) * args.ops,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
