"""Each dashboard page in a real browser, on the demo store: it loads with no console
error, requests nothing from outside the app, shows the API's numbers, and leaves a
screenshot. The expected numbers are the API's JSON, fetched separately and
formatted the way the command line formats them (en-US, 2 decimals)."""

from __future__ import annotations

from collections import Counter

import pytest

pytestmark = pytest.mark.browser


def f2(x: float) -> str:
    return f"{x:,.2f}"


def _cells(page, selector: str, col: str) -> list[str]:
    return page.page.locator(f"{selector} tbody td[data-col='{col}']").all_inner_texts()


def _kpi(page, name: str) -> str:
    return page.page.locator(f"[data-kpi='{name}']").inner_text()


def test_orders_page_shows_the_issued_footprints(page, api):
    page.open("#orders")
    fps = sorted(
        api.get("footprints", params={"latest_only": True}).json(), key=lambda f: f["order"]
    )
    assert len(fps) >= 5
    assert _cells(page, "#orders", "order") == [f["order"] for f in fps]
    assert _cells(page, "#orders", "co2e_kg") == [f2(f["co2e_kg"]) for f in fps]
    assert _cells(page, "#orders", "energy_kwh") == [f2(f["energy_kwh"]) for f in fps]
    assert _cells(page, "#orders", "scope3_kg") == [f2(f["scope3_kg"]) for f in fps]
    assert _cells(page, "#orders", "co2e_per_unit_kg") == [
        f"{f['co2e_kg'] / f['quantity']:,.4f}" for f in fps
    ]
    assert _kpi(page, "co2e_kg") == f2(sum(f["co2e_kg"] for f in fps))
    page.page.wait_for_selector("#bars canvas")
    page.shoot("01-orders")
    page.check_clean()


@pytest.mark.parametrize("by", ["machine", "state", "utility", "material", "scope", "hour"])
def test_order_drill_down(page, api, by):
    fps = sorted(
        api.get("footprints", params={"latest_only": True}).json(), key=lambda f: f["order"]
    )
    fp = fps[1]
    page.open(f"#order/{fp['order']}/{by}")
    assert _kpi(page, "co2e_kg") == f2(fp["co2e_kg"])
    assert _kpi(page, "scope2_location_kg") == f2(fp["scope2_location_kg"])
    rows = api.get(f"breakdowns/{by}", params={"order": fp["order"]}).json()["rows"]
    assert rows
    assert _cells(page, "#breakdown", "co2e_kg") == [f2(r["co2e_kg"]) for r in rows]
    if by not in ("material", "scope"):
        assert _cells(page, "#breakdown", "energy_kwh") == [f2(r["energy_kwh"]) for r in rows]
    flags = page.page.locator("#flags")
    if fp["flags"]:
        assert flags.locator("li").all_inner_texts() == fp["flags"]
    else:
        assert "No data-quality flags" in flags.inner_text()
    page.page.wait_for_selector("#breakdown-chart canvas")
    if by in ("machine", "hour"):
        page.shoot(f"02-order-{fp['order']}-by-{by}")
    page.check_clean()


def test_plant_page_shows_the_twin_graph(page, api):
    page.open("#plant")
    g = api.get("plant/graph").json()
    kinds = Counter(n["kind"] for n in g["nodes"])
    shown = dict(
        zip(
            page.page.locator("#node-counts tbody td:first-child").all_inner_texts(),
            _cells(page, "#node-counts", "count"),
            strict=True,
        )
    )
    assert shown == {k: str(v) for k, v in kinds.items()}
    relations = Counter(e["kind"] for e in g["edges"])
    assert sorted(_cells(page, "#edge-counts", "count"), key=int) == sorted(
        (str(v) for v in relations.values()), key=int
    )
    page.page.wait_for_selector("#graph canvas")
    page.shoot("03-plant")
    page.check_clean()


def test_energy_flow_page(page, api):
    page.open("#flow")
    flow = api.get("plant/energy-flow").json()
    assert _kpi(page, "total_kwh") == f2(flow["total_kwh"])
    assert _kpi(page, "orders_kwh") == f2(flow["orders_kwh"])
    assert _kpi(page, "overhead_kwh") == f2(flow["overhead_kwh"])
    links = sorted(flow["links"], key=lambda link: -link["energy_kwh"])
    assert _cells(page, "#links", "energy_kwh") == [f2(link["energy_kwh"]) for link in links]
    page.page.wait_for_selector("#sankey canvas")
    page.shoot("04-energy-flow")
    page.check_clean()


