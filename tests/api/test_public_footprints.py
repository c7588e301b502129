"""Published footprints: the demo label's QR target answers without a token once
the footprint is published (and 404 before); the page and JSON carry the signed
data and how to verify it."""

from __future__ import annotations

import json

import pytest
from api_helpers import make_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbontwin.api import create_app
from carbontwin.api.cli import app as cli
from carbontwin.api.issuing import attribute_and_issue
from carbontwin.plugins.pact import pact_context, render_pact_v3
from carbontwin.plugins.signing import load_public_key, verify_document
from carbontwin.twin.examples import demo_factory

PUBLIC = "https://labels.example.com/carbon"


def _qr_url(doc) -> str:
    """The ``qr_url`` anywhere in a label's JSON."""
    if isinstance(doc, dict):
        if isinstance(doc.get("qr_url"), str):
            return doc["qr_url"]
        found = [_qr_url(v) for v in doc.values()]
    elif isinstance(doc, list):
        found = [_qr_url(v) for v in doc]
    else:
        return ""
    return next((f for f in found if f), "")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """A store with the demo plant and the issued footprint of its first order."""
    from carbontwin.simulation import simulate

    tmp = tmp_path_factory.mktemp("public")
    settings = make_settings(tmp, public_base_url=PUBLIC)
    app = create_app(settings)
    services = app.state.services
    factory = demo_factory()
    services.store.save_factory(factory)
    services.store.save_orders(factory.orders)
    services.store.write_events(
        simulate(factory, factory.orders[:1], "fifo", 0, sample_period_s=300).events
    )
    (fp,) = [f for f in attribute_and_issue(services) if f.order == "O-1001"]
    host = FastAPI()
    host.mount("/carbon", app)
    with TestClient(host, base_url="https://labels.example.com") as client:
        yield client, settings, fp, tmp
    services.close()


