"""Exact schedules with OR-Tools CP-SAT for small instances: incumbent, bound and gap.

:func:`flow_shop_tou` schedules jobs through machines in routing order (a flow
shop, not necessarily a permutation one) within a horizon, paying each
machine's processing power at a time-of-use price per minute; machines draw
nothing between jobs. Each operation's energy cost is a table over its
possible start minutes, read with CP-SAT's element constraint, so the model is
exact for integer-minute starts. CP-SAT reports the best schedule it found
(the incumbent) and a proven lower bound; the gap says how far from optimal
the incumbent can be.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError

__all__ = ["CpSatResult", "flow_shop_cost", "flow_shop_tou"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: Cost tables are integers: currency x SCALE.
SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class CpSatResult:
    """What CP-SAT reached: ``objective`` (incumbent) and ``bound`` in currency, ``gap_pct``."""

    status: str
    objective: float
    bound: float
    seconds: float
    starts: IntArray = field(repr=False)

    @property
    def gap_pct(self) -> float:
        if not math.isfinite(self.objective) or self.objective == 0:
            return math.nan
        return (self.objective - self.bound) / abs(self.objective) * 100.0


def flow_shop_cost(
    proc_min: IntArray, power_kw: FloatArray, price_per_min: FloatArray, starts: IntArray
) -> float:
    """Energy cost of a flow-shop schedule: sum of power x price over processing minutes."""
    cum = np.concatenate(([0.0], np.cumsum(price_per_min)))
    end = starts + proc_min
    return float(np.sum(power_kw[None, :] * (cum[end] - cum[starts])) / 60.0)


def flow_shop_tou(
    proc_min: Sequence[Sequence[int]] | IntArray,
    power_kw: Sequence[float] | FloatArray,
    price_per_kwh_by_min: Sequence[float] | FloatArray,
    *,
    time_limit_s: float = 60.0,
    workers: int = 1,
    hint: IntArray | None = None,
    seed: int = 0,
) -> CpSatResult:
    """Minimise the energy cost of a flow shop under a price per minute.

    Parameters
    ----------
    proc_min : (jobs, machines) ints
        Processing time of each job on each machine, in machine order [min].
    power_kw : (machines,)
        Processing power of each machine [kW].
    price_per_kwh_by_min : (horizon,)
        Price of each minute of the horizon [currency/kWh]; every job ends within it.
    """
    from ortools.sat.python import cp_model

    p = np.asarray(proc_min, dtype=np.int64)
    w = np.asarray(power_kw, dtype=np.float64)
    price = np.asarray(price_per_kwh_by_min, dtype=np.float64)
    n_j, n_m = p.shape
    horizon = len(price)
    if np.any(p.sum(axis=1) > horizon):
        msg = "a job's processing time exceeds the horizon"
        raise SimulationError(msg, field="horizon")
    cum = np.concatenate(([0.0], np.cumsum(price)))
    model = cp_model.CpModel()
    starts = [
        [model.new_int_var(0, horizon - int(p[j, m]), f"s{j}_{m}") for m in range(n_m)]
        for j in range(n_j)
    ]
    costs = []
    for j in range(n_j):
        for m in range(n_m):
            d = int(p[j, m])
            s = starts[j][m]
            if m + 1 < n_m:
                model.add(starts[j][m + 1] >= s + d)
            table = np.rint(w[m] * (cum[d : horizon + 1] - cum[: horizon + 1 - d]) / 60.0 * SCALE)
            c = model.new_int_var(int(table.min()), int(table.max()), f"c{j}_{m}")
            model.add_element(s, [int(x) for x in table], c)
            costs.append(c)
    for m in range(n_m):
        model.add_no_overlap(
            [
                model.new_interval_var(
                    starts[j][m], int(p[j, m]), starts[j][m] + int(p[j, m]), f"i{j}_{m}"
                )
                for j in range(n_j)
            ]
        )
    model.minimize(sum(costs))
    if hint is not None:
        for j in range(n_j):
            for m in range(n_m):
                model.add_hint(starts[j][m], int(hint[j, m]))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    t = time.perf_counter()
    status = solver.Solve(model)
    seconds = time.perf_counter() - t
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatResult(
            name,
            math.inf,
            solver.BestObjectiveBound() / SCALE,
            seconds,
            np.zeros((n_j, n_m), np.int64),
        )
    st = np.array(
        [[solver.Value(starts[j][m]) for m in range(n_m)] for j in range(n_j)], dtype=np.int64
    )
    return CpSatResult(
        name,
        flow_shop_cost(p, w, price, st),
        solver.BestObjectiveBound() / SCALE,
        seconds,
        st,
    )
