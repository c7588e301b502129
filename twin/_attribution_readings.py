"""Meter readings -> exact energy functions (private helper of :mod:`.attribution`).

Power samples are integrated **step-hold**: a sample's power holds until the
next sample of the same meter. The simulator emits a sample at every state
change, so a piecewise-constant power is integrated exactly; OPC UA sampled
power is read the same way. Cumulative counters become the same form: the
energy between two readings is spread evenly over that interval here
(attribution then reshapes it by the power-state model within the interval).

Either way a meter ends up as sorted times ``t``, the power held from each
time ``p_kw`` and the cumulative energy at each time ``cum_kwh``, so the energy
in any window is ``E(b) - E(a)``, exact, in O(log n) per query
(:meth:`MeterProfile.energy_at`). Nothing here loops over samples in Python.

Bad readings are cleaned and flagged (or, with ``reject``, raise an
:class:`AttributionError` naming the meter and the time): non-finite or
negative values are dropped, out-of-order readings sorted, duplicates
(same meter and time) kept once.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import AttributionError
from .quantities import from_epoch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]

_CHUNK = 1 << 20


@dataclass(slots=True)
class MeterProfile:
    """One meter's readings as an exact energy function.

    Attributes
    ----------
    t : numpy.ndarray
        Strictly increasing reading times [epoch s].
    p_kw : numpy.ndarray
        Power held from ``t[i]`` to ``t[i+1]`` [kW] (last value unused).
    e_kws : numpy.ndarray
        Energy of each reading interval ``[t[i], t[i+1])`` [kW s] (last entry 0).
    long_lo, long_hi : numpy.ndarray
        Reading intervals longer than the gap threshold (power meters only):
        treated as gaps and filled from the power-state model.
    """

    meter: str
    t: FloatArray
    p_kw: FloatArray
    e_kws: FloatArray
    long_lo: FloatArray
    long_hi: FloatArray

    def segment_energy(self, b: FloatArray) -> FloatArray:
        """Energy between consecutive sorted times ``b`` [kWh] (nothing before the
        first reading or after the last).

        Whole reading intervals inside a segment are summed with one
        ``add.reduceat`` (a pairwise sum, no running total to subtract); the
        partial intervals at both ends are added from the held power.
        """
        t = self.t
        i = t.searchsorted(b, side="right") - 1
        np.maximum(i, 0, out=i)
        np.minimum(i, t.size - 1, out=i)
        part = self.p_kw[i] * (np.minimum(np.maximum(b, t[0]), t[-1]) - t[i])
        whole = np.add.reduceat(self.e_kws, i)[:-1]
        whole[i[1:] == i[:-1]] = 0.0
        out: FloatArray = (whole + (part[1:] - part[:-1])) * (1.0 / 3600.0)
        return out


def _pointers(ids: ObjArray) -> npt.NDArray[np.intp] | None:
    """The PyObject pointers of an object array (no copy), or None."""
    if ids.dtype != object or not ids.flags.c_contiguous or ids.ndim != 1 or ids.size == 0:
        return None
    address = ids.__array_interface__["data"][0]
    buf = (ctypes.c_ssize_t * ids.size).from_address(address)
    return np.ctypeslib.as_array(buf)


def group_rows(ids: ObjArray) -> dict[str, list[tuple[int, int]]]:
    """Rows of each source id as a list of ``(start, stop)`` runs.

    Connectors and the simulator write a meter's readings together and reuse
    the same string object, so runs are found by comparing object pointers, a
    few milliseconds for millions of rows; equal strings held in different
    objects fall back to :func:`pandas.factorize`.
    """
    n = int(ids.size)
    if n == 0:
        return {}
    ptr = _pointers(ids)
    if ptr is not None:
        changes: list[IntArray] = []
        buf = np.empty(min(n, _CHUNK), dtype=bool)
        total = 0
        limit = max(4096, n // 256)
        for a in range(0, n - 1, _CHUNK):
            b = min(n - 1, a + _CHUNK)
            out = buf[: b - a]
            np.not_equal(ptr[a + 1 : b + 1], ptr[a:b], out=out)
            ch = np.flatnonzero(out)
            total += ch.size
            if total > limit:
                break
            changes.append(ch + (a + 1))
        else:
            cuts = np.concatenate([[0], *changes, [n]]).astype(np.int64)
            runs: dict[str, list[tuple[int, int]]] = {}
            for s, e in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
                runs.setdefault(str(ids[s]), []).append((s, e))
            return runs
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    out_runs: dict[str, list[tuple[int, int]]] = {}
    for k, u in enumerate(uniques):
        rows = order[bounds[k] : bounds[k + 1]]
        # contiguous runs inside this id's rows
        brk = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], brk])
        stops = np.concatenate([brk, [rows.size]])
        out_runs.setdefault(str(u), []).extend(
            (int(rows[s]), int(rows[e - 1]) + 1) for s, e in zip(starts, stops, strict=True)
        )
    return out_runs


def take(values: FloatArray, runs: list[tuple[int, int]]) -> FloatArray:
    """Values of the given row runs (a view for one run)."""
    if len(runs) == 1:
        a, b = runs[0]
        return values[a:b]
    return np.concatenate([values[a:b] for a, b in runs])


def _when(t: float) -> str:
    return from_epoch(t).isoformat().replace("+00:00", "Z") if np.isfinite(t) else str(t)


def _clean(
    meter: str,
    kind: str,
    t: FloatArray,
    v: FloatArray,
    reject: bool,
    flags: list[str],
    upper: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Drop bad readings (or raise), sort and de-duplicate; fast when all is well."""
    ok_t = np.isfinite(t)
    ok_v = np.isfinite(v) & (v >= 0)
    if upper is not None:
        ok_v &= v < upper
    if not (ok_t.all() and ok_v.all()):
        bad = ~(ok_t & ok_v)
        i = int(np.flatnonzero(bad)[0])
        what = f"{kind} of meter {meter!r} at {_when(float(t[i]))} is {float(v[i])!r}" + (
            f" (rollover at {upper:g} kWh)" if upper is not None else ""
        )
        if reject:
            msg = f"{what}: not a valid reading (non-finite, negative or above rollover)"
            raise AttributionError(msg, field=meter)
        flags.append(
            f"meter {meter!r}: {int(bad.sum())} invalid {kind} reading(s) dropped (first: {what})"
        )
        keep = ~bad
        t, v = t[keep], v[keep]
    if t.size < 2:
        return t, v
    d = np.diff(t)
    if (d > 0).all():
        return t, v
    if (d < 0).any():
        flags.append(
            f"meter {meter!r}: {int((d < 0).sum())} {kind} reading(s) out of time order; sorted"
        )
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        d = np.diff(t)
    dup = np.flatnonzero(d == 0)
    if dup.size:
        conflicting = v[dup] != v[dup + 1]
        if conflicting.any():
            i = int(dup[np.flatnonzero(conflicting)[0]])
            what = (
                f"meter {meter!r} has {int(conflicting.sum())} conflicting duplicate {kind} "
                f"reading(s) (first at {_when(float(t[i]))}: {float(v[i])!r} and {float(v[i + 1])!r})"
            )
            if reject:
                raise AttributionError(what, field=meter)
            flags.append(what + "; the last one received is kept")
        else:
            flags.append(f"meter {meter!r}: {dup.size} duplicate {kind} reading(s) dropped")
        keep = np.ones(t.size, dtype=bool)
        keep[dup] = False  # keep the last of equal times (stable sort keeps arrival order)
        t, v = t[keep], v[keep]
    return t, v


