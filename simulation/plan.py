"""Production plan and shift calendar in simulation time.

The simulator's clock is seconds from the scenario start ``t0`` (a float, epoch
seconds UTC). Orders become :class:`Job` objects with release and due times on
that clock, their routing resolved to machine indexes, and their random
processing times drawn once, up front, from an explicit
:class:`numpy.random.Generator`. Drawing in plan order (not in event order)
gives every policy the same processing times for the same seed: common random
numbers, so a candidate's difference from the baseline is paired by seed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.model import Factory, Order, Shift

__all__ = ["Calendar", "Job", "build_jobs", "epoch_s", "processing_multipliers"]

FloatArray = npt.NDArray[np.float64]


class Job:
    """One production order travelling through its routing.

    Policies read these attributes (all times on the simulation clock [s]):

    ``index`` (position in the plan), ``order`` (order id), ``product``,
    ``quantity``, ``release_s``, ``due_s``, ``op`` (index of the current
    operation), ``machines`` (machine index per operation), ``processing_s``
    (drawn processing time per operation [s]), ``planned_processing_s`` (nominal
    processing time of the whole routing, what a planner knows [s]), ``setup_s`` (nominal setup per
    operation [s]), ``operations`` (operation ids), ``done_s`` (completion, or
    NaN), ``arrived_s`` (when it entered the current queue), ``eligible``
    (per operation, every machine index that may run it: the routing's machine
    first, then its alternatives).
    """

    __slots__ = (
        "arrived_s",
        "done_s",
        "due_s",
        "eligible",
        "index",
        "machines",
        "op",
        "operations",
        "order",
        "planned_processing_s",
        "processing_s",
        "product",
        "quantity",
        "release_s",
        "setup_s",
    )

    def __init__(
        self,
        index: int,
        order: str,
        product: str,
        quantity: float,
        release_s: float,
        due_s: float,
        machines: tuple[int, ...],
        operations: tuple[str, ...],
        setup_s: tuple[float, ...],
        processing_s: list[float],
        planned_processing_s: float = math.nan,
        eligible: tuple[tuple[int, ...], ...] | None = None,
    ) -> None:
        self.index = index
        self.order = order
        self.product = product
        self.quantity = quantity
        self.release_s = release_s
        self.due_s = due_s
        self.machines = machines
        self.operations = operations
        self.setup_s = setup_s
        self.processing_s = processing_s
        self.planned_processing_s = (
            float(sum(processing_s)) if math.isnan(planned_processing_s) else planned_processing_s
        )
        self.eligible = eligible if eligible is not None else tuple((m,) for m in machines)
        self.op = 0
        self.done_s = math.nan
        self.arrived_s = release_s

    @property
    def next_processing_s(self) -> float:
        """Processing time of the current operation [s]."""
        return self.processing_s[self.op]

    @property
    def remaining_work_s(self) -> float:
        """Nominal setup plus drawn processing time of the operations still to do [s]."""
        return float(sum(self.processing_s[self.op :]) + sum(self.setup_s[self.op :]))

    def __repr__(self) -> str:
        return f"Job({self.order!r}, {self.product!r}, op={self.op}/{len(self.machines)})"


def processing_multipliers(
    n_orders: int, n_ops: int, rng: np.random.Generator, cv: float
) -> FloatArray:
    """Random factors with mean 1 for processing times, shape ``(n_orders, n_ops)``.

    Lognormal with coefficient of variation ``cv``; ``cv = 0`` gives ones.
    """
    if cv <= 0:
        return np.ones((n_orders, n_ops))
    sigma2 = math.log1p(cv * cv)
    return rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), size=(n_orders, n_ops))


def epoch_s(t: datetime, what: str) -> float:
    """Epoch seconds of a timezone-aware datetime (the factory model keeps UTC ones)."""
    if t.tzinfo is None:
        msg = f"{what} {t.isoformat()} has no timezone; give it in UTC"
        raise SimulationError(msg)
    return t.timestamp()


def build_jobs(
    factory: Factory,
    orders: Sequence[Order],
    t0: float,
    multipliers: FloatArray,
    machine_index: dict[str, int],
) -> list[Job]:
    """Jobs on the simulation clock (``t0`` epoch seconds is time 0).

    Raises
    ------
    SimulationError
        For an order of an unknown product, a product without routing, or a
        routing step on an unknown machine.
    """
    routes: dict[
        str,
        tuple[
            tuple[int, ...],
            tuple[str, ...],
            tuple[float, ...],
            list[float],
            float,
            tuple[tuple[int, ...], ...],
        ],
    ] = {}
    for prod in factory.products:
        if not prod.routing:
            continue
        machines = []
        eligible = []
        for op in prod.routing:
            for name in op.machines:
                if name not in machine_index:
                    msg = (
                        f"routing of product {prod.id!r} runs operation {op.id!r} on unknown "
                        f"machine {name!r}"
                    )
                    raise SimulationError(msg, field=f"products.{prod.id}.routing")
            machines.append(machine_index[op.machine])
            eligible.append(tuple(machine_index[name] for name in op.machines))
        per_unit = [op.processing_s_per_unit for op in prod.routing]
        routes[prod.id] = (
            tuple(machines),
            tuple(op.id for op in prod.routing),
            tuple(float(op.setup_s) for op in prod.routing),
            per_unit,
            float(sum(per_unit)),
            tuple(eligible),
        )
    known = {p.id for p in factory.products}
    mult = multipliers.tolist()
    jobs: list[Job] = []
    for i, o in enumerate(orders):
        route = routes.get(o.product)
        if route is None:
            if o.product in known:
                msg = f"product {o.product!r} of order {o.id!r} has no routing to simulate"
                raise SimulationError(msg, field=f"products.{o.product}.routing")
            msg = f"order {o.id!r} names unknown product {o.product!r}"
            raise SimulationError(msg, field=f"orders[{i}].product")
        q = float(o.quantity)
        if not q > 0:
            msg = f"order {o.id!r} has quantity {o.quantity}; it must be positive"
            raise SimulationError(msg, field=f"orders[{i}].quantity")
        route_machines, ops, setups, per_unit, unit_sum, eligible_m = route
        row = mult[i]
        proc = [p * q * m for p, m in zip(per_unit, row, strict=False)]
        jobs.append(
            Job(
                i,
                o.id,
                o.product,
                q,
                epoch_s(o.release, f"release of {o.id!r}") - t0,
                epoch_s(o.due, f"due date of {o.id!r}") - t0,
                route_machines,
                ops,
                setups,
                proc,
                unit_sum * q,
                eligible_m,
            )
        )
    return jobs


def _hhmm(text: str, shift: Shift) -> tuple[int, int]:
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        msg = f"shift {shift.name!r} has time {text!r}; expected HH:MM"
        raise SimulationError(msg, field="shifts") from None
    if not (0 <= h <= 24 and 0 <= m < 60):
        msg = f"shift {shift.name!r} has time {text!r} outside 00:00..24:00"
        raise SimulationError(msg, field="shifts")
    return h, m


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working windows on the simulation clock, merged and sorted.

    An empty factory shift list means the plant works around the clock
    (``always_open``). Operations start only inside a window and may run past
    its end (the running order is finished, no new one is started).
    """

    starts: FloatArray
    ends: FloatArray
    always_open: bool

    @classmethod
    def build(cls, shifts: Sequence[Shift], timezone: str, t0: float, t_until: float) -> Calendar:
        """Windows from ``t0`` (epoch s) to ``t0 + t_until`` [s] for shifts in local time."""
        if not shifts:
            return cls(np.array([0.0]), np.array([math.inf]), True)
        try:
            tz = ZoneInfo(timezone or "UTC")
        except (KeyError, ValueError):
            msg = f"site timezone {timezone!r} is not an IANA zone (e.g. 'Europe/Berlin')"
            raise SimulationError(msg, field="site.timezone") from None
        first = datetime.fromtimestamp(t0, tz).date() - timedelta(days=1)
        n_days = int(t_until // 86400) + 3
        wins: list[tuple[float, float]] = []
        for d in range(n_days):
            day = first + timedelta(days=d)
            for sh in shifts:
                if day.weekday() not in sh.weekdays:
                    continue
                h0, m0 = _hhmm(sh.start, sh)
                h1, m1 = _hhmm(sh.end, sh)
                start = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
                    hours=h0, minutes=m0
                )
                end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(
                    hours=h1, minutes=m1
                )
                if end <= start:
                    end += timedelta(days=1)
                wins.append((start.timestamp() - t0, end.timestamp() - t0))
        wins.sort()
        starts: list[float] = []
        ends: list[float] = []
        for a, b in wins:
            if b <= 0:
                continue
            a = max(a, 0.0)
            if starts and a <= ends[-1]:
                ends[-1] = max(ends[-1], b)
            else:
                starts.append(a)
                ends.append(b)
        if not starts:
            msg = "the shifts give no working time in the simulated period"
            raise SimulationError(msg, field="shifts")
        return cls(np.array(starts), np.array(ends), False)

    def with_overtime(self, hours: Sequence[float] | FloatArray) -> Calendar:
        """The calendar with window ``i`` kept open ``hours[i]`` longer [h] (overtime
        after a working day's last shift); windows that then touch are merged."""
        h = np.asarray(hours, dtype=np.float64)
        if self.always_open or not np.any(h > 0):
            return self
        ends = self.ends.copy()
        ends[: len(h)] += h * 3600.0
        starts_out: list[float] = []
        ends_out: list[float] = []
        for a, b in zip(self.starts.tolist(), ends.tolist(), strict=True):
            if starts_out and a <= ends_out[-1]:
                ends_out[-1] = max(ends_out[-1], b)
            else:
                starts_out.append(a)
                ends_out.append(b)
        return Calendar(np.array(starts_out), np.array(ends_out), False)

    def window(self, t: float) -> tuple[float, float]:
        """``(start, end)`` of the window holding ``t``, or of the next one after ``t``.

        ``(inf, inf)`` when no window is left.
        """
        if self.always_open:
            return 0.0, math.inf
        i = bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.ends[i]:
            return float(self.starts[i]), float(self.ends[i])
        if i + 1 < len(self.starts):
            return float(self.starts[i + 1]), float(self.ends[i + 1])
        return math.inf, math.inf

    def is_open(self, t: float) -> bool:
        """Whether an operation may start at ``t``."""
        return self.window(t)[0] <= t

    def open_mask(self, t: FloatArray) -> npt.NDArray[np.bool_]:
        """Vectorised :meth:`is_open`."""
        if self.always_open:
            return np.ones(t.shape, dtype=bool)
        i = np.searchsorted(self.starts, t, side="right") - 1
        ok = i >= 0
        ends = np.where(ok, self.ends[np.clip(i, 0, None)], -math.inf)
        return ok & (t < ends)
