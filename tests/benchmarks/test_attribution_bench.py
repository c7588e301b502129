"""The attribution benchmark runs (``--small``) and reports sane figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "attribution.py"


def test_small_benchmark_reports_json():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["samples"] == 16 * 6 * 3600
    assert doc["samples_per_s"] > 0
    assert doc["peer_samples_per_s"] > 0
    assert abs(doc["ratio"] - doc["samples_per_s"] / doc["peer_samples_per_s"]) < 0.1
    assert 0 < doc["peak_rss_mb"] < 3000
    assert doc["balance_rel_error"] < 1e-9
    assert doc["orders"] > 0
