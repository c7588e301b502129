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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .errors import AttributionError
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
VIA_OCCUPYING, VIA_IDLE_RULE, VIA_OVERHEAD, VIA_UTILITY_KEY = 0, 1, 2, 3
VIA_NAMES = ("occupying_order", "idle_rule", "overhead", "utility_key")


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
    # expected power while warming up [kW] (warm-up energy / warm-up time); 0: no warm-up
    warmup_kw: float = 0.0
    # processing seconds per (period, order), CSR like period_*: the processing_hours
    # utility key's table (empty unless a utility uses it)
    proc_ptr: IntArray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    proc_order: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    proc_weight: FloatArray = field(default_factory=lambda: np.empty(0))
    state_pad: IntArray = field(init=False)  # [UNKNOWN, *state_code]
    step_bounds: FloatArray = field(init=False)  # [*step_start, *step_end]

    def __post_init__(self) -> None:
        self.state_pad = np.concatenate([[UNKNOWN], self.state_code]).astype(np.int64)
        self.step_bounds = np.concatenate([self.step_start, self.step_end])


@dataclass(slots=True)
class GridView:
    """An asset seen on one meter's segment grid."""

    state: IntArray  # resolved state per segment
    expected_kw: FloatArray
    pair_seg: IntArray  # (segment, step) pairs covering the asset
    pair_step: IntArray
    covered: BoolArray


def idle_tables(
    steps: Sequence[tuple[FloatArray, FloatArray, IntArray, BoolArray, FloatArray]],
    bounds: FloatArray,
    n_periods: int,
    weight: Callable[[FloatArray, BoolArray, FloatArray], FloatArray] | None = None,
) -> list[tuple[IntArray, IntArray, FloatArray]]:
    """Per asset, the CSR of weight per (period, order) from its steps clipped to periods.

    ``steps`` holds per asset its steps' (start, end, order, processing, quantity).
    The weight of each (step, period) piece is ``weight(seconds, processing,
    quantity)`` (an idle rule's, see :mod:`.allocation`; called once for the
    pieces of all assets), by default its seconds; pieces of zero weight are left
    out.
    """
    empty = (np.zeros(n_periods + 1, dtype=np.int64), np.empty(0, np.int64), np.empty(0))
    sizes = np.array([len(x[0]) for x in steps], dtype=np.int64)
    if not sizes.sum():
        return [empty] * len(steps)
    start, end, order, processing, quantity = (
        np.concatenate([x[i] for x in steps]) for i in range(5)
    )
    asset = np.arange(len(steps), dtype=np.int64).repeat(sizes)
    p0 = np.minimum(np.maximum(bounds.searchsorted(start, side="right") - 1, 0), n_periods - 1)
    p1 = np.minimum(np.maximum(bounds.searchsorted(end, side="left") - 1, 0), n_periods - 1)
    p1 = np.maximum(p1, p0)
    cnt = p1 - p0 + 1
    rows = np.arange(start.size).repeat(cnt)
    per = np.arange(int(cnt.sum())) - (cnt.cumsum() - cnt).repeat(cnt) + p0.repeat(cnt)
    lo = np.maximum(start[rows], bounds[per])
    hi = np.minimum(end[rows], bounds[per + 1])
    sec = np.maximum(hi - lo, 0.0)
    if weight is not None:
        w_rows = np.asarray(weight(sec, processing[rows], quantity[rows]), np.float64)
        sec = np.where(sec > 0, w_rows, 0.0)
        if not (np.isfinite(sec).all() and (sec >= 0).all()):
            msg = "an idle rule gave a negative or non-finite weight"
            raise AttributionError(msg, field="idle")
    keep = sec > 0
    if not keep.any():
        return [empty] * len(steps)
    per, ordr, sec, own = per[keep], order[rows[keep]], sec[keep], asset[rows[keep]]
    n_ord = int(order.max()) + 1
    # (asset, period, order) in that order; each sum adds its pieces in row order
    key = (own * n_periods + per) * n_ord + ordr
    uk, _, w = group_sums(key, sec)
    u_asset, rest = np.divmod(uk, n_periods * n_ord)
    up, u_ord = np.divmod(rest, n_ord)
    cuts = u_asset.searchsorted(np.arange(len(steps) + 1)).tolist()
    out: list[tuple[IntArray, IntArray, FloatArray]] = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if a == b:
            out.append(empty)
            continue
        ptr = up[a:b].searchsorted(np.arange(n_periods + 1)).astype(np.int64)
        out.append((ptr, u_ord[a:b].astype(np.int64), w[a:b]))
    return out


