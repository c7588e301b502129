"""Verifier's pack benchmark: a windowed footprint's pack, its windows as Parquet or as JSON.

Run from the repository root::

    python benchmarks/pack.py              # the issuing benchmark's plant, 3 days
    python benchmarks/pack.py --small      # a few seconds (the test suite runs this)

The plant is the issuing benchmark's (``benchmarks/issuing.py``: cells of eight
machines, a power sample a minute per meter), stored in a SQLite file and issued
day by day (``issue_windows``, windows of a day). The footprint packed is one
whose lineage spans the most windows. Timed, median of ``--repeat`` runs:

- ``build_pack`` (``carbontwin pack``): the windows' events read from the store,
  checked against the lineage and written into the pack (``carbontwin-pack/3``:
  each window one Parquet file per kind of event);
- ``recompute`` (``carbontwin recompute``) of that pack;
- the same pack in the earlier form (``carbontwin-pack/2``: each window's events
  one JSON file, written from the first pack's members): its size and its
  ``recompute``;
- each form's writing of the windows' events alone (what differs between the
  two builds: ``events_to_parquet`` against the JSON of ``events_to_dict``);
- the memory each form's writing and ``recompute`` add at their peak, in bytes per
  event (each run in a forked child: its peak resident size less its size at the
  start), and the same of the whole build written to a file (``write_pack``, what
  ``carbontwin pack`` and the HTTP route do: one window in memory at a time) and into
  memory (``build_pack``), and of ``recompute`` of the pack's bytes and of its file
  (``carbontwin recompute``: read member by member).

The last line printed is JSON: ``{"events", "pack_bytes_per_event",
"json_pack_bytes_per_event", "window_bytes_per_event", "json_window_bytes_per_event",
"build_s", "recompute_s", "json_recompute_s", "write_peak_bytes_per_event",
"json_write_peak_bytes_per_event", "recompute_peak_bytes_per_event",
"recompute_file_peak_bytes_per_event",
"pack_to_file_peak_bytes_per_event", "pack_in_memory_peak_bytes_per_event", ...}``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from issuing import day_events, plant  # noqa: E402  (the issuing benchmark's plant)

from carbontwin.api._pack_form import _zip  # noqa: E402
from carbontwin.api.issuing import issue_windows  # noqa: E402
from carbontwin.api.pack import (  # noqa: E402
    FORMAT_WINDOWS_JSON,
    build_pack,
    recompute,
    write_pack,
)
from carbontwin.plugins.signing import Signer  # noqa: E402
from carbontwin.twin.factors import FactorSet  # noqa: E402
from carbontwin.twin.lineage import (  # noqa: E402
    EVENT_KINDS,
    events_from_parquet,
    events_to_dict,
    events_to_parquet,
)
from carbontwin.twin.store import Store  # noqa: E402


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _window_bytes(data: bytes) -> int:
    return sum(len(v) for k, v in _members(data).items() if k.startswith("windows/"))


def json_form(data: bytes, windows: int) -> bytes:
    """The pack ``data`` in the earlier form: each window's events one JSON file."""
    files = _members(data)
    old = {k: v for k, v in files.items() if not k.startswith("windows/")}
    for i in range(windows):
        parts = {k: files[f"windows/{i:04d}/{k}.parquet"] for k in EVENT_KINDS}
        doc = events_to_dict(events_from_parquet(parts))
        old[f"windows/{i:04d}.json"] = json.dumps(
            doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    manifest = json.loads(old["manifest.json"])
    manifest["format"] = FORMAT_WINDOWS_JSON
    manifest["files"] = {
        k: hashlib.sha256(v).hexdigest() for k, v in old.items() if k != "manifest.json"
    }
    old["manifest.json"] = json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8")
    return _zip(old)


def _timed(fn: Any, repeat: int) -> tuple[Any, float]:
    out, times = None, []
    for _ in range(max(1, repeat)):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _peak(fn: Any) -> int:
    """The memory ``fn`` adds at its peak [bytes]: run in a forked child, its peak
    resident size less its size when it started (Arrow's buffers and numpy's included,
    which tracemalloc would not all see)."""
    import multiprocessing as mp

    def child(conn: Any) -> None:
        import resource

        import psutil

        rss0 = psutil.Process().memory_info().rss
        fn()
        conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0)
        conn.close()

    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=child, args=(there,))
    proc.start()
    got = int(here.recv())
    proc.join()
    return max(got, 0)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=5, help="cells of 8 machines (default 5)")
    ap.add_argument("--days", type=int, default=3, help="days stored and issued")
    ap.add_argument("--sample-s", type=float, default=60.0, help="power sample interval [s]")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (the median is reported)")
    ap.add_argument("--small", action="store_true", help="a few seconds, for the test suite")
    args = ap.parse_args(argv)
    if args.small:
        args.cells, args.days, args.sample_s, args.repeat = 1, 2, 300.0, 1
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'pack.db'}")
        factory, measures = plant(args.cells)
        store.save_factory(factory)
        factors = FactorSet.default(factory)
        signer = Signer(Ed25519PrivateKey.generate())
        rng = np.random.default_rng(5)
        issued = []
        for day in range(args.days):
            orders, batch = day_events(factory, measures, day, 12, args.sample_s, rng)
            store.save_orders(orders)
            store.write_events(batch)
            issued += issue_windows(store, signer, factors=factors, window="day").issued
        fp = max(issued, key=lambda f: (len(f.lineage["events"]["windows"]), f.order))
        wins = fp.lineage["events"]["windows"]
        events = int(sum(w["count"] for w in wins))
        data, build_s = _timed(lambda: build_pack(store, fp.id), args.repeat)
        report, recompute_s = _timed(lambda: recompute(data), args.repeat)
        old = json_form(data, len(wins))
        old_report, old_recompute_s = _timed(lambda: recompute(old), args.repeat)
        meters, assets = [m.id for m in factory.meters], sorted(factory.asset_ids)
        slices = [store.read_window(w["start"], w["end"], meters, assets)[0] for w in wins]
        store.close()
        url = f"sqlite:///{Path(tmp) / 'pack.db'}"

        def to_file() -> None:  # carbontwin pack: each window's members spooled to disk
            with Store.open(url) as s, open(Path(tmp) / "pack.zip", "wb") as f:
                write_pack(s, fp.id, f)

        def in_memory() -> None:  # the bytes of the whole pack
            with Store.open(url) as s:
                build_pack(s, fp.id)

        to_file()
        same_bytes = (Path(tmp) / "pack.zip").read_bytes() == data
        file_peak, memory_peak = _peak(to_file), _peak(in_memory)
        # carbontwin recompute FILE: read member by member
        recompute_file_peak = _peak(lambda: recompute(Path(tmp) / "pack.zip"))

    def parquet_write() -> None:
        for ev in slices:
            events_to_parquet(ev)

    def json_write() -> None:
        for ev in slices:
            json.dumps(events_to_dict(ev), separators=(",", ":"), allow_nan=False).encode()

    _, write_s = _timed(parquet_write, args.repeat)
    _, json_write_s = _timed(json_write, args.repeat)
    out = {
        "events": events,
        "windows": len(wins),
        "machines": len(factory.machines),
        "recomputed_ok": bool(report.ok and old_report.ok),
        "file_equals_bytes": same_bytes,
        "pack_bytes": len(data),
        "json_pack_bytes": len(old),
        "pack_bytes_per_event": round(len(data) / events, 2),
        "json_pack_bytes_per_event": round(len(old) / events, 2),
        # the windows' members alone: what grows with the plant (the rest is the factory,
        # the factor series, the order's records)
        "window_bytes_per_event": round(_window_bytes(data) / events, 2),
        "json_window_bytes_per_event": round(_window_bytes(old) / events, 2),
        "build_s": round(build_s, 4),
        "recompute_s": round(recompute_s, 4),
        "json_recompute_s": round(old_recompute_s, 4),
        "write_s": round(write_s, 4),
        "json_write_s": round(json_write_s, 4),
        "write_peak_bytes_per_event": round(_peak(parquet_write) / events, 1),
        # the whole build (store reads, checks, writing) to a file and into memory
        "pack_to_file_peak_bytes_per_event": round(file_peak / events, 1),
        "pack_in_memory_peak_bytes_per_event": round(memory_peak / events, 1),
        "json_write_peak_bytes_per_event": round(_peak(json_write) / events, 1),
        "recompute_peak_bytes_per_event": round(_peak(lambda: recompute(data)) / events, 1),
        "recompute_file_peak_bytes_per_event": round(recompute_file_peak / events, 1),
        "json_recompute_peak_bytes_per_event": round(_peak(lambda: recompute(old)) / events, 1),
    }
    print(
        f"pack of {fp.order}: {events:,} events in {len(wins)} window(s), "
        f"{len(data) / 1e6:.2f} MB (windows {out['window_bytes_per_event']} B/event; as JSON "
        f"{len(old) / 1e6:.2f} MB, windows {out['json_window_bytes_per_event']} B/event); "
        "built in "
        f"{build_s:.2f} s; recomputed in {recompute_s:.2f} s (JSON form {old_recompute_s:.2f} s); "
        f"windows written in {write_s:.3f} s, peak {out['write_peak_bytes_per_event']} B/event "
        f"(JSON {json_write_s:.3f} s, peak {out['json_write_peak_bytes_per_event']} B/event); "
        f"recompute peak {out['recompute_peak_bytes_per_event']} B/event from bytes, "
        f"{out['recompute_file_peak_bytes_per_event']} B/event from the file (JSON "
        f"{out['json_recompute_peak_bytes_per_event']} B/event); the whole build's peak "
        f"{out['pack_to_file_peak_bytes_per_event']} B/event to a file, "
        f"{out['pack_in_memory_peak_bytes_per_event']} B/event in memory",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
