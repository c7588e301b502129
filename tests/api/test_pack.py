"""Verifier's packs: issued footprints recompute bit for bit from the pack alone
(every demo order, and random plants), and a changed byte fails."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from typer.testing import CliRunner

from carbontwin.api._pack_form import _zip
from carbontwin.api.cli import app
from carbontwin.api.issuing import attribute_inputs, issue_footprints, read_inputs
from carbontwin.api.pack import build_pack, recompute
from carbontwin.twin.events import EventBatch, OrderStep
from carbontwin.twin.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "twin"))
from test_attribution_properties import plants  # noqa: E402  (the twin tests' plant strategy)

runner = CliRunner()


def _issue(store: Store, signer, factory, events: EventBatch, rules=None):
    store.save_factory(factory)
    store.write_events(events)
    inputs = read_inputs(store, rules)
    return issue_footprints(store, inputs, attribute_inputs(inputs), signer)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory, signer):
    """The demo day, stored and issued as the demo command does (without OPC UA)."""
    from carbontwin.api.demo import simulate_day

    day = simulate_day()
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('pack') / 'demo.db'}")
    store.save_orders(day.orders)
    issued = _issue(store, signer, day.factory, day.events)
    yield store, issued
    store.close()


def test_every_demo_order_recomputes_bit_for_bit(demo_store):
    store, issued = demo_store
    assert len(issued) == 10
    for fp in issued:
        report = recompute(build_pack(store, fp.id))
        bad = [c for c in report.checks if not c.ok]
        assert report.ok, (fp.order, bad)
        names = {c.what for c in report.checks}
        assert {"signature", "input digest", "co2e_kg", "energy_by_asset_kwh"} <= names
        assert fp.lineage["events"]["count"] == len(store.read_events())
        assert fp.lineage["factory"]["version"] == 1


def test_pack_and_recompute_commands_and_a_changed_byte(demo_store, tmp_path):
    store, issued = demo_store
    fp = issued[0]
    out = tmp_path / f"{fp.order}.zip"
    r = runner.invoke(app, ["pack", fp.order, "--database-url", store.url, "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["recompute", str(out)])
    assert r.exit_code == 0, r.output
    assert "checks match bit for bit" in r.output
    good = out.read_bytes()
    # a changed byte inside a packed file: the manifest and the recomputation disagree
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    events = json.loads(files["events.json"])
    i = len(events["power_kw"]) // 2
    events["power_kw"][i] = events["power_kw"][i] + 1e-9
    files["events.json"] = json.dumps(events, indent=1).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(buf.getvalue())
    r = runner.invoke(app, ["recompute", str(bad)])
    assert r.exit_code == 1
    failed = {c.what for c in recompute(buf.getvalue()).checks if not c.ok}
    assert {"file events.json", "events sha256", "input digest"} <= failed
    # any single flipped byte of the zip fails: every byte of the zip's own structure
    # (local headers, central directory), which no content hash covers, and a sample of
    # the content
    with zipfile.ZipFile(io.BytesIO(good)) as z:
        infos = z.infolist()
    start_dir = max(i.header_offset + 30 + len(i.filename) + i.file_size for i in infos)
    structure = {*range(start_dir, len(good))}
    for i in infos:
        structure |= set(range(i.header_offset, i.header_offset + 30 + len(i.filename)))
    for k in sorted(structure)[::2]:  # every other byte keeps the test short
        flipped = bytearray(good)
        flipped[k] ^= 0x01
        assert not recompute(bytes(flipped), figures=False).ok, k
    for k in (len(good) // 3, 2 * len(good) // 3):
        flipped = bytearray(good)
        flipped[k] ^= 0x01
        assert not recompute(bytes(flipped)).ok, k


def test_a_changed_figure_in_the_footprint_fails_signature_and_figures(demo_store):
    store, issued = demo_store
    data = build_pack(store, issued[1].id)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    doc = json.loads(files["footprint.json"])
    doc["payload"]["co2e_kg"] = 1.0
    files["footprint.json"] = json.dumps(doc).encode()
    manifest = json.loads(files["manifest.json"])
    import hashlib

    manifest["files"]["footprint.json"] = hashlib.sha256(files["footprint.json"]).hexdigest()
    files["manifest.json"] = json.dumps(manifest).encode()
    report = recompute(_zip(files))  # a well-formed pack around the changed figure
    failed = {c.what: c.detail for c in report.checks if not c.ok}
    assert set(failed) == {"signature", "co2e_kg"}
    assert "issued 1.0, recomputed" in failed["co2e_kg"]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plant=plants())
def test_random_plants_recompute_bit_for_bit(plant, signer):
    factory, events, _, _ = plant
    assume(any(isinstance(e, OrderStep) for e in events))
    with Store.open("sqlite://") as store:
        rules = {"idle": "processing_time_only", "utility_key": "processing_hours"}
        issued = _issue(store, signer, factory, EventBatch.from_events(events), rules)
        assert issued
        for fp in issued:
            report = recompute(build_pack(store, fp.id))
            assert report.ok, [c for c in report.checks if not c.ok]
            assert fp.rules["idle"] == "processing_time_only"


def test_a_withdrawal_recomputes_and_names_its_reason(demo_store, signer):
    """A withdrawal carries its reason as a flag set at issuance: the pack recomputes
    (figures, flags from attribution) and the report names the withdrawal."""
    store, issued = demo_store
    fp = issued[-1]
    w = store.withdraw_footprint(fp.order, signer, "order cancelled")
    report = recompute(build_pack(store, w.id))
    assert report.ok, [c for c in report.checks if not c.ok]
    checks = {c.what: c for c in report.checks}
    assert checks["withdrawal"].detail.startswith("withdrawn: order cancelled: set when")
    assert checks["flags"].ok
    assert checks["co2e_kg"].ok
    # the version it replaced still recomputes as issued
    assert recompute(build_pack(store, fp.id)).ok


def test_recompute_names_the_version_that_made_the_pack(demo_store, tmp_path, monkeypatch):
    from importlib.metadata import version

    store, issued = demo_store
    fp = issued[2]
    data = build_pack(store, fp.id)
    report = recompute(data)
    installed = version("carbontwin")
    assert (report.made_by, report.recomputed_by) == (installed, installed)
    assert report.made_by == fp.lineage["carbontwin_version"]
    assert not report.other_version
    good = tmp_path / "good.zip"
    good.write_bytes(data)
    r = runner.invoke(app, ["recompute", str(good)])
    assert r.exit_code == 0, r.output
    assert "recomputed by" not in r.output
    # recomputed by another version: said beside OK, and a mismatch says which to install
    import carbontwin.api.issuing as issuing

    monkeypatch.setattr(issuing, "carbontwin_version", lambda: "9.9.9")
    r = runner.invoke(app, ["recompute", str(good)])
    assert r.exit_code == 0, r.output
    assert f"made by carbontwin {installed}, recomputed by carbontwin 9.9.9" in " ".join(
        r.output.split()
    )
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files["rules.json"] = files["rules.json"].replace(b"{", b"{ ", 1)  # not the manifest's
    bad = tmp_path / "bad.zip"
    bad.write_bytes(_zip(files))
    r = runner.invoke(app, ["recompute", str(bad)])
    assert r.exit_code == 1
    assert f"pip install carbontwin=={installed}" in " ".join(r.output.split())
