"""benchmarks/issuing.py, tiny: day by day into one store, every closed day issued."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "issuing.py"


def test_issuing_benchmark_issues_every_closed_day():
    cells, ops = 1, 4
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--stages",
            "40,100",
            "--cells",
            str(cells),
            "--ops",
            str(ops),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    per_day = 8 * cells * ops  # the demo cell's eight machines
    assert out["orders_per_day"] == per_day
    days = 0
    for stage, target in zip(out["stages"], (40, 100), strict=True):
        days += stage["days"]
        # delivering day d closes the day window before it (05:00 to 05:00 UTC, the
        # first shift bound after Berlin midnight): all orders of days 0 .. d-1 are issued
        assert stage["orders"] == (days - 1) * per_day
        assert stage["orders"] >= target
    # states, a sample a minute per meter, two steps an order: what was stored
    meters = 8  # six machines alone, a shared meter, the compressed-air meter
    assert out["events"] >= days * (meters * 1440 + 2 * per_day)
    # the two-process run (storing and attributing | issuing) gets the same days: it
    # issues the same orders, all of them by the time it stops
    two = out["two_process"]
    assert two["orders"] == out["stages"][-1]["orders"] == (days - 1) * per_day
    assert two["stages"][-1]["orders"] >= 100
    assert out["orders_per_s"] == two["stages"][-1]["orders_per_s"] > 0
    assert two["cpu_s_storing"] > 0
    assert two["cpu_s_issuing"] > 0
    assert out["window_s_first"] > 0
    assert out["window_s_last"] > 0
    assert out["peak_rss_mb"] > 0


@pytest.mark.postgres
def test_issuing_benchmark_on_postgresql_starts_from_an_empty_store_each_run(postgres_url):
    """Two runs on one database issue the same orders: each works in a schema of its own,
    dropped at the end (else the second finds the first's windows attributed)."""
    import sqlalchemy as sa

    args = [sys.executable, str(SCRIPT), "--stages", "32", "--cells", "1", "--ops", "4"]
    args += ["--one-process", "--database-url", postgres_url]
    issued = []
    for _ in range(2):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["database"] == "postgresql+psycopg"
        issued.append(out["stages"][0]["orders"])
    assert issued[0] == issued[1] == 32  # day 1 closes day 0: its 8 x 4 orders
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
            {"p": "carbontwin_bench_%"},
        ).fetchall()
    engine.dispose()
    assert left == []
