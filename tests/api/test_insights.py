"""Routes the dashboard reads: plant graph, energy flow, hotspots, breakdowns, schedules.

Expected values come from elsewhere: the issued footprint records (their own
breakdowns, aggregated in the attribution engine), the factory model, and
the simulator run directly with the same seeds.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from api_helpers import get_token, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app


@pytest.fixture(scope="module")
def demo(tmp_path_factory, demo_store):
    tmp = tmp_path_factory.mktemp("insights")
    built = demo_store
    app = create_app(make_settings(tmp, database_url=built["url"]))
    with TestClient(app, base_url="https://testserver") as client:
        headers = {"Authorization": f"Bearer {get_token(client)}"}

        def get(url, **kw):
            r = client.get(url, headers=headers, **kw)
            assert r.status_code == 200, (url, r.text)
            return r.json()

        yield client, headers, get, built


def test_plant_graph_has_every_asset_and_relation(demo):
    _, _, get, built = demo
    f = built["day"].factory
    g = get("/plant/graph")
    kinds = Counter(n["kind"] for n in g["nodes"])
    assert kinds["machine"] == len(f.machines)
    assert kinds["meter"] == len(f.meters)
    assert kinds["utility"] == len(f.utilities)
    assert kinds["line"] == len(f.lines)
    relations = Counter(e["kind"] for e in g["edges"])
    assert relations["measures"] == sum(len(m.measures) for m in f.meters)
    assert relations["serves"] == sum(len(u.serves) for u in f.utilities)
    parents = {n["id"]: n["parent"] for n in g["nodes"]}
    for m in f.machines:
        assert parents[m.id] == m.line


def test_energy_flow_links_add_up_to_orders_and_meters(demo):
    _, _, get, built = demo
    flow = get("/plant/energy-flow")
    issued = {fp.order: fp for fp in built["issued"]}
    kinds = {n["id"]: n["kind"] for n in flow["nodes"]}
    into = Counter()
    out_of_meters = Counter()
    for link in flow["links"]:
        if kinds[link["target"]] in ("order", "overhead"):
            into[link["target"]] += link["energy_kwh"]
        if kinds[link["source"]] == "meter":
            out_of_meters[link["source"]] += link["energy_kwh"]
    for order, fp in issued.items():
        assert into[order] == pytest.approx(fp.energy_kwh, rel=1e-9), order
    assert into["overhead"] == pytest.approx(built["result"].overhead_kwh, rel=1e-9)
    for meter, kwh in built["result"].metered_kwh.items():
        assert out_of_meters[meter] == pytest.approx(kwh, rel=1e-9), meter
    assert flow["orders_kwh"] + flow["overhead_kwh"] == pytest.approx(flow["total_kwh"], rel=1e-9)


@pytest.mark.parametrize(
    ("by", "field"),
    [("machine", "energy_by_asset_kwh"), ("state", "energy_by_state_kwh")],
)
def test_breakdown_of_an_order_matches_its_footprint_record(demo, by, field):
    _, _, get, built = demo
    for fp in built["issued"][:4]:
        b = get(f"/breakdowns/{by}", params={"order": fp.order})
        got = {r[by]: r["energy_kwh"] for r in b["rows"]}
        want = dict(getattr(fp, field))
        if by == "machine":
            machines = {m.id for m in built["day"].factory.machines}
            want = {k: v for k, v in want.items() if k in machines}
        assert got == pytest.approx(want, rel=1e-9), fp.order
        assert {r["order"] for r in b["rows"]} == {fp.order}


def test_material_scope_and_hour_breakdowns(demo):
    _, _, get, built = demo
    fp = built["issued"][0]
    mats = get("/breakdowns/material", params={"order": fp.order})["rows"]
    got = Counter()
    for r in mats:
        got[r["material"]] += r["co2e_kg"]
    assert dict(got) == pytest.approx(dict(fp.co2e_by_material_kg), rel=1e-9)
    scope = {
        r["scope"]: r["co2e_kg"]
        for r in get("/breakdowns/scope", params={"order": fp.order})["rows"]
    }
    assert scope == pytest.approx(
        {
            "1": fp.scope1_kg,
            "2 location-based": fp.scope2_location_kg,
            "2 market-based": fp.scope2_market_kg,
            "3": fp.scope3_kg,
        }
    )
    hours = get("/breakdowns/hour", params={"order": fp.order})["rows"]
    assert sum(r["co2e_kg"] for r in hours) == pytest.approx(
        fp.scope1_kg + fp.scope2_location_kg, rel=1e-9
    )
    starts = [r["hour_start_utc"] for r in hours]
    assert all(s.endswith(":00:00Z") for s in starts)
    assert starts == sorted(starts)


def test_breakdown_summary_shares_add_up(demo):
    _, _, get, built = demo
    b = get("/breakdowns/machine")
    assert sum(r["share"] for r in b["summary"]) == pytest.approx(1.0)
    total = sum(r["energy_kwh"] for r in b["rows"] if r["order"] != "overhead")
    assert sum(r["orders_kwh"] for r in b["summary"]) == pytest.approx(total, rel=1e-12)


def test_breakdown_errors_name_the_field(demo):
    client, headers, _, _ = demo
    r = client.get("/breakdowns/colour", headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "by"
    r = client.get("/breakdowns/machine", params={"order": "O-9999"}, headers=headers)
    assert r.status_code == 404
    assert "O-9999" in r.text
    assert client.get("/plant/hotspots").status_code == 401


def test_hotspots_cover_all_energy_emissions(demo):
    _, _, get, built = demo
    h = get("/plant/hotspots", params={"limit": 100})
    res = built["result"]
    want = sum(fp.scope1_kg + fp.scope2_location_kg for fp in built["issued"])
    want += res.overhead_co2e_kg
    assert h["total_co2e_kg"] == pytest.approx(want, rel=1e-9)
    assert sum(s["co2e_kg"] for s in h["states"]) == pytest.approx(want, rel=1e-9)
    co2e = [m["co2e_kg"] for m in h["machines"]]
    assert co2e == sorted(co2e, reverse=True)
    by_machine = {m["key"]: m for m in h["machines"]}
    for idle in h["idle"]:
        assert idle["co2e_kg"] <= by_machine[idle["key"]]["co2e_kg"] + 1e-9
    # the orders' part of a machine's hotspot: its own energy in the order records
    # plus the utilities' share it drew, so at least the records' machine part
    for m, hs in by_machine.items():
        own = sum(fp.co2e_by_asset_kg.get(m, 0.0) for fp in built["issued"])
        assert hs["orders_co2e_kg"] >= own - 1e-9, m


def test_schedule_comparison_agrees_with_the_simulator(demo):
    from carbontwin.simulation import simulate

    client, headers, get, built = demo
    assert "idle_shutdown" in get("/schedules/policies")["policies"]
    r = client.post(
        "/schedules/compare",
        json={"candidate": "idle_shutdown", "replications": 2},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    f, orders = built["day"].factory, built["day"].orders
    runs = {
        p: [simulate(f, orders, p, [0, rep], sample_period_s=300.0) for rep in range(2)]
        for p in ("fifo", "idle_shutdown")
    }
    kpis = {k["kpi"]: k for k in doc["kpis"]}
    for kpi in ("energy_kwh", "co2e_kg", "makespan_h"):
        base = [run.kpis[kpi] for run in runs["fifo"]]
        cand = [run.kpis[kpi] for run in runs["idle_shutdown"]]
        assert kpis[kpi]["baseline"]["mean"] == pytest.approx(np.mean(base), rel=1e-9), kpi
        assert kpis[kpi]["candidate"]["mean"] == pytest.approx(np.mean(cand), rel=1e-9), kpi
        diff = np.subtract(cand, base)
        assert kpis[kpi]["difference"]["mean"] == pytest.approx(diff.mean(), rel=1e-9, abs=1e-9)
        # Student t, 1 degree of freedom: t(0.975) = 12.706
        hw = 12.7062 * diff.std(ddof=1) / np.sqrt(2)
        assert kpis[kpi]["difference"]["half_width"] == pytest.approx(hw, rel=1e-4, abs=1e-9)
    # the Gantt: every machine's segments follow each other without gaps
    sched = doc["schedules"][0]
    for machine in doc["machines"]:
        segs = [s for s in sched["segments"] if s["machine"] == machine]
        assert segs, machine
        for a, b in zip(segs, segs[1:], strict=False):
            assert a["end"] == b["start"], machine
    # hourly power: energy of the run equals the simulator's hourly kWh
    run0 = runs["fifo"][0]
    width_h = np.diff(run0.hour_edges) / 3600.0
    assert np.asarray(sched["power_kw"]) @ width_h == pytest.approx(run0.hourly_kwh.sum(), rel=1e-9)
    bad = client.post("/schedules/compare", json={"candidate": "nope"}, headers=headers)
    assert bad.status_code in (400, 422)
    assert "nope" in bad.text
