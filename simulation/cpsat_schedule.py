"""An exact CP-SAT model of the evaluator's schedules, for small instances.

:func:`solve_schedule` finds, with OR-Tools CP-SAT, the schedule of lowest CO2e
(or energy cost) in a subclass of the schedules :class:`~.evaluator.ScheduleEvaluator`
scores, together with a proven lower bound over that subclass:

* every operation runs on one of its routing step's machines (alternatives);
* each machine runs its operations in an order the model chooses (a circuit
  per machine), with the setup time the evaluator applies for that order
  (own setup first, the machine's setup matrix between products);
* an order's first operation starts when the model says (its release time
  is set to that start); every later operation starts as soon as the order
  and the machine are ready and a shift is open, exactly as the evaluator and
  :class:`~.schedule.FollowPlan` start it;
* operations start inside a shift and end before it closes; machines are not
  switched off between jobs (the plant's shift practice holds); batch
  machines run one order at a time.

Within this class the machines' and utilities' energy is the plant's profile
without orders (idling in shifts, resting outside them, warm-ups) plus, per
operation, the extra power of setup and processing over idle (the machine's
own and the running share of the utilities that serve it), each at the hourly
grid factor or tariff price of the minutes it runs. Every term is a table over
the operation's possible start minutes (CP-SAT element constraints), so the
model's objective equals the evaluator's KPI for its schedule, up to the
rounding of each table to 1e-5 (kg or currency). The profile without orders
comes from the evaluator's own kernels.

The model works in whole minutes: it applies when every processing and setup
time, planned release, shift boundary and the scenario's length are whole
minutes, there are at most :data:`MAX_OPERATIONS` operations and the scenario
lasts at most :data:`MAX_HORIZON_DAYS` days (:func:`small_instance`). The cost
objective is the energy cost (time-of-use); a demand charge is not modelled.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError

from ._evaluator_kernels import _advance, _energy, _rec
from .evaluator import ScheduleEvaluator
from .model import IDLE, PROC, SETUP
from .schedule import Schedule

__all__ = [
    "MAX_HORIZON_DAYS",
    "MAX_OPERATIONS",
    "CpSatSchedule",
    "small_instance",
    "solve_schedule",
]

FloatArray = npt.NDArray[np.float64]
#: The largest instance ``--solver auto`` hands to CP-SAT [operations].
MAX_OPERATIONS = 40
#: The longest scenario CP-SAT models [days] (its tables have one entry per minute).
MAX_HORIZON_DAYS = 8.0


@dataclass(frozen=True, slots=True)
class CpSatSchedule:
    """CP-SAT's incumbent schedule, its objective and bound (in the KPI's unit)."""

    status: str
    objective_name: str
    objective: float
    bound: float
    seconds: float
    schedule: Schedule | None = field(repr=False)

    @property
    def gap_pct(self) -> float:
        if not math.isfinite(self.objective) or self.objective == 0:
            return math.nan
        return (self.objective - self.bound) / abs(self.objective) * 100.0


def small_instance(ev: ScheduleEvaluator) -> tuple[bool, str]:
    """Whether CP-SAT can model ``ev``'s plan exactly; if not, why."""
    n_ops = int(ev.n_ops.sum())
    if n_ops > MAX_OPERATIONS:
        return False, f"{n_ops} operations (CP-SAT takes at most {MAX_OPERATIONS})"
    if ev.t_stop > MAX_HORIZON_DAYS * 86400.0:
        return False, f"the scenario lasts over {MAX_HORIZON_DAYS:g} days"

    def whole(x: FloatArray) -> bool:
        x = np.asarray(x, dtype=np.float64)
        x = x[np.isfinite(x)]
        return bool(np.all(np.abs(x / 60.0 - np.round(x / 60.0)) < 1e-9))

    inside = ev.starts < ev.t_stop
    checks = {
        "processing times": ev.job_proc,
        "setup times": np.concatenate([ev.job_setup.ravel(), ev.setup_tab.ravel()]),
        "planned releases": ev.release0,
        "shift boundaries": np.concatenate([ev.starts[inside], ev.ends[inside]]),
        "scenario length": np.array([ev.t_stop]),
        "clock hours from the start": np.array([ev.first_edge]),
    }
    for what, x in checks.items():
        if not whole(x):
            return False, f"{what} are not whole minutes"
    return True, ""


