"""``/schedules``: the stored orders as-is against another schedule, in the simulator.

- ``GET /schedules/policies``: the scheduling policies installed (plugins)
- ``POST /schedules/compare``: simulate the stored orders under the as-is policy
  (FIFO release in the plant's shift calendar) and a candidate, over seeded
  replications paired by seed; answers each schedule's machine states over time
  (replication 0), its hourly electric power, the grid intensity, and every KPI as
  mean ± 95 % confidence half-width (Student t) with the paired difference.

The work is bounded (at most 10 replications) and runs in the request; long
sweeps belong to ``carbontwin simulate`` or ``POST /simulations``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from fastapi import APIRouter
from pydantic import BaseModel, Field

from carbontwin.api._twin import current_factory
from carbontwin.api.deps import ReadDep
from carbontwin.api.errors import Conflict
from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.quantities import from_epoch

router = APIRouter(prefix="/schedules", tags=["schedules"])

BASELINE = "fifo"


class CompareCreate(BaseModel):
    candidate: str = Field("idle_shutdown", min_length=1, max_length=100)
    replications: int = Field(3, ge=2, le=10)
    seed: int = Field(0, ge=0, le=2**32 - 1)


class PoliciesPublic(BaseModel):
    baseline: str
    policies: list[str]


class Stat(BaseModel):
    mean: float | None
    half_width: float | None


class KpiRow(BaseModel):
    kpi: str
    unit: str
    baseline: Stat
    candidate: Stat
    difference: Stat


class Segment(BaseModel):
    machine: str
    state: str
    start: str
    end: str


class SchedulePublic(BaseModel):
    name: str
    segments: list[Segment]
    hours: list[str]
    power_kw: list[float]


class GridPublic(BaseModel):
    hours: list[str]
    g_per_kwh: list[float]


class ComparisonPublic(BaseModel):
    baseline: str
    candidate: str
    replications: int
    seeds: list[list[int]]
    machines: list[str]
    schedules: list[SchedulePublic]
    grid: GridPublic
    kpis: list[KpiRow]


def _iso(t: float) -> str:
    return from_epoch(float(t)).isoformat().replace("+00:00", "Z")


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _stat(s: Any) -> dict[str, float | None]:
    return {"mean": _num(s.mean), "half_width": _num(s.half_width)}


def _schedule(name: str, result: Any) -> dict[str, Any]:
    from carbontwin.simulation.results import _REPORTED

    segments = []
    for machine, tr in result.traces.items():
        if tr.kind != "machine":
            continue
        ends = np.append(tr.t[1:], result.t_end)
        for t0, t1, code in zip(tr.t.tolist(), ends.tolist(), tr.code.tolist(), strict=True):
            if t1 > t0:
                segments.append(
                    {
                        "machine": machine,
                        "state": str(_REPORTED[code]),
                        "start": _iso(t0),
                        "end": _iso(t1),
                    }
                )
    width_h = np.diff(result.hour_edges) / 3600.0
    power = np.divide(
        result.hourly_kwh, width_h, out=np.zeros_like(width_h), where=width_h > 0
    ).tolist()
    return {
        "name": name,
        "segments": segments,
        "hours": [_iso(t) for t in result.hour_edges[:-1]],
        "power_kw": power,
    }


@router.get("/policies", operation_id="schedule_policies", response_model=PoliciesPublic)
def schedule_policies(_services: ReadDep) -> Any:
    """The as-is policy and every installed policy a schedule can be compared with."""
    from carbontwin.simulation import policy_names

    return {"baseline": BASELINE, "policies": policy_names()}


@router.post("/compare", operation_id="compare_schedules", response_model=ComparisonPublic)
def compare_schedules(body: CompareCreate, services: ReadDep) -> Any:
    """Simulate the stored orders as-is and under ``candidate``; KPIs with 95 % CIs."""
    from carbontwin.simulation import Candidate, Scenario, policy_names, run_scenario
    from carbontwin.simulation.scenario import KPI_UNITS, simulate_one

    if body.candidate not in policy_names():
        msg = f"unknown policy {body.candidate!r}: one of {', '.join(policy_names())}"
        raise CarbonTwinError(msg, field="candidate")
    factory = current_factory(services.store)
    orders = tuple(services.store.list_orders()) or tuple(factory.orders)
    if not orders:
        msg = "no orders stored: PUT /orders or a factory file with orders first"
        raise Conflict(msg, field="orders")
    sc = Scenario(
        name=f"{factory.name}: as-is vs {body.candidate}",
        factory=factory,
        orders=orders,
        baseline=Candidate(BASELINE, BASELINE),
        candidates=(Candidate(body.candidate, body.candidate),),
        replications=body.replications,
        seed=body.seed,
    )
    report = run_scenario(sc, workers=1)
    first = [simulate_one(sc, i, 0) for i in range(len(sc.policies))]
    machines = [m.id for m in factory.machines]
    kpis = []
    for k in report.kpis:
        unit = KPI_UNITS.get(k, "")
        kpis.append(
            {
                "kpi": k,
                "unit": "" if unit == "currency" else unit,
                "baseline": _stat(report.stats[BASELINE][k]),
                "candidate": _stat(report.stats[body.candidate][k]),
                "difference": _stat(report.diffs[body.candidate][k]),
            }
        )
    grid = first[0]
    return {
        "baseline": BASELINE,
        "candidate": body.candidate,
        "replications": body.replications,
        "seeds": report.seeds,
        "machines": machines,
        "schedules": [_schedule(c.name, r) for c, r in zip(sc.policies, first, strict=True)],
        "grid": {
            "hours": [_iso(t) for t in grid.hour_edges[:-1]],
            "g_per_kwh": (np.asarray(grid.grid_kg_per_kwh) * 1000.0).tolist(),
        },
        "kpis": kpis,
    }
