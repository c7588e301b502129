"""benchmarks/pack.py, tiny: a windowed footprint's pack in both forms, both recomputed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pack.py"


def test_pack_benchmark_recomputes_both_forms_and_parquet_is_the_smaller():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--small"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["recomputed_ok"] is True
    assert out["windows"] >= 1
    assert out["events"] > 100
    # the windows' Parquet members against their JSON: smaller, and so the whole pack
    assert 0 < out["window_bytes_per_event"] < out["json_window_bytes_per_event"]
    assert out["pack_bytes"] < out["json_pack_bytes"]
    # the pack written to a file is the pack built in memory, byte for byte
    assert out["file_equals_bytes"] is True