def view(tl: Timeline, lo: FloatArray) -> GridView:
    """Resolved state, expected power and step coverage of ``tl`` on a grid.

    ``lo`` are the segment starts (sorted); the grid contains every state
    change and step start/end of the asset inside its range, so a segment is
    covered by a step exactly when ``start <= lo < end``.
    """
    nseg = lo.size
    # state_pad[0] is UNKNOWN: before the first change, searchsorted gives 0
    state = tl.state_pad[tl.state_t.searchsorted(lo, side="right")]
    n_steps = tl.step_start.size
    if n_steps:
        ab = lo.searchsorted(tl.step_bounds, side="left")
        a = ab[:n_steps]
        cnt = np.maximum(ab[n_steps:] - a, 0)
        total = int(cnt.sum())
        starts = cnt.cumsum() - cnt
        pair_step = np.arange(n_steps).repeat(cnt)
        pair_seg = np.arange(total) + (a - starts).repeat(cnt)
    else:
        pair_step = pair_seg = np.empty(0, dtype=np.int64)
    covered = np.zeros(nseg, dtype=bool)
    covered[pair_seg] = True
    # UNKNOWN (index 0) exactly where a segment starts before the first state change
    if nseg and (tl.state_t.size == 0 or lo[0] < tl.state_t[0]):
        proc = np.zeros(nseg, dtype=bool)
        proc[pair_seg[tl.step_processing[pair_step]]] = True
        guess = np.where(covered, np.where(proc, PROCESSING, SETUP), IDLE)
        state = np.where(state == UNKNOWN, guess, state)
    expected_kw = tl.power_kw[state]
    if tl.warmup_kw > 0:
        # SETUP with no order on the asset is the warm-up after OFF (the machine is being
        # made ready): expect warm-up power, so a shared meter splits it where it was drawn.
        expected_kw = np.where((state == SETUP) & ~covered, tl.warmup_kw, expected_kw)
    return GridView(
        state,
        expected_kw,
        pair_seg.astype(np.int64, copy=False),
        pair_step.astype(np.int64, copy=False),
        covered,
    )


@dataclass(slots=True)
class Pieces:
    """Allocated energy: one row per (segment or aggregate, order, target asset)."""

    seg: IntArray  # segment index (representative segment for aggregates)
    order: IntArray  # -1 = overhead
    energy_kwh: FloatArray
    state: IntArray
    via: IntArray
    target: IntArray  # index into the timelines passed to :func:`allocate`


def _ranges(start: IntArray, cnt: IntArray) -> tuple[IntArray, IntArray]:
    """(row, value) pairs: row ``r`` repeated ``cnt[r]`` times with ``start[r] + 0, 1, ...``."""
    row: IntArray = np.arange(cnt.size, dtype=np.int64).repeat(cnt)
    first: IntArray = (start - (cnt.cumsum() - cnt)).astype(np.int64, copy=False)
    val: IntArray = np.arange(int(cnt.sum()), dtype=np.int64) + first.repeat(cnt)
    return row, val