def _empty_plant(ev: ScheduleEvaluator) -> tuple[float, float, float]:
    """(energy, co2e, energy cost) of the plant without orders: the evaluator's own kernels."""
    n_m = len(ev.machine_ids)
    cap = 8 * len(ev.starts) + 16
    tt = np.empty(n_m * cap)
    cc = np.empty(n_m * cap, dtype=np.int64)
    rec_ptr = np.arange(n_m + 1, dtype=np.int64) * cap
    rec_n = np.zeros(n_m, dtype=np.int64)
    counts = np.zeros(2, dtype=np.int64)
    for m in range(n_m):
        b = int(rec_ptr[m])
        n = _rec(tt[b:], cc[b:], 0, 0.0, IDLE)
        _t, _s, n = _advance(
            0.0,
            IDLE,
            math.inf,
            False,
            ev.warm[m],
            ev.rest_code[m],
            ev.starts,
            ev.ends,
            ev.t_stop,
            tt[b:],
            cc[b:],
            n,
            counts,
            ev.t_stop == 0.0,
        )
        while n > 1 and tt[b + n - 1] >= ev.t_stop:
            n -= 1
        rec_n[m] = n
    e, c, cost, _peak = _energy(
        tt,
        cc,
        rec_ptr,
        rec_n,
        ev.power_tab,
        ev.m_fuel,
        ev.u_serve,
        ev.u_power,
        ev.u_fuel,
        ev.t_stop,
        ev.first_bin_edge,
        ev.bin_s,
        ev.bin_hour,
        ev.factor,
        ev.price,
    )
    return float(e), float(c), float(cost)


#: Scales of the integer model: signal [kg or currency per kWh] x S_SIG, power [kW] x S_KW.
S_SIG = 100_000
S_KW = 100


def _hourly_signal(ev: ScheduleEvaluator, objective: str, horizon: int) -> tuple[list[int], int]:
    """The objective's electricity signal per clock hour of the horizon, scaled to integers,
    and the offset [min] that puts the hour edges on multiples of 60 minutes."""
    sig = ev.factor if objective == "co2e_kg" else ev.price
    off = int(round(60.0 - ev.first_edge / 60.0)) % 60
    n_h = (horizon + off) // 60 + 2
    return [int(x) for x in np.rint(sig[: n_h + 1] * S_SIG)], off


def _deltas(
    ev: ScheduleEvaluator, objective: str
) -> tuple[list[int], list[int], list[float], list[float]]:
    """Per machine: extra electric power of processing and of setup over idle [kW x S_KW]
    (the machine's own and the running share of the utilities that serve it), and the
    extra fuel objective of one minute of processing and of setup [kg or currency]."""
    n_m = len(ev.machine_ids)
    kw = np.zeros((n_m, 2))  # setup, processing
    fuel = np.zeros((n_m, 2))
    for m in range(n_m):
        pt = ev.power_tab[m]
        parts = [(0, pt[SETUP] - pt[IDLE], ev.m_fuel[m]), (1, pt[PROC] - pt[IDLE], ev.m_fuel[m])]
        for u in range(ev.u_serve.shape[0]):
            w, total = ev.u_serve[u, m], ev.u_serve[u].sum()
            if w > 0 and total > 0:
                parts.append((1, (ev.u_power[u, 2] - ev.u_power[u, 1]) * w / total, ev.u_fuel[u]))
        for what, delta, f in parts:
            if f < 0:
                kw[m, what] += delta
            elif objective == "co2e_kg":  # a fuel: its factor, no price
                fuel[m, what] += delta * f / 60.0
    return (
        [round(x * S_KW) for x in kw[:, 1]],
        [round(x * S_KW) for x in kw[:, 0]],
        fuel[:, 1].tolist(),
        fuel[:, 0].tolist(),
    )


def _cumulative(model: Any, x: Any, sig: list[int], off: int, name: str) -> Any:
    """G(x): the signal summed over the minutes before ``x`` (x S_SIG), piecewise linear."""
    cg = [0]
    for v in sig[:-1]:
        cg.append(cg[-1] + 60 * v)
    n = len(sig) - 1
    h = model.new_int_var(0, n, f"h{name}")
    r = model.new_int_var(0, 59, f"r{name}")
    model.add(x + off == 60 * h + r)
    c = model.new_int_var(0, cg[-1], f"cg{name}")
    model.add_element(h, cg[: n + 1], c)
    sv = model.new_int_var(min(sig), max(sig), f"sg{name}")
    model.add_element(h, sig[: n + 1], sv)
    pr = model.new_int_var(min(0, 59 * min(sig)), 59 * max(sig), f"pr{name}")
    model.add_multiplication_equality(pr, [sv, r])
    g = model.new_int_var(min(0, 59 * min(sig)), cg[-1] + 59 * max(sig), f"g{name}")
    model.add(g == c + pr - off * sig[0])
    return g