def test_label_qr_target_answers_without_token_once_published(demo_store, monkeypatch):
    client, settings, fp, tmp = demo_store
    monkeypatch.setenv("CARBONTWIN_PUBLIC_BASE_URL", PUBLIC)
    out = tmp / "label.json"
    r = CliRunner().invoke(
        cli,
        [
            *("label", "O-1001", "--database-url", settings.database_url),
            *("--out", str(out)),
        ],
    )
    assert r.exit_code == 0, r.output
    label = json.loads(out.read_text())
    qr = _qr_url(label)
    # the label shows validity, mass per declared unit, DQR, spec version, both scope 2
    facts = dict(label["label"]["facts"])  # the label document: what the label shows
    assert facts["Valid"].startswith(f"{fp.period_end:%Y-%m-%d}")
    assert facts["Mass"] == "2 kg per piece"
    dqi = render_pact_v3(fp, pact_context(fp, demo_factory()))["pcf"]["dqi"]
    assert facts["Data quality"].startswith(f"DQR tech. {dqi['technologicalDQR']} · ")
    assert facts["Specification"] == "PACT 3.0.0"
    payload = label["label"]
    assert payload["per_unit_kg"] == pytest.approx(fp.co2e_kg / fp.quantity, rel=1e-6)
    assert payload["market_per_unit_kg"] == pytest.approx(fp.co2e_market_kg / fp.quantity, rel=1e-6)
    assert qr == f"{PUBLIC}/public/footprints/{fp.id}"  # CARBONTWIN_PUBLIC_BASE_URL honoured
    assert client.get(qr).status_code == 404  # not published yet
    assert client.get(qr + ".json").status_code == 404
    publish = f"/carbon/footprints/{fp.id}/publish"
    assert client.post(publish).status_code == 401  # publishing is an act of the owner
    token = client.post(
        "/carbon/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.client_id, settings.client_secret.get_secret_value()),
    ).json()["access_token"]
    r = client.post(publish, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["page"] == qr

    page = client.get(qr)  # no token
    assert page.status_code == 200
    text = page.text
    assert "Steel mounting bracket" in text
    assert f"{fp.co2e_kg / fp.quantity:.4g} kg CO2e per piece" in text  # location-based
    assert f"{fp.co2e_market_kg / fp.quantity:.4g} kg CO2e per piece" in text  # market-based
    doc = client.get(qr + ".json").json()
    assert f"{doc['pact']['validityPeriodStart']} to {doc['pact']['validityPeriodEnd']}" in text
    assert "PACT 3.0.0" in text
    assert doc["pact"]["id"] == fp.id
    assert doc["verify"]["key_fingerprint_sha256"] in text
    key = client.get("/carbon/.well-known/carbontwin-signing-key").json()
    assert doc["verify"]["key_fingerprint_sha256"].startswith(key["key_id"])
    assert verify_document(doc["footprint"], load_public_key(key["public_key_pem"])).valid
    doc["footprint"]["payload"]["co2e_kg"] += 1.0
    assert not verify_document(doc["footprint"], load_public_key(key["public_key_pem"])).valid


def test_unknown_and_malformed_ids_are_404(demo_store):
    client, *_ = demo_store
    for fid in ("3a6c14a7-4deb-498a-b5ea-16ce2535b576", "not-a-uuid"):
        assert client.get(f"/carbon/public/footprints/{fid}").status_code == 404


def test_publish_command(demo_store, monkeypatch, signer):
    import uuid
    from dataclasses import replace

    monkeypatch.setenv("CARBONTWIN_PUBLIC_BASE_URL", PUBLIC)
    client, settings, fp, _ = demo_store
    other = settings  # the same store, another order's footprint
    from carbontwin.twin.store import Store

    store = Store.open(other.database_url)
    second = store.issue_footprint(
        replace(fp, order="O-1002", product="shaft", id=str(uuid.uuid4()), replaces=None),
        signer,
    )
    store.close()
    page = f"/carbon/public/footprints/{second.id}"
    assert client.get(page).status_code == 404
    r = CliRunner().invoke(cli, ["publish", "O-1002", "--database-url", other.database_url])
    assert r.exit_code == 0, r.output
    assert f"{PUBLIC}/public/footprints/{second.id}" in r.output.replace("\n", "")
    assert client.get(page).status_code == 200
    r = CliRunner().invoke(cli, ["publish", "O-9999", "--database-url", other.database_url])
    assert r.exit_code != 0


def test_a_withdrawn_or_replaced_footprint_says_so_on_its_public_page(tmp_path):
    """A label printed before a withdrawal or a correction still points to its page."""
    import dataclasses

    from carbontwin.simulation import simulate

    app = create_app(make_settings(tmp_path, public_base_url=PUBLIC))
    services = app.state.services
    store, signer = services.store, services.signer
    factory = demo_factory()
    store.save_factory(factory)
    store.save_orders(factory.orders)
    store.write_events(simulate(factory, factory.orders[:3], "fifo", 0, sample_period_s=300).events)
    first = {f.order: f for f in attribute_and_issue(services)}
    a, b, c = (first[o] for o in sorted(first)[:3])
    for fp in (a, b, c):
        store.publish_footprint(fp.id)
    store.withdraw_footprint(a.order, signer, "wrong meter mapping")
    b2 = store.issue_footprint(b.successor(dataclasses.replace(b, co2e_kg=b.co2e_kg + 1.0)), signer)
    store.publish_footprint(b2.id)
    host = FastAPI()
    host.mount("/carbon", app)
    page = f"{PUBLIC}/public/footprints"
    with TestClient(host, base_url="https://labels.example.com") as client:
        got = {fp.id: client.get(f"{page}/{fp.id}.json").json()["notice"] for fp in (a, b, c, b2)}
        html_a = client.get(f"{page}/{a.id}").text
        html_b = client.get(f"{page}/{b.id}").text
        html_c = client.get(f"{page}/{c.id}").text
    services.close()
    # withdrawn: said first, the reason kept private (the withdrawal is not published)
    assert got[a.id]["kind"] == "withdrawn"
    assert "reason" not in got[a.id]
    assert 'id="notice" class="withdrawn">Withdrawn by its issuer on ' in html_a
    assert "wrong meter mapping" not in html_a
    # replaced: the later version and its page (published)
    assert (got[b.id]["kind"], got[b.id]["version"]) == ("replaced", 2)
    assert got[b.id]["page"] == f"{page}/{b2.id}"
    assert f'<a href="{page}/{b2.id}">Version 2</a>' in html_b
    # the current versions carry no notice
    assert got[c.id] is None
    assert got[b2.id] is None
    assert 'id="notice"' not in html_c
