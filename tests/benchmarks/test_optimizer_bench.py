"""benchmarks/optimizer.py --small runs every part and reports its keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "optimizer.py"


@pytest.mark.slow
def test_optimizer_benchmark_small():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--small"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["small"] is True
    for key in (
        "demo_co2e_saving_pct",
        "demo_makespan_change_pct",
        "evaluations_per_s",
        "ratio_vs_cpsat_60s",
        "gap_to_best_known_pct",
    ):
        assert key in result, key
    assert result["demo_makespan_change_pct"] <= 5.0 + 1e-9
    # one cost function scores both solvers' flow-shop schedules: carbontwin's own
    # cost of its schedule equals the CP-SAT model's cost function on the same starts
    for case in result["flow_shops"]:
        assert case["ours_cost"] == pytest.approx(case["ours_cost_check"], rel=1e-9)
        assert case["cpsat_bound"] <= case["cpsat_incumbent"] + 1e-6
        # CP-SAT's bound holds for carbontwin's schedule too
        assert case["cpsat_bound"] <= case["ours_cost"] + 1e-6
    tiny = result["prob059"][0]
    # the tiny prob059 instance is solved to optimality: the incumbent meets the bound
    assert tiny["status"] == "OPTIMAL"
    assert tiny["gap_to_bound_pct"] == pytest.approx(0.0, abs=1e-3)