def _add_hint(
    ev: ScheduleEvaluator,
    hint: Schedule,
    model: Any,
    ops: list[tuple[int, int]],
    flat: dict[tuple[int, int], int],
    d: list[int],
    setup_of: Any,
    s: list[Any],
    p: list[Any],
    e: list[Any],
    su: list[Any],
    free: list[Any],
    on: dict[tuple[int, int], Any],
    lits_of: dict[tuple[Any, ...], Any],
) -> None:
    """Hint every variable with the values ``hint`` gives them (its decoded times).

    The hinted schedule's own choices (times, machines, order) are fixed in a copy
    of the model, which propagation completes; its solution hints every variable."""
    from ortools.sat.python import cp_model

    pairs: list[tuple[Any, int]] = []
    op_end = ev.traces(hint)["op_end"]
    used = set()
    for m, seq in enumerate(hint.sequence):
        prev: int | None = None
        for j, k in seq:
            n = flat[(j, k)]
            v = setup_of(m, prev, n)
            end = int(round(op_end[j, k] / 60.0))
            values = {e[n]: end, p[n]: end - d[n], su[n]: v, s[n]: end - d[n] - v}
            values[free[n]] = 0 if prev is None else int(round(op_end[ops[prev]] / 60.0))
            pairs += list(values.items())
            for (nn, mm), lit in on.items():
                if nn == n:
                    pairs.append((lit, int(mm == m)))
            key = ("first", m, n) if prev is None else ("arc", m, prev, n)
            for name, lit in lits_of.items():
                if name[0] in ("first", "arc") and name[1] == m and name[-1] == n:
                    pairs.append((lit, int(name == key)))
            if ("last", m, n) in lits_of:
                pairs.append((lits_of[("last", m, n)], int((j, k) == seq[-1])))
            used.add(m)
            prev = n
    for name, lit in lits_of.items():
        if name[0] == "used":
            pairs.append((lit, int(name[1] in used)))
    fixed = model.clone()
    for var, value in pairs:
        fixed.add(fixed.get_int_var_from_proto_index(var.Index()) == value)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5.0
    solver.parameters.num_workers = 1
    if solver.Solve(fixed) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return  # the hinted schedule lies outside the model's class
    for i in range(len(model.proto.variables)):
        model.add_hint(
            model.get_int_var_from_proto_index(i),
            solver.Value(fixed.get_int_var_from_proto_index(i)),
        )


