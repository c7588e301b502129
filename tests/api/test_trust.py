"""An auditor's checks through the service and the command line: a footprint rewritten
behind the database's back is caught by verify, the label's embedded data and
``audit check``; rules chosen in the settings (or a plugin's rule) are applied and
recorded; the pack route recomputes."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_helpers import events_json, get_token, make_settings
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carbontwin.api import create_app
from carbontwin.api.cli import app as cli
from carbontwin.api.pack import recompute
from carbontwin.plugins import registry
from carbontwin.plugins.label import verify_label
from carbontwin.plugins.signing import load_public_key, verify_document
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factory_file import factory_to_dict
from carbontwin.twin.store.models import FootprintRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "twin"))
from test_allocation_rules import two_machine_events, two_machines  # noqa: E402

runner = CliRunner()


def _client(tmp_path, **kw):
    application = create_app(make_settings(tmp_path, **kw))
    client = TestClient(application, base_url="https://testserver")
    client.__enter__()
    client.headers["Authorization"] = f"Bearer {get_token(client)}"
    return application, client


@pytest.fixture
def issued_demo(tmp_path, demo_batch):
    application, client = _client(tmp_path)
    assert client.put("/factory", json=factory_to_dict(demo_factory())).status_code == 200
    assert client.post("/events", json=events_json(demo_batch)).status_code == 200
    issued = client.post("/footprints/attribute").json()["issued"]
    yield application, client, issued
    client.__exit__(None, None, None)
    application.state.services.close()


def _rewrite_behind_the_triggers(store, footprint_id: str, co2e_kg: float) -> None:
    """Drop the append-only triggers (SQLite) and rewrite a footprint's figure."""
    with store.engine.begin() as conn:
        for (name,) in conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(sa.text(f"DROP TRIGGER {name}"))
        t = FootprintRow.__table__
        payload = conn.execute(sa.select(t.c.payload).where(t.c.id == footprint_id)).scalar_one()
        done = conn.execute(
            sa.update(t)
            .where(t.c.id == footprint_id)
            .values(co2e_kg=co2e_kg, payload={**payload, "co2e_kg": co2e_kg})
        )
        assert done.rowcount == 1


def test_a_rewritten_footprint_fails_every_check(issued_demo, tmp_path):
    application, client, issued = issued_demo
    services = application.state.services
    target = issued[0]["payload"]
    fid = target["id"]
    pub = load_public_key(
        client.get("/.well-known/carbontwin-signing-key").json()["public_key_pem"]
    )
    # before: all good, and matches_store really compares
    r = client.get(f"/footprints/{fid}/verify").json()
    assert (r["valid"], r["altered"], r["matches_store"]) == (True, False, True)
    # what is not a signed document is not called altered
    r = client.post("/footprints/verify", json=target).json()
    assert (r["valid"], r["altered"]) == (False, False)
    assert r["reason"].startswith("not a signed document")
    label = client.get(f"/labels/{target['order']}", params={"format": "json"}).json()
    assert verify_label(label, pub).valid
    db = services.settings.database_url
    key = ["--key-path", str(services.settings.key_path)]
    assert runner.invoke(cli, ["audit", "check", "--database-url", db]).exit_code == 0
    r = runner.invoke(cli, ["verify", target["order"], "--database-url", db, *key])
    assert r.exit_code == 0, r.output
    # a PACT rendering signed on request, of the record as issued
    r = client.get(f"/footprints/{fid}/pact", params={"sign": "true"})
    assert r.status_code == 200, r.text
    pact = r.json()
    assert verify_document(pact, pub).valid
    # kg CO2e per piece (location-based headline), to PACT's six decimals
    per_piece = float(pact["payload"]["pcf"]["pcfExcludingBiogenicUptake"])
    assert per_piece == pytest.approx(target["co2e_kg"] / target["quantity"], abs=1e-6)
    # the auditor's scenario: 1.0 kg written into the row behind the triggers
    _rewrite_behind_the_triggers(services.store, fid, 1.0)
    r = client.get(f"/footprints/{fid}").json()
    assert r["payload"]["co2e_kg"] == 1.0  # served as stored, not re-signed on reading
    r = client.get(f"/footprints/{fid}/verify").json()
    assert r["valid"] is False
    assert r["altered"] is True
    assert r["matches_store"] is False
    assert "signature.sha256 does not match the payload" in r["reason"]
    assert "differs from the one logged at issuance" in r["reason"]
    # the rewritten row is not signed afresh on request
    r = client.get(f"/footprints/{fid}/pact", params={"sign": "true"})
    assert r.status_code == 409, r.text
    assert f"footprint {fid} does not verify as stored" in r.text
    assert client.get(f"/footprints/{fid}/pact").status_code == 200  # unsigned, as ever
    # a worker that rendered the label before serves it as issued from its cache (issued
    # footprints never change; verify and audit read the row); a fresh worker renders the
    # rewritten row, and its label fails verification
    cached = client.get(f"/labels/{target['order']}", params={"format": "json"}).json()
    assert cached["label"]["total_kg"] == pytest.approx(target["co2e_kg"], abs=1e-5)
    assert verify_label(cached, pub).valid
    _fresh, fresh = _client(tmp_path)
    label = fresh.get(f"/labels/{target['order']}", params={"format": "json"}).json()
    fresh.__exit__(None, None, None)
    _fresh.state.services.close()
    assert label["label"]["total_kg"] == 1.0
    assert not verify_label(label, pub).valid
    r = client.post("/footprints/verify", json=label).json()
    assert r["valid"] is False
    assert r["altered"] is True
    r = runner.invoke(cli, ["verify", target["order"], "--database-url", db, *key])
    assert r.exit_code == 1
    assert "ALTERED" in r.output
    r = runner.invoke(cli, ["audit", "check", "--database-url", db])
    assert r.exit_code == 1
    assert fid in r.output.replace("\n", "")
    assert "entry 1 " in r.output or f"entry {_seq(services.store, fid)} " in r.output
    # the others still verify
    other = issued[1]["payload"]["id"]
    assert client.get(f"/footprints/{other}/verify").json()["valid"] is True


