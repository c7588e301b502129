"""`carbontwin simulate` through the real typer app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.twin.examples import example_path

runner = CliRunner()


def test_simulate_demo_week_json():
    result = runner.invoke(
        app,
        [
            "simulate",
            str(example_path("demo_week.yaml")),
            "--replications",
            "2",
            "--json",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["baseline"] == "As-is"
    assert data["replications"] == 2
    idle = data["differences"]["Idle shutdown"]["energy_kwh"]
    assert idle["mean"] < 0
    assert idle["ci95_low"] <= idle["mean"] <= idle["ci95_high"]
    assert len(data["results"]["As-is"]["co2e_kg"]["values"]) == 2


def test_simulate_table_and_plots(tmp_path):
    out = tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "simulate",
            str(example_path("demo_week.yaml")),
            "-n",
            "2",
            "--workers",
            "1",
            "--plots",
            str(out),
        ],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    # three policies do not fit 80 columns side by side: one table per candidate vs as-is
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    assert sum("Δ" in line for line in lines) == 3
    kpi_rows = [line.split("│")[1].strip() for line in lines if line.startswith("│ ")]
    kpis = ("energy_kwh", "cost", "co2e_kg", "attributed_co2e_kg", "makespan_h", "switch_offs")
    for kpi in kpis:
        assert kpi_rows.count(kpi) == 3, kpi
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "gantt_as_is.png",
        "gantt_carbon_aware_release.png",
        "gantt_fifo__always_on.png",
        "gantt_idle_shutdown.png",
        "kpis.png",
        "power_as_is.png",
        "power_carbon_aware_release.png",
        "power_fifo__always_on.png",
        "power_idle_shutdown.png",
    ]
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_bad_scenario_exits_2_with_the_field(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("factory: demo\nbaseline: {name: x, policy: no_such_policy}\n")
    result = runner.invoke(app, ["simulate", str(bad), "-n", "1", "--workers", "1"])
    assert result.exit_code == 2
    assert "no_such_policy" in result.output