def group_sums(key: IntArray, e: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
    """Distinct keys (sorted), the first row of each and the sum of ``e`` over its rows,
    added in row order (what ``np.unique`` and a ``bincount`` over its inverse give)."""
    perm = key.argsort(kind="stable")
    ks = key[perm]
    new = np.ones(ks.size, dtype=bool)
    np.not_equal(ks[1:], ks[:-1], out=new[1:])
    group = new.cumsum()
    group -= 1
    total = np.bincount(group, weights=e[perm]).astype(np.float64, copy=False)
    return ks[new], perm[new].astype(np.int64, copy=False), total


def _merge(key: IntArray, e: FloatArray) -> tuple[IntArray, FloatArray]:
    """First row of each distinct key and the summed energy of its rows."""
    _, first, total = group_sums(key, e)
    return first, total


def allocate(
    tls: Sequence[Timeline],
    gvs: Sequence[GridView],
    seg_period: IntArray,
    seg_hour: IntArray,
    seg_gap: BoolArray,
    energy: FloatArray,
    *,
    idle_rule: str,
    off_rule: str,
    fault_rule: str,
) -> Pieces:
    """Hand each asset's energy per segment to orders (see module doc).

    ``energy`` has one row per timeline (asset) and one column per segment of
    the meter's grid; all assets are handled in one pass over the stacked
    (asset, segment) cells.
    """
    n_a, nseg = energy.shape
    st = np.concatenate([gv.state for gv in gvs]) if n_a > 1 else gvs[0].state
    covered = np.concatenate([gv.covered for gv in gvs]) if n_a > 1 else gvs[0].covered
    e_cell = energy.reshape(-1)
    hour = seg_hour - (int(seg_hour.min()) if nseg else 0)
    n_h = int(hour.max()) + 1 if nseg else 1
    # (hour, gap) of each segment as one code: hour * 2 + gap
    seg_hg = hour * 2 + seg_gap

    def split(cell: IntArray) -> tuple[IntArray, IntArray]:
        """(asset, segment) of stacked cells."""
        if n_a == 1:
            return np.zeros(cell.size, dtype=np.int64), cell
        return np.divmod(cell, nseg)

    to_occ = _OCCUPYING.copy()
    to_occ[OFF] = off_rule == "occupying_order"
    to_occ[FAULT] = fault_rule == "occupying_order"
    occ = covered & to_occ[st]
    idle = ~occ & _IDLE_POOL[st]
    parts: list[Pieces] = []

    def emit(cell: IntArray, order: IntArray, e: FloatArray, via: int) -> None:
        asset, seg = split(cell)
        parts.append(
            Pieces(seg, order, e, st[cell], np.full(cell.size, via, dtype=np.int64), asset)
        )

    # occupying orders, shared by step weight; one piece per (asset, order, hour, state, gap)
    if n_a == 1:
        pc, pj = gvs[0].pair_seg, gvs[0].pair_step
        s_order, s_weight = tls[0].step_order, tls[0].step_weight
    else:
        step_off = np.cumsum([0] + [tl.step_start.size for tl in tls])
        pc = np.concatenate([gv.pair_seg + k * nseg for k, gv in enumerate(gvs)])
        pj = np.concatenate([gv.pair_step + step_off[k] for k, gv in enumerate(gvs)])
        s_order = np.concatenate([tl.step_order for tl in tls])
        s_weight = np.concatenate([tl.step_weight for tl in tls])
    if pc.size:
        sel = occ[pc]
        pc, pj = pc[sel], pj[sel]
        w = s_weight[pj]
        wsum = np.bincount(pc, weights=w, minlength=n_a * nseg)
        e = e_cell[pc] * (w / wsum[pc])
        o = s_order[pj]
        if pc.size:
            asset, seg = split(pc)
            hg = seg_hg[seg]
            key = ((asset * (int(o.max()) + 1) + o) * n_h + (hg >> 1)) * 8 + st[pc]
            key = key * 2 + (hg & 1)
            first, e = _merge(key, e)
            emit(pc[first], o[first], e, VIA_OCCUPYING)
    to_overhead = ~occ & ~idle
    if idle_rule != "overhead":
        ic = np.flatnonzero(idle & (e_cell != 0))
        if ic.size:
            # aggregate per (asset, period, hour, state, gap) before fanning out to orders
            n_p = int(seg_period.max()) + 1
            asset, seg = split(ic)
            hg = seg_hg[seg]
            key = ((asset * n_p + seg_period[seg]) * n_h + (hg >> 1)) * 8 + st[ic]
            key = key * 2 + (hg & 1)
            first, e_agg = _merge(key, e_cell[ic])
            rep = ic[first]
            rep_asset, rep_seg = asset[first], seg[first]
            # the assets' period tables, stacked: slot of (asset, period)
            ptr_lo = np.concatenate([tl.period_ptr[:-1] for tl in tls])
            ptr_hi = np.concatenate([tl.period_ptr[1:] for tl in tls])
            n_pt = tls[0].period_ptr.size - 1
            ord_off = np.cumsum([0] + [tl.period_order.size for tl in tls])
            p_order = np.concatenate([tl.period_order for tl in tls])
            p_weight = np.concatenate([tl.period_weight for tl in tls])
            slot = rep_asset * n_pt + seg_period[rep_seg]
            start = ptr_lo[slot] + ord_off[rep_asset]
            cnt = ptr_hi[slot] - ptr_lo[slot]
            none = cnt == 0
            if none.any():
                emit(
                    rep[none],
                    np.full(int(none.sum()), -1, dtype=np.int64),
                    e_agg[none],
                    VIA_OVERHEAD,
                )
            row, idx = _ranges(start, cnt)
            if row.size:
                w = p_weight[idx]
                wsum = np.bincount(row, weights=w, minlength=rep.size)
                emit(rep[row], p_order[idx], e_agg[row] * (w / wsum[row]), VIA_IDLE_RULE)
    else:
        to_overhead |= idle
    oc = np.flatnonzero(to_overhead & (e_cell != 0))
    if oc.size:
        emit(oc, np.full(oc.size, -1, dtype=np.int64), e_cell[oc], VIA_OVERHEAD)
    if not parts:
        z = np.empty(0, dtype=np.int64)
        return Pieces(z, z, np.empty(0), z, z, z)
    return Pieces(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("seg", "order", "energy_kwh", "state", "via", "target")
        )
    )


