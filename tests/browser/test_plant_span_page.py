"""The plant views on a store past ``max_history_events``, its last day too: the page
shows the last hour of stored events and says why; a span picked there past the limit
is refused with the API's message and the form kept, one within it shows that span's
figures (the API's, fetched separately); an order's page still works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

pytestmark = pytest.mark.browser

#: the demo store holds 16,986 events, past this limit, and the periods of its last day
#: 16,976; the span picked below 8,942 (its periods, 05:00-21:00) and the first order's
#: periods 4,441, within it
SERVER_SETTINGS = {"max_history_events": 12_000}


def f2(x: float) -> str:
    return f"{x:,.2f}"


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_a_large_store_shows_its_last_hour_and_a_span_picked_on_the_page(page, api, server):
    _, _, built = server
    assert api.get("plant/energy-flow").status_code == 413
    page.clear()
    page.page.evaluate("h => { location.hash = h; }", "#flow")
    page.page.wait_for_selector("#span-note")
    # the whole history and its last day are past the limit: the page shows the last hour
    last = _when(api.get("events/extent").json()["last"])
    _, a, b = (unquote(x) for x in page.page.evaluate("location.hash").split("/"))
    assert abs((_when(b) - last).total_seconds()) < 1e-3
    assert abs((_when(b) - _when(a)) - timedelta(hours=1)) < timedelta(milliseconds=1)
    day = (last - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert api.get("plant/energy-flow", params={"start": day, "end": b}).status_code == 413
    note = page.page.inner_text("#span-note")
    assert f"Shown: the last hour of stored events, {a} to {b}." in note
    assert "more than 12,000 events" in note
    hour = api.get("plant/energy-flow", params={"start": a, "end": b}).json()
    page.page.wait_for_function("document.querySelector('[data-kpi=total_kwh]') !== null")
    assert page.page.inner_text("[data-kpi=total_kwh]") == f2(hour["total_kwh"])
    # a span picked on the page past the limit: refused, the form kept with the message
    t0 = float(built["day"].events.power_t.min())
    first = datetime.fromtimestamp(t0, UTC)
    page.page.fill("#span-form input[name=start]", first.strftime("%Y-%m-%dT%H:%M"))
    page.page.fill("#span-form input[name=end]", last.strftime("%Y-%m-%dT%H:%M"))
    page.page.click("#span-form button[type=submit]")
    page.page.wait_for_selector("#span-error")
    assert "more than 12,000 events" in page.page.inner_text("#span-error")
    assert page.page.locator("#span-form").count() == 1
    # the first shift of the demo day, from the page's own form
    start = first.replace(hour=6, minute=0, second=0)
    end = start.replace(hour=14)
    page.page.fill("#span-form input[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
    page.page.fill("#span-form input[name=end]", end.strftime("%Y-%m-%dT%H:%M"))
    page.page.click("#span-form button[type=submit]")
    page.page.wait_for_function(
        "document.querySelector('#view').dataset.ready === 'true' && "
        "document.querySelector('[data-kpi=total_kwh]') !== null"
    )
    flow = api.get(
        "plant/energy-flow",
        params={"start": start.isoformat().replace("+00:00", "Z"),
                "end": end.isoformat().replace("+00:00", "Z")},
    ).json()  # fmt: skip
    assert flow["total_kwh"] > 0
    assert page.page.inner_text("[data-kpi=total_kwh]") == f2(flow["total_kwh"])
    assert page.page.inner_text("[data-kpi=orders_kwh]") == f2(flow["orders_kwh"])
    page.page.wait_for_selector("#sankey canvas")
    page.shoot("30-energy-flow-span")
    # the one console error is the browser's note of the refused request
    assert page.errors
    assert all("413" in e for e in page.errors), page.errors


def test_an_orders_page_on_a_large_store(page, api):
    fps = sorted(
        api.get("footprints", params={"latest_only": True}).json(), key=lambda f: f["order"]
    )
    page.open(f"#order/{fps[0]['order']}/machine")
    rows = api.get("breakdowns/machine", params={"order": fps[0]["order"]}).json()["rows"]
    assert rows
    shown = page.page.locator("#breakdown tbody td[data-col='energy_kwh']").all_inner_texts()
    assert shown == [f2(r["energy_kwh"]) for r in rows]
