"""Attribution benchmark: 200 machines x 1 day of 1 Hz power samples, 20,000 order steps.

Run from the repository root::

    python benchmarks/attribution.py            # full size (17.28 M samples)
    python benchmarks/attribution.py --small    # a few seconds (the test suite runs this)

The plant is 25 cells, each a copy of the demo factory's eight machines (two
of them on one shared meter), with a compressed-air unit (metered) and an HVAC
unit (not metered, modelled) serving the cell; the demo factory's shifts, site
and default rules. Every meter reports power once a second for one day
(2019-03-05 UTC, Tuesday); 200 meters x 86,400 s = 17.28 M samples.

Timed, interleaved run by run, median of ``--repeat`` runs (5), with the
process pinned to one core (the idlest at start: the machine is shared) and
BLAS/OpenMP threads set to 1 before numpy is imported; each side's previous
result is freed before its next timed run:

- carbontwin: ``attribute()`` and building every footprint record — all the
  work a user waits for (the data generation is not timed);
- the peer: a vectorized numpy/pandas per-meter computation on all the same
  samples (see :func:`peer`): exact energy of every order step from the
  meter's cumulative energy, CO2e at each hour's grid factor, a shared meter
  split by expected power, totals per order. It applies fewer rules than
  carbontwin (no idle, utility, gap, fuel or material allocation).

Both are checked against each other: the setup and processing energy of each
order that runs alone on a machine with its own meter, and its location-based
CO2e, must agree to 1e-9. Both find each meter's samples in the meter column
with the same function (carbontwin's ``group_rows``); its time is also reported
on its own (``peer_finding_runs_s_median``).
Wall and CPU time are both reported (``ratio`` from wall time, ``ratio_cpu``
from CPU time, which a loaded machine disturbs less), with the load average;
also the part of carbontwin's time spent building the records
(``carbontwin_records_s_median``), how many full garbage collections started
during each side's timed runs (``full_gc_carbontwin``, ``full_gc_peer``) and the
mean time of each side's runs, which spreads those collections over them
(``carbontwin_s_mean``, ``peer_s_mean``).

The last line printed is JSON:
``{"samples", "samples_per_s", "peer_samples_per_s", "ratio", "peak_rss_mb", ...}``.
"""

from __future__ import annotations

import os


def _idlest_cpu() -> int:
    """The allowed core with the most idle time over a quarter second (/proc/stat)."""
    import time as _t

    allowed = sorted(os.sched_getaffinity(0))

    def idle() -> dict[int, int]:
        out = {}
        try:
            with open("/proc/stat", encoding="ascii") as f:
                for line in f:
                    if line.startswith("cpu") and line[3].isdigit():
                        name, *vals = line.split()
                        out[int(name[3:])] = int(vals[3]) + int(vals[4])
        except OSError:
            pass
        return out

    a = idle()
    _t.sleep(0.25)
    b = idle()
    return max(allowed, key=lambda c: (b.get(c, 0) - a.get(c, 0), c))


_CPU = _idlest_cpu()
os.sched_setaffinity(0, {_CPU})
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from carbontwin.twin._attribution_readings import group_rows  # noqa: E402
from carbontwin.twin.attribution import Attribution, Rules, attribute  # noqa: E402
from carbontwin.twin.events import EventBatch  # noqa: E402
from carbontwin.twin.examples import demo_factory  # noqa: E402
from carbontwin.twin.factors import FactorSet  # noqa: E402
from carbontwin.twin.model import (  # noqa: E402
    STATE_INDEX,
    STATES,
    Factory,
    Machine,
    Meter,
    Order,
    ServesLink,
    State,
    Utility,
)

DAY0 = datetime(2019, 3, 5, tzinfo=UTC).timestamp()


