"""Asset timelines and the allocation of asset energy to orders (private helper of
:mod:`.attribution`).

An asset's timeline holds its state changes (sorted, cleaned), the order steps
that occupied it and, per allocation period (shift), the time each order spent
on it. :func:`allocate` takes the energy an asset drew in each segment of a
meter's time grid and hands it to orders:

- SETUP and PROCESSING energy to the steps covering the segment, shared by
  step quantity (or mass) when several orders occupy the asset at once;
- IDLE and STANDBY energy (and SETUP/PROCESSING energy while no step covers
  the asset) by the idle rule: ``processing_time_share`` gives it to the orders
  in proportion to the time their steps occupied this asset within the same
  period (shift, or the off-shift time between shifts); when no order used the
  asset in that period it is overhead. ``overhead`` sends it all to overhead;
- OFF and FAULT energy to overhead, or with the ``occupying_order`` rule to
  the steps covering the segment (overhead when none does).

Before an asset's first state change its state is unknown: covered by a step it
is taken to be in the step's kind (PROCESSING over SETUP), otherwise IDLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .model import STATE_INDEX, State

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNKNOWN = -1
OFF = STATE_INDEX[State.OFF]
STANDBY = STATE_INDEX[State.STANDBY]
IDLE = STATE_INDEX[State.IDLE]
SETUP = STATE_INDEX[State.SETUP]
PROCESSING = STATE_INDEX[State.PROCESSING]
FAULT = STATE_INDEX[State.FAULT]

_OCCUPYING = np.zeros(len(STATE_INDEX), dtype=bool)
_OCCUPYING[[SETUP, PROCESSING]] = True
#: States whose energy goes to the idle rule when no step occupies the asset
_IDLE_POOL = np.zeros(len(STATE_INDEX), dtype=bool)
_IDLE_POOL[[SETUP, PROCESSING, IDLE, STANDBY]] = True

#: How a piece of energy reached its order (``via`` codes).
VIA_OCCUPYING, VIA_IDLE_RULE, VIA_OVERHEAD = 0, 1, 2
VIA_NAMES = ("occupying_order", "idle_rule", "overhead")


@dataclass(slots=True)
class Timeline:
    """Everything attribution needs to know about one asset.

    ``period_ptr`` / ``period_order`` / ``period_weight`` are a CSR table:
    for period ``p`` the orders ``period_order[ptr[p]:ptr[p+1]]`` occupied the
    asset for a weight proportional to ``period_weight`` (seconds).
    """

    asset: str
    code: int
    power_kw: FloatArray  # expected power per state code [kW]
    state_t: FloatArray
    state_code: IntArray
    step_start: FloatArray
    step_end: FloatArray
    step_order: IntArray
    step_weight: FloatArray
    step_processing: BoolArray
    period_ptr: IntArray
    period_order: IntArray
    period_weight: FloatArray
    state_pad: IntArray = field(init=False)  # [UNKNOWN, *state_code]

    def __post_init__(self) -> None:
        self.state_pad = np.concatenate([[UNKNOWN], self.state_code]).astype(np.int64)


@dataclass(slots=True)
class GridView:
    """An asset seen on one meter's segment grid."""

    state: IntArray  # resolved state per segment
    expected_kw: FloatArray
    pair_seg: IntArray  # (segment, step) pairs covering the asset
    pair_step: IntArray
    covered: BoolArray


def idle_table(
    start: FloatArray, end: FloatArray, order: IntArray, bounds: FloatArray, n_periods: int
) -> tuple[IntArray, IntArray, FloatArray]:
    """CSR of occupied seconds per (period, order) from steps clipped to periods."""
    if start.size == 0:
        return np.zeros(n_periods + 1, dtype=np.int64), np.empty(0, np.int64), np.empty(0)
    p0 = np.clip(np.searchsorted(bounds, start, side="right") - 1, 0, n_periods - 1)
    p1 = np.clip(np.searchsorted(bounds, end, side="left") - 1, 0, n_periods - 1)
    p1 = np.maximum(p1, p0)
    cnt = p1 - p0 + 1
    rows = np.repeat(np.arange(start.size), cnt)
    per = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(p0, cnt)
    lo = np.maximum(start[rows], bounds[per])
    hi = np.minimum(end[rows], bounds[per + 1])
    sec = np.maximum(hi - lo, 0.0)
    keep = sec > 0
    per, ordr, sec = per[keep], order[rows[keep]], sec[keep]
    n_ord = int(order.max()) + 1
    key = per * n_ord + ordr
    uk, inv = np.unique(key, return_inverse=True)
    w: FloatArray = np.bincount(inv.reshape(-1), weights=sec).astype(np.float64)
    up = uk // n_ord
    ptr = np.searchsorted(up, np.arange(n_periods + 1)).astype(np.int64)
    return ptr, (uk % n_ord).astype(np.int64), w


