"""An order's page withdraws and reinstates its footprint, in a real browser, on a copy
of the demo store (the other browser tests read the shared one). What the page shows is
checked against the API's JSON, fetched separately."""

from __future__ import annotations

import pytest
from demo_store import copy_demo_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_store(demo_store, tmp_path_factory):
    """The session's demo store, copied: this module writes to it."""
    return copy_demo_store(demo_store, tmp_path_factory.mktemp("withdraw-store"))


def _versions(api, order: str) -> list[dict]:
    r = api.get(f"orders/{order}/footprint")
    r.raise_for_status()
    return [v["payload"] for v in r.json()["versions"]]


def _active_orders(api) -> list[str]:
    """The orders whose latest footprint is active, in order: the shared store this
    module's copy was made from may have a withdrawn one."""
    orders = sorted(f["order"] for f in api.get("footprints", params={"latest_only": True}).json())
    return [o for o in orders if _versions(api, o)[-1]["status"] == "Active"]


def _submit(page, reason: str, button: str):
    page.page.fill("#status-form input[name=reason]", reason)
    with page.page.expect_response(lambda r: "/footprint/" in r.url and r.request.method == "POST"):
        page.page.click(f"#status-form button:has-text('{button}')")
    page.page.wait_for_function("document.querySelector('#view').dataset.ready === 'true'")


def test_withdraw_then_reinstate_from_the_order_page(page, api):
    order = _active_orders(api)[0]
    before = _versions(api, order)
    assert before[-1]["status"] == "Active"
    page.open(f"#order/{order}")
    assert page.page.locator("#withdrawn").count() == 0
    assert page.page.locator("#status-form").get_attribute("data-act") == "withdraw"

    _submit(page, "order cancelled by the customer", "Withdraw footprint")
    page.page.wait_for_selector("#withdrawn")
    after = _versions(api, order)
    assert len(after) == len(before) + 1
    assert after[-1]["status"] == "Deprecated"
    assert "withdrawn: order cancelled by the customer" in after[-1]["flags"]
    assert after[-1]["co2e_kg"] == before[-1]["co2e_kg"]
    banner = " ".join(page.page.inner_text("#withdrawn").split())
    assert banner.startswith("Withdrawn: order cancelled by the customer.")
    assert f"version {after[-1]['version']} replaces {before[-1]['id']}" in banner
    assert page.page.locator("#status-form").get_attribute("data-act") == "reinstate"
    page.shoot("20-order-withdrawn")

    _submit(page, "withdrawn by mistake", "Reinstate footprint")
    again = _versions(api, order)
    assert len(again) == len(before) + 2
    assert again[-1]["status"] == "Active"
    assert again[-1]["co2e_kg"] == before[-1]["co2e_kg"]
    assert page.page.locator("#withdrawn").count() == 0
    assert page.page.locator("#status-form").get_attribute("data-act") == "withdraw"
    page.check_clean()


def test_a_refused_withdrawal_shows_the_apis_message(page, api):
    order = _active_orders(api)[-1]
    page.open(f"#order/{order}")
    # withdrawn behind the page's back: the page still offers to withdraw it
    r = api.post(f"orders/{order}/footprint/withdraw", json={"reason": "wrong meter data"})
    assert r.status_code == 200, r.text
    page.page.fill("#status-form input[name=reason]", "order cancelled")
    with page.page.expect_response(lambda r: r.url.endswith("/footprint/withdraw")) as resp:
        page.page.click("#status-form button")
    assert resp.value.status == 409
    page.page.wait_for_function("document.querySelector('#status-error').textContent !== ''")
    shown = page.page.inner_text("#status-error")
    assert "already withdrawn" in shown
    assert order in shown
    # nothing more was stored
    versions = _versions(api, order)
    assert [v["status"] for v in versions[-1:]] == ["Deprecated"]
    assert "withdrawn: order cancelled" not in versions[-1]["flags"]
    page.shoot("21-order-withdrawal-refused")
