"""``POST /orders/{order_id}/footprint/withdraw``: a withdrawal is a new signed version
with status Deprecated; PACT partners, the label and later issuing all see it."""

from __future__ import annotations

from api_helpers import events_json

from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict


def _issue(client, demo_batch) -> list[dict]:
    assert client.put("/factory", json=factory_to_dict(demo_factory())).status_code == 200
    assert client.post("/events", json=events_json(demo_batch)).status_code == 200
    r = client.post("/footprints/attribute")
    assert r.status_code == 200, r.text
    return [f["payload"] for f in r.json()["issued"]]


def test_a_withdrawal_is_a_deprecated_version_everyone_sees(db_client, demo_batch):
    client = db_client
    fps = _issue(client, demo_batch)
    v1, other = fps[0], fps[1]
    order = v1["order"]
    r = client.post(
        f"/orders/{order}/footprint/withdraw", json={"reason": "  order cancelled by the customer "}
    )
    assert r.status_code == 200, r.text
    w = r.json()["payload"]
    assert (w["order"], w["version"], w["replaces"], w["status"]) == (
        order,
        2,
        v1["id"],
        "Deprecated",
    )
    # the figures of the version it replaces, the reason among the flags
    assert (w["co2e_kg"], w["energy_kwh"]) == (v1["co2e_kg"], v1["energy_kwh"])
    assert w["flags"][-1] == "withdrawn: order cancelled by the customer"
    assert r.json()["signature"]["key_id"]
    versions = client.get(f"/orders/{order}/footprint").json()["versions"]
    assert [v["payload"]["version"] for v in versions] == [1, 2]
    assert versions[0]["payload"] == v1  # nothing stored changed
    # PACT: both versions Deprecated; another order's footprint stays Active
    for fid in (v1["id"], w["id"]):
        assert client.get(f"/3/footprints/{fid}").json()["data"]["status"] == "Deprecated"
    assert client.get(f"/3/footprints/{other['id']}").json()["data"]["status"] == "Active"
    # PACT v2's statusComment gives the reason on the withdrawal, supersession on v1
    v2_of = {fid: client.get(f"/2/footprints/{fid}").json()["data"] for fid in (v1["id"], w["id"])}
    assert v2_of[w["id"]]["statusComment"] == "Withdrawn: order cancelled by the customer"
    assert v2_of[w["id"]]["precedingPfIds"] == [v1["id"]]
    assert v2_of[v1["id"]]["statusComment"].startswith("Superseded by a later version")
    # the label says it is withdrawn, with the reason; another order's does not
    label = client.get(f"/labels/{order}", params={"format": "json"}).json()
    assert label["label"]["withdrawn"] == "order cancelled by the customer"
    assert label["footprint"]["payload"]["id"] == w["id"]
    svg = client.get(f"/labels/{order}", params={"format": "svg"}).text
    assert "WITHDRAWN · NOT A VALID FOOTPRINT" in svg
    assert "order cancelled by the customer" in svg
    assert (
        "withdrawn"
        not in client.get(f"/labels/{other['order']}", params={"format": "json"}).json()["label"]
    )
    assert "WITHDRAWN" not in client.get(f"/labels/{other['order']}", params={"format": "svg"}).text
    # issuing again with the same inputs leaves the withdrawn order withdrawn
    again = client.post("/footprints/attribute").json()["issued"]
    assert order not in {f["payload"]["order"] for f in again}
    assert len(client.get(f"/orders/{order}/footprint").json()["versions"]) == 2


def test_withdrawal_errors_name_the_order_and_the_field(db_client, demo_batch):
    client = db_client
    fps = _issue(client, demo_batch)
    order = fps[0]["order"]
    ok = client.post(f"/orders/{order}/footprint/withdraw", json={"reason": "wrong meter"})
    assert ok.status_code == 200
    again = client.post(f"/orders/{order}/footprint/withdraw", json={"reason": "again"})
    assert again.status_code == 409
    assert f"order {order!r} is already withdrawn (version 2)" in again.text
    issued = {f["order"] for f in fps}
    never = next(o.id for o in demo_factory().orders if o.id not in issued)
    r = client.post(f"/orders/{never}/footprint/withdraw", json={"reason": "x"})
    assert r.status_code == 404
    assert f"order {never!r} has no issued footprint to withdraw" in r.text
    r = client.post("/orders/NO-SUCH/footprint/withdraw", json={"reason": "x"})
    assert r.status_code == 404
    assert "NO-SUCH" in r.text
    for body in ({"reason": "   "}, {}, {"reason": "x" * 501}, {"reason": "two\nlines"}):
        r = client.post(f"/orders/{fps[1]['order']}/footprint/withdraw", json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][-1] == "reason"
    # nothing of the refused requests was stored
    assert len(client.get(f"/orders/{fps[1]['order']}/footprint").json()["versions"]) == 1


def test_a_withdrawal_is_undone_by_a_reinstatement_issuing_then_leaves_alone(db_client, demo_batch):
    client = db_client
    fps = _issue(client, demo_batch)
    v1 = fps[0]
    order = v1["order"]
    r = client.post(f"/orders/{order}/footprint/reinstate", json={"reason": "x"})
    assert r.status_code == 409
    assert f"the footprint of order {order!r} is not withdrawn (version 1 is Active)" in r.text
    w = client.post(f"/orders/{order}/footprint/withdraw", json={"reason": "by mistake"}).json()
    r = client.post(f"/orders/{order}/footprint/reinstate", json={"reason": "withdrawn by mistake"})
    assert r.status_code == 200, r.text
    v3 = r.json()["payload"]
    assert (v3["version"], v3["replaces"], v3["status"]) == (3, w["payload"]["id"], "Active")
    # the figures and flags of the version withdrawn; the reason in the lineage
    for k in ("co2e_kg", "energy_kwh", "scope3_kg", "flags", "energy_by_asset_kwh"):
        assert v3[k] == v1[k], k
    assert v3["lineage"]["reinstated"] == "withdrawn by mistake"
    assert v3["lineage"]["input_sha256"] == v1["lineage"]["input_sha256"]
    assert client.get(f"/3/footprints/{v3['id']}").json()["data"]["status"] == "Active"
    label = client.get(f"/labels/{order}", params={"format": "json"}).json()["label"]
    assert "withdrawn" not in label
    # issuing with the same inputs sees the order as issued: nothing new
    again = client.post("/footprints/attribute").json()["issued"]
    assert order not in {f["payload"]["order"] for f in again}
    assert len(client.get(f"/orders/{order}/footprint").json()["versions"]) == 3
