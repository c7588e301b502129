"""Policies: dispatch rules, idle shutdown, carbon-aware release, plugin lookup."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbontwin.simulation import (
    EDD,
    FIFO,
    SPT,
    Batching,
    CarbonAwareRelease,
    IdleShutdown,
    Policy,
    ReleaseContext,
    combine,
    get_policy,
    policy_names,
    simulate,
)
from carbontwin.simulation.plan import Calendar, Job
from carbontwin.simulation.tariffs import HourlySignal
from carbontwin.twin.errors import PluginError
from carbontwin.twin.examples import demo_factory


def _job(i: int, product: str, due: float, proc: float, arrived: float = 0.0) -> Job:
    j = Job(i, f"O{i}", product, 1.0, 0.0, due, (0,), ("op",), (0.0,), [proc])
    j.arrived_s = arrived
    return j


class _M:
    last_product = "b"
    break_even_s = 1800.0


def test_dispatch_rules_pick_by_their_criterion():
    q = [
        _job(0, "a", due=500, proc=30),
        _job(1, "b", due=100, proc=50),
        _job(2, "a", due=300, proc=10),
    ]
    m = _M()
    assert FIFO().choose(q, m, 0.0) == 0
    assert EDD().choose(q, m, 0.0) == 1
    assert SPT().choose(q, m, 0.0) == 2
    assert Batching().choose(q, m, 0.0) == 1  # the product the machine is set up for
    assert Batching(max_wait_h=1.0).choose(q, m, 7200.0) == 0  # oldest waited too long


def test_idle_shutdown_uses_the_break_even_time():
    m = _M()
    assert not IdleShutdown().on_idle(m, 0.0, 1799.0)
    assert IdleShutdown().on_idle(m, 0.0, 1801.0)
    assert not IdleShutdown(margin=2.0).on_idle(m, 0.0, 3000.0)
    assert not Policy().on_idle(m, 0.0, math.inf)


def test_carbon_aware_release_waits_for_the_clean_hour_within_the_due_date():
    values = np.full(48, 0.5)
    values[10:14] = 0.1  # hours 10..13 are clean
    ctx = ReleaseContext(HourlySignal(0.0, values), None, Calendar.build((), "UTC", 0.0, 1e6))
    job = _job(0, "a", due=40 * 3600.0, proc=3600.0)
    job.planned_processing_s = 3600.0
    pol = CarbonAwareRelease(safety_h=1.0, slack_factor=1.0)
    assert pol.release_time(job, 2 * 3600.0, ctx) == 10 * 3600.0
    # a tight due date: released at once
    tight = _job(1, "a", due=6 * 3600.0, proc=3600.0)
    tight.planned_processing_s = 3600.0
    assert pol.release_time(tight, 2 * 3600.0, ctx) == 2 * 3600.0
    # holding is capped
    assert (
        CarbonAwareRelease(max_hold_h=4.0, safety_h=1.0).release_time(job, 2 * 3600.0, ctx)
        == 2 * 3600.0
    )
    # the latest start leaves slack_factor * work + safety before the due date
    assert ctx.latest_start(40 * 3600.0, 5 * 3600.0) == pytest.approx(35 * 3600.0)


def test_policies_are_entry_points_with_parameters():
    assert {"fifo", "edd", "spt", "batching", "idle_shutdown", "carbon_aware"} <= set(
        policy_names()
    )
    p = get_policy("idle_shutdown", margin=1.5)
    assert isinstance(p, IdleShutdown)
    assert p.margin == 1.5
    with pytest.raises(PluginError, match="unknown policy 'nope'"):
        get_policy("nope")
    with pytest.raises(PluginError, match="does not take parameters"):
        get_policy("fifo", colour="red")


def test_combine_takes_each_answer_from_the_last_policy_that_gives_it():
    p = combine([EDD(), IdleShutdown(), CarbonAwareRelease()])
    q = [_job(0, "a", due=500, proc=30), _job(1, "b", due=100, proc=50)]
    assert p.choose(q, _M(), 0.0) == 1
    assert p.on_idle(_M(), 0.0, 1e9)


def test_a_user_policy_runs_in_the_simulator():
    class LastIn(Policy):
        def choose(self, queue, machine, now):
            return len(queue) - 1

    f = demo_factory()
    lifo = simulate(f, None, LastIn(), seed=1)
    fifo = simulate(f, None, "fifo", seed=1)
    assert lifo.kpis["makespan_h"] > 0
    assert list(lifo.events.step_order) != list(fifo.events.step_order)


def test_idle_shutdown_saves_energy_on_the_demo_week():
    f = demo_factory()
    base = simulate(f, None, "fifo", seed=9)
    off = simulate(f, None, ["fifo", "idle_shutdown"], seed=9)
    assert off.kpis["switch_offs"] > 0
    assert off.kpis["energy_kwh"] < 0.9 * base.kpis["energy_kwh"]
    # the same processing times: identical work, so utilization is alike
    assert off.kpis["utilization"] == pytest.approx(base.kpis["utilization"], rel=0.02)
