"""``/simulations``: a scenario runs in the background; its KPIs come back by job id."""

from __future__ import annotations

import time

from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict


def _wait(client, headers, job_id: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/simulations/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")


def test_scenario_job_runs_and_reports_kpis(api):
    client, headers = api
    assert client.post("/simulations", json={}, headers=headers).status_code == 409  # no factory
    client.put("/factory", json=factory_to_dict(demo_factory()), headers=headers)
    r = client.post(
        "/simulations",
        json={"policy": "fifo", "seed": 2, "orders": ["O-1001", "O-1002"], "sample_period_s": 600},
        headers=headers,
    )
    assert r.status_code == 202
    job = _wait(client, headers, r.json()["id"])
    assert job["status"] == "done", job["error"]
    kpis = job["result"]["kpis"]
    assert kpis["energy_kwh"] > 0
    assert kpis["co2e_kg"] > 0
    assert job["result"]["events"] > 100
    assert sum(job["result"]["energy_kwh_by_machine"].values()) > 0


def test_failing_scenarios_end_failed_with_a_reason(api):
    client, headers = api
    client.put("/factory", json=factory_to_dict(demo_factory()), headers=headers)
    r = client.post("/simulations", json={"policy": "no-such-policy"}, headers=headers)
    job = _wait(client, headers, r.json()["id"])
    assert job["status"] == "failed"
    assert "no-such-policy" in job["error"]
    r = client.post("/simulations", json={"orders": ["O-404"]}, headers=headers)
    job = _wait(client, headers, r.json()["id"])
    assert job["status"] == "failed"
    assert "O-404" in job["error"]
    r = client.post("/simulations", json={"seed": -1}, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "seed"]
