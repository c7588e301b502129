"""Historian import benchmark: a synthetic 1 GB wide historian CSV into an events folder.

Run from the repository root::

    python benchmarks/historian_import.py            # full size (1 GB CSV, ~10 M rows)
    python benchmarks/historian_import.py --small    # ~1 MB (the test suite runs this)

The file is written by the benchmark into a temporary folder (removed at the
end): a plant historian's wide export as a German plant would send it —
semicolons, decimal commas, naive local time of Europe/Berlin at 1 s, starting
2019-10-20 so the autumn clock change (the repeated hour) is inside — with 4
power columns [W], 4 energy counters [MWh] and 4 integer state codes.

Timed, as a user waits for it: the command ``carbontwin import historian FILE
--mapping MAP.yaml --out EVENTS`` in its own process (start-up, reading,
parsing, local time to UTC, units, state changes, writing the events folder).
Its peak RSS is that process's own high-water mark (``VmHWM`` polled from
``/proc``; ``ru_maxrss`` is not used because Linux carries the parent's mark
over fork and exec), so it includes Python, pandas, pyarrow and every chunk.
The file is generated in a third process, so nothing of it is in either
measured process.

Peer, timed in the same run: the floor any pandas importer pays — the same
file read with ``pandas.read_csv`` in chunks with the same delimiter and
decimal mark and its times parsed with the same format (no zone, no events,
nothing written), in its own process. ``ratio`` is carbontwin's time over the
peer's.

The last line printed is JSON:
``{"rows", "bytes", "seconds", "rows_per_s", "peak_rss_mb", "peer_seconds", "ratio", ...}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MAPPING = """\
layout: wide
format: {delimiter: ";", decimal: ","}
time:
  column: Zeitstempel
  format: "%d.%m.%Y %H:%M:%S"
  timezone: Europe/Berlin
