"""The soak scripts run end to end at a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks"


def _run(script: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.opcua
@pytest.mark.slow
def test_opcua_restart_soak_accounts_for_every_gap():
    r = _run("soak_opcua_restarts.py", "--restarts", "2", "--minutes", "0.25", "--down-s", "1.5")
    assert r["restarts"] == 2
    assert r["reconnects"] >= 2  # the connector noticed both restarts
    # 1.5 s down at 60 simulated s/s loses about 9 samples per meter: each restart leaves a
    # gap on each of the two meters, bounded by delivered values, and nothing else is missing
    assert r["gaps"] == 2 * 2
    assert r["longest_gap_s"] >= 1.5
    assert r["lost"] == r["duplicates"] == r["bad_gaps"] == 0
    assert r["published"] > r["delivered"] > 0
    assert r["ok"] is True


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_writers_soak_stores_what_it_acknowledged(postgres_url):
    r = _run(
        "soak_postgres_writers.py", "--database-url", postgres_url, "--minutes", "0.05",
        "--batch", "200", "--writers", "2",
    )  # fmt: skip
    assert r["writers"] == 2
    assert r["acknowledged"] > 0
    assert r["acknowledged"] % 200 == 0  # whole batches
    assert r["stored"] == r["acknowledged"]
    assert [w["stored"] for w in r["per_writer"]] == [w["acknowledged"] for w in r["per_writer"]]
    assert r["lost"] == r["extra"] == r["partial_batches"] == 0
    assert r["ok"] is True