def solve_schedule(
    ev: ScheduleEvaluator,
    objective: str = "co2e_kg",
    *,
    time_limit_s: float = 30.0,
    max_makespan_h: float | None = None,
    max_total_tardiness_h: float | None = None,
    workers: int = 1,
    seed: int = 0,
    hint: Schedule | None = None,
    on_progress: Callable[[float, float], None] | None = None,
) -> CpSatSchedule:
    """Solve the small instance ``ev`` (see the module docstring) with CP-SAT.

    ``objective`` is ``"co2e_kg"`` or ``"cost"`` (energy cost). Constraints:
    the last order done by ``max_makespan_h`` and a total tardiness of at most
    ``max_total_tardiness_h`` (``None``: not limited). ``hint``: a schedule to
    start from (e.g. the metaheuristic's best); when it lies in the model's
    class, CP-SAT's incumbent is at least as good. ``on_progress(seconds,
    incumbent)`` is called at the start, at each better schedule and at the end.

    Raises
    ------
    SimulationError
        When the instance is not small (:func:`small_instance`) or the objective unknown.
    """
    from ortools.sat.python import cp_model

    ok, why = small_instance(ev)
    if not ok:
        msg = f"CP-SAT models small instances only: {why}"
        raise SimulationError(msg, field="solver")
    if objective not in ("co2e_kg", "cost"):
        msg = f"CP-SAT objective {objective!r}: expected co2e_kg or cost"
        raise SimulationError(msg, field="objectives")
    if objective == "cost" and not ev.has_tariff:
        msg = "the cost objective needs a tariff in the scenario"
        raise SimulationError(msg, field="tariff")
    H = int(round(ev.t_stop / 60.0))  # noqa: N806 - the horizon [min]
    # shift windows that open before the horizon [min]
    keep = ev.starts < ev.t_stop
    w_start = [int(round(x / 60.0)) for x in ev.starts[keep]]
    w_end = [int(min(round(x / 60.0), H)) if math.isfinite(x) else H for x in ev.ends[keep]]
    w_prev_end = [0, *w_end[:-1]]
    n_w = len(w_start)
    sig, off = _hourly_signal(ev, objective, H)
    proc_kw, setup_kw, proc_fuel, setup_fuel = _deltas(ev, objective)
    unit = S_SIG * S_KW * 60  # objective integer per kg (or currency)

    n_j = len(ev.jobs)
    ops = [(j, k) for j in range(n_j) for k in range(int(ev.n_ops[j]))]
    flat = {a: n for n, a in enumerate(ops)}
    d = [int(round(ev.job_proc[j, k] / 60.0)) for j, k in ops]
    own = [int(round(ev.job_setup[j, k] / 60.0)) for j, k in ops]
    prod = [int(ev.job_prod[j]) for j, _ in ops]

    def setup_of(m: int, prev: int | None, n: int) -> int:
        """The evaluator's setup [min] of operation ``n`` after ``prev`` on machine ``m``."""
        if prev is None:
            return own[n]
        v = ev.setup_tab[m, prod[prev], prod[n]]
        if prod[prev] == prod[n]:
            return 0 if np.isnan(v) else int(round(v / 60.0))
        return own[n] if np.isnan(v) else int(round(v / 60.0))

    model = cp_model.CpModel()
    s = [model.new_int_var(0, H, f"s{n}") for n in range(len(ops))]
    p = [model.new_int_var(0, H, f"p{n}") for n in range(len(ops))]
    e = [model.new_int_var(0, H, f"e{n}") for n in range(len(ops))]
    su = [model.new_int_var(0, H, f"su{n}") for n in range(len(ops))]
    free = [model.new_int_var(0, H, f"free{n}") for n in range(len(ops))]
    terms: list[Any] = []
    lits_of: dict[tuple[Any, ...], Any] = {}
    on: dict[tuple[int, int], Any] = {}
    kw_max = max(abs(x) for x in proc_kw + setup_kw) if proc_kw else 0
    fuel_max = max(abs(x) for x in proc_fuel + setup_fuel) if proc_fuel else 0.0
    z_max = 2 * kw_max * 60 * max(abs(x) for x in sig) * (H + 120) + round(
        2 * fuel_max * (H + 1) * unit
    )
    for n, (j, k) in enumerate(ops):
        model.add(p[n] == s[n] + su[n])
        model.add(e[n] == p[n] + d[n])
        model.add(s[n] >= free[n])
        # the shift window the operation starts in; it ends before the window closes
        w = model.new_int_var(0, n_w - 1, f"w{n}")
        ws = model.new_int_var(0, H, f"ws{n}")
        we = model.new_int_var(0, H, f"we{n}")
        model.add_element(w, w_start, ws)
        model.add_element(w, w_end, we)
        model.add(e[n] <= we)
        if k == 0:  # released at its start: any minute inside the window
            model.add(s[n] >= int(math.ceil(ev.release0[j] / 60.0 - 1e-9)))
            model.add(s[n] >= ws)
            model.add(s[n] < we)
        else:  # as soon as the order and the machine are ready, in the next open shift
            ready = model.new_int_var(0, H, f"r{n}")
            model.add_max_equality(ready, [e[flat[(j, k - 1)]], free[n]])
            pe = model.new_int_var(0, H, f"pe{n}")
            model.add_element(w, w_prev_end, pe)
            model.add(ready < we)
            model.add(ready >= pe)
            model.add_max_equality(s[n], [ready, ws])
        g_s = _cumulative(model, s[n], sig, off, f"s{n}")
        g_p = _cumulative(model, p[n], sig, off, f"p{n}")
        g_e = _cumulative(model, e[n], sig, off, f"e{n}")
        # the signal summed over an interval lies between its length x the least and the most
        model.add(g_e - g_p >= d[n] * min(sig))
        model.add(g_e - g_p <= d[n] * max(sig))
        model.add(g_p - g_s >= min(sig) * su[n])
        model.add(g_p - g_s <= max(sig) * su[n])
        lits = []
        for m in ev.eligible[int(ev._op_offset[j]) + k]:
            x = model.new_bool_var(f"x{n}_{m}")
            on[(n, m)] = x
            lits.append(x)
            # extra objective over idling: processing, and setup (zero when su = 0)
            z = model.new_int_var(-z_max - 1, z_max + 1, f"z{n}_{m}")
            fixed = round(proc_fuel[m] * d[n] * unit)
            model.add(
                z
                == proc_kw[m] * (g_e - g_p)
                + setup_kw[m] * (g_p - g_s)
                + fixed
                + round(setup_fuel[m] * unit) * su[n]
            ).OnlyEnforceIf(x)
            model.add(z == 0).OnlyEnforceIf(x.Not())
            terms.append(z)
        model.add_exactly_one(lits)
    # one circuit per machine: the order of its operations, their setups, when it is free
    for m in range(len(ev.machine_ids)):
        nodes = [n for n in range(len(ops)) if (n, m) in on]
        if not nodes:
            continue
        node = {a: i + 1 for i, a in enumerate(nodes)}  # circuit nodes: 0 the depot, 1..
        used = model.new_bool_var(f"used{m}")
        lits_of[("used", m)] = used
        arcs = [(0, 0, used.Not())]
        model.add_bool_or([on[(n, m)] for n in nodes]).OnlyEnforceIf(used)
        for a in nodes:
            first = model.new_bool_var(f"first{m}_{a}")
            last = model.new_bool_var(f"last{m}_{a}")
            lits_of[("first", m, a)] = first
            lits_of[("last", m, a)] = last
            arcs += [(0, node[a], first), (node[a], 0, last), (node[a], node[a], on[(a, m)].Not())]
            model.add(free[a] == 0).OnlyEnforceIf(first)
            model.add(su[a] == setup_of(m, None, a)).OnlyEnforceIf(first)
            for b in nodes:
                if b == a:
                    continue
                arc = model.new_bool_var(f"arc{m}_{b}_{a}")
                lits_of[("arc", m, b, a)] = arc
                arcs.append((node[b], node[a], arc))
                model.add(free[a] == e[b]).OnlyEnforceIf(arc)
                model.add(su[a] == setup_of(m, b, a)).OnlyEnforceIf(arc)
        model.add_circuit(arcs)
    # orders done: makespan and tardiness
    last_op = [flat[(j, int(ev.n_ops[j]) - 1)] for j in range(n_j)]
    if max_makespan_h is not None:
        limit = int(math.floor(max_makespan_h * 60.0 + 1e-9))
        for n in last_op:
            model.add(e[n] <= limit)
    if max_total_tardiness_h is not None:
        tard = []
        for j, n in enumerate(last_op):
            due = int(math.floor(ev.due[j] / 60.0))
            tj = model.new_int_var(0, H, f"tard{j}")
            model.add(tj >= e[n] - due)
            tard.append(tj)
        model.add(sum(tard) <= int(math.floor(max_total_tardiness_h * 60.0 + 1e-9)))
    model.minimize(sum(terms))
    if hint is not None:
        _add_hint(ev, hint, model, ops, flat, d, setup_of, s, p, e, su, free, on, lits_of)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    solver.parameters.random_seed = int(seed)
    _e, co2e0, cost0 = _empty_plant(ev)
    base = co2e0 if objective == "co2e_kg" else cost0
    t_start = time.perf_counter()
    callback: cp_model.CpSolverSolutionCallback | None = None
    if on_progress is not None:
        report = on_progress  # not None, also inside _Progress
        report(0.0, math.inf)

        class _Progress(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                report(time.perf_counter() - t_start, base + self.ObjectiveValue() / unit)

        callback = _Progress()
    status = solver.Solve(model, callback)
    seconds = time.perf_counter() - t_start
    name = solver.StatusName(status)
    bound = base + solver.BestObjectiveBound() / unit
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpSatSchedule(name, objective, math.inf, bound, seconds, None)
    start = [solver.Value(x) for x in s]
    per: list[list[tuple[int, int]]] = [[] for _ in ev.machine_ids]
    for n, (j, k) in enumerate(ops):
        m = next(m for (nn, m), x in on.items() if nn == n and solver.Value(x))
        per[m].append((j, k))
    for m in range(len(per)):
        per[m].sort(key=lambda a: start[flat[a]])
    release = [start[flat[(j, 0)]] * 60.0 for j in range(n_j)]
    sched = Schedule(
        tuple(tuple(q) for q in per),
        tuple(tuple(range(len(q))) for q in per),
        tuple(release),
        tuple((False,) * (len(q) + 1) for q in per),
    )
    value = base + solver.ObjectiveValue() / unit
    if on_progress is not None:
        on_progress(seconds, value)
    return CpSatSchedule(name, objective, value, bound, seconds, sched)
