"""Simulator speed: carbontwin's SimPy factory against a bare SimPy model of the same shop.

    python benchmarks/simulation.py [--small] [--repeat N]

1. Flow shop: 20 machines in 5 stages of 4, 5,000 orders of 8 products, 5
   operations each, lognormal processing times (cv 0.3), Poisson releases at
   85 % load. Run once as a bare SimPy model (one ``simpy.Resource`` per
   machine, one process per order, no energy) and once through
   ``carbontwin.simulation.simulate`` with energy accounting on (state
   changes, a meter per machine sampled at every change and every 60 s, order
   steps, the twin's EventBatch, energy per machine, hourly CO2e and cost),
   with the same processing times (``processing_times`` for the same seed).
2. Large case: 50 machines in 5 stages of 10, 20,000 orders over 30 days,
   through carbontwin.

The last line printed is JSON:
``{"bare_simpy_s", "carbontwin_s", "ratio", "large_case_s", ...}``.
Targets: ratio <= 1.3, large_case_s <= 10. ``--small`` shrinks both cases
(for the test suite).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import simpy

from carbontwin.simulation.sim import processing_times, simulate
from carbontwin.twin.model import (
    Factory,
    Line,
    Machine,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    Site,
    State,
)

T0 = datetime(2019, 3, 4, tzinfo=UTC)


def flow_shop(
    n_machines: int,
    n_orders: int,
    n_ops: int,
    days: float | None = None,
    load: float = 0.85,
    seed: int = 7,
) -> Factory:
    """``n_ops`` stages of ``n_machines / n_ops`` machines; each product visits one per stage."""
    per_stage = n_machines // n_ops
    n_products = 2 * per_stage
    rng = np.random.default_rng(seed)
    power = PowerModel(
        {
            State.OFF: 0.0,
            State.STANDBY: 1.0,
            State.IDLE: 4.0,
            State.SETUP: 5.0,
            State.PROCESSING: 15.0,
            State.FAULT: 1.0,
        },
        warmup_s=600.0,
        warmup_energy_kwh=1.0,
    )
    machines = tuple(
        Machine(f"m{i:02d}", f"machine {i}", "line", "cnc", power) for i in range(n_machines)
    )
    # orders spread evenly: each machine serves 2 products, i.e. 1/per_stage of the orders
    horizon_s = days * 86400.0 if days else None
    if horizon_s is None:
        mean_p = 600.0
        gap = mean_p / (per_stage * load)
    else:
        gap = horizon_s / n_orders
        mean_p = load * per_stage * gap
    products = []
    for k in range(n_products):
        routing = tuple(
            Operation(
                f"op{s}",
                machines[s * per_stage + (k + s) % per_stage].id,
                0.0,
                mean_p * float(rng.uniform(0.8, 1.2)),
            )
            for s in range(n_ops)
        )
        products.append(Product(f"p{k}", f"product {k}", routing))
    releases = np.cumsum(rng.exponential(gap, n_orders))
    kinds = rng.integers(0, n_products, n_orders)
    orders = tuple(
        Order(
            f"o{i:05d}",
            f"p{kinds[i]}",
            1.0,
            T0 + timedelta(seconds=float(releases[i])),
            T0 + timedelta(seconds=float(releases[i]) + 20 * n_ops * mean_p),
        )
        for i in range(n_orders)
    )
    meters = tuple(Meter(f"M-{m.id}", f"meter {m.id}", (m.id,)) for m in machines)
    return Factory(
        "bench",
        "flow shop",
        Site("s", "site", "DE", "UTC", "DE"),
        lines=(Line("line", "line", "s"),),
        machines=machines,
        meters=meters,
        products=tuple(products),
        orders=orders,
    )


def bare_simpy(factory: Factory, times: np.ndarray) -> tuple[float, float]:
    """The same shop in plain SimPy: Resources, one process per order. -> (makespan s, wall s)."""
    t_start = time.perf_counter()
    t0 = factory.orders[0].release.timestamp()
    env = simpy.Environment()
    res = {m.id: simpy.Resource(env, capacity=1) for m in factory.machines}
    routes = {p.id: [res[op.machine] for op in p.routing] for p in factory.products}
    done = [0.0]

    def job(env: simpy.Environment, route: list[simpy.Resource], pts: np.ndarray):
        for r, pt in zip(route, pts.tolist(), strict=True):
            with r.request() as req:
                yield req
                yield env.timeout(pt)
        done[0] = max(done[0], env.now)

    def source(env: simpy.Environment):
        for i, o in enumerate(factory.orders):
            rel = o.release.timestamp() - t0
            if rel > env.now:
                yield env.timeout(rel - env.now)
            env.process(job(env, routes[o.product], times[i]))

    env.process(source(env))
    env.run()
    return done[0], time.perf_counter() - t_start


def run_carbontwin(factory: Factory, seed: int, cv: float) -> tuple[float, float, int]:
    """-> (makespan s, wall s, number of events)."""
    t_start = time.perf_counter()
    res = simulate(
        factory,
        None,
        "fifo",
        seed,
        sample_period_s=60.0,
        processing_cv=cv,
        breakdowns=False,
        grid="DE_2019",
    )
    wall = time.perf_counter() - t_start
    return res.kpis["makespan_h"] * 3600.0, wall, len(res.events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="small cases, for the test suite")
    ap.add_argument("--repeat", type=int, default=5, help="best of N runs for the flow shop")
    args = ap.parse_args()
    seed, cv = 2019, 0.3
    if args.small:
        flow = flow_shop(20, 400, 5)
        large = flow_shop(50, 1000, 5, days=2.0)
    else:
        flow = flow_shop(20, 5000, 5)
        large = flow_shop(50, 20000, 5, days=30.0)
    times = processing_times(flow, None, seed, cv)
    bare_s, ct_s = [], []
    for _ in range(max(1, args.repeat)):
        bare_mk, b = bare_simpy(flow, times)
        ct_mk, c, n_events = run_carbontwin(flow, seed, cv)
        bare_s.append(b)
        ct_s.append(c)
    t_large = time.perf_counter()
    large_mk, _, large_events = run_carbontwin(large, seed, cv)
    large_s = time.perf_counter() - t_large
    print(
        f"flow shop {len(flow.machines)} machines x {len(flow.orders)} orders x 5 ops: "
        f"bare SimPy {min(bare_s):.3f} s (makespan {bare_mk / 3600:.2f} h), carbontwin "
        f"{min(ct_s):.3f} s (makespan {ct_mk / 3600:.2f} h, {n_events} events)"
    )
    print(
        f"large case {len(large.machines)} machines x {len(large.orders)} orders: "
        f"{large_s:.3f} s ({large_events} events, makespan {large_mk / 86400:.1f} d)"
    )
    print(
        json.dumps(
            {
                "bare_simpy_s": round(min(bare_s), 4),
                "carbontwin_s": round(min(ct_s), 4),
                "ratio": round(min(ct_s) / min(bare_s), 3),
                "large_case_s": round(large_s, 4),
                "bare_makespan_h": round(bare_mk / 3600, 4),
                "carbontwin_makespan_h": round(ct_mk / 3600, 4),
                "small": bool(args.small),
            }
        )
    )


if __name__ == "__main__":
    main()
