"""The OPC UA ingest benchmark runs end to end at a tiny size (--small)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks" / "opcua_ingest.py"


@pytest.mark.opcua
@pytest.mark.slow
def test_opcua_ingest_benchmark_counts_both_readers_on_one_server():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    assert [r["offered_per_s"] for r in runs] == [500.0]
    for r in runs:
        assert {"offered_per_s", "raw_per_s", "carbontwin_per_s", "ratio", "lost", "duplicates",
                "max_backlog"} <= set(r)  # fmt: skip
        # a tiny load: every change of the window reaches both readers, once
        assert r["lost"] == 0
        assert r["duplicates"] == 0
        assert r["carbontwin"]["gapped"] == 0
        assert r["rounds"] >= 10  # 2 s of 100 ms rounds, on a busy machine
        # the load server wrote what was offered (within 40 %)
        assert 0.6 * r["offered_per_s"] < r["served_per_s"] < 1.4 * r["offered_per_s"]
        assert r["raw_cpu"] > 0
        assert r["carbontwin_cpu"] > 0
        # both readers kept pace with what the server wrote (within 40 %)
        assert 0.6 * r["served_per_s"] < r["raw_per_s"] < 1.4 * r["served_per_s"]
        assert 0.6 * r["served_per_s"] < r["carbontwin_per_s"] < 1.4 * r["served_per_s"]
        assert r["ratio"] == pytest.approx(r["carbontwin_per_s"] / r["raw_per_s"], abs=1e-3)
    assert len(result["load_average"]) == 3
