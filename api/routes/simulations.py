"""``/simulations``: run a scenario in the background; poll for its result.

``POST /simulations`` queues a scenario (policy, seed, orders) on the app's
job pool (threads, ``settings.simulation_workers``) and answers 202 with the
job id; ``GET /simulations/{id}`` gives its status (``queued``, ``running``,
``done``, ``failed``) and, when done, its KPIs and per-machine energy.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from carbontwin.api._twin import current_factory
from carbontwin.api.deps import ReadDep, TenantServices, WriteDep
from carbontwin.api.errors import NotFound
from carbontwin.twin.errors import CarbonTwinError

router = APIRouter(prefix="/simulations", tags=["simulations"])


class ScenarioCreate(BaseModel):
    policy: str = Field(
        "fifo", min_length=1, max_length=100, description="Dispatch policy plugin name"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1)
    orders: list[str] | None = Field(None, description="Order ids to plan; all when omitted")
    sample_period_s: float = Field(60.0, ge=1.0, le=3600.0)


class JobPublic(BaseModel):
    id: str
    status: str
    scenario: dict[str, Any]
    submitted_at: float
    finished_at: float | None = None
    error: str | None = None
    result: dict[str, Any] | None = None


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set):
        return [_jsonable(v) for v in x]
    if hasattr(x, "to_dict"):
        return _jsonable(x.to_dict())
    if hasattr(x, "item") and callable(x.item):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, str | int | float | bool) or x is None:
        return x
    return str(x)


def _run(services: TenantServices, job_id: str, scenario: ScenarioCreate) -> None:
    job = services.jobs[job_id]
    job["status"] = "running"
    try:
        from carbontwin.simulation import simulate

        factory = current_factory(services.store)
        plan = None
        if scenario.orders is not None:
            by_id = {o.id: o for o in services.store.list_orders()}
            by_id.update({o.id: o for o in factory.orders})
            unknown = [o for o in scenario.orders if o not in by_id]
            if unknown:
                msg = f"unknown order(s) {', '.join(unknown)}"
                raise NotFound(msg, field="orders")
            plan = [by_id[o] for o in scenario.orders]
        result = simulate(
            factory, plan, scenario.policy, scenario.seed, sample_period_s=scenario.sample_period_s
        )
        job["result"] = {
            "kpis": _jsonable(getattr(result, "kpis", {})),
            "energy_kwh_by_machine": _jsonable(getattr(result, "energy_kwh_by_machine", {})),
            "events": len(result.events),
        }
        job["status"] = "done"
    except CarbonTwinError as exc:
        job["status"], job["error"] = "failed", exc.message
    except Exception as exc:  # a job must end with a status, never vanish
        job["status"], job["error"] = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        job["finished_at"] = time.time()


@router.post("", operation_id="create_simulation", status_code=202, response_model=JobPublic)
def create_simulation(scenario: ScenarioCreate, services: WriteDep) -> Any:
    """Queue a scenario; poll ``GET /simulations/{id}``."""
    current_factory(services.store)  # fail now, not in the job, when there is no factory
    job_id = str(uuid.uuid4())
    services.add_job(
        {
            "id": job_id,
            "status": "queued",
            "scenario": scenario.model_dump(),
            "submitted_at": time.time(),
            "finished_at": None,
            "error": None,
            "result": None,
        }
    )
    services.pool.submit(_run, services, job_id, scenario)
    return services.jobs[job_id]


@router.get("/{job_id}", operation_id="get_simulation", response_model=JobPublic)
def get_simulation(job_id: str, services: ReadDep) -> Any:
    job = services.jobs.get(job_id)
    if job is None:
        msg = f"no simulation job {job_id!r}"
        raise NotFound(msg, field="job_id")
    return dict(job)