def _seq(store, fid: str) -> int:
    seq = store.stored_footprint(fid).log_seq
    assert seq is not None
    return seq


def test_pack_route_recomputes(issued_demo):
    _, client, issued = issued_demo
    fid = issued[2]["payload"]["id"]
    r = client.get(f"/footprints/{fid}/pack")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    report = recompute(r.content)
    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.order == issued[2]["payload"]["order"]


def _load_two_machines(client) -> None:
    assert client.put("/factory", json=factory_to_dict(two_machines())).status_code == 200
    r = client.post("/events", json=events_json(two_machine_events()))
    assert r.status_code == 200, r.text


def test_rules_from_the_settings_are_applied_and_recorded(tmp_path):
    """The two-machine case of tests/twin/test_allocation_rules.py: O1 9.0 kWh with
    processing_time_only + processing_hours, 9 2/3 kWh with the defaults."""
    rules = {"idle": "processing_time_only", "utility_key": "processing_hours"}
    application, client = _client(tmp_path, rules=rules)
    _load_two_machines(client)
    issued = {
        d["payload"]["order"]: d["payload"]
        for d in client.post("/footprints/attribute").json()["issued"]
    }
    o1 = issued["O1"]
    assert o1["energy_kwh"] == pytest.approx(9.0, rel=1e-12)
    assert (o1["rules"]["idle"], o1["rules"]["utility_key"]) == tuple(rules.values())
    assert o1["lineage"]["rules"]["idle"] == "processing_time_only"
    assert o1["method"][0].startswith("processing_time_only: ")
    assert "setup not counted" in o1["method"][0]
    assert "straight to the orders by their processing machine-hours" in o1["method"][1]
    assert o1["lineage"]["allocation"]["processing_time_only"].startswith(
        "carbontwin.twin.allocation:PROCESSING_TIME_ONLY"
    )
    pact = client.get(f"/footprints/{o1['id']}/pact").json()
    assert "setup not counted" in pact["pcf"]["allocationRulesDescription"]
    aas = client.get(f"/footprints/{o1['id']}/aas").json()
    assert "processing_time_only" in str(aas)
    # the attribute route's own rules override the settings for that issue
    r = client.post(
        "/footprints/attribute",
        json={"rules": {"idle": "processing_time_share", "utility_key": ""}},
    )
    again = {d["payload"]["order"]: d["payload"] for d in r.json()["issued"]}
    assert again["O1"]["energy_kwh"] == pytest.approx(9 + 2 / 3, rel=1e-12)
    assert again["O1"]["version"] == 2
    r = client.post("/footprints/attribute", json={"rules": {"idle": "sometimes"}})
    assert r.status_code == 422
    assert "sometimes" in r.text
    client.__exit__(None, None, None)
    application.state.services.close()


PLUGIN = """
import numpy as np

from carbontwin.twin.allocation import IdleRule


def _per_step(seconds, processing, quantity):
    return np.where(seconds > 0, 1.0, 0.0)


PER_STEP = IdleRule(
    "per_step", "idle energy of an asset in equal parts per order step in the {period}", _per_step
)
"""


@pytest.fixture
def rule_plugin(tmp_path, monkeypatch):
    """A third-party package that registers an idle rule through the entry point."""
    site = tmp_path / "site"
    (site / "ct_rule_plugin-0.1.dist-info").mkdir(parents=True)
    (site / "ct_rule_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (site / "ct_rule_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ct-rule-plugin\nVersion: 0.1\n"
    )
    (site / "ct_rule_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[carbontwin.allocation]\nper_step = ct_rule_plugin:PER_STEP\n"
    )
    monkeypatch.syspath_prepend(str(site))
    registry.refresh()
    yield
    monkeypatch.undo()
    sys.modules.pop("ct_rule_plugin", None)
    registry.refresh()


def test_a_plugin_rule_is_listed_and_applied(rule_plugin, tmp_path):
    r = runner.invoke(cli, ["plugins", "list", "allocation"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    out = r.output
    for name in ("per_step", "processing_time_only", "processing_hours", "machine_hours"):
        assert name in out
    assert "ct-rule-plugin" in out  # the distribution that declares it
    assert "carbontwin" in out  # the built-ins come through the same entry points
    application, client = _client(
        tmp_path, rules={"idle": "per_step", "utility_key": "processing_hours"}
    )
    _load_two_machines(client)
    issued = {
        d["payload"]["order"]: d["payload"]
        for d in client.post("/footprints/attribute").json()["issued"]
    }
    o1 = issued["O1"]
    # X's idle 1 kWh in equal parts per step: O1 has two steps on X, O2 one -> 2/3 to O1;
    # machines 2 + 5 + 2/3, air 1.5 (processing_hours)
    assert o1["energy_kwh"] == pytest.approx(7 + 2 / 3 + 1.5, rel=1e-12)
    assert o1["rules"]["idle"] == "per_step"
    assert (
        o1["method"][0]
        == "per_step: idle energy of an asset in equal parts per order step in the shift"
    )
    assert o1["lineage"]["allocation"]["per_step"].startswith(
        "ct_rule_plugin:PER_STEP (ct-rule-plugin)"
    )
    client.__exit__(None, None, None)
    application.state.services.close()