def view(tl: Timeline, lo: FloatArray) -> GridView:
    """Resolved state, expected power and step coverage of ``tl`` on a grid.

    ``lo`` are the segment starts (sorted); the grid contains every state
    change and step start/end of the asset inside its range, so a segment is
    covered by a step exactly when ``start <= lo < end``.
    """
    nseg = lo.size
    # state_pad[0] is UNKNOWN: before the first change, searchsorted gives 0
    state = tl.state_pad[np.searchsorted(tl.state_t, lo, side="right")]
    n_steps = tl.step_start.size
    if n_steps:
        ab = np.searchsorted(lo, np.concatenate([tl.step_start, tl.step_end]), side="left")
        a = ab[:n_steps]
        cnt = np.maximum(ab[n_steps:] - a, 0)
        total = int(cnt.sum())
        starts = np.cumsum(cnt) - cnt
        pair_step = np.repeat(np.arange(n_steps), cnt)
        pair_seg = np.arange(total) + np.repeat(a - starts, cnt)
    else:
        pair_step = pair_seg = np.empty(0, dtype=np.int64)
    covered = np.zeros(nseg, dtype=bool)
    covered[pair_seg] = True
    if state.size and int(state.min()) == UNKNOWN:
        proc = np.zeros(nseg, dtype=bool)
        proc[pair_seg[tl.step_processing[pair_step]]] = True
        guess = np.where(covered, np.where(proc, PROCESSING, SETUP), IDLE)
        state = np.where(state == UNKNOWN, guess, state)
    return GridView(
        state, tl.power_kw[state], pair_seg.astype(np.int64), pair_step.astype(np.int64), covered
    )


@dataclass(slots=True)
class Pieces:
    """Allocated energy: one row per (segment or aggregate, order)."""

    seg: IntArray  # segment index (representative segment for aggregates)
    order: IntArray  # -1 = overhead
    energy_kwh: FloatArray
    state: IntArray
    via: IntArray


def allocate(
    tl: Timeline,
    gv: GridView,
    lo: FloatArray,
    seg_period: IntArray,
    seg_hour: IntArray,
    seg_gap: BoolArray,
    energy: FloatArray,
    *,
    idle_rule: str,
    off_rule: str,
    fault_rule: str,
) -> Pieces:
    """Hand the asset's energy per segment (``energy``) to orders (see module doc)."""
    st = gv.state
    # per state: goes to the occupying order when covered? to the idle rule otherwise?
    to_occ = _OCCUPYING.copy()
    to_occ[OFF] = off_rule == "occupying_order"
    to_occ[FAULT] = fault_rule == "occupying_order"
    occ = gv.covered & to_occ[st]
    idle = ~occ & _IDLE_POOL[st]
    parts: list[Pieces] = []
    # occupying orders, shared by step weight
    if gv.pair_seg.size:
        sel = occ[gv.pair_seg]
        ps, pj = gv.pair_seg[sel], gv.pair_step[sel]
        w = tl.step_weight[pj]
        wsum = np.bincount(ps, weights=w, minlength=lo.size)
        e = energy[ps] * (w / wsum[ps])
        o = tl.step_order[pj]
        if ps.size > 1:
            # one piece per (order, hour, state, gap): a step cut by other assets'
            # breakpoints need not stay in many pieces
            h = seg_hour[ps] - seg_hour[ps].min()
            key = ((o * (int(h.max()) + 1) + h) * 8 + st[ps]) * 2 + seg_gap[ps]
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            e = np.bincount(inv.reshape(-1), weights=e).astype(np.float64, copy=False)
            ps, o = ps[first], o[first]
        parts.append(Pieces(ps, o, e, st[ps], np.full(ps.size, VIA_OCCUPYING, dtype=np.int64)))
    to_overhead = ~occ & ~idle
    if idle_rule == "processing_time_share":
        iseg = np.flatnonzero(idle & (energy != 0))
        if iseg.size:
            # aggregate idle segments per (period, hour, state, gap) before fanning out
            h = seg_hour[iseg] - seg_hour[iseg].min()
            key = ((seg_period[iseg] * (int(h.max()) + 1) + h) * 8 + st[iseg]) * 2 + seg_gap[iseg]
            _, first, inv = np.unique(key, return_index=True, return_inverse=True)
            inv = inv.reshape(-1)
            e_agg = np.bincount(inv, weights=energy[iseg])
            rep = iseg[first]
            per = seg_period[rep]
            cnt = tl.period_ptr[per + 1] - tl.period_ptr[per]
            none = cnt == 0
            if none.any():
                nseg = rep[none]
                parts.append(
                    Pieces(
                        nseg,
                        np.full(nseg.size, -1, dtype=np.int64),
                        e_agg[none],
                        st[nseg],
                        np.full(nseg.size, VIA_OVERHEAD, dtype=np.int64),
                    )
                )
            g = np.flatnonzero(~none)
            if g.size:
                c = cnt[g]
                row = np.repeat(g, c)
                idx = (
                    np.arange(int(c.sum()))
                    - np.repeat(np.cumsum(c) - c, c)
                    + np.repeat(tl.period_ptr[per[g]], c)
                )
                w = tl.period_weight[idx]
                wsum = np.bincount(row, weights=w, minlength=rep.size)
                parts.append(
                    Pieces(
                        rep[row],
                        tl.period_order[idx],
                        e_agg[row] * (w / wsum[row]),
                        st[rep[row]],
                        np.full(row.size, VIA_IDLE_RULE, dtype=np.int64),
                    )
                )
    else:
        to_overhead |= idle
    oseg = np.flatnonzero(to_overhead & (energy != 0))
    if oseg.size:
        parts.append(
            Pieces(
                oseg,
                np.full(oseg.size, -1, dtype=np.int64),
                energy[oseg],
                st[oseg],
                np.full(oseg.size, VIA_OVERHEAD, dtype=np.int64),
            )
        )
    if not parts:
        z = np.empty(0, dtype=np.int64)
        return Pieces(z, z, np.empty(0), z, z)
    return Pieces(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("seg", "order", "energy_kwh", "state", "via")
        )
    )
