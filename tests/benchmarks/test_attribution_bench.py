"""The attribution benchmark runs tiny, and its peer agrees with carbontwin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "attribution.py"


def test_small_benchmark_peer_agrees_with_carbontwin():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--small", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    # 2 cells x (7 machine meters + 1 air meter) x 6 h of 1 Hz samples
    assert doc["samples"] == 16 * 6 * 3600
    # 2 cells x 8 machines x 20 operations, each its own order
    assert doc["orders"] == doc["peer_orders"] == 2 * 8 * 20
    # two independent computations of setup + processing energy and location-based CO2e
    # per order (carbontwin's occupying-order pieces; the peer's cumulative energy and
    # CO2e curves) on the orders that run alone on a machine with its own meter:
    # 2 cells x 5 such machines x 20 orders
    assert doc["orders_compared"] == 2 * 5 * 20
    assert doc["peer_vs_carbontwin_max_rel_diff"] < 1e-9
    assert 0 < doc["peer_finding_runs_s_median"] < doc["peer_s_median"]
    # building the records is a part of carbontwin's timed run, not all of it
    assert 0 < doc["carbontwin_records_s_median"] < doc["carbontwin_s_median"]
    # one run each: a side's mean is its one run, the median's
    assert doc["carbontwin_s_mean"] == doc["carbontwin_s_median"] != doc["peer_s_mean"]
    assert doc["peer_s_mean"] == doc["peer_s_median"]
    assert doc["balance_rel_error"] < 1e-9
    assert 0 < doc["peak_rss_mb"] < 3000
    assert {
        "samples_per_s",
        "peer_samples_per_s",
        "ratio",
        "full_gc_carbontwin",
        "full_gc_peer",
    } <= doc.keys()
