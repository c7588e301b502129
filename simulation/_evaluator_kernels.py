"""numba kernels of the schedule evaluator: decode a schedule into state records, integrate energy.

See :mod:`carbontwin.simulation.evaluator` (the class that prepares their flat
arrays) and ``docs/architecture.md``. Each kernel mirrors one piece of the SimPy
model: :func:`_advance` a machine that follows the shift calendar
(``model._machine_process``/``model._rest_step``), :func:`_decode` the plan
followed machine by machine (``schedule.FollowPlan``), :func:`_energy` the
power integral, utilities and hourly grid factor and tariff (``sim.simulate``).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from .model import IDLE, OFF, PROC, SETUP, STANDBY, WARMUP

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_INF = math.inf


@numba.njit(cache=True)
def _window(starts: FloatArray, ends: FloatArray, t: float) -> tuple[float, float]:
    """(start, end) of the shift holding ``t`` or of the next one; Calendar.window."""
    i = np.searchsorted(starts, t, side="right") - 1
    if i >= 0 and t < ends[i]:
        return starts[i], ends[i]
    if i + 1 < len(starts):
        return starts[i + 1], ends[i + 1]
    return _INF, _INF


@numba.njit(cache=True)
def _open_overlap(starts: FloatArray, ends: FloatArray, x: float, y: float) -> float:
    """Shift time inside ``[x, y]`` [s]."""
    if y <= x:
        return 0.0
    i = max(int(np.searchsorted(ends, x, side="right")), 0)
    total = 0.0
    while i < len(starts) and starts[i] < y:
        total += max(0.0, min(y, ends[i]) - max(x, starts[i]))
        i += 1
    return total


@numba.njit(cache=True)
def _rec(tt: FloatArray, cc: IntArray, n: int, t: float, code: int) -> int:
    if n > 0 and tt[n - 1] == t:  # zero-length states: keep the last (results._collapse)
        cc[n - 1] = code
        return n
    tt[n] = t
    cc[n] = code
    return n + 1


@numba.njit(cache=True)
def _advance(
    t: float,
    s: int,
    a: float,
    bit: bool,
    warm: float,
    rest_code: int,
    starts: FloatArray,
    ends: FloatArray,
    t_stop: float,
    tt: FloatArray,
    cc: IntArray,
    n: int,
    counts: IntArray,
    first: bool = False,
) -> tuple[float, int, int]:
    """Machine from time ``t`` in state ``s`` until it may start an entry ready at ``a``.

    Mirrors ``model._machine_process`` and ``model._rest_step`` for a machine
    that follows the shift calendar. With ``a = inf`` it runs until ``t_stop``.
    ``first``: take the first decision even at ``t_stop`` (the machine that
    finishes the last job goes on in the same instant, before the run ends).
    Returns (time, state, records).
    """
    while True:
        if t >= t_stop and a == _INF and not first:
            return t, s, n
        first = False
        runnable = a <= t
        w0, w1 = _window(starts, ends, t)
        outside = w0 > t
        if not runnable or outside:
            if s != IDLE and s != OFF and s != STANDBY:
                s = IDLE
                n = _rec(tt, cc, n, t, IDLE)
            keep_off = (not runnable) and bit
            if outside:
                rest = OFF if keep_off else rest_code
                if s == IDLE and rest != IDLE:
                    s = rest
                    n = _rec(tt, cc, n, t, rest)
                    if rest == OFF:
                        counts[1] += 1
                if runnable or not keep_off:
                    lead = w0 - warm if s == OFF else w0
                    if s != IDLE and t >= lead:
                        if s == OFF and warm > 0:
                            n = _rec(tt, cc, n, t, WARMUP)
                            t = t + warm
                        s = IDLE
                        n = _rec(tt, cc, n, t, IDLE)
                        continue
                    target = lead if s != IDLE else w0
                    if w0 == _INF:
                        nxt = a
                    elif runnable:
                        nxt = target
                    else:
                        nxt = min(a, target)
                else:
                    nxt = a
            else:
                if s == IDLE and keep_off:
                    s = OFF
                    n = _rec(tt, cc, n, t, OFF)
                    counts[1] += 1
                elif s != IDLE and not keep_off:
                    if s == OFF and warm > 0:
                        n = _rec(tt, cc, n, t, WARMUP)
                        t = t + warm
                    s = IDLE
                    n = _rec(tt, cc, n, t, IDLE)
                    continue
                nxt = min(a, w1)
            if nxt == _INF or (a == _INF and nxt >= t_stop):
                return max(t, t_stop), s, n
            t = max(nxt, t)
            continue
        # runnable inside a shift
        if s == OFF:
            if warm > 0:
                n = _rec(tt, cc, n, t, WARMUP)
                t = t + warm
            s = IDLE
            n = _rec(tt, cc, n, t, IDLE)
        elif s == STANDBY:
            s = IDLE
            n = _rec(tt, cc, n, t, IDLE)
        return t, s, n


@numba.njit(cache=True)
def _decode(
    n_ops: IntArray,
    job_mach: IntArray,
    job_proc: FloatArray,
    job_setup: FloatArray,
    job_prod: IntArray,
    release: FloatArray,
    seq_ptr: IntArray,
    seq_job: IntArray,
    seq_op: IntArray,
    seq_batch: IntArray,
    off_bits: npt.NDArray[np.bool_],
    warm: FloatArray,
    rest_code: IntArray,
    setup_tab: FloatArray,
    starts: FloatArray,
    ends: FloatArray,
    t_stop: float,
    tt: FloatArray,
    cc: IntArray,
    rec_ptr: IntArray,
    rec_n: IntArray,
    done: FloatArray,
    counts: IntArray,
    wait: FloatArray,
    op_done: FloatArray,
) -> tuple[float, float]:
    """Decode the schedule; fill state records per machine and job completion times.

    ``wait[e]``: shift time the machine stood without work before entry ``e``
    (from its previous finish until the entry's jobs were all there) [s];
    ``wait[n_entries + m]`` the same after machine ``m``'s last entry.

    Returns (t_end, busy_s); ``t_end`` is ``-1`` when the sequences deadlock.
    """
    n_m = len(seq_ptr) - 1
    n_j = len(n_ops)
    op_done[:] = np.nan
    pos = np.zeros(n_m, dtype=np.int64)
    mt = np.zeros(n_m)
    ms = np.full(n_m, IDLE, dtype=np.int64)
    last = np.full(n_m, -1, dtype=np.int64)
    for m in range(n_m):
        rec_n[m] = _rec(tt[rec_ptr[m] :], cc[rec_ptr[m] :], 0, 0.0, IDLE)
    busy = 0.0
    left = seq_ptr[n_m] - seq_ptr[0]
    while left > 0:
        progress = False
        for m in range(n_m):
            e0 = seq_ptr[m] + pos[m]
            if e0 >= seq_ptr[m + 1]:
                continue
            e1 = e0 + 1
            while e1 < seq_ptr[m + 1] and seq_batch[e1] == seq_batch[e0]:
                e1 += 1
            a = 0.0
            ok = True
            for e in range(e0, e1):
                j, k = seq_job[e], seq_op[e]
                r = release[j] if k == 0 else op_done[j, k - 1]
                if np.isnan(r):
                    ok = False
                    break
                a = max(a, r)
            if not ok:
                continue
            progress = True
            wait[e0] = _open_overlap(starts, ends, mt[m], a)
            off = off_bits[seq_ptr[m] + m + pos[m]]
            base = rec_ptr[m]
            t, s, nn = _advance(
                mt[m],
                ms[m],
                a,
                off,
                warm[m],
                rest_code[m],
                starts,
                ends,
                _INF,
                tt[base:],
                cc[base:],
                rec_n[m],
                counts,
            )
            j0, k0 = seq_job[e0], seq_op[e0]
            p = job_prod[j0]
            if last[m] < 0:
                setup = job_setup[j0, k0]
            elif p == last[m]:
                setup = setup_tab[m, p, p]
                if np.isnan(setup):
                    setup = 0.0
            else:
                setup = setup_tab[m, last[m], p]
                if np.isnan(setup):
                    setup = job_setup[j0, k0]
            if setup > 0:
                if s != SETUP:
                    s = SETUP
                    nn = _rec(tt[base:], cc[base:], nn, t, SETUP)
                t += setup
                counts[0] += 1
            last[m] = p
            d = 0.0
            for e in range(e0, e1):
                d = max(d, job_proc[seq_job[e], seq_op[e]])
            if s != PROC:
                s = PROC
                nn = _rec(tt[base:], cc[base:], nn, t, PROC)
            t += d
            for e in range(e0, e1):
                op_done[seq_job[e], seq_op[e]] = t
                busy += d
                if seq_op[e] == n_ops[seq_job[e]] - 1:
                    done[seq_job[e]] = t
            mt[m] = t
            ms[m] = s
            rec_n[m] = nn
            left -= e1 - e0
            pos[m] += e1 - e0
        if not progress:
            return -1.0, busy
    t_done = 0.0
    for j in range(n_j):
        t_done = max(t_done, done[j])
    t_end = max(t_done, t_stop)
    for m in range(n_m):
        wait[seq_ptr[n_m] + m] = _open_overlap(starts, ends, mt[m], t_end)
        base = rec_ptr[m]
        off = off_bits[seq_ptr[m + 1] + m]
        if mt[m] <= t_end:
            t, s, nn = _advance(
                mt[m],
                ms[m],
                _INF,
                off,
                warm[m],
                rest_code[m],
                starts,
                ends,
                t_end,
                tt[base:],
                cc[base:],
                rec_n[m],
                counts,
                mt[m] == t_end,
            )
            rec_n[m] = nn
        # drop records at or after the end (SimPy stops before them)
        nn = rec_n[m]
        while nn > 1 and tt[base + nn - 1] >= t_end:
            nn -= 1
        rec_n[m] = nn
    return t_end, busy


@numba.njit(cache=True)
def _energy(
    tt: FloatArray,
    cc: IntArray,
    rec_ptr: IntArray,
    rec_n: IntArray,
    power_tab: FloatArray,
    m_fuel: FloatArray,
    u_serve: FloatArray,
    u_power: FloatArray,
    u_fuel: FloatArray,
    t_end: float,
    first_edge: float,
    bin_s: float,
    bin_hour: IntArray,
    factor: FloatArray,
    price: FloatArray,
) -> tuple[float, float, float, float]:
    """(energy_kwh, co2e_kg, cost, peak_bin_kwh) of the machine records and their utilities.

    Electricity is split into clock-aligned bins of ``bin_s`` (an hour, or the
    tariff's demand interval): ``first_edge`` is the first bin edge after the
    start [s]; bin ``h`` covers ``[first_edge + bin_s (h-1), first_edge + bin_s h)``
    and lies in hour ``bin_hour[h]`` of ``factor``/``price``. ``peak_bin_kwh``:
    the most electricity of one bin. ``m_fuel``/``u_fuel``: -1 for electricity,
    else the fuel factor [kg/kWh].
    """
    n_m = len(rec_ptr) - 1
    energy = 0.0
    co2e = 0.0
    cost = 0.0
    nh = len(bin_hour)
    elec = np.zeros(nh)

    def add(a: float, b: float, p: float, fuel: float) -> tuple[float, float]:
        e_tot = p * (b - a) / 3600.0
        if fuel >= 0:
            return e_tot, e_tot * fuel
        # split over clock-aligned bins
        h = 0 if a < first_edge else int((a - first_edge) // bin_s) + 1
        x = a
        while x < b:
            hb = first_edge + bin_s * h
            y = min(b, hb)
            if y > x:
                elec[min(h, nh - 1)] += p * (y - x) / 3600.0
            x = y
            h += 1
        return e_tot, 0.0

    for m in range(n_m):
        base = rec_ptr[m]
        n = rec_n[m]
        for i in range(n):
            a = tt[base + i]
            b = tt[base + i + 1] if i + 1 < n else t_end
            if b > a:
                e, c = add(a, b, power_tab[m, cc[base + i]], m_fuel[m])
                energy += e
                co2e += c
    n_u = u_serve.shape[0]
    if n_u:
        # all change times of all machines, merged
        total = 0
        for m in range(n_m):
            total += rec_n[m]
        times = np.empty(total)
        k = 0
        for m in range(n_m):
            for i in range(rec_n[m]):
                times[k] = tt[rec_ptr[m] + i]
                k += 1
        times = np.unique(times)
        codes = np.empty((len(times), n_m), dtype=np.int64)
        for m in range(n_m):
            base = rec_ptr[m]
            i = 0
            for q in range(len(times)):
                while i + 1 < rec_n[m] and tt[base + i + 1] <= times[q]:
                    i += 1
                codes[q, m] = cc[base + i]
        for u in range(n_u):
            wsum = 0.0
            for m in range(n_m):
                wsum += u_serve[u, m]
            for q in range(len(times)):
                a = times[q]
                b = times[q + 1] if q + 1 < len(times) else t_end
                if b <= a:
                    continue
                if wsum <= 0:
                    p = u_power[u, 1]
                else:
                    frac = 0.0
                    on = False
                    for m in range(n_m):
                        if u_serve[u, m] > 0:
                            c = codes[q, m]
                            if c == PROC:
                                frac += u_serve[u, m]
                            if c != OFF:
                                on = True
                    frac /= wsum
                    if not on and frac <= 0:
                        p = u_power[u, 0]
                    else:
                        p = u_power[u, 1] + (u_power[u, 2] - u_power[u, 1]) * frac
                e, c = add(a, b, p, u_fuel[u])
                energy += e
                co2e += c
    peak = 0.0
    for h in range(nh):
        co2e += elec[h] * factor[bin_hour[h]]
        cost += elec[h] * price[bin_hour[h]]
        peak = max(peak, elec[h])
    return energy, co2e, cost, peak


@numba.njit(cache=True)
def _batch_ids(
    seq_ptr: IntArray,
    seq_job: IntArray,
    job_prod: IntArray,
    release0: FloatArray,
    capacity: IntArray,
    window_s: float,
) -> IntArray:
    """Batch number per entry: consecutive jobs of one product released within the window."""
    out = np.empty(len(seq_job), dtype=np.int64)
    for m in range(len(seq_ptr) - 1):
        b = -1
        size = 0
        first = 0.0
        prev = -1
        for e in range(seq_ptr[m], seq_ptr[m + 1]):
            j = seq_job[e]
            p = job_prod[j]
            if (
                capacity[m] > 1
                and p == prev
                and size < capacity[m]
                and abs(release0[j] - first) <= window_s
            ):
                size += 1
            else:
                b += 1
                size = 1
                first = release0[j]
            prev = p
            out[e] = b
    return out
