"""The SimPy factory: machines with a power-state model, driven by a plan and a policy.

Each machine is one SimPy process that pulls jobs from its input buffer (the
policy chooses which), sets up, processes, and hands the job to the next
machine of its routing, waiting while that machine's buffer is full. States
follow the power-state model: OFF, IDLE, SETUP, PROCESSING, FAULT and a
warm-up after OFF. Warm-up is reported as **SETUP** (the machine is being made
ready; no order occupies it) at the power ``warmup_energy_kwh / warmup_s``.
Breakdowns strike after an exponential busy time with mean ``mtbf_s`` and last
an exponential time with mean ``mttr_s``; every machine draws them from its
own child generator, so a policy change does not shift another machine's
random numbers.

The loop records only tuples ``(t, state)`` per machine and
``(job, op, machine, start, end, kind)`` per order step on the simulation
clock; :mod:`carbontwin.simulation.results` turns them into numpy arrays,
power, energy and the twin's :class:`~carbontwin.twin.events.EventBatch`.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import numpy as np
import simpy

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.model import Factory, Machine, State

from .plan import Calendar, Job
from .policies import Policy, ReleaseContext, overrides

__all__ = ["WARMUP", "SimMachine", "SimRun"]

OFF, STANDBY, IDLE, SETUP, PROC, FAULT = range(6)
#: Internal state code of warm-up; reported as SETUP.
WARMUP = 6
STEP_SETUP, STEP_PROCESSING = 0, 1


class SimMachine:
    """A machine during a run. Policies may read; only the simulator writes."""

    __slots__ = (
        "break_even_s",
        "buffer_cap",
        "capacity",
        "first_releases",
        "id",
        "inbound",
        "index",
        "last_product",
        "max_queue",
        "model",
        "mtbf_s",
        "mttr_s",
        "n_setups",
        "n_started",
        "n_switch_offs",
        "power",
        "queue",
        "rec",
        "rest",
        "rng",
        "setup_matrix",
        "space",
        "state",
        "ttf_s",
        "wake",
        "warmup_s",
    )

    def __init__(
        self,
        index: int,
        machine: Machine,
        buffer_cap: float,
        rng: np.random.Generator,
        initial_state: int,
        breakdowns: bool,
        rest: int | None = None,
    ) -> None:
        self.index = index
        self.id = machine.id
        self.model = machine
        self.power = machine.power
        self.break_even_s = machine.power.break_even_s
        self.warmup_s = float(machine.power.warmup_s)
        self.capacity = max(1, int(machine.capacity))
        self.buffer_cap = buffer_cap
        self.setup_matrix: Mapping[tuple[str, str], float] = machine.setup_matrix_s
        self.queue: list[Job] = []
        self.state = initial_state
        self.rec: list[tuple[float, int]] = [(0.0, initial_state)]
        self.last_product: str | None = None
        self.wake: Any = None
        self.space: list[Any] = []
        self.rng = rng
        ok = breakdowns and machine.mtbf_s is not None and machine.mttr_s is not None
        self.mtbf_s = float(machine.mtbf_s) if ok and machine.mtbf_s else 0.0
        self.mttr_s = float(machine.mttr_s) if ok and machine.mttr_s else 0.0
        self.ttf_s = float(rng.exponential(self.mtbf_s)) if self.mtbf_s > 0 else math.inf
        self.first_releases: list[float] = []
        self.inbound = 0
        self.n_setups = 0
        self.n_started = 0
        self.n_switch_offs = 0
        self.rest = rest
        self.max_queue = 0

    def __repr__(self) -> str:
        return f"SimMachine({self.id!r}, queue={len(self.queue)})"


class SimRun:
    """One replication: the SimPy environment, machines, jobs and what they record."""

    def __init__(
        self,
        factory: Factory,
        jobs: list[Job],
        policy: Policy,
        calendar: Calendar,
        context: ReleaseContext,
        machine_rngs: Sequence[np.random.Generator],
        *,
        buffers: Mapping[str, float] | None = None,
        initial_state: State = State.IDLE,
        breakdowns: bool = True,
    ) -> None:
        self.env = simpy.Environment()
        self.factory = factory
        self.jobs = jobs
        self.policy = policy
        self.calendar = calendar
        self.context = context
        route_jobs = getattr(policy, "route_jobs", None)
        if route_jobs is not None:  # a plan that chose machines among the alternatives
            route_jobs(jobs)
        buffers = dict(buffers or {})
        default_cap = buffers.pop("default", None)
        code = _CODE[initial_state]
        #: machines rest outside shifts as the factory file says (the plant's practice)
        self.rests = bool(getattr(policy, "rests_off_shift", False))
        self.machines = [
            SimMachine(
                i,
                m,
                float(buffers.get(m.id, default_cap) or math.inf),
                machine_rngs[i],
                code,
                breakdowns,
                _CODE[m.off_shift] if self.rests else None,
            )
            for i, m in enumerate(factory.machines)
        ]
        self.steps: list[tuple[int, int, int, float, float, int]] = []
        self.remaining = len(jobs)
        self.all_done = self.env.event()
        self.choose: Callable[..., int] | None = (
            policy.choose if overrides(policy, "choose") else None
        )
        self.on_idle: Callable[..., bool] | None = (
            policy.on_idle if overrides(policy, "on_idle") else None
        )
        self.release_time: Callable[..., float] | None = (
            policy.release_time if overrides(policy, "release_time") else None
        )
        self.companions: Callable[..., list[int] | None] | None = (
            policy.companions if overrides(policy, "companions") else None
        )
        self.track_inbound = self.on_idle is not None
        if self.track_inbound:
            for job in sorted(jobs, key=lambda j: j.release_s):
                self.machines[job.machines[0]].first_releases.append(job.release_s)

    # -- helpers the processes call ------------------------------------------------------
    def expected_idle_s(self, m: SimMachine, now: float) -> float:
        """Estimate how long ``m`` stays without work from ``now`` [s].

        Work is expected at once while jobs upstream will visit ``m``; otherwise at
        the next planned release whose first operation is on ``m``; and never
        before the next shift opens.
        """
        if m.inbound > 0:
            arrival = now
        else:
            i = bisect_right(m.first_releases, now)
            arrival = m.first_releases[i] if i < len(m.first_releases) else math.inf
        if math.isinf(arrival):
            return math.inf
        w0, _ = self.calendar.window(arrival)
        return max(arrival, w0) - now

    def release(self, job: Job) -> None:
        """Put ``job`` into the buffer of its first machine (releases ignore buffer limits)."""
        now = self.env.now
        job.arrived_s = now
        machines = self.machines
        if self.track_inbound:
            for mi in job.machines:
                machines[mi].inbound += 1
        m = machines[job.machines[0]]
        m.queue.append(job)
        if self.track_inbound:
            m.inbound -= 1
        w = m.wake
        if w is not None:
            m.wake = None
            w.succeed()

    def run(self, until: float = 0.0) -> float:
        """Run until every job is done; return the simulation time then [s].

        When machines rest outside shifts, the plant goes on following its
        shift calendar until ``until`` [s] (the end of the scenario).
        """
        env = self.env
        for m in self.machines:
            env.process(_machine_process(env, self, m))
        env.process(_release_process(env, self))
        if self.on_idle is not None and not self.calendar.always_open:
            env.process(_shift_end_process(env, self))
        if not self.jobs:
            return 0.0
        try:
            env.run(until=self.all_done)
        except RuntimeError as exc:  # no events left: a job can never finish
            stuck = [j.order for j in self.jobs if math.isnan(j.done_s)][:5]
            msg = f"the simulation stalled with orders unfinished (e.g. {stuck}): {exc}"
            raise SimulationError(msg) from None
        now = float(env.now)
        if self.rests:
            if until > now:
                env.run(until=until)
            return now
        if self.on_idle is not None:  # no work is left: ask once more, expecting no more jobs
            for m in self.machines:
                if m.state == IDLE and self.on_idle(m, now, math.inf):
                    m.state = OFF
                    m.rec.append((now, OFF))
                    m.n_switch_offs += 1
        return now


_CODE = {
    State.OFF: OFF,
    State.STANDBY: STANDBY,
    State.IDLE: IDLE,
    State.SETUP: SETUP,
    State.PROCESSING: PROC,
    State.FAULT: FAULT,
}


def _release_process(env: simpy.Environment, run: SimRun) -> Generator[Any, Any, None]:
    """Release jobs at their planned time, or when the policy says."""
    order = sorted(run.jobs, key=lambda j: (j.release_s, j.index))
    if run.release_time is None:
        for job in order:
            if job.release_s > env.now:
                yield env.timeout(job.release_s - env.now)
            run.release(job)
        return
    release_time = run.release_time
    ctx = run.context
    heap = [(max(j.release_s, 0.0), 0, j.index) for j in order]
    heapq.heapify(heap)
    jobs = run.jobs
    while heap:
        t, kind, idx = heapq.heappop(heap)
        if t > env.now:
            yield env.timeout(t - env.now)
        job = jobs[idx]
        if kind == 0:
            when = float(release_time(job, env.now, ctx))
            if when > env.now:
                heapq.heappush(heap, (when, 1, idx))
                continue
        run.release(job)


def _shift_end_process(env: simpy.Environment, run: SimRun) -> Generator[Any, Any, None]:
    """At each shift end, wake idle machines so the policy may switch them off."""
    for end in run.calendar.ends:
        if end > env.now:
            yield env.timeout(float(end) - env.now)
        if run.remaining == 0:
            return
        for m in run.machines:
            w = m.wake
            if w is not None and m.state == IDLE:
                m.wake = None
                w.succeed()


def _machine_process(
    env: simpy.Environment, run: SimRun, m: SimMachine
) -> Generator[Any, Any, None]:
    """One machine: wait for work, warm up, set up, process, pass the job on."""
    queue = m.queue
    rec = m.rec.append
    steps = run.steps.append
    cal = run.calendar
    always = cal.always_open
    choose = run.choose
    on_idle = run.on_idle
    machines = run.machines
    track = run.track_inbound
    cap = m.capacity
    timeout = env.timeout
    matrix = m.setup_matrix
    rests = m.rest is not None
    companions = run.companions
    while True:
        now = env.now
        pick = -2
        if rests:  # choose first: a machine kept off warms up only for a job it will run
            pick = -1 if not queue else 0 if choose is None else choose(queue, m, now)
            if pick < 0 or (not always and cal.window(now)[0] > now):
                yield from _rest_step(env, run, m, pick >= 0)
                continue
        if not queue:
            if m.state != IDLE and m.state != OFF:
                m.state = IDLE
                rec((now, IDLE))
            if (
                on_idle is not None
                and m.state == IDLE
                and run.remaining > 0
                and on_idle(m, now, run.expected_idle_s(m, now))
            ):
                m.state = OFF
                rec((now, OFF))
                m.n_switch_offs += 1
            m.wake = env.event()
            yield m.wake
            continue
        if not always:
            w0, _ = cal.window(now)
            if w0 > now:  # outside the shifts: wait for the next one
                if math.isinf(w0):
                    msg = (
                        f"machine {m.id!r} has {len(queue)} jobs left after the last shift "
                        "of the calendar; extend the scenario or the shifts"
                    )
                    raise SimulationError(msg)
                if m.state != OFF:
                    if on_idle is not None and on_idle(m, now, w0 - now):
                        m.state = OFF
                        rec((now, OFF))
                        m.n_switch_offs += 1
                    elif m.state != IDLE:
                        m.state = IDLE
                        rec((now, IDLE))
                if m.state == OFF:
                    wake_at = max(now, w0 - m.warmup_s)
                    if wake_at > now:
                        yield timeout(wake_at - now)
                    if m.warmup_s > 0:
                        m.state = WARMUP
                        rec((env.now, WARMUP))
                        yield timeout(m.warmup_s)
                    m.state = IDLE
                    rec((env.now, IDLE))
                else:
                    yield timeout(w0 - now)
                continue
        # -- choose the job (and, for a batch machine, its companions) ----------------
        if m.state == OFF:
            if m.warmup_s > 0:
                m.state = WARMUP
                rec((now, WARMUP))
                yield timeout(m.warmup_s)
            m.state = IDLE
            rec((env.now, IDLE))
        elif m.state == STANDBY:
            m.state = IDLE
            rec((now, IDLE))
        if pick == -2:
            pick = 0 if choose is None else choose(queue, m, env.now)
            if pick < 0:  # the policy waits for a job that is not here yet
                if m.state != IDLE:
                    m.state = IDLE
                    rec((env.now, IDLE))
                m.wake = env.event()
                yield m.wake
                continue
        job = queue.pop(pick)
        batch = None
        if cap > 1:
            batch = [job]
            chosen = companions(queue, job, m, env.now) if companions is not None else None
            if chosen is not None:
                for i in sorted(chosen[: cap - 1], reverse=True):
                    batch.append(queue.pop(i))
                batch[1:] = batch[:0:-1]
            else:
                i = 0
                while i < len(queue) and len(batch) < cap:
                    if queue[i].product == job.product:
                        batch.append(queue.pop(i))
                    else:
                        i += 1
        m.n_started += 1 if batch is None else len(batch)
        if m.space:
            for _ in range(min(len(m.space), 1 if batch is None else len(batch))):
                m.space.pop(0).succeed()
        op = job.op
        product = job.product
        last = m.last_product
        # -- setup ----------------------------------------------------------------------
        if last is None:
            setup = job.setup_s[op]
        elif product == last:
            setup = matrix.get((product, product), 0.0) if matrix else 0.0
        else:
            setup = matrix.get((last, product), job.setup_s[op]) if matrix else job.setup_s[op]
        mi = m.index
        if setup > 0:
            t = env.now
            if m.state != SETUP:
                m.state = SETUP
                rec((t, SETUP))
            yield timeout(setup)
            if batch is None:
                steps((job.index, op, mi, t, env.now, STEP_SETUP))
            else:
                for j in batch:
                    steps((j.index, j.op, mi, t, env.now, STEP_SETUP))
            m.n_setups += 1
        m.last_product = product
        # -- processing, with breakdowns --------------------------------------------------
        d = job.processing_s[op] if batch is None else max(j.processing_s[j.op] for j in batch)
        t = env.now
        if m.state != PROC:
            m.state = PROC
            rec((t, PROC))
        if d >= m.ttf_s:
            while d >= m.ttf_s:
                yield timeout(m.ttf_s)
                d -= m.ttf_s
                tf = env.now
                for j in batch or (job,):
                    steps((j.index, j.op, mi, t, tf, STEP_PROCESSING))
                m.state = FAULT
                rec((tf, FAULT))
                yield timeout(float(m.rng.exponential(m.mttr_s)))
                m.ttf_s = float(m.rng.exponential(m.mtbf_s))
                t = env.now
                m.state = PROC
                rec((t, PROC))
        m.ttf_s -= d
        yield timeout(d)
        # -- hand over ------------------------------------------------------------------
        for j in batch or (job,):
            if batch is None:
                steps((job.index, op, mi, t, env.now, STEP_PROCESSING))
            else:
                steps((j.index, j.op, mi, t, env.now, STEP_PROCESSING))
            j.op += 1
            if j.op < len(j.machines):
                nxt = machines[j.machines[j.op]]
                while len(nxt.queue) >= nxt.buffer_cap and nxt is not m:
                    if m.state != IDLE:  # blocked: holds the finished job
                        m.state = IDLE
                        rec((env.now, IDLE))
                    ev = env.event()
                    nxt.space.append(ev)
                    yield ev
                j.arrived_s = env.now
                nxt.queue.append(j)
                if len(nxt.queue) > nxt.max_queue:
                    nxt.max_queue = len(nxt.queue)
                if track:
                    nxt.inbound -= 1
                w = nxt.wake
                if w is not None:
                    nxt.wake = None
                    w.succeed()
            else:
                j.done_s = env.now
                run.remaining -= 1
                if run.remaining == 0:
                    run.all_done.succeed()


def _rest_step(
    env: simpy.Environment, run: SimRun, m: SimMachine, runnable: bool
) -> Generator[Any, Any, None]:
    """One decision of a machine that follows the shift calendar and has nothing to start now.

    Outside shifts it rests in the factory's ``off_shift`` state and is warmed up
    so that it is ready when the next shift opens, unless nothing waits for it
    and the policy's ``on_idle`` says to keep it off until work comes. Inside a
    shift it idles, or is switched off when ``on_idle`` says so (and warmed up
    again when work comes or the policy no longer says so). ``runnable``: a job
    it may start waits in its queue. Returns after at most one state change or
    one wait; the machine's loop calls it again.
    """
    now = env.now
    rec = m.rec.append
    on_idle = run.on_idle
    w0, w1 = run.calendar.window(now)
    if m.state not in (IDLE, OFF, STANDBY):
        m.state = IDLE
        rec((now, IDLE))
    keep_off = (
        not runnable and on_idle is not None and bool(on_idle(m, now, run.expected_idle_s(m, now)))
    )
    if w0 > now:  # outside the shifts
        rest = OFF if keep_off or m.rest is None else m.rest
        if m.state == IDLE and rest != IDLE:
            m.state = rest
            rec((now, rest))
            if rest == OFF:
                m.n_switch_offs += 1
        if runnable or not keep_off:
            lead = w0 - m.warmup_s if m.state == OFF else w0
            if m.state != IDLE and now >= lead:
                yield from _warm_up(env, m)
                return
            m.wake = env.event()
            if math.isinf(w0):
                yield m.wake
            else:
                yield m.wake | env.timeout((lead if m.state != IDLE else w0) - now)
            return
        m.wake = env.event()
        yield m.wake
        return
    # inside a shift, nothing to start
    if m.state == IDLE and keep_off:
        m.state = OFF
        rec((now, OFF))
        m.n_switch_offs += 1
    elif m.state != IDLE and not keep_off:
        yield from _warm_up(env, m)
        return
    m.wake = env.event()
    if math.isinf(w1):
        yield m.wake
    else:
        yield m.wake | env.timeout(w1 - now)


def _warm_up(env: simpy.Environment, m: SimMachine) -> Generator[Any, Any, None]:
    """From OFF (through the warm-up) or STANDBY to IDLE."""
    if m.state == OFF and m.warmup_s > 0:
        m.state = WARMUP
        m.rec.append((env.now, WARMUP))
        yield env.timeout(m.warmup_s)
    m.state = IDLE
    m.rec.append((env.now, IDLE))