signals:
{signals}
"""
N_METERS = 4
STATES = "{0: off, 1: standby, 2: idle, 3: processing, 4: setup, 9: fault}"


def write_mapping(path: Path) -> None:
    lines = []
    for k in range(1, N_METERS + 1):
        lines.append(f'  "P{k} [W]": {{kind: power, meter: M-{k}, unit: W}}')
        lines.append(f'  "E{k} [MWh]": {{kind: energy, meter: M-{k}e, unit: MWh}}')
        lines.append(f'  "S{k}": {{kind: state, asset: m-{k}, states: {STATES}}}')
    path.write_text(MAPPING.replace("{signals}", "\n".join(lines)), encoding="utf-8")


def write_csv(path: Path, target_bytes: int, chunk_rows: int = 250_000) -> int:
    """Write the export until it reaches ``target_bytes``; return the rows written.

    Written with pyarrow's CSV writer and compute functions (the benchmark
    should spend its time importing, not generating).
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(42)
    start = pd.Timestamp("2019-10-20 00:00:00", tz="Europe/Berlin").tz_convert("UTC")
    counters = rng.uniform(10, 100, N_METERS)
    options = pacsv.WriteOptions(include_header=False, delimiter=";", quoting_style="none")
    rows = 0

    def comma(values: Any) -> Any:
        return pc.replace_substring(pc.cast(pa.array(values), pa.string()), ".", ",")

    with path.open("wb") as f:
        header = ["Zeitstempel"]
        for k in range(1, N_METERS + 1):
            header += [f"P{k} [W]", f"E{k} [MWh]", f"S{k}"]
        f.write((";".join(header) + "\n").encode())
        while f.tell() < target_bytes:
            n = chunk_rows
            sec = np.arange(rows, rows + n)
            utc = start + pd.to_timedelta(sec, unit="s")
            wall = utc.tz_convert("Europe/Berlin").tz_localize(None)
            ts = pa.array(wall.as_unit("s"))
            cols = {"Zeitstempel": pc.strftime(ts, format="%d.%m.%Y %H:%M:%S")}
            for k in range(N_METERS):
                cols[f"P{k + 1} [W]"] = comma(np.round(rng.uniform(500, 45_000, n), 1))
                e = counters[k] + np.cumsum(rng.uniform(0, 0.0000125, n))
                counters[k] = e[-1]
                cols[f"E{k + 1} [MWh]"] = comma(np.round(e, 6))
                # one state per 10-minute block
                blocks = rng.choice([0, 1, 2, 3, 3, 3, 4, 9], size=n // 600 + 2)
                cols[f"S{k + 1}"] = pa.array(blocks[sec // 600 - rows // 600])
            pacsv.write_csv(pa.table(cols), f, options)
            rows += n
    return rows


def _hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, the child's own peak RSS [MB] (VmHWM, polled), its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kb(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.stderr.write(err.read())
            msg = f"{' '.join(cmd[:5])} failed with exit code {proc.returncode}"
            raise SystemExit(msg)
        return seconds, peak / 1024.0, out.read()


PEER = """
import sys, pandas as pd
n = 0
for frame in pd.read_csv(sys.argv[1], sep=";", decimal=",", chunksize=200_000,
                         dtype={"Zeitstempel": str}):
    t = pd.to_datetime(frame["Zeitstempel"], format="%d.%m.%Y %H:%M:%S")
    n += len(t)
print(n)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a ~1 MB file")
    parser.add_argument("--bytes", type=int, default=None, help="size of the CSV file")
    parser.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:  # the generator process
        print(write_csv(args.generate, args.bytes, chunk_rows=5_000 if args.small else 250_000))
        return
    target = args.bytes or (1_000_000 if args.small else 1_000_000_000)
    tmp = Path(tempfile.mkdtemp(prefix="carbontwin-historian-"))
    try:
        csv = tmp / "historian.csv"
        mapping = tmp / "mapping.yaml"
        write_mapping(mapping)
        t0 = time.perf_counter()
        gen = [sys.executable, __file__, "--generate", str(csv), "--bytes", str(target)]
        _, _, written = _run(gen + (["--small"] if args.small else []))
        rows = int(written.strip())
        size = csv.stat().st_size
        print(f"wrote {size / 1e6:.1f} MB, {rows:,} rows in {time.perf_counter() - t0:.1f} s")
        out = tmp / "events"
        cmd = [
            sys.executable,
            "-m",
            "carbontwin.api.cli",
            "import",
            "historian",
            str(csv),
            "--mapping",
            str(mapping),
            "--out",
            str(out),
            "--json",
        ]
        seconds, rss, stdout = _run(cmd)
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["rows"] == rows, (report["rows"], rows)
        events = report["power_samples"] + report["energy_counters"] + report["state_changes"]
        print(
            f"carbontwin import historian: {rows:,} rows, {events:,} events in {seconds:.1f} s "
            f"= {rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB"
        )
        peer_s, peer_rss, peer_out = _run([sys.executable, "-c", PEER, str(csv)])
        assert int(peer_out.strip()) == rows
        print(
            f"peer (pandas.read_csv in chunks + to_datetime, nothing written): {peer_s:.1f} s "
            f"= {rows / peer_s:,.0f} rows/s, peak RSS {peer_rss:.0f} MB"
        )
        out_bytes = sum(p.stat().st_size for p in out.iterdir())
        print(
            json.dumps(
                {
                    "rows": rows,
                    "bytes": size,
                    "events": events,
                    "power_samples": report["power_samples"],
                    "energy_counters": report["energy_counters"],
                    "state_changes": report["state_changes"],
                    "first": report["first"],
                    "last": report["last"],
                    "events_folder_bytes": out_bytes,
                    "seconds": round(seconds, 3),
                    "rows_per_s": round(rows / seconds),
                    "peak_rss_mb": round(rss, 1),
                    "peer_seconds": round(peer_s, 3),
                    "peer_rows_per_s": round(rows / peer_s),
                    "peer_peak_rss_mb": round(peer_rss, 1),
                    "ratio": round(seconds / peer_s, 3),
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
