"""benchmarks/canonical_json.py, tiny: the demo day's payloads, canonicalised both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "canonical_json.py"


def test_canonical_json_benchmark_writes_the_same_bytes_as_rfc8785():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "3"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["payloads"] == 10  # the demo day's ten orders
    assert out["identical"] == out["payloads"]
    assert out["bytes_median"] > 1000  # a footprint with its lineage
    assert 0 < out["carbontwin_us"] < out["rfc8785_us"]