class Workspace:
    """Scratch buffers reused from meter to meter.

    Large fresh arrays cost page faults on every allocation; one pair of
    buffers sized for the largest meter keeps the per-sample work in memory
    that is already mapped. A profile built in a workspace is valid until the
    next profile is built in it.
    """

    def __init__(self) -> None:
        self._d = np.empty(0, dtype=np.float64)
        self._c = np.empty(0, dtype=np.float64)

    def buffers(self, n: int) -> tuple[FloatArray, FloatArray]:
        if self._d.size < n:
            self._d = np.empty(n, dtype=np.float64)
            self._c = np.empty(n, dtype=np.float64)
        return self._d[:n], self._c[:n]


def _well_formed(t: FloatArray, v: FloatArray, d: FloatArray) -> bool:
    """True when times are finite and strictly increasing and values finite and >= 0.

    Reductions only (NaN propagates through min/max), no temporary arrays.
    """
    if t.size == 0:
        return True
    if not (np.isfinite(t[0]) and np.isfinite(t[-1])):
        return False
    if not (float(v.min()) >= 0.0 and float(v.max()) < np.inf):
        return False
    np.subtract(t[1:], t[:-1], out=d)
    return bool(d.size == 0 or float(d.min()) > 0.0)


def power_profile(
    meter: str,
    t: FloatArray,
    p_kw: FloatArray,
    *,
    reject: bool,
    max_interval_s: float,
    flags: list[str],
    workspace: Workspace | None = None,
) -> MeterProfile | None:
    """Profile of a power meter (step-hold integration); None without readings.

    Cleaning notes are appended to ``flags``.
    """
    ws = workspace or Workspace()
    d, cum = ws.buffers(t.size)
    d = d[: max(t.size - 1, 0)]
    if not _well_formed(t, p_kw, d):
        t, p_kw = _clean(meter, "power", t, p_kw, reject, flags)
        d, cum = ws.buffers(t.size)
        d = d[: max(t.size - 1, 0)]
        np.subtract(t[1:], t[:-1], out=d)
    if t.size < 2:
        if t.size:
            flags.append(f"meter {meter!r}: a single power reading carries no energy")
            return MeterProfile(meter, t, p_kw, np.zeros(t.size), np.empty(0), np.empty(0))
        return None
    np.multiply(p_kw[:-1], d, out=cum[:-1])
    cum[-1] = 0.0
    long_lo = long_hi = np.empty(0)
    if float(d.max()) > max_interval_s:
        long_i = np.flatnonzero(d > max_interval_s)
        long_lo, long_hi = t[long_i], t[long_i + 1]
        flags.append(
            f"meter {meter!r}: {long_i.size} reading interval(s) longer than "
            f"{max_interval_s:g} s treated as gaps and filled from the power-state model"
        )
    return MeterProfile(meter, t, p_kw, cum, long_lo, long_hi)


