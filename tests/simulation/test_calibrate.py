"""Calibration recovers a plant's state powers from its own events and cuts the model error.

The "real" plant is the demo factory with every state power and warm-up energy
scaled by its own factor in 0.8..1.2 (what a real machine might draw against
its data sheet). Its simulated events — states, order steps, meter readings —
are all that calibration sees; the factory file it starts from is the nominal one.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.api.demo import simulate_day
from carbontwin.connectors.files import write_events_dir
from carbontwin.simulation import simulate
from carbontwin.simulation.calibrate import calibrate, replay_error
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import dump_factory, load_factory
from carbontwin.twin.model import Factory, State


def _real_plant(f: Factory, seed: int) -> Factory:
    rng = np.random.default_rng(seed)

    def scaled(pm):
        kw = {s: v * rng.uniform(0.8, 1.2) for s, v in pm.power_kw.items()}
        return replace(
            pm, power_kw=kw, warmup_energy_kwh=pm.warmup_energy_kwh * rng.uniform(0.8, 1.2)
        )

    return replace(
        f,
        machines=tuple(replace(m, power=scaled(m.power)) for m in f.machines),
        utilities=tuple(replace(u, power=scaled(u.power)) for u in f.utilities),
    )


def _true_kw(plant: Factory, asset: str, state: str) -> float:
    pm = next(x for x in (*plant.machines, *plant.utilities) if x.id == asset).power
    if state == "WARMUP":
        return pm.warmup_energy_kwh * 3600.0 / pm.warmup_s
    return pm.power_kw[State(state)]


@pytest.fixture(scope="module")
def week():
    f = demo_factory()
    real = _real_plant(f, 5)
    start = f.orders[0].release.timestamp() - 5 * 3600.0  # Monday 00:00 UTC
    res = simulate(
        real, None, "as_is", 1, sample_period_s=300.0, start=start, end=start + 7 * 86400
    )
    return f, real, res.events


def test_calibration_recovers_state_powers_within_2_percent(week):
    nominal, real, events = week
    cal = calibrate(nominal, events)
    checked = 0
    for asset, states in cal.fitted.items():
        for state, (kw, se) in states.items():
            true = _true_kw(real, asset, state)
            if true == 0.0:
                assert abs(kw) < 0.05, (asset, state, kw)
            else:
                assert kw == pytest.approx(true, rel=0.02), (asset, state)
            assert se >= 0.0
            checked += 1
    # every machine's idle and processing power, the furnace's standby, the warm-ups
    assert checked >= 30
    for m in nominal.machines:
        assert {"IDLE", "PROCESSING"} <= set(cal.fitted[m.id]), m.id
    assert "STANDBY" in cal.fitted["furnace-1"]
    assert cal.after["total_error_pct"] < 0.1 < cal.before["total_error_pct"]


def test_replay_error_of_the_true_plant_is_nil_and_of_the_nominal_one_is_not(week):
    nominal, real, events = week
    assert replay_error(real, events)["total_error_pct"] < 1e-6
    nominal_err = replay_error(nominal, events)
    assert nominal_err["total_error_pct"] > 1.0
    # signed per meter: model - meter over meter
    m = nominal_err["meters"]["M-cnc-1"]
    assert m["error_pct"] == pytest.approx(
        (m["model_kwh"] - m["metered_kwh"]) / m["metered_kwh"] * 100
    )


def test_calibrate_command_cuts_the_error_on_the_demo_measured_day(tmp_path):
    """The demo's production day, measured on the real plant; calibrated from the nominal file."""
    nominal = demo_factory()
    day = simulate_day(_real_plant(nominal, 9))
    events = write_events_dir(day.events, tmp_path / "events")
    factory_file = tmp_path / "factory.yaml"
    dump_factory(nominal, factory_file)
    out = tmp_path / "fitted.yaml"
    result = CliRunner().invoke(
        app,
        [
            "calibrate",
            "--factory",
            str(factory_file),
            "--events",
            str(events),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    before, after = data["total_error_before_pct"], data["total_error_after_pct"]
    assert after < before
    assert after < 0.5
    # the written factory loads, carries the fitted values, and replays with the small error
    fitted = load_factory(out)
    assert "# fitted:" in out.read_text()
    assert replay_error(fitted, day.events)["total_error_pct"] == pytest.approx(after, abs=1e-6)
    table = CliRunner().invoke(
        app, ["calibrate", "--factory", str(factory_file), "--events", str(events)]
    )
    assert table.exit_code == 0, table.output
    assert "after calibration" in table.stdout


def test_calibrate_without_states_says_what_is_missing(tmp_path):
    nominal = demo_factory()
    day = simulate_day(nominal)
    only_meters = replace(
        day.events,
        state_asset=day.events.state_asset[:0],
        state_t=day.events.state_t[:0],
        state=day.events.state[:0],
    )
    events = write_events_dir(only_meters, tmp_path / "events")
    f = tmp_path / "factory.yaml"
    dump_factory(nominal, f)
    result = CliRunner().invoke(app, ["calibrate", "--factory", str(f), "--events", str(events)])
    assert result.exit_code == 2
    assert "StateChange" in result.output
