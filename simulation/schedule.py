"""A schedule as the optimizer decides it, and the policy that follows it in the SimPy model.

A :class:`Schedule` fixes, for one plan of orders on one factory:

* ``sequence[m]``: the operations machine ``m`` runs, in order, as
  ``(job, operation)`` pairs (job = index of the order in the plan); an
  operation whose routing step lists ``alternatives`` runs on the machine whose
  sequence holds it (the routing's machine or one of its alternatives);
* ``batch[m]``: a batch number per entry; consecutive entries with the same
  number run together on a batch machine (same product, at most its capacity);
* ``release_s``: when each order is released to the floor [s, simulation clock],
  never before its planned release;
* ``keep_off[m]``: one flag per gap, before entry ``k`` (and one after the
  last): while the machine waits for that entry it is kept OFF (and warmed up
  when the job arrives) instead of idling, or being warmed up for the next shift;
* ``overtime_h``: overtime per working window of the shift calendar, in order
  from the scenario start [h]: window ``i`` stays open that much longer
  (:meth:`~.plan.Calendar.with_overtime`); empty for none.

Outside the flags the plant's shift practice holds (:class:`~.policies.AsIs`):
machines rest in their ``off_shift`` state outside shifts and are warmed up
before the next one. :class:`FollowPlan` replays a schedule in the SimPy model
("follow the plan, repair on disruption": a late job delays the ones after it
on its machine, nothing is re-sequenced), so the same schedule can be run with
random processing times and breakdowns over replications.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError

from .plan import Job
from .policies import Policy, ReleaseContext

if TYPE_CHECKING:
    from .model import SimMachine

__all__ = ["FollowPlan", "Schedule"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Sequence, batches, releases and switch-off flags (see the module docstring)."""

    sequence: tuple[tuple[tuple[int, int], ...], ...]
    batch: tuple[tuple[int, ...], ...]
    release_s: tuple[float, ...]
    keep_off: tuple[tuple[bool, ...], ...]
    overtime_h: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for m, seq in enumerate(self.sequence):
            if len(self.batch[m]) != len(seq) or len(self.keep_off[m]) != len(seq) + 1:
                msg = f"schedule of machine {m}: batch and keep_off must match its sequence"
                raise SimulationError(msg, field="schedule")

    def to_dict(self, machine_ids: Sequence[str], orders: Sequence[str]) -> dict[str, Any]:
        """JSON-ready form with machine and order ids."""
        return {
            mid: [
                {
                    "order": orders[j],
                    "operation": k,
                    "batch": int(b),
                    "keep_off_before": bool(off),
                }
                for (j, k), b, off in zip(
                    self.sequence[m], self.batch[m], self.keep_off[m][:-1], strict=True
                )
            ]
            for m, mid in enumerate(machine_ids)
        }


class FollowPlan(Policy):
    """Run a :class:`Schedule`: each machine waits for its next planned job (or batch).

    A machine starts its next planned entry as soon as every job of it is in
    its queue and a shift is open; other jobs wait. While it waits it idles, or
    stays off where the schedule says so. Orders are released at the
    schedule's release times.
    """

    name = "follow_plan"
    rests_off_shift: ClassVar[bool] = True

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        # per machine: jobs of each entry, and the entries of the batch starting at each one
        self._jobs = [tuple(j for j, _ in seq) for seq in schedule.sequence]
        self._batch_end: list[tuple[int, ...]] = []
        for b in schedule.batch:
            ends = [0] * len(b)
            k = len(b)
            for i in range(len(b) - 1, -1, -1):
                if i + 1 < len(b) and b[i + 1] != b[i]:
                    k = i + 1
                ends[i] = k
            self._batch_end.append(tuple(ends))

    @property
    def overtime_h(self) -> tuple[float, ...]:
        """Overtime per working window [h] (the simulator extends its calendar by it)."""
        return self.schedule.overtime_h

    def route_jobs(self, jobs: Sequence[Job]) -> None:
        """Send each job's operations to the machines the schedule chose for them.

        Raises
        ------
        SimulationError
            When the schedule puts an operation on a machine its routing step
            does not list.
        """
        chosen: dict[tuple[int, int], int] = {}
        for m, seq in enumerate(self.schedule.sequence):
            for j, k in seq:
                chosen[(j, k)] = m
        for job in jobs:
            route = list(job.machines)
            for k in range(len(route)):
                m = chosen.get((job.index, k), route[k])
                if m not in job.eligible[k]:
                    msg = (
                        f"the schedule runs operation {job.operations[k]!r} of order "
                        f"{job.order!r} on machine {m}, which its routing does not list"
                    )
                    raise SimulationError(msg, field="schedule")
                route[k] = m
            job.machines = tuple(route)

    def _members(self, m: int, pos: int) -> tuple[int, ...]:
        return self._jobs[m][pos : self._batch_end[m][pos]]

    def choose(self, queue: Sequence[Job], machine: SimMachine, now: float) -> int:
        pos = machine.n_started
        if pos >= len(self._jobs[machine.index]):
            return -1
        members = self._members(machine.index, pos)
        where = {j.index: i for i, j in enumerate(queue)}
        if any(j not in where for j in members):
            return -1
        return where[members[0]]

    def companions(
        self, queue: Sequence[Job], job: Job, machine: SimMachine, now: float
    ) -> list[int] | None:
        members = self._members(machine.index, machine.n_started)
        where = {j.index: i for i, j in enumerate(queue)}
        return [where[j] for j in members[1:]]

    def on_idle(self, machine: SimMachine, now: float, expected_idle_s: float) -> bool:
        flags = self.schedule.keep_off[machine.index]
        return bool(flags[min(machine.n_started, len(flags) - 1)])

    def release_time(self, job: Job, now: float, context: ReleaseContext) -> float:
        return max(now, float(self.schedule.release_s[job.index]))

    def __repr__(self) -> str:
        n = sum(len(s) for s in self.schedule.sequence)
        return f"FollowPlan({n} operations)"
