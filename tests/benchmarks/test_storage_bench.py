"""benchmarks/storage.py, one day: the archive is far smaller per sample than the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "storage.py"


def test_storage_benchmark_one_day():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--days", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["samples"] == 8 * 86_400  # eight meters, a sample a second
    per = out["bytes_per_sample"]
    # a row holds at least its float64 time and value in SQLite; Parquet compresses them
    assert per["sqlite_file_all_tables"] > 16
    assert 0 < per["parquet_from_sqlite"] < per["sqlite_file_all_tables"] / 3
