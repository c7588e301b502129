"""The plant views on a store whose whole history is past ``max_history_events`` but whose
last day is not: the page shows the last day of stored events (and says so) instead of
refusing; its figures are the API's for that span, fetched separately."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import unquote

import pytest
from demo_store import copy_demo_store

from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store

pytestmark = pytest.mark.browser

WEEK = 7 * 86400.0
#: the demo store holds 16,986 events; with its readings and states again a week later
#: (below) about twice that: past this limit, while the periods of its last day hold
#: fewer (the API is asked below)
SERVER_SETTINGS = {"max_history_events": 20_000}


@pytest.fixture(scope="module")
def demo_store(demo_store, tmp_path_factory):
    """A copy of the demo store with the demo's power readings and states again a week
    later (no orders then)."""
    copied = copy_demo_store(demo_store, tmp_path_factory.mktemp("span-fallback-store"))
    url = copied["url"]
    with Store.open(url) as store:
        ev = store.read_events()
        later = EventBatch(
            state_asset=ev.state_asset,
            state_t=ev.state_t + WEEK,
            state=ev.state,
            power_meter=ev.power_meter,
            power_t=ev.power_t + WEEK,
            power_kw=ev.power_kw,
        )
        assert store.write_events(later) == len(ev.state_t) + len(ev.power_t)
    return copied


def f2(x: float) -> str:
    return f"{x:,.2f}"


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _shown(page, view: str, kpi: str) -> tuple[str, str]:
    """Open ``view`` without a span; the span the page then shows (from its address)."""
    page.clear()
    page.page.evaluate("h => { location.hash = h; }", view)
    page.page.wait_for_function(
        "document.querySelector('#view').dataset.ready === 'true' && "
        f"document.querySelector('[data-kpi={kpi}]') !== null"
    )
    _, start, end = page.page.evaluate("location.hash").split("/")
    return unquote(start), unquote(end)


def test_the_flow_page_falls_back_to_the_last_day(page, api):
    assert api.get("plant/energy-flow").status_code == 413
    ext = api.get("events/extent").json()
    last = _when(ext["last"])
    assert last - _when(ext["first"]) > timedelta(days=7)
    # the page's address names the span shown: the day up to the last stored event
    start, end = _shown(page, "#flow", "total_kwh")
    assert abs((_when(end) - last).total_seconds()) < 1e-3
    assert abs((_when(end) - _when(start)) - timedelta(days=1)) < timedelta(milliseconds=1)
    note = page.page.inner_text("#span-note")
    assert "more than 20,000 events" in note
    assert f"Shown: the last day of stored events, {start} to {end}." in note
    assert page.page.input_value("#span-form input[name=start]") == start[:16]
    flow = api.get("plant/energy-flow", params={"start": start, "end": end})
    assert flow.status_code == 200, flow.text
    flow = flow.json()
    assert flow["total_kwh"] > 0
    assert page.page.inner_text("[data-kpi=total_kwh]") == f2(flow["total_kwh"])
    assert page.page.inner_text("[data-kpi=overhead_kwh]") == f2(flow["overhead_kwh"])
    page.page.wait_for_selector("#sankey canvas")
    page.shoot("31-energy-flow-last-day")
    assert all("413" in e for e in page.errors), page.errors


def test_the_hotspots_page_falls_back_too(page, api):
    start, end = _shown(page, "#hotspots", "total_co2e_kg")
    h = api.get("plant/hotspots", params={"start": start, "end": end}).json()
    assert page.page.inner_text("[data-kpi=total_co2e_kg]") == f2(h["total_co2e_kg"])
    assert page.page.locator("#span-note").count() == 1
