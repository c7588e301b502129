"""Dispatch, idle and release policies: small classes, registered as plugins.

A policy answers up to three questions the simulator asks. Override any of
them; the base class answers like a plain FIFO shop that never switches
anything off and releases orders when the plan says::

    class Policy:
        def choose(self, queue, machine, now) -> int: ...
        def on_idle(self, machine, now, expected_idle_s) -> bool: ...
        def release_time(self, job, now, context) -> float: ...

``choose(queue, machine, now)``
    ``queue`` is the list of :class:`~carbontwin.simulation.plan.Job` waiting
    in front of ``machine`` (in arrival order, never empty); return the
    *index* of the job to run next. ``now`` is the simulation clock [s].
``on_idle(machine, now, expected_idle_s)``
    ``machine`` has nothing it may run; ``expected_idle_s`` is the simulator's
    estimate of how long it will stay so [s] (next release to it, work
    upstream, the next shift). Return True to switch it OFF; it warms up
    (``PowerModel.warmup_s`` at ``warmup_energy_kwh / warmup_s`` power) before
    the next job.
``release_time(job, now, context)``
    Called at the order's planned release ``now``; return when to release it
    (``>= now``) [s]. ``context`` is a :class:`ReleaseContext` with the hourly
    grid intensity and price and the shift calendar.

``machine`` is the simulator's machine: read ``id``, ``index``, ``power``
(:class:`~carbontwin.twin.model.PowerModel`), ``break_even_s``,
``last_product``, ``queue``; do not change it.

Policies are looked up by name in the entry-point group
``carbontwin.policies`` (:func:`get_policy`); several can be combined
(:func:`combine`), each question answered by the last policy that overrides it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import PluginError

from .plan import Calendar, Job
from .tariffs import HourlySignal

if TYPE_CHECKING:
    from .model import SimMachine

__all__ = [
    "EDD",
    "AsIs",
    "FIFO",
    "SPT",
    "Batching",
    "CarbonAwareRelease",
    "IdleShutdown",
    "Policy",
    "ReleaseContext",
    "combine",
    "get_policy",
    "policy_names",
]

GROUP = "carbontwin.policies"
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ReleaseContext:
    """What a release policy may look at.

    ``grid`` is the location-based factor [kg CO2e/kWh] per hour, ``price``
    the tariff [currency/kWh] per hour (None without a tariff), ``calendar``
    the shift windows, all on the simulation clock. The helpers measure time
    in *shift* time, the only time in which work gets done.
    """

    grid: HourlySignal | None
    price: HourlySignal | None
    calendar: Calendar
    _cache: dict[str, tuple[FloatArray, FloatArray, FloatArray]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _profile(self, signal: str) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Knots, cumulative shift time and cumulative shift-time-weighted signal."""
        if signal in self._cache:
            return self._cache[signal]
        series = self.grid if signal == "carbon" else self.price
        if series is None:
            msg = f"no {signal} signal in this scenario"
            raise PluginError(msg, field="signal")
        n = len(series.values)
        edges = series.t0_hour + 3600.0 * np.arange(n + 1, dtype=np.float64)
        cal = self.calendar
        if cal.always_open:
            knots = edges
        else:
            inner = np.concatenate((cal.starts, cal.ends))
            inner = inner[(inner > edges[0]) & (inner < edges[-1])]
            knots = np.unique(np.concatenate((edges, inner)))
        mid = 0.5 * (knots[:-1] + knots[1:])
        is_open = cal.open_mask(mid).astype(np.float64)
        k = np.clip(((mid - series.t0_hour) // 3600.0).astype(np.int64), 0, n - 1)
        dt = np.diff(knots)
        open_cum = np.concatenate(([0.0], np.cumsum(is_open * dt)))
        sig_cum = np.concatenate(([0.0], np.cumsum(series.values[k] * is_open * dt)))
        self._cache[signal] = (knots, open_cum, sig_cum)
        return self._cache[signal]

    def latest_start(self, due_s: float, work_open_s: float, signal: str = "carbon") -> float:
        """Latest time that still leaves ``work_open_s`` of shift time before ``due_s`` [s]."""
        knots, open_cum, _ = self._profile(signal)
        target = float(np.interp(due_s, knots, open_cum)) - work_open_s
        if target <= 0:
            return -math.inf
        i = int(np.searchsorted(open_cum, target, side="left"))
        if i >= len(knots):
            return float(knots[-1])
        lo = max(i - 1, 0)
        span = float(open_cum[i] - open_cum[lo])
        if span <= 0:
            return float(knots[i])
        return float(knots[lo] + (target - open_cum[lo]) / span * (knots[i] - knots[lo]))

    def working_mean(self, starts: FloatArray, work_s: float, signal: str = "carbon") -> FloatArray:
        """Mean signal over the first ``work_s`` of shift time from each start."""
        knots, open_cum, sig_cum = self._profile(signal)
        o0 = np.interp(starts, knots, open_cum)
        o1: FloatArray = np.minimum(o0 + max(float(work_s), 1.0), open_cum[-1])
        span = np.maximum(o1 - o0, 1.0)
        return (np.interp(o1, open_cum, sig_cum) - np.interp(o0, open_cum, sig_cum)) / span


class Policy:
    """Base policy: FIFO dispatch, never switch off, release as planned.

    ``rests_off_shift``: machines follow the plant's shift calendar, resting in
    their ``off_shift`` state outside shifts and warmed up for the next one
    (:class:`AsIs`). With it, ``on_idle`` is also asked at shift starts and
    between shifts: True keeps a machine off until work comes.
    """

    name: ClassVar[str] = "policy"
    rests_off_shift: ClassVar[bool] = False

    def choose(self, queue: Sequence[Job], machine: SimMachine, now: float) -> int:
        """Index in ``queue`` of the job to run next (first come, first served)."""
        return 0

    def on_idle(self, machine: SimMachine, now: float, expected_idle_s: float) -> bool:
        """Whether to switch ``machine`` off now."""
        return False

    def release_time(self, job: Job, now: float, context: ReleaseContext) -> float:
        """When to release ``job`` [s on the simulation clock], ``>= now``."""
        return now

    def companions(
        self, queue: Sequence[Job], job: Job, machine: SimMachine, now: float
    ) -> list[int] | None:
        """Indexes in ``queue`` of the jobs a batch machine runs together with ``job``.

        ``None`` (the default): the first queued jobs of the same product.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class AsIs(Policy):
    """Current practice: FIFO dispatch, machines off (or as the factory says) outside shifts.

    Each machine rests in its factory ``off_shift`` state (OFF by default,
    STANDBY, or IDLE for one the plant keeps running) from the end of a shift
    until its warm-up before the next one, and idles between jobs inside shifts.
    Combine it with ``idle_shutdown`` or ``carbon_aware`` to change one habit at a time.
    """

    name = "as_is"
    rests_off_shift = True


class FIFO(Policy):
    """First in, first out: the job that reached the queue first."""

    name = "fifo"


class EDD(Policy):
    """Earliest due date first."""

    name = "edd"

    def choose(self, queue: Sequence[Job], machine: SimMachine, now: float) -> int:
        return min(range(len(queue)), key=lambda i: queue[i].due_s)


class SPT(Policy):
    """Shortest processing time of the next operation first."""

    name = "spt"

    def choose(self, queue: Sequence[Job], machine: SimMachine, now: float) -> int:
        return min(range(len(queue)), key=lambda i: queue[i].processing_s[queue[i].op])


class Batching(Policy):
    """Keep running the product the machine is set up for, to save setups.

    Takes the first queued job of the machine's last product; falls back to
    FIFO when there is none, or when the oldest job has waited longer than
    ``max_wait_h`` [h] (so no product starves).
    """

    name = "batching"

    def __init__(self, max_wait_h: float = 8.0) -> None:
        self.max_wait_s = float(max_wait_h) * 3600.0

    def choose(self, queue: Sequence[Job], machine: SimMachine, now: float) -> int:
        if now - queue[0].arrived_s > self.max_wait_s:
            return 0
        last = machine.last_product
        for i, job in enumerate(queue):
            if job.product == last:
                return i
        return 0


class IdleShutdown(Policy):
    """Switch a machine off when the expected idle time exceeds its break-even time.

    After Mouzon, Yildirim and Twomey (2007): switching off for an idle period
    saves energy only if the period is longer than the break-even time
    :attr:`~carbontwin.twin.model.PowerModel.break_even_s`. ``margin`` scales
    the threshold (1.5 asks for 50 % more idle time than break-even).
    """

    name = "idle_shutdown"

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = float(margin)

    def on_idle(self, machine: SimMachine, now: float, expected_idle_s: float) -> bool:
        return expected_idle_s > self.margin * machine.break_even_s


class CarbonAwareRelease(Policy):
    """Hold orders with slack for cleaner (or cheaper) hours without breaking due dates.

    At the planned release, the order's planned work ``W`` (nominal setups and
    processing) is placed at the start hour ``s`` whose first ``W`` of shift
    time has the lowest mean grid intensity (``signal="carbon"``) or price
    (``signal="price"``), among the hours up to ``max_hold_h`` ahead that still
    leave ``slack_factor * W + safety_h`` of shift time before the due date.
    The order is held only if that lowers the mean by at least ``min_gain``
    (relative) against releasing it now.
    """

    name = "carbon_aware"

    def __init__(
        self,
        signal: str = "carbon",
        max_hold_h: float = 48.0,
        slack_factor: float = 2.0,
        safety_h: float = 8.0,
        min_gain: float = 0.03,
    ) -> None:
        if signal not in ("carbon", "price"):
            msg = f"carbon_aware signal {signal!r}: expected 'carbon' or 'price'"
            raise PluginError(msg, field="signal")
        self.signal = signal
        self.max_hold_s = float(max_hold_h) * 3600.0
        self.slack_factor = float(slack_factor)
        self.safety_s = float(safety_h) * 3600.0
        self.min_gain = float(min_gain)

    def release_time(self, job: Job, now: float, context: ReleaseContext) -> float:
        sig = self.signal
        if (context.grid if sig == "carbon" else context.price) is None:
            return now
        work = float(sum(job.setup_s)) + job.planned_processing_s
        latest = min(
            context.latest_start(job.due_s, self.slack_factor * work + self.safety_s, sig),
            now + self.max_hold_s,
        )
        if latest <= now:
            return now
        first_hour = math.ceil(now / 3600.0) * 3600.0
        cands = np.concatenate(([now], np.arange(first_hour, latest + 1e-9, 3600.0)))
        means = context.working_mean(cands, work, sig)
        best = int(np.argmin(means))
        if means[best] < (1.0 - self.min_gain) * means[0]:
            return float(cands[best])
        return now


_BUILTIN: dict[str, type[Policy]] = {
    c.name: c for c in (AsIs, FIFO, EDD, SPT, Batching, IdleShutdown, CarbonAwareRelease)
}


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """The group's entry points by name, read once per process (discovery is slow)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def policy_names() -> list[str]:
    """Names registered in the ``carbontwin.policies`` entry-point group."""
    return sorted(set(_entry_points()) | set(_BUILTIN))


def get_policy(name: str | Policy | type[Policy], **params: Any) -> Policy:
    """A policy instance from an entry-point name (or a class, or an instance).

    Raises
    ------
    PluginError
        For a name no plugin registers, or parameters the class does not take.
    """
    if isinstance(name, Policy):
        return name
    if isinstance(name, type):
        cls: Any = name
    else:
        ep = _entry_points().get(name)
        if ep is not None:
            try:
                cls = ep.load()
            except Exception as exc:  # a broken third-party plugin
                msg = f"policy plugin {name!r} ({ep.value}) failed to load: {exc}"
                raise PluginError(msg) from exc
        elif name in _BUILTIN:
            cls = _BUILTIN[name]
        else:
            msg = f"unknown policy {name!r}; known: {', '.join(policy_names())}"
            raise PluginError(msg, field="policy")
    try:
        obj = cls(**params)
    except TypeError as exc:
        msg = f"policy {name!r} does not take parameters {sorted(params)}: {exc}"
        raise PluginError(msg, field="params") from None
    if not isinstance(obj, Policy):
        msg = f"policy {name!r} is a {type(obj).__name__}, not a carbontwin Policy"
        raise PluginError(msg)
    return obj


def _overrides(p: Policy, method: str) -> bool:
    return getattr(type(p), method) is not getattr(Policy, method)


class _Combined(Policy):
    name = "combined"

    def __init__(self, parts: Sequence[Policy]) -> None:
        self.parts = tuple(parts)
        self.rests_off_shift = any(p.rests_off_shift for p in self.parts)  # type: ignore[misc]
        for method in ("choose", "on_idle", "release_time", "companions"):
            for p in reversed(self.parts):
                if _overrides(p, method):
                    setattr(self, method, getattr(p, method))
                    break

    def __repr__(self) -> str:
        return " + ".join(repr(p) for p in self.parts)


def combine(policies: Sequence[Policy]) -> Policy:
    """One policy answering each question with the last of ``policies`` that overrides it."""
    if len(policies) == 1:
        return policies[0]
    return _Combined(policies)


def overrides(policy: Policy, method: str) -> bool:
    """Whether ``policy`` answers ``method`` itself (the simulator skips the defaults)."""
    if isinstance(policy, _Combined):
        return any(_overrides(p, method) for p in policy.parts)
    return _overrides(policy, method)
