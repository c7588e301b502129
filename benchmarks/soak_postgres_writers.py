"""Soak: concurrent writers on PostgreSQL for minutes; nothing acknowledged is lost.

``--writers`` processes each open their own ``Store`` on one PostgreSQL
database (a fresh schema of its own, dropped afterwards unless ``--keep``) and
ingest batches of ``--batch`` power samples (``Store.ingest``, the path behind
``POST /events``: one transaction per batch) as fast as they can for
``--minutes``. Each writer has its own meter and times, so every row is new. A
batch counts as acknowledged when ``ingest`` returned; a refused batch (an
error) is counted and not acknowledged. Afterwards the rows stored per writer
are counted in the database: ``lost`` (acknowledged but not stored) and
``extra`` (stored but never acknowledged: a half-written batch) must both be 0,
and every writer's stored rows are whole batches.

Run::

    python benchmarks/soak_postgres_writers.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/soak_postgres_writers.py --minutes 0.1 --batch 500    # smoke / tests

``--database-url`` defaults to CARBONTWIN_TEST_POSTGRES_URL, then
CARBONTWIN_DATABASE_URL. The last line is JSON: {"writers", "minutes",
"batch_rows", "acknowledged", "stored", "lost", "extra", "partial_batches",
"errors", "rows_per_s", "ok"}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from typing import Any

import numpy as np
import sqlalchemy as sa

T0 = 1_551_679_200.0  # 2019-03-04T06:00:00Z


def _schema_url(base_url: str, schema: str) -> str:
    url = sa.make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def writer(
    url: str, k: int, batch_rows: int, seconds: float, ready: mp.Queue, go: Any, out: mp.Queue
) -> None:
    """Ingest batches of meter ``W{k}`` for ``seconds`` after ``go``; report the counts."""
    from carbontwin.twin.events import EventBatch
    from carbontwin.twin.store import Store

    store = Store(url)
    acked = batches = errors = 0
    meter = f"W{k}"
    ready.put(k)
    go.wait()
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            t = T0 + np.arange(batches * batch_rows, (batches + 1) * batch_rows, dtype=np.float64)
            batch = EventBatch(
                power_meter=np.full(batch_rows, meter, dtype=object),
                power_t=t,
                power_kw=np.full(batch_rows, 5.0 + k),
            )
            try:
                settled = store.ingest(batch)
            except Exception as exc:  # counted: a refused batch is not acknowledged
                errors += 1
                print(f"writer {k}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            acked += settled.new
            batches += 1
    finally:
        store.close()
    out.put({"writer": k, "acknowledged": acked, "batches": batches, "errors": errors})


def soak(base_url: str, writers: int, minutes: float, batch_rows: int, keep: bool) -> dict:
    from carbontwin.twin.store import Store

    schema = f"soak_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = _schema_url(base_url, schema)
    try:
        Store.open(url).close()  # migrations once, before the writers start
        ctx = mp.get_context("spawn")
        out: mp.Queue = ctx.Queue()
        ready: mp.Queue = ctx.Queue()
        go = ctx.Event()
        procs = [
            ctx.Process(target=writer, args=(url, k, batch_rows, minutes * 60.0, ready, go, out))
            for k in range(writers)
        ]
        for p in procs:
            p.start()
        for _ in procs:  # every writer imported and connected: the clock starts for all
            ready.get(timeout=600)
        started = time.time()
        go.set()
        reports = [out.get(timeout=minutes * 60.0 + 600) for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.time() - started
        with sa.create_engine(url).connect() as conn:
            stored = dict(
                conn.execute(
                    sa.text("SELECT meter, count(*) FROM power_samples GROUP BY meter")
                ).all()
            )
    finally:
        if not keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
    acked = {r["writer"]: r["acknowledged"] for r in reports}
    per = {k: int(stored.get(f"W{k}", 0)) for k in acked}
    lost = sum(max(0, acked[k] - per[k]) for k in acked)
    extra = sum(max(0, per[k] - acked[k]) for k in acked)
    partial = sum(1 for k in acked if per[k] % batch_rows)
    result = {
        "writers": writers,
        "minutes": minutes,
        "batch_rows": batch_rows,
        "acknowledged": sum(acked.values()),
        "stored": sum(per.values()),
        "lost": lost,
        "extra": extra,
        "partial_batches": partial,
        "errors": sum(r["errors"] for r in reports),
        "rows_per_s": round(sum(per.values()) / elapsed, 1),
        "per_writer": [
            {"writer": k, "acknowledged": acked[k], "stored": per[k]} for k in sorted(acked)
        ],
        "schema_kept": schema if keep else None,
    }
    result["ok"] = lost == extra == partial == 0 and result["acknowledged"] > 0
    return result


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database-url",
        default=os.environ.get("CARBONTWIN_TEST_POSTGRES_URL")
        or os.environ.get("CARBONTWIN_DATABASE_URL"),
        help="PostgreSQL URL (default: CARBONTWIN_TEST_POSTGRES_URL, CARBONTWIN_DATABASE_URL)",
    )
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=5000, help="power samples per batch")
    p.add_argument("--keep", action="store_true", help="keep the schema for inspection")
    a = p.parse_args(argv)
    if not a.database_url or not a.database_url.startswith("postgresql"):
        p.error("give a PostgreSQL --database-url")
    result = soak(a.database_url, a.writers, a.minutes, a.batch, a.keep)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
