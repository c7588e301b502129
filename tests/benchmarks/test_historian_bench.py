"""benchmarks/historian_import.py --small: the import command on a generated wide export."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "historian_import.py"


@pytest.mark.slow
def test_historian_benchmark_small():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--small"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = result["rows"]
    assert rows >= 5_000
    # every row carries four power and four counter readings, none empty
    assert result["power_samples"] == 4 * rows
    assert result["energy_counters"] == 4 * rows
    # one state per 10-minute block and machine: at most one change per block
    assert 4 <= result["state_changes"] <= 4 * (rows // 600 + 2)
    # 1 s rows from 2019-10-20 00:00 Berlin (22:00 UTC the day before), no clock change inside
    first = datetime.fromisoformat(result["first"])
    last = datetime.fromisoformat(result["last"])
    assert first.isoformat() == "2019-10-19T22:00:00+00:00"
    assert (last - first).total_seconds() == rows - 1
    assert result["peak_rss_mb"] < 500
    assert result["rows_per_s"] == pytest.approx(rows / result["seconds"], rel=0.01)
