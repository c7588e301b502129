"""As-is is the default baseline: the plant's own shift practice.

The demo plant works two shifts, 06:00-22:00 Europe/Berlin, Monday to Friday;
in the week of 2019-03-04 (CET, UTC+1) that is 05:00-21:00 UTC each weekday,
written out here by hand rather than taken from the simulator's calendar.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from carbontwin.simulation.model import FAULT, IDLE, OFF, PROC, SETUP, STANDBY, WARMUP
from carbontwin.simulation.scenario import load_scenario, simulate_one
from carbontwin.simulation.sim import simulate
from carbontwin.twin.examples import example_path
from carbontwin.twin.model import State

SHIFTS_UTC = [
    (
        datetime(2019, 3, d, 5, tzinfo=UTC).timestamp(),
        datetime(2019, 3, d, 21, tzinfo=UTC).timestamp(),
    )
    for d in range(4, 9)
]


def _outside(t0: float, t1: float) -> float:
    """Seconds of [t0, t1) outside every shift."""
    inside = sum(max(0.0, min(t1, b) - max(t0, a)) for a, b in SHIFTS_UTC)
    return (t1 - t0) - inside


def _segments(res, asset):
    tr = res.traces[asset]
    ends = np.append(tr.t[1:], res.t_end)
    return zip(tr.t.tolist(), ends.tolist(), tr.code.tolist(), strict=True)


@pytest.fixture(scope="module")
def demo_week():
    return load_scenario(example_path("demo_week.yaml"), replications=1)


def test_scenario_without_baseline_compares_against_as_is(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("factory: demo\ncandidates: [{name: Shutdown, policy: [as_is, idle_shutdown]}]\n")
    sc = load_scenario(f)
    assert sc.baseline.name == "As-is"
    assert sc.baseline.policy == "as_is"


def test_as_is_draws_no_idle_power_outside_shifts(demo_week):
    assert demo_week.baseline.policy == "as_is"
    res = simulate_one(demo_week, 0, 0)  # with breakdowns and random processing times
    furnace_standby_s = 0.0
    for m in demo_week.factory.machines:
        for t0, t1, code in _segments(res, m.id):
            out = _outside(t0, t1)
            if out <= 1e-6:
                continue
            # outside the shifts a machine may only finish what it started (setup,
            # processing, a breakdown during it), warm up for the next shift, or rest
            assert code in (OFF, STANDBY, WARMUP, SETUP, PROC, FAULT), (m.id, t0, t1, code)
            if code == WARMUP:  # a warm-up ends at the next shift start at the latest
                assert out <= m.power.warmup_s + 1e-6
            if code == STANDBY:
                assert m.off_shift == State.STANDBY, m.id
                furnace_standby_s += out
            if code == OFF:
                assert m.off_shift == State.OFF, m.id
    # the furnace waits out nights and the weekend at standby, as the factory says:
    # at least the weekend, Fri 21:00 to Mon 00:00 UTC (51 h)
    assert furnace_standby_s >= 51 * 3600.0


def test_a_machine_the_factory_keeps_running_idles_outside_shifts(demo_week):
    f = demo_week.factory
    kept = replace(
        f,
        machines=tuple(
            replace(m, off_shift=State.IDLE) if m.id == "washer-1" else m for m in f.machines
        ),
    )
    res = simulate(kept, None, "as_is", 1, start=demo_week.start, end=demo_week.end)
    idle_out = sum(_outside(a, b) for a, b, c in _segments(res, "washer-1") if c == IDLE)
    off_out = sum(_outside(a, b) for a, b, c in _segments(res, "washer-1") if c == OFF)
    assert off_out == 0.0
    # Fri 21:00 UTC to the end of the scenario, Mon 00:00, at least
    assert idle_out >= 51 * 3600.0


def test_as_is_saves_against_always_on_and_warms_up_before_each_shift(demo_week):
    always = simulate(demo_week.factory, None, "fifo", 3, start=demo_week.start, end=demo_week.end)
    as_is = simulate(demo_week.factory, None, "as_is", 3, start=demo_week.start, end=demo_week.end)
    assert as_is.kpis["makespan_h"] == pytest.approx(always.kpis["makespan_h"], rel=0.05)
    assert as_is.kpis["energy_kwh"] < always.kpis["energy_kwh"]
    # cnc-1 is warm at every shift start: its 15 min warm-up ends exactly at 05:00 UTC
    tr = as_is.traces["cnc-1"]
    warm_ends = tr.t[1:][tr.code[:-1] == WARMUP]
    for a, _ in SHIFTS_UTC:
        assert np.any(np.isclose(warm_ends, a)), datetime.fromtimestamp(a, UTC)
