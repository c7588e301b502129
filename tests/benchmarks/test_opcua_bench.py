"""The OPC UA ingest benchmark runs end to end at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks" / "opcua_ingest.py"


@pytest.mark.opcua
@pytest.mark.slow
def test_opcua_ingest_benchmark_reports_rates_and_no_loss():
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--variables",
            "40",
            "--period-ms",
            "100",
            "--seconds",
            "1.5",
            "--warmup",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result) == {"variables", "raw_per_s", "carbontwin_per_s", "ratio", "lost"}
    assert result["variables"] == 40
    assert result["lost"] == 0
    # 40 variables every 100 ms: 400 changes/s offered
    assert 200 < result["raw_per_s"] < 800
    assert result["ratio"] > 0.5