def _obj(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def build(
    cells: int, seconds: int, steps_per_machine: int, seed: int = 7
) -> tuple[Factory, EventBatch, dict[str, str]]:
    """The benchmark plant, its events and machine -> meter."""
    demo = demo_factory()
    rng = np.random.default_rng(seed)
    kinds = demo.machines
    air = next(u for u in demo.utilities if u.kind == "compressed_air")
    hvac = next((u for u in demo.utilities if u.kind == "hvac"), air)
    products = demo.products
    machines: list[Machine] = []
    meters: list[Meter] = []
    utilities: list[Utility] = []
    meter_of: dict[str, str] = {}
    for c in range(cells):
        cell = [dataclasses.replace(m, id=f"c{c:02d}-{m.id}", setup_matrix_s={}) for m in kinds]
        machines += cell
        ids = [m.id for m in cell]
        shared = (ids[1], ids[2])
        meters.append(Meter(f"M-c{c:02d}-shared", "shared", shared))
        meter_of.update(dict.fromkeys(shared, f"M-c{c:02d}-shared"))
        for m in ids:
            if m not in shared:
                meters.append(Meter(f"M-{m}", m, (m,)))
                meter_of[m] = f"M-{m}"
        utilities.append(
            dataclasses.replace(air, id=f"c{c:02d}-air", serves=tuple(ServesLink(m) for m in ids))
        )
        utilities.append(
            dataclasses.replace(
                hvac,
                id=f"c{c:02d}-hvac",
                allocation_key="declared",
                serves=tuple(ServesLink(m, 1.0 + (k % 3)) for k, m in enumerate(ids)),
            )
        )
        meters.append(Meter(f"M-c{c:02d}-air", "air", (f"c{c:02d}-air",)))
    # --- order steps and states, machine by machine -----------------------------------
    order_ids: list[str] = []
    st_asset: list[str] = []
    st_t: list[np.ndarray] = []
    st_s: list[np.ndarray] = []
    sp: dict[str, list[np.ndarray]] = {k: [] for k in ("order", "op", "asset", "kind")}
    sp_f: dict[str, list[np.ndarray]] = {k: [] for k in ("start", "end", "qty")}
    orders: list[Order] = []
    t_first, t_last = DAY0 + 0.04 * seconds, DAY0 + 0.92 * seconds
    n_ops = steps_per_machine // 2
    state_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mi, m in enumerate(machines):
        slot = (t_last - t_first) / n_ops
        setup = rng.uniform(0.1, 0.25, n_ops) * slot
        proc = rng.uniform(0.5, 0.7, n_ops) * slot
        start = t_first + slot * np.arange(n_ops) + rng.uniform(0, 0.05, n_ops) * slot
        s_end = start + setup
        p_end = s_end + proc
        batch = m.capacity > 1
        base = len(order_ids)
        oid = [f"O{base + k:06d}" for k in range(n_ops)]
        order_ids += oid
        prod = products[mi % len(products)]
        qty = rng.integers(5, 200, n_ops).astype(float)
        rel = datetime.fromtimestamp(t_first, tz=UTC)
        orders += [Order(o, prod.id, float(q), rel, rel) for o, q in zip(oid, qty, strict=True)]
        # batch furnaces: two orders in the same window
        owner = np.arange(n_ops)
        if batch:
            start[1::2], s_end[1::2], p_end[1::2] = (
                start[0::2][: n_ops // 2],
                s_end[0::2][: n_ops // 2],
                p_end[0::2][: n_ops // 2],
            )
        sp["order"].append(_obj([oid[k] for k in owner] * 2))
        sp["op"].append(_obj(["op"] * (2 * n_ops)))
        sp["asset"].append(_obj([m.id] * (2 * n_ops)))
        sp["kind"].append(_obj(["setup"] * n_ops + ["processing"] * n_ops))
        sp_f["start"].append(np.concatenate([start, s_end]))
        sp_f["end"].append(np.concatenate([s_end, p_end]))
        sp_f["qty"].append(np.concatenate([qty, qty]))
        # states: OFF, IDLE, then SETUP/PROCESSING/IDLE per op, a fault, STANDBY, OFF
        uniq = np.unique(start) if batch else start
        ends = np.unique(p_end) if batch else p_end
        sends = np.unique(s_end) if batch else s_end
        t_s = np.concatenate(
            [[DAY0, t_first - 900.0], uniq, sends, ends, [t_last + 600.0, t_last + 3600.0]]
        )
        s_s = np.concatenate(
            [
                [STATE_INDEX[State.OFF], STATE_INDEX[State.IDLE]],
                np.full(uniq.size, STATE_INDEX[State.SETUP]),
                np.full(sends.size, STATE_INDEX[State.PROCESSING]),
                np.full(ends.size, STATE_INDEX[State.IDLE]),
                [STATE_INDEX[State.STANDBY], STATE_INDEX[State.OFF]],
            ]
        )
        o = np.argsort(t_s, kind="stable")
        t_s, s_s = t_s[o], s_s[o]
        state_arrays[m.id] = (t_s, s_s)
        st_asset += [m.id] * t_s.size
        st_t.append(t_s)
        st_s.append(s_s)
    for u in utilities:
        t_s = np.array([DAY0, t_first - 900.0, t_last + 3600.0])
        s_s = np.array(
            [STATE_INDEX[State.OFF], STATE_INDEX[State.PROCESSING], STATE_INDEX[State.OFF]]
        )
        state_arrays[u.id] = (t_s, s_s)
        st_asset += [u.id] * 3
        st_t.append(t_s)
        st_s.append(s_s)
    factory = dataclasses.replace(
        demo,
        machines=tuple(machines),
        meters=tuple(meters),
        utilities=tuple(utilities),
        orders=tuple(orders),
        contracts=demo.contracts,
    )
    # --- 1 Hz power samples ------------------------------------------------------------
    t = DAY0 + np.arange(seconds, dtype=np.float64)
    n = len(meters) * seconds
    p_t = np.empty(n)
    p_kw = np.empty(n)
    p_meter = np.empty(n, dtype=object)
    power_of = {
        a: np.array([factory.power_model(a).power_kw[s] for s in STATES]) for a in factory.asset_ids
    }
    for k, mt in enumerate(meters):
        sl = slice(k * seconds, (k + 1) * seconds)
        p_t[sl] = t
        acc = np.zeros(seconds)
        for a in mt.measures:
            ts, ss = state_arrays[a]
            acc += power_of[a][ss[np.searchsorted(ts, t, side="right") - 1]]
        p_kw[sl] = acc * (1.0 + 0.05 * rng.standard_normal(seconds).clip(-3, 3))
        p_meter[sl] = mt.id  # one string object per meter, as connectors write them
    batch = EventBatch(
        state_asset=_obj(st_asset),
        state_t=np.concatenate(st_t),
        state=_obj([STATES[i].value for i in np.concatenate(st_s)]),
        power_meter=p_meter,
        power_t=p_t,
        power_kw=p_kw,
        step_order=np.concatenate(sp["order"]),
        step_operation=np.concatenate(sp["op"]),
        step_asset=np.concatenate(sp["asset"]),
        step_start=np.concatenate(sp_f["start"]),
        step_end=np.concatenate(sp_f["end"]),
        step_quantity=np.concatenate(sp_f["qty"]),
        step_kind=np.concatenate(sp["kind"]),
    )
    return factory, batch, meter_of


def peer_inputs(factory: Factory, factors: FactorSet) -> dict[str, Any]:
    """What the peer is handed, like carbontwin's factory and factor set (not timed).

    Per meter its assets; per asset its expected power per state; the factor set
    (the peer finds the hours its data spans and looks up their grid factors itself,
    in its timed run, as carbontwin does).
    """
    return {
        "measures": {m.id: m.measures for m in factory.meters},
        "power_kw": {
            a: np.array([factory.power_model(a).power_kw[s] for s in STATES])
            for a in factory.asset_ids
        },
        "factors": factors,
    }


def _energy_at(t: np.ndarray, p: np.ndarray, e: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Energy [kWh] from the first sample to times ``x``: ``e`` at the sample before,
    plus that sample's power held up to ``x`` (not past the next sample or the last)."""
    last = t.size - 1
    k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, last)
    span = np.where(k < last, t[np.minimum(k + 1, last)] - t[k], 0.0)
    return e[k] + np.clip(x - t[k], 0.0, span) * p[k] / 3600.0


def peer(batch: EventBatch, inputs: dict[str, Any]) -> dict[str, dict[str, float]]:
    """A vectorized numpy/pandas per-meter attribution of the whole data set.

    Per meter: its samples (found as runs of the meter column, as connectors
    write them, with carbontwin's own ``group_rows``; sorted by time only when they
    are not)
    and its cumulative energy at each sample (power held until the next sample,
    one ``cumsum``); the hours they span and those hours' grid factors, looked up in
    the factor set once per span (as carbontwin looks them up in its run). The energy of an order step is the difference of that curve
    at the step's end and start (interpolated inside the sample interval); its
    CO2e comes from the cumulative CO2e at the hour boundaries (each hour's
    energy times the hour's grid factor) plus the part of the step's hour up to
    its time. On a meter shared by several assets, a step gets the asset's share
    of the meter's expected power at the step's midpoint. Then per order: energy
    [kWh] and CO2e [kg]. Fewer rules than carbontwin: no idle, utility, fuel,
    gap or material allocation, no scope split, no energy balance.
    """
    t_all, p_all = batch.power_t, batch.power_kw
    runs = group_rows(batch.power_meter)
    # order steps grouped by meter
    meter_of = {a: m for m, assets in inputs["measures"].items() for a in assets}
    s_meter = pd.Series(batch.step_asset).map(meter_of).to_numpy()
    s_kwh = np.zeros(batch.step_start.size)
    s_co2e = np.zeros(batch.step_start.size)
    # state of each asset over time, for shared meters
    st_order = np.lexsort((batch.state_t, batch.state_asset))
    st_asset, st_t = batch.state_asset[st_order], batch.state_t[st_order]
    st_code = pd.Index([x.value for x in STATES]).get_indexer(batch.state[st_order])
    steps_of = pd.Series(np.arange(s_meter.size)).groupby(s_meter).indices
    factors: FactorSet = inputs["factors"]
    f_of: dict[tuple[float, float], np.ndarray] = {}  # (first, last hour) -> hourly factors
    for m, rows in steps_of.items():
        if m not in runs:
            continue
        parts = runs[m]
        if len(parts) == 1:
            t, p = t_all[parts[0][0] : parts[0][1]], p_all[parts[0][0] : parts[0][1]]
        else:
            t = np.concatenate([t_all[a:b] for a, b in parts])
            p = np.concatenate([p_all[a:b] for a, b in parts])
        dt = np.diff(t)
        if (dt <= 0).any():  # out of order or repeated: sort, keep the first of a time
            o = np.argsort(t, kind="stable")
            t, p = t[o], p[o]
            keep = np.r_[True, t[1:] != t[:-1]]
            t, p = t[keep], p[keep]
            dt = np.diff(t)
        e = np.empty(t.size)  # energy [kWh] from the first sample to each sample
        e[0] = 0.0
        np.cumsum(p[:-1] * dt, out=e[1:])
        e /= 3600.0

        # cumulative energy and CO2e at the boundaries of the hours the samples span;
        # the factors of those hours, looked up once per span (meters mostly share one)
        span = (np.floor(t[0] / 3600.0) * 3600.0, np.floor(t[-1] / 3600.0) * 3600.0)
        edges = np.arange(span[0], span[1] + 7200.0, 3600.0)
        f = f_of.get(span)
        if f is None:
            f = f_of[span] = factors.electricity_location_kg_per_kwh(edges[:-1])
        e_edge = _energy_at(t, p, e, edges)
        c_edge = np.empty(edges.size)
        c_edge[0] = 0.0
        np.cumsum(np.diff(e_edge) * f, out=c_edge[1:])

        start, end = batch.step_start[rows], batch.step_end[rows]
        e0, e1 = _energy_at(t, p, e, start), _energy_at(t, p, e, end)
        # CO2e: up to the hour's boundary, then the hour's factor on the rest
        h_s, h_e = (
            np.clip(np.searchsorted(edges, x, side="right") - 1, 0, f.size - 1)
            for x in (start, end)
        )
        c0 = c_edge[h_s] + f[h_s] * (e0 - e_edge[h_s])
        c1 = c_edge[h_e] + f[h_e] * (e1 - e_edge[h_e])
        kwh, co2e = e1 - e0, c1 - c0
        assets = inputs["measures"][m]
        if len(assets) > 1:  # the asset's expected power over the meter's, at the midpoint
            mid = 0.5 * (start + end)
            expected = []
            for a in assets:
                lo = np.searchsorted(st_asset, a, "left")
                hi = np.searchsorted(st_asset, a, "right")
                k = np.searchsorted(st_t[lo:hi], mid, side="right") - 1
                state = np.where(k >= 0, st_code[lo:hi][np.maximum(k, 0)], 0)
                expected.append(inputs["power_kw"][a][state])
            total = np.sum(expected, axis=0)
            mine = np.select([batch.step_asset[rows] == a for a in assets], expected)
            share = np.divide(mine, total, out=np.full(rows.size, 1 / len(assets)), where=total > 0)
            kwh, co2e = kwh * share, co2e * share
        s_kwh[rows], s_co2e[rows] = kwh, co2e
    # per order
    ok = pd.notna(s_meter)
    ocode, orders = pd.factorize(batch.step_order[ok])
    o_kwh = np.bincount(ocode, weights=s_kwh[ok], minlength=len(orders)).tolist()
    o_co2e = np.bincount(ocode, weights=s_co2e[ok], minlength=len(orders)).tolist()
    return {
        o: {"energy_kwh": e, "co2e_kg": c}
        for o, e, c in zip(np.asarray(orders, dtype=object).tolist(), o_kwh, o_co2e, strict=True)
    }


#: seconds each carbontwin run spent building the footprint records (after attribute())
_RECORDS_S: list[float] = []


class _FullCollections:
    """A ``gc.callbacks`` entry counting the full (generation 2) garbage collections that
    start while each side's timed run is on (``running``: the side, or "")."""

    def __init__(self) -> None:
        self.running = ""
        self.count = {"carbontwin": 0, "peer": 0}

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info.get("generation") == 2 and self.running:
            self.count[self.running] += 1


def _carbontwin(factory: Factory, batch: EventBatch, factors: FactorSet) -> Attribution:
    """All the work a user waits for: attribution and every footprint record built."""
    res = attribute(factory, batch, factors, Rules())
    t0 = time.perf_counter()
    for _ in res.footprints.values():
        pass
    _RECORDS_S.append(time.perf_counter() - t0)
    return res


def _timed(fn: Any, repeat: int) -> tuple[Any, list[float], list[float]]:
    walls, cpus, out = [], [], None
    for _ in range(max(1, repeat)):
        out = None  # free the previous result before timing the next run
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, walls, cpus


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="a few seconds, for the test suite")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs (the median is reported)")
    args = ap.parse_args(argv)
    cells, seconds, steps = (2, 6 * 3600, 40) if args.small else (25, 86400, 100)
    load0 = os.getloadavg()
    g0 = time.perf_counter()
    factory, batch, meter_of = build(cells, seconds, steps)
    gen_s = time.perf_counter() - g0
    factors = FactorSet.default(factory)
    inputs = peer_inputs(factory, factors)
    n = int(batch.power_t.size)
    # interleave the two so that a change in the machine's load hits both alike
    walls: list[float] = []
    cpus: list[float] = []
    p_walls: list[float] = []
    p_cpus: list[float] = []
    res: Attribution | None = None
    by_peer: dict[str, dict[str, float]] = {}
    full_gc = _FullCollections()
    gc.callbacks.append(full_gc)
    for _ in range(max(1, args.repeat)):
        res = None  # each side's previous result is freed before its next timed run
        full_gc.running = "carbontwin"
        res, w, c = _timed(lambda: _carbontwin(factory, batch, factors), 1)
        walls += w
        cpus += c
        by_peer = {}
        full_gc.running = "peer"
        by_peer, w, c = _timed(lambda: peer(batch, inputs), 1)
        full_gc.running = ""
        p_walls += w
        p_cpus += c
    gc.callbacks.remove(full_gc)
    assert res is not None
    wall, cpu, p_wall, p_cpu = (float(np.median(x)) for x in (walls, cpus, p_walls, p_cpus))
    # the two methods agree on what both compute: setup + processing energy and its
    # location-based CO2e of each order on the machines' own meters (carbontwin's direct
    # pieces, not utilities or idle)
    pc = res.pieces
    direct = pc[(pc["via"] == "occupying_order") & pc["state"].isin(["SETUP", "PROCESSING"])]
    own = (
        direct[direct["asset"] == direct["served_asset"]]
        .groupby("order", observed=True)[["energy_kwh", "co2e_kg"]]
        .sum()
    )
    # orders alone on a machine with a meter of its own (a batch furnace shares its window)
    single = {m for m, assets in inputs["measures"].items() if len(assets) == 1}
    batch_machines = {m.id for m in factory.machines if m.capacity > 1}
    on_single = {
        o
        for o, a in zip(batch.step_order, batch.step_asset, strict=True)
        if meter_of.get(a) in single and a not in batch_machines
    }
    diffs = [
        abs(by_peer[o][k] - (float(own.at[o, k]) if o in own.index else 0.0))
        / max(by_peer[o][k], 1e-9)
        for o in on_single
        if o in by_peer
        for k in ("energy_kwh", "co2e_kg")
    ]
    compared = len(diffs) // 2
    # what both sides spend finding each meter's samples (the same function), on its own
    runs_s = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        group_rows(batch.power_meter)
        runs_s.append(time.perf_counter() - t0)
    metered = sum(res.metered_kwh.values())
    orders_kwh = sum(fp.energy_kwh for fp in res.footprints.values())
    balance = abs(orders_kwh + res.overhead_kwh - res.total_kwh) / res.total_kwh
    load1 = os.getloadavg()
    sps, psps = n / wall, n / p_wall
    out = {
        "samples": n,
        "samples_per_s": round(sps),
        "peer_samples_per_s": round(psps),
        "ratio": round(sps / psps, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "carbontwin_s_median": round(wall, 4),
        "carbontwin_cpu_s_median": round(cpu, 4),
        "carbontwin_records_s_median": round(float(np.median(_RECORDS_S)), 4),
        "peer_s_median": round(p_wall, 4),
        # means spread each side's full garbage collections over its runs
        "carbontwin_s_mean": round(float(np.mean(walls)), 4),
        "peer_s_mean": round(float(np.mean(p_walls)), 4),
        "peer_cpu_s_median": round(p_cpu, 4),
        "ratio_cpu": round(p_cpu / cpu, 3),
        "runs": len(walls),
        "full_gc_carbontwin": full_gc.count["carbontwin"],
        "full_gc_peer": full_gc.count["peer"],
        "order_steps": int(batch.step_start.size),
        "orders": len(res.footprints),
        "peer_orders": len(by_peer),
        "meters": len(factory.meters),
        "metered_kwh": round(metered, 3),
        "balance_rel_error": balance,
        "peer_vs_carbontwin_max_rel_diff": max(diffs, default=0.0),
        "orders_compared": compared,
        "peer_finding_runs_s_median": round(float(np.median(runs_s)), 4),
        "generate_s": round(gen_s, 2),
        "cpu": _CPU,
        "loadavg_before": [round(x, 2) for x in load0],
        "loadavg_after": [round(x, 2) for x in load1],
    }
    print(
        f"attribution: {n:,} samples, {out['order_steps']:,} order steps, "
        f"{len(res.footprints):,} footprints in {wall:.3f} s median of {len(walls)} on CPU "
        f"{_CPU} ({sps / 1e6:.1f} M samples/s, records included); peer (numpy per meter, "
        f"all samples): {p_wall:.3f} s ({psps / 1e6:.1f} M samples/s); ratio {sps / psps:.2f}; "
        f"the two agree within {out['peer_vs_carbontwin_max_rel_diff']:.1e} on "
        f"{compared:,} orders (energy and CO2e); load average {load0[0]:.2f}",
        file=sys.stderr,
    )
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
