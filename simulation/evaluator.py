"""The fast schedule evaluator: KPIs of a :class:`~.schedule.Schedule` without SimPy.

It decodes a schedule with the SimPy model's own rules (deterministic times:
nominal processing times, no breakdowns) — each machine starts its next
planned entry when all its jobs are there and a shift is open, warms up after
OFF, rests outside shifts in its ``off_shift`` state, and is kept off where the
schedule says so — and integrates power per state, utilities by the running
share of what they serve, electricity per clock hour against the hourly grid
factor and tariff, and fuels at their factor, exactly as
:func:`~carbontwin.simulation.sim.simulate` does. The decode and the energy
integral are numba-compiled loops over flat arrays (:mod:`._evaluator_kernels`); one demo-week schedule
takes tens of microseconds.

The cross-check test replays random schedules through the SimPy model with
:class:`~.schedule.FollowPlan` and through the attribution engine and compares
every KPI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.factors import FUEL_FACTORS
from carbontwin.twin.model import Carrier, Factory, Order, State

from ._evaluator_kernels import _batch_ids, _decode, _energy
from .model import _CODE
from .plan import Calendar, build_jobs
from .results import _machine_power_table
from .schedule import Schedule
from .sim import overtime_kpis
from .tariffs import TimeOfUseTariff

__all__ = ["DEMAND_KPIS", "KPI_NAMES", "OVERTIME_KPIS", "ScheduleEvaluator"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The KPIs :meth:`ScheduleEvaluator.evaluate` returns, as ``simulate`` names them.
KPI_NAMES = (
    "energy_kwh",
    "co2e_kg",
    "cost",
    "makespan_h",
    "total_tardiness_h",
    "max_tardiness_h",
    "late_orders",
    "utilization",
    "setups",
    "switch_offs",
)
#: Added when the tariff has a demand charge (``cost`` is then their sum).
DEMAND_KPIS = ("energy_cost", "peak_demand_kw", "demand_charge")
#: Added with an overtime labour rate (``cost`` includes ``overtime_cost``).
OVERTIME_KPIS = ("overtime_h", "overtime_cost")


@dataclass(frozen=True, slots=True)
class _Prepared:
    seq_ptr: IntArray
    seq_job: IntArray
    seq_op: IntArray
    seq_batch: IntArray
    off_bits: npt.NDArray[np.bool_]
    release: FloatArray
    starts: FloatArray  # shift windows with the schedule's overtime [s]
    ends: FloatArray
    overtime_h: float = 0.0


class ScheduleEvaluator:
    """Scores schedules of one plan on one factory (deterministic times).

    Parameters
    ----------
    factory, orders : the plant and the orders (``None``: the factory's).
    start, end : float
        Scenario window [epoch s]; default the earliest release and latest due date.
    grid : callable
        Location-based grid factor [kg CO2e/kWh] of epoch seconds.
    tariff : TimeOfUseTariff, optional
        Electricity price for the ``cost`` KPI (0 without one).
    fuel_kg_per_kwh : mapping, optional
        Factors of fuels, by carrier (default: the twin's ``FUEL_FACTORS``).
    """

    def __init__(
        self,
        factory: Factory,
        orders: Sequence[Order] | None,
        *,
        grid: Callable[[FloatArray], FloatArray],
        start: float | None = None,
        end: float | None = None,
        tariff: TimeOfUseTariff | None = None,
        fuel_kg_per_kwh: Mapping[str, float] | None = None,
        horizon_days: float = 60.0,
        overtime_rate_per_h: float | None = None,
    ) -> None:
        self.factory = factory
        self.orders = list(factory.orders if orders is None else orders)
        o = self.orders
        self.t0 = float(start) if start is not None else min(x.release.timestamp() for x in o)
        last = float(end) if end is not None else max(x.due.timestamp() for x in o)
        self.t_stop = max(last - self.t0, 0.0)
        machines = factory.machines
        self.machine_ids = [m.id for m in machines]
        index = {m.id: i for i, m in enumerate(machines)}
        n_ops_max = max(len(p.routing) for p in factory.products if p.routing)
        self.jobs = build_jobs(factory, o, self.t0, np.ones((len(o), n_ops_max)), index)
        n_j = len(self.jobs)
        self.n_ops = np.array([len(j.machines) for j in self.jobs], dtype=np.int64)
        self.job_mach = np.full((n_j, n_ops_max), -1, dtype=np.int64)
        self.job_proc = np.zeros((n_j, n_ops_max))
        self.job_setup = np.zeros((n_j, n_ops_max))
        products = sorted({p.id for p in factory.products})
        pidx = {p: i for i, p in enumerate(products)}
        self.job_prod = np.array([pidx[j.product] for j in self.jobs], dtype=np.int64)
        for i, j in enumerate(self.jobs):
            k = len(j.machines)
            self.job_mach[i, :k] = j.machines
            self.job_proc[i, :k] = j.processing_s
            self.job_setup[i, :k] = j.setup_s
        self.release0 = np.array([j.release_s for j in self.jobs])
        self.due = np.array([j.due_s for j in self.jobs])
        self.capacity = np.array([max(1, m.capacity) for m in machines], dtype=np.int64)
        self.warm = np.array([float(m.power.warmup_s) for m in machines])
        self.break_even = np.array([float(m.power.break_even_s) for m in machines])
        self.rest_code = np.array([_CODE[m.off_shift] for m in machines], dtype=np.int64)
        n_p = len(products)
        self.setup_tab = np.full((len(machines), n_p, n_p), np.nan)
        for mi, m in enumerate(machines):
            if not m.setup_matrix_s:
                for p in range(n_p):
                    self.setup_tab[mi, p, p] = 0.0
                continue
            for (a, b), v in m.setup_matrix_s.items():
                if a in pidx and b in pidx:
                    self.setup_tab[mi, pidx[a], pidx[b]] = v
        self.power_tab = np.array([_machine_power_table(m.power) for m in machines])
        fuels = {k: f.factor_kg_per_kwh for k, f in FUEL_FACTORS.items()}
        fuels.update(fuel_kg_per_kwh or {})

        def fuel_of(carrier: Carrier) -> float:
            if carrier == Carrier.ELECTRICITY:
                return -1.0
            return float(fuels.get(carrier.value, 0.0))

        self.m_fuel = np.array([fuel_of(m.power.carrier) for m in machines])
        utils = factory.utilities
        self.u_serve = np.zeros((len(utils), len(machines)))
        self.u_power = np.zeros((len(utils), 3))
        self.u_fuel = np.array([fuel_of(u.power.carrier) for u in utils])
        for ui, u in enumerate(utils):
            for sv in u.serves:
                if sv.asset in index:
                    self.u_serve[ui, index[sv.asset]] += sv.weight
            pw = u.power.power_kw
            self.u_power[ui] = (pw[State.OFF], pw[State.IDLE], pw[State.PROCESSING])
        horizon = self.t_stop + horizon_days * 86400.0
        cal = Calendar.build(factory.shifts, factory.site.timezone, self.t0, horizon)
        self.starts = cal.starts.astype(np.float64)
        self.ends = cal.ends.astype(np.float64)
        self.calendar = cal
        self.overtime_rate_per_h = overtime_rate_per_h
        #: working windows that close within the scenario: overtime may follow each
        self.n_overtime_windows = (
            0 if cal.always_open else int(np.count_nonzero(self.ends <= self.t_stop))
        )
        # hourly signals: hour 0 is the partial hour from t0, then clock hours
        h0 = math.floor(self.t0 / 3600.0) * 3600.0
        self.first_edge = h0 + 3600.0 - self.t0
        n_h = int(horizon // 3600.0) + 2
        starts_h = h0 + 3600.0 * np.arange(n_h, dtype=np.float64)
        starts_h[0] = self.t0
        self.factor = np.asarray(grid(starts_h), dtype=np.float64)
        self.price = (
            np.asarray(tariff.price_per_kwh(starts_h), dtype=np.float64)
            if tariff is not None
            else np.zeros(n_h)
        )
        self.has_tariff = tariff is not None
        self.tariff = tariff
        # electricity bins: clock hours, or the tariff's demand intervals
        self.demand = tariff is not None and tariff.has_demand_charge
        self.bin_s = float(tariff.demand_interval_s) if self.demand and tariff else 3600.0
        b0 = math.floor(self.t0 / self.bin_s) * self.bin_s
        self.first_bin_edge = b0 + self.bin_s - self.t0
        n_b = int(horizon // self.bin_s) + 2
        bin_start = np.concatenate(([0.0], self.first_bin_edge + self.bin_s * np.arange(n_b - 1)))
        self.bin_hour = np.where(
            bin_start < self.first_edge,
            0,
            np.floor((bin_start - self.first_edge) / 3600.0).astype(np.int64) + 1,
        ).astype(np.int64)
        self.bin_hour = np.minimum(self.bin_hour, n_h - 1)
        self._n_entries = int(self.n_ops.sum())
        self._op_job = np.repeat(np.arange(n_j, dtype=np.int64), self.n_ops)
        self._op_k = np.concatenate(
            [np.arange(k, dtype=np.int64) for k in self.n_ops.tolist()] or [np.zeros(0, np.int64)]
        )
        self._op_offset = np.concatenate(([0], np.cumsum(self.n_ops)[:-1])).astype(np.int64)
        #: per operation (flat, job by job): every machine that may run it, default first
        self.eligible = [j.eligible[k] for j in self.jobs for k in range(len(j.machines))]
        self.default_machines: IntArray = self.job_mach[self._op_job, self._op_k].copy()
        #: operations with a choice of machine, and their choices
        self.choice_ops = np.array(
            [i for i, e in enumerate(self.eligible) if len(e) > 1], dtype=np.int64
        )
        self._choices = [np.array(self.eligible[i], dtype=np.int64) for i in self.choice_ops]
        self._rec_cap = 8 * self._n_entries + 8 * len(self.starts) + 16
        self.n_open_s = self._open_s(self.t_stop, self.starts, self.ends)

    def _open_s(self, duration_s: float, starts: FloatArray, ends: FloatArray) -> float:
        if self.calendar.always_open:
            return duration_s
        return float(np.sum(np.clip(np.minimum(ends, duration_s) - starts, 0.0, None)))

    def window_label(self, i: int) -> str:
        """Working window ``i`` as its local start and end, ``2019-03-04 06:00-22:00``."""
        from datetime import datetime
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.factory.site.timezone or "UTC")
        a = datetime.fromtimestamp(self.t0 + float(self.starts[i]), tz)
        b = datetime.fromtimestamp(self.t0 + float(self.ends[i]), tz)
        return f"{a:%Y-%m-%d %H:%M}-{b:%H:%M}"

    def windows(
        self, overtime_h: Sequence[float] | FloatArray = ()
    ) -> tuple[FloatArray, FloatArray]:
        """Shift windows (starts, ends) [s] with ``overtime_h`` per working window."""
        if len(overtime_h) > self.n_overtime_windows:
            msg = (
                f"overtime for {len(overtime_h)} working windows; the scenario has "
                f"{self.n_overtime_windows}"
            )
            raise SimulationError(msg, field="overtime")
        cal = self.calendar.with_overtime(overtime_h)
        return cal.starts.astype(np.float64), cal.ends.astype(np.float64)

    # -- schedules -----------------------------------------------------------------
    def machines_from_genes(self, genes: Sequence[float] | FloatArray) -> IntArray:
        """Machine per operation (flat, job by job) from one value in [0, 1] per
        operation with a choice (:attr:`choice_ops`): 0 the routing's machine,
        then its alternatives in the order listed."""
        mm = self.default_machines.copy()
        g = np.asarray(genes, dtype=np.float64)
        for i, (op, ch) in enumerate(zip(self.choice_ops.tolist(), self._choices, strict=True)):
            mm[op] = ch[min(int(g[i] * len(ch)), len(ch) - 1)]
        return mm

    def schedule_from_priority(
        self,
        priority: Sequence[float] | FloatArray,
        release_s: Sequence[float] | FloatArray | None = None,
        keep_off: Sequence[Sequence[bool]] | None = None,
        batch_window_s: float = 0.0,
        machines: Sequence[int] | IntArray | None = None,
        overtime_h: Sequence[float] = (),
    ) -> Schedule:
        """A schedule where every machine runs its operations in order of job ``priority``.

        Lower priority runs first. On batch machines, consecutive jobs of one
        product in that order share a batch (up to the capacity) when their
        orders' planned releases lie within ``batch_window_s`` of the batch's
        first one. One global order never deadlocks (every machine runs the jobs
        in the same order). ``release_s`` defaults to the planned releases,
        ``keep_off`` to all False (the as-is practice), ``machines`` (one machine
        index per operation, flat, job by job) to the routings' own machines,
        ``overtime_h`` (per working window) to none.
        """
        pr = np.asarray(priority, dtype=np.float64)
        rank = np.argsort(pr, kind="stable")
        mm = self.default_machines if machines is None else np.asarray(machines, dtype=np.int64)
        per: list[list[tuple[int, int]]] = [[] for _ in self.machine_ids]
        for j in rank.tolist():
            off = int(self._op_offset[j])
            for k in range(int(self.n_ops[j])):
                per[int(mm[off + k])].append((j, k))
        batches: list[tuple[int, ...]] = []
        for m, seq in enumerate(per):
            ids: list[int] = []
            b = -1
            size = 0
            first = 0.0
            prev = -1
            for j, _k in seq:
                p = int(self.job_prod[j])
                if (
                    self.capacity[m] > 1
                    and p == prev
                    and size < self.capacity[m]
                    and abs(self.release0[j] - first) <= batch_window_s
                ):
                    size += 1
                else:
                    b += 1
                    size = 1
                    first = float(self.release0[j])
                prev = p
                ids.append(b)
            batches.append(tuple(ids))
        rel = self.release0 if release_s is None else np.asarray(release_s, dtype=np.float64)
        offs = (
            tuple(tuple(bool(x) for x in row) for row in keep_off)
            if keep_off is not None
            else tuple((False,) * (len(s) + 1) for s in per)
        )
        return Schedule(
            tuple(tuple(s) for s in per),
            tuple(batches),
            tuple(float(x) for x in rel),
            offs,
            tuple(float(x) for x in overtime_h),
        )

    def prepare_priority(
        self,
        priority: FloatArray,
        release_s: FloatArray,
        batch_window_s: float = 0.0,
        keep_off: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
        machines: IntArray | None = None,
        overtime_h: FloatArray | None = None,
    ) -> _Prepared:
        """:meth:`schedule_from_priority` (then :meth:`keep_off_where_it_pays` for the
        machines flagged in ``keep_off``) as flat arrays, without building a Schedule."""
        rank = np.empty(len(priority), dtype=np.int64)
        rank[np.argsort(priority, kind="stable")] = np.arange(len(priority))
        jj, kk = self._op_job, self._op_k
        mm = self.default_machines if machines is None else machines
        order = np.lexsort((kk, rank[jj], mm))
        seq_job = jj[order]
        seq_op = kk[order]
        n_m = len(self.machine_ids)
        seq_ptr = np.zeros(n_m + 1, dtype=np.int64)
        seq_ptr[1:] = np.cumsum(np.bincount(mm, minlength=n_m))
        batch = _batch_ids(
            seq_ptr, seq_job, self.job_prod, self.release0, self.capacity, float(batch_window_s)
        )
        n_e = len(seq_job)
        bits = np.zeros(n_e + n_m, dtype=np.bool_)
        release = np.maximum(np.asarray(release_s, dtype=np.float64), self.release0)
        if overtime_h is not None and np.any(overtime_h > 0):
            starts, ends = self.windows(overtime_h)
            ot = float(np.sum(overtime_h))
        else:
            starts, ends, ot = self.starts, self.ends, 0.0
        p = _Prepared(seq_ptr, seq_job, seq_op, batch, bits, release, starts, ends, ot)
        if keep_off is None or not np.any(keep_off):
            return p
        _t, _b, o = self._run(p)
        wait = o["wait"]
        flag = np.asarray(keep_off, dtype=np.bool_)
        # entries of machine m sit at seq_ptr[m] + k, their bits at seq_ptr[m] + m + k
        m_of_e = np.repeat(np.arange(n_m), np.diff(seq_ptr))
        bits[np.arange(n_e) + m_of_e] = flag[m_of_e] & (wait[:n_e] > self.break_even[m_of_e])
        bits[seq_ptr[1:] + np.arange(n_m)] = flag & (wait[n_e:] > self.break_even)
        return _Prepared(seq_ptr, seq_job, seq_op, batch, bits, release, starts, ends, ot)

    def prepare(self, schedule: Schedule) -> _Prepared:
        """Flat arrays of a schedule, checked against the plan."""
        n_m = len(self.machine_ids)
        if len(schedule.sequence) != n_m:
            msg = f"schedule has {len(schedule.sequence)} machines, the factory {n_m}"
            raise SimulationError(msg, field="schedule")
        lens = [len(s) for s in schedule.sequence]
        if sum(lens) != self._n_entries:
            msg = f"schedule has {sum(lens)} operations, the plan {self._n_entries}"
            raise SimulationError(msg, field="schedule")
        seq_ptr = np.zeros(n_m + 1, dtype=np.int64)
        seq_ptr[1:] = np.cumsum(lens)
        seen = np.zeros(self._n_entries, dtype=np.int64)
        for m, seq in enumerate(schedule.sequence):
            for j, k in seq:
                if not (0 <= j < len(self.jobs) and 0 <= k < int(self.n_ops[j])):
                    msg = f"schedule names operation {k} of job {j}, which the plan does not have"
                    raise SimulationError(msg, field="schedule")
                op = int(self._op_offset[j]) + k
                seen[op] += 1
                if m not in self.eligible[op]:
                    msg = (
                        f"schedule runs operation {self.jobs[j].operations[k]!r} of order "
                        f"{self.jobs[j].order!r} on {self.machine_ids[m]!r}, which its "
                        "routing step does not list"
                    )
                    raise SimulationError(msg, field="schedule")
        if np.any(seen != 1):
            msg = "schedule must hold every operation of the plan exactly once"
            raise SimulationError(msg, field="schedule")
        flat = [e for s in schedule.sequence for e in s]
        seq_job = np.array([e[0] for e in flat], dtype=np.int64)
        seq_op = np.array([e[1] for e in flat], dtype=np.int64)
        seq_batch = np.array([b for bs in schedule.batch for b in bs], dtype=np.int64)
        off_bits = np.array([x for bs in schedule.keep_off for x in bs], dtype=np.bool_)
        release = np.maximum(np.asarray(schedule.release_s, dtype=np.float64), self.release0)
        starts, ends = self.windows(schedule.overtime_h)
        ot = float(sum(schedule.overtime_h))
        return _Prepared(seq_ptr, seq_job, seq_op, seq_batch, off_bits, release, starts, ends, ot)

    def _run(self, p: _Prepared) -> tuple[float, float, dict[str, Any]]:
        n_m = len(self.machine_ids)
        cap = self._rec_cap
        out: dict[str, Any] = {
            "tt": np.empty(n_m * cap),
            "cc": np.empty(n_m * cap, dtype=np.int64),
            "rec_ptr": np.arange(n_m + 1, dtype=np.int64) * cap,
            "rec_n": np.zeros(n_m, dtype=np.int64),
            "done": np.full(len(self.jobs), np.nan),
            "counts": np.zeros(2, dtype=np.int64),
            "wait": np.zeros(self._n_entries + n_m),
            "op_done": np.empty(self.job_mach.shape),
        }
        t_end, busy = _decode(
            self.n_ops,
            self.job_mach,
            self.job_proc,
            self.job_setup,
            self.job_prod,
            p.release,
            p.seq_ptr,
            p.seq_job,
            p.seq_op,
            p.seq_batch,
            p.off_bits,
            self.warm,
            self.rest_code,
            self.setup_tab,
            p.starts,
            p.ends,
            self.t_stop,
            out["tt"],
            out["cc"],
            out["rec_ptr"],
            out["rec_n"],
            out["done"],
            out["counts"],
            out["wait"],
            out["op_done"],
        )
        if t_end < 0:
            msg = "the schedule's machine sequences contradict the routings (deadlock)"
            raise SimulationError(msg, field="schedule")
        return t_end, busy, out

    def evaluate(self, schedule: Schedule | _Prepared) -> dict[str, float]:
        """KPIs of one schedule, named and computed as ``simulate`` computes them.

        Raises
        ------
        SimulationError
            When the machine sequences contradict the routings (a deadlock).
        """
        p = schedule if isinstance(schedule, _Prepared) else self.prepare(schedule)
        t_end, busy, o = self._run(p)
        return self._kpis(t_end, busy, o, p)

    def _kpis(self, t_end: float, busy: float, o: dict[str, Any], p: _Prepared) -> dict[str, float]:
        n_m = len(self.machine_ids)
        energy, co2e, cost, peak_kwh = _energy(
            o["tt"],
            o["cc"],
            o["rec_ptr"],
            o["rec_n"],
            self.power_tab,
            self.m_fuel,
            self.u_serve,
            self.u_power,
            self.u_fuel,
            t_end,
            self.first_bin_edge,
            self.bin_s,
            self.bin_hour,
            self.factor,
            self.price,
        )
        done = o["done"]
        counts = o["counts"]
        tardy = np.maximum(done - self.due, 0.0)
        open_s = self._open_s(t_end, p.starts, p.ends)
        kpis = {
            "energy_kwh": float(energy),
            "co2e_kg": float(co2e),
            "makespan_h": float(done.max() / 3600.0) if len(done) else 0.0,
            "total_tardiness_h": float(tardy.sum() / 3600.0),
            "max_tardiness_h": float(tardy.max() / 3600.0) if len(tardy) else 0.0,
            "late_orders": float(np.count_nonzero(tardy > 0)),
            "utilization": busy / (n_m * open_s) if open_s > 0 else 0.0,
            "setups": float(counts[0]),
            "switch_offs": float(counts[1]),
        }
        if self.has_tariff:
            kpis["cost"] = float(cost)
        if self.demand and self.tariff is not None:
            peak_kw = float(peak_kwh) * 3600.0 / self.bin_s
            charge = peak_kw * float(self.tariff.demand_charge_per_kw)
            kpis["energy_cost"] = kpis["cost"]
            kpis["peak_demand_kw"] = peak_kw
            kpis["demand_charge"] = charge
            kpis["cost"] = kpis["energy_cost"] + charge
        if self.overtime_rate_per_h is not None:
            overtime_kpis(kpis, p.overtime_h, self.overtime_rate_per_h)
        return kpis

    def keep_off_where_it_pays(self, schedule: Schedule, machines: Sequence[bool]) -> Schedule:
        """The schedule with machines kept off wherever they would wait past break-even.

        Decodes ``schedule`` once; on each machine with ``machines[m]`` set, every
        wait of more than the machine's break-even time inside shifts (Mouzon et
        al. 2007) becomes a keep-off flag, the others are cleared.
        """
        p = self.prepare(schedule)
        _t_end, _busy, o = self._run(p)
        wait = o["wait"]
        n_e = self._n_entries
        flags = []
        for m, seq in enumerate(schedule.sequence):
            lo = int(p.seq_ptr[m])
            be = self.break_even[m]
            row = [bool(machines[m]) and wait[lo + k] > be for k in range(len(seq))]
            row.append(bool(machines[m]) and wait[n_e + m] > be)
            flags.append(tuple(row))
        return Schedule(
            schedule.sequence,
            schedule.batch,
            schedule.release_s,
            tuple(flags),
            schedule.overtime_h,
        )

    def traces(self, schedule: Schedule) -> dict[str, Any]:
        """State records per machine (sim clock) and completion times, for plots and checks."""
        t_end, _busy, o = self._run(self.prepare(schedule))
        tt, cc, rec_ptr, rec_n = o["tt"], o["cc"], o["rec_ptr"], o["rec_n"]
        return {
            "t_end": t_end,
            "done": o["done"],
            "op_end": o["op_done"],  # end of processing per (job, operation) [s]
            "records": {
                mid: (
                    tt[rec_ptr[m] : rec_ptr[m] + rec_n[m]].copy(),
                    cc[rec_ptr[m] : rec_ptr[m] + rec_n[m]].copy(),
                )
                for m, mid in enumerate(self.machine_ids)
            },
        }
