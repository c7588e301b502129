"""benchmarks/simulation.py --small runs and replays the same shop as bare SimPy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "simulation.py"


@pytest.mark.slow
def test_simulation_benchmark_small():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--small", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) >= {"bare_simpy_s", "carbontwin_s", "ratio", "large_case_s"}
    assert result["small"] is True
    # same seed, same processing times, same FIFO shop: the same makespan
    assert result["carbontwin_makespan_h"] == pytest.approx(result["bare_makespan_h"], rel=1e-9)
    assert result["ratio"] == pytest.approx(
        result["carbontwin_s"] / result["bare_simpy_s"], rel=0.01
    )
