"""Storage benchmark: bytes per stored power sample in SQLite, PostgreSQL and the Parquet archive.

Run from the repository root::

    python benchmarks/storage.py                      # SQLite and Parquet
    python benchmarks/storage.py --database-url postgresql+psycopg://postgres@127.0.0.1/test

One cell of the issuing benchmark's plant (eight machines, eight meters) reports
power once a second for ``--days`` days (2); the days are issued
(``carbontwin issue``) and archived (``carbontwin archive``), and the sizes are
read: the SQLite file, the PostgreSQL partition of the month (heap, and heap with
its primary key) and the Parquet files. The last line printed is JSON with
``bytes_per_sample`` per place and ``samples``; ``docs/scaling.md`` extrapolates
them to 500 machines x 1 year.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import issuing as plant_of  # noqa: E402  (the issuing benchmark's plant)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from carbontwin.api.issuing import issue_windows
    from carbontwin.plugins.signing import Signer
    from carbontwin.twin.factors import FactorSet
    from carbontwin.twin.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (also measured)")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"bytes_per_sample": {}}
    with tempfile.TemporaryDirectory() as tmp:
        urls = [("sqlite", f"sqlite:///{Path(tmp) / 's.db'}")]
        if args.database_url:
            urls.append(("postgresql", args.database_url))
        for name, url in urls:
            store = Store.open(url)
            factory, measures = plant_of.plant(1)
            store.save_factory(factory)
            rng = np.random.default_rng(1)
            for d in range(args.days):
                orders, batch = plant_of.day_events(factory, measures, d, 12, 1.0, rng)
                store.save_orders(orders)
                store.write_events(batch)
            samples = store.count_events()["power_samples"]
            out["samples"] = samples
            if name == "sqlite":
                store.close()
                size = os.path.getsize(Path(tmp) / "s.db")
                out["bytes_per_sample"]["sqlite_file_all_tables"] = round(size / samples, 1)
                store = Store.open(url)
            else:
                import sqlalchemy as sa

                with store.engine.connect() as conn:
                    heap = conn.execute(
                        sa.text("SELECT pg_relation_size('power_samples_p201903')")
                    ).scalar_one()
                    total = conn.execute(
                        sa.text("SELECT pg_total_relation_size('power_samples_p201903')")
                    ).scalar_one()
                out["bytes_per_sample"]["postgresql_heap"] = round(heap / samples, 1)
                out["bytes_per_sample"]["postgresql_heap_and_key"] = round(total / samples, 1)
            signer = Signer(Ed25519PrivateKey.generate())
            issue_windows(store, signer, factors=FactorSet.default(factory))
            end = store.attributed_windows()[-1].end
            files = store.archive(end, Path(tmp) / f"archive-{name}")
            power = [f for f in files if f.table == "power_samples"]
            size = sum(os.path.getsize(f.path) for f in power)
            out["bytes_per_sample"][f"parquet_from_{name}"] = round(
                size / sum(f.rows for f in power), 2
            )
            store.close()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
