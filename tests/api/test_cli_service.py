"""``carbontwin verify``, ``label``, ``plugins list`` and ``report --tenant``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.plugins.signing import load_or_create_key, public_key_pem, sign_document
from carbontwin.twin.footprint import Footprint

runner = CliRunner()
WIDE = {"COLUMNS": "1000"}  # rich wraps at the terminal's width, even inside a path


def _footprint() -> Footprint:
    t0 = datetime(2019, 3, 5, 6, tzinfo=UTC)
    return Footprint(
        order="O-7",
        product="shaft",
        quantity=10.0,
        declared_unit="piece",
        period_start=t0,
        period_end=t0.replace(hour=9),
        energy_kwh=50.0,
        co2e_kg=40.0,
        co2e_market_kg=30.0,
        scope1_kg=2.0,
        scope2_location_kg=18.0,
        scope2_market_kg=8.0,
        scope3_kg=20.0,
    )


def test_verify_detects_a_changed_byte(tmp_path):
    key = load_or_create_key(tmp_path / "k.pem")
    (tmp_path / "pub.pem").write_text(public_key_pem(key))
    good = tmp_path / "fp.json"
    good.write_text(json.dumps(sign_document(_footprint().to_dict(), key)))
    r = runner.invoke(app, ["verify", str(good), "--key", str(tmp_path / "pub.pem")])
    assert r.exit_code == 0, r.output
    assert "OK" in r.output
    text = good.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(text.replace('"co2e_kg": 40.0', '"co2e_kg": 40.1'))
    assert bad.read_text() != text
    r = runner.invoke(app, ["verify", str(bad), "--key-path", str(tmp_path / "k.pem")])
    assert r.exit_code == 1
    assert "ALTERED" in r.output


def test_verify_tells_a_file_it_cannot_check_from_an_altered_one(tmp_path):
    key = load_or_create_key(tmp_path / "k.pem")
    other = load_or_create_key(tmp_path / "other.pem")
    signed = sign_document(_footprint().to_dict(), other)
    cases = {
        "notes.txt": ("total 40 kg", "not JSON"),
        "unsigned.json": (json.dumps(_footprint().to_dict()), "not a signed document"),
        "other-key.json": (json.dumps(signed), "signed with key"),
    }
    for name, (text, why) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        r = runner.invoke(app, ["verify", str(f), "--key-path", str(tmp_path / "k.pem")], env=WIDE)
        assert r.exit_code == 1, (name, r.output)
        said = " ".join(r.output.split())
        assert said.startswith(f"NOT VERIFIED {f}: {why}"), (name, said)
        assert "ALTERED" not in said
    # the same document signed with this key, then one number changed: altered
    mine = json.dumps(sign_document(_footprint().to_dict(), key))
    changed = tmp_path / "changed.json"
    changed.write_text(mine.replace('"energy_kwh": 50.0', '"energy_kwh": 5.0'))
    assert changed.read_text() != mine
    r = runner.invoke(
        app, ["verify", str(changed), "--key-path", str(tmp_path / "k.pem")], env=WIDE
    )
    assert r.exit_code == 1
    assert " ".join(r.output.split()).startswith(f"ALTERED {changed}: signature")


def _issued(tmp_path):
    """A footprint file as issued (signed with the key at k.pem), and the key path."""
    key_path = tmp_path / "k.pem"
    src = tmp_path / "fp.json"
    src.write_text(json.dumps(sign_document(_footprint().to_dict(), load_or_create_key(key_path))))
    return src, key_path


def test_label_from_file_in_every_format(tmp_path):
    src, key_path = _issued(tmp_path)
    for suffix in ("pdf", "svg", "html", "json"):
        out = tmp_path / f"label.{suffix}"
        r = runner.invoke(app, ["label", str(src), "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "4 kg CO2e/piece" in r.output
        assert out.stat().st_size > 500
    assert (tmp_path / "label.pdf").read_bytes().startswith(b"%PDF")
    # the HTML page and the JSON file carry the footprint's signature, which verifies
    for name in ("label.html", "label.json"):
        r = runner.invoke(app, ["verify", str(tmp_path / name), "--key-path", str(key_path)])
        assert r.exit_code == 0, r.output
    # market-based headline: 30 kg / 10 pieces
    r = runner.invoke(
        app, ["label", str(src), "--out", str(tmp_path / "m.json"), "--headline", "market"]
    )
    assert "3 kg CO2e/piece, market-based" in r.output
    # an unsigned footprint file makes no label: labels come from issued footprints
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps(_footprint().to_dict()))
    r = runner.invoke(app, ["label", str(raw), "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code != 0
    assert "not a signed footprint" in str(r.exception)


def test_plugins_list_shows_builtins():
    r = runner.invoke(app, ["plugins", "list", "exporters"])
    assert r.exit_code == 0, r.output
    for name in ("pact-v3", "pact-v2", "label-pdf"):
        assert name in r.output


def test_label_pdf_verifies_and_an_edit_is_caught(tmp_path):
    src, key_path = _issued(tmp_path)
    pdf = tmp_path / "label.pdf"
    assert runner.invoke(app, ["label", str(src), "--out", str(pdf)]).exit_code == 0
    r = runner.invoke(app, ["verify", str(pdf), "--key-path", str(key_path)])
    assert r.exit_code == 0, r.output
    raw = pdf.read_bytes()
    edited = (
        raw.replace(b"(4 kg CO2e", b"(3 kg CO2e")
        if b"(4 kg CO2e" in raw
        else raw[:-40] + bytes([raw[-40] ^ 1]) + raw[-39:]
    )
    assert edited != raw
    pdf.write_bytes(edited)
    r = runner.invoke(app, ["verify", str(pdf), "--key-path", str(key_path)])
    assert r.exit_code == 1
    assert "ALTERED" in r.output


def test_verify_label_and_report_read_the_named_tenant(tmp_path, demo_batch):
    from carbontwin.twin.examples import demo_factory
    from carbontwin.twin.store import Store

    url = f"sqlite:///{tmp_path / 'twin.db'}"
    Store.open(url).admin.add_tenant("plant-a")
    plant = Store.open(url, tenant="plant-a")
    factory = demo_factory()
    plant.save_factory(factory)
    plant.save_orders(factory.orders[:4])
    plant.write_events(demo_batch)
    plant.close()
    db = ["--database-url", url]
    key = ["--key-path", str(tmp_path / "k.pem")]
    r = runner.invoke(app, ["issue", "--tenant", "plant-a", *db, *key])
    assert r.exit_code == 0, r.output
    order = factory.orders[0].id
    r = runner.invoke(app, ["verify", order, "--tenant", "plant-a", *db, *key])
    assert r.exit_code == 0, r.output
    assert f"(order {order}, v1)" in " ".join(r.output.split())
    out = tmp_path / "label.json"
    r = runner.invoke(app, ["label", order, "--tenant", "plant-a", "--out", str(out), *db])
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["footprint"]["payload"]["order"] == order
    # the default tenant holds no such order: named as not found, not a traceback
    r = runner.invoke(app, ["verify", order, *db, *key])
    assert r.exit_code != 0
    assert "neither a file nor an order or footprint id" in str(r.exception)
    # the period report of the tenant: its issued orders and their total
    with Store(url, tenant="plant-a") as store:
        fps = store.list_footprints()
    assert len(fps) == 4
    report = tmp_path / "report.html"
    period = ["--period", "2019-03-04/2019-03-06", "--out", str(report)]
    r = runner.invoke(app, ["report", *period, "--tenant", "plant-a", *db])
    assert r.exit_code == 0, r.output
    text = " ".join(re.sub(r"<[^>]+>", " ", report.read_text(encoding="utf-8")).split())
    assert f"{sum(fp.co2e_kg for fp in fps):,.2f} kg CO2e" in text
    assert all(fp.order in text for fp in fps)
    r = runner.invoke(app, ["report", *period, *db])  # the default tenant has no factory
    assert r.exit_code == 1
    assert "no factory saved yet" in r.output
