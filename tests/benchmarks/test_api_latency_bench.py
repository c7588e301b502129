"""The API latency benchmark runs tiny against a real ``carbontwin serve``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "api_latency.py"


@pytest.mark.slow
def test_small_api_latency_benchmark_answers_every_request():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    run = doc["runs"][0]
    # --small: 50 requests/s for 2 s on the demo factory (8 machines, 10 orders on day one)
    assert run["requests"] == 100
    assert run["factory_machines"] == 8
    assert run["footprints"] == 10
    assert run["errors"] == 0
    assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
    assert {"rate", "p50_ms", "p99_ms", "errors", "factory_machines"} <= doc.keys()