def straight_to_orders(
    tls: Sequence[Timeline],
    weights: Sequence[float],
    seg_period: IntArray,
    seg_hour: IntArray,
    seg_gap: BoolArray,
    state: IntArray,
    energy: FloatArray,
) -> Pieces:
    """A utility's energy per period straight to the orders by their processing
    seconds on the served assets ``tls`` (x serves ``weights``) in that period.

    ``energy`` and ``state`` are the utility's, per segment of the meter's grid.
    Pieces are aggregated per (period, hour, state, gap) before the fan-out;
    ``target`` is the index of the served asset in ``tls`` (-1 for overhead,
    mapped by the caller). A period without processing on any served asset is
    overhead.
    """
    cells = np.flatnonzero(energy != 0)
    z = np.empty(0, dtype=np.int64)
    if cells.size == 0:
        return Pieces(z, z, np.empty(0), z, z, z)
    hour = seg_hour - int(seg_hour.min())
    n_h = int(hour.max()) + 1
    key = ((seg_period[cells] * n_h + hour[cells]) * 8 + state[cells]) * 2 + seg_gap[cells].astype(
        np.int64
    )
    first, e_agg = _merge(key, energy[cells])
    rep = cells[first]
    per = seg_period[rep]
    rows: list[IntArray] = []
    orders: list[IntArray] = []
    ws: list[FloatArray] = []
    targets: list[IntArray] = []
    for b, (tl, w_b) in enumerate(zip(tls, weights, strict=True)):
        if w_b <= 0 or tl.proc_order.size == 0:
            continue
        p = np.clip(per, 0, tl.proc_ptr.size - 2)
        start = tl.proc_ptr[p]
        cnt = np.where(per < tl.proc_ptr.size - 1, tl.proc_ptr[p + 1] - start, 0)
        row, idx = _ranges(start, cnt)
        rows.append(row)
        orders.append(tl.proc_order[idx])
        ws.append(tl.proc_weight[idx] * w_b)
        targets.append(np.full(row.size, b, dtype=np.int64))
    row = np.concatenate(rows) if rows else z
    wsum = np.bincount(row, weights=np.concatenate(ws) if ws else None, minlength=rep.size)
    parts: list[Pieces] = []
    none = ~(wsum > 0)
    if none.any():
        n = int(none.sum())
        parts.append(
            Pieces(
                rep[none],
                np.full(n, -1, np.int64),
                e_agg[none],
                state[rep[none]],
                np.full(n, VIA_OVERHEAD, np.int64),
                np.full(n, -1, np.int64),
            )
        )
    if row.size:
        w = np.concatenate(ws)
        parts.append(
            Pieces(
                rep[row],
                np.concatenate(orders),
                e_agg[row] * (w / wsum[row]),
                state[rep[row]],
                np.full(row.size, VIA_UTILITY_KEY, np.int64),
                np.concatenate(targets),
            )
        )
    return Pieces(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("seg", "order", "energy_kwh", "state", "via", "target")
        )
    )