def counter_profile(
    meter: str,
    t: FloatArray,
    kwh: FloatArray,
    *,
    reject: bool,
    rollover_kwh: float | None,
    flags: list[str],
) -> MeterProfile | None:
    """Profile of a cumulative energy counter, resets and rollovers handled.

    A decrease is a rollover when the meter has ``rollover_kwh`` and the
    previous reading was in the upper half of its range (the counter wrapped:
    ``delta = rollover - previous + new``); otherwise a reset to zero
    (``delta = new``). Both are flagged.
    """
    t, kwh = _clean(meter, "counter", t, kwh, reject, flags, upper=rollover_kwh)
    if t.size < 2:
        return None
    delta = np.diff(kwh)
    down = np.flatnonzero(delta < 0)
    if down.size:
        prev = kwh[down]
        new = kwh[down + 1]
        wrap = (
            np.full(down.size, rollover_kwh)
            if rollover_kwh is not None
            else np.full(down.size, np.nan)
        )
        is_roll = np.isfinite(wrap) & (prev >= 0.5 * np.nan_to_num(wrap))
        delta[down] = np.where(is_roll, np.nan_to_num(wrap) - prev + new, new)
        n_roll = int(is_roll.sum())
        if n_roll:
            flags.append(f"meter {meter!r}: counter rolled over {n_roll} time(s)")
        if down.size - n_roll:
            flags.append(
                f"meter {meter!r}: counter reset {down.size - n_roll} time(s) "
                f"(first at {_when(float(t[down[~is_roll][0] + 1]))})"
            )
    dt = np.diff(t)
    p = np.zeros(t.size, dtype=np.float64)
    p[:-1] = delta * 3600.0 / dt
    e = np.zeros(t.size, dtype=np.float64)
    e[:-1] = delta * 3600.0
    return MeterProfile(meter, t, p, e, np.empty(0), np.empty(0))