def test_hotspots_page(page, api):
    page.open("#hotspots")
    h = api.get("plant/hotspots").json()
    assert _kpi(page, "total_co2e_kg") == f2(h["total_co2e_kg"])
    for part in ("machines", "states", "idle"):
        assert _cells(page, f"#{part}", "key") == [x["key"] for x in h[part]], part
        assert _cells(page, f"#{part}", "co2e_kg") == [f2(x["co2e_kg"]) for x in h[part]], part
    page.shoot("05-hotspots")
    page.check_clean()


def test_schedules_page_compares_as_is_with_idle_shutdown(page, api):
    page.open("#schedules")
    page.page.wait_for_selector("#kpis", timeout=120_000)
    doc = api.post(
        "schedules/compare", json={"candidate": "idle_shutdown", "replications": 3}
    ).json()

    def pm(s):
        return (
            f2(s["mean"]) if s["half_width"] is None else f"{f2(s['mean'])} ± {f2(s['half_width'])}"
        )

    assert page.page.locator("#kpis tbody td:first-child").all_inner_texts() == [
        k["kpi"] for k in doc["kpis"]
    ]
    assert _cells(page, "#kpis", "baseline") == [pm(k["baseline"]) for k in doc["kpis"]]
    assert _cells(page, "#kpis", "candidate") == [pm(k["candidate"]) for k in doc["kpis"]]
    assert _cells(page, "#kpis", "difference") == [pm(k["difference"]) for k in doc["kpis"]]
    page.page.wait_for_selector("#gantt canvas")
    page.page.wait_for_selector("#power canvas")
    page.shoot("06-schedules")
    page.check_clean()


def test_label_viewer_verifies_the_signature(page, api):
    fps = sorted(
        api.get("footprints", params={"latest_only": True}).json(), key=lambda f: f["order"]
    )
    fp = fps[0]
    page.open(f"#labels/{fp['order']}")
    page.page.wait_for_selector("[data-verify=label]")
    stored = page.page.locator("[data-verify=footprint]")
    assert stored.get_attribute("data-valid") == "true"
    want = api.get(f"footprints/{fp['id']}/verify").json()
    assert want["valid"] is True
    assert page.page.locator("td[data-col=key_id]").first.inner_text() == want["key_id"]
    assert page.page.locator("td[data-col=sha256]").first.inner_text() == want["sha256"]
    assert page.page.locator("[data-verify=label]").get_attribute("data-valid") == "true"
    page.page.wait_for_function(
        "() => { const i = document.querySelector('#label-img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    page.shoot("07-labels")
    page.check_clean()


@pytest.mark.parametrize(("path", "ready"), [("docs", ".swagger-ui .info"), ("redoc", "h1")])
def test_api_docs_render_offline(fresh_page, path, ready):
    p = fresh_page.page
    p.goto(f"{fresh_page.base}/{path}")
    p.wait_for_selector(ready, timeout=20_000)
    assert "carbontwin" in p.locator(ready).first.inner_text()
    p.wait_for_load_state("networkidle")
    fresh_page.shoot(f"08-{path}", full_page=False)
    fresh_page.check_clean()
    assert any(u.endswith("/openapi.json") for u in fresh_page.requests)


def test_a_withdrawn_footprint_is_marked_on_the_orders_and_order_pages(page, api):
    """Last in this module: it withdraws an order's footprint in the shared demo store."""
    fps = sorted(
        api.get("footprints", params={"latest_only": True}).json(), key=lambda f: f["order"]
    )
    order = fps[-1]["order"]
    r = api.post(f"orders/{order}/footprint/withdraw", json={"reason": "order cancelled"})
    assert r.status_code == 200, r.text
    page.open("#orders")
    status = dict(
        zip(_cells(page, "#orders", "order"), _cells(page, "#orders", "status"), strict=True)
    )
    assert status[order] == "withdrawn"
    assert Counter(status.values()) == Counter({"issued": len(fps) - 1, "withdrawn": 1})
    page.open(f"#order/{order}/machine")
    banner = page.page.locator("#withdrawn").inner_text()
    assert banner.startswith("Withdrawn: order cancelled.")
    assert f"version {fps[-1]['version'] + 1} replaces {fps[-1]['id']}" in banner
    page.shoot("09-withdrawn-order")
    page.check_clean()
    page.open(f"#order/{fps[0]['order']}/machine")
    assert page.page.locator("#withdrawn").count() == 0
