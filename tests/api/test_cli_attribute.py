"""``carbontwin attribute`` on the demo factory with an events folder the simulator writes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.connectors.files import write_events_dir
from carbontwin.simulation import simulate
from carbontwin.twin.examples import demo_factory, demo_factory_path

runner = CliRunner()


def _meter_totals(batch, factory) -> dict[str, float]:
    """Per-meter energy of the input, computed here: step-hold power, counter deltas."""
    out: dict[str, float] = {}
    for m in factory.meters:
        sel = batch.power_meter == m.id
        if sel.any():
            t, p = batch.power_t[sel], batch.power_kw[sel]
            o = np.argsort(t, kind="stable")
            t, p = t[o], p[o]
            out[m.id] = float(np.sum(p[:-1] * np.diff(t)) / 3600.0)
        sel = batch.counter_meter == m.id
        if sel.any():
            t, v = batch.counter_t[sel], batch.counter_kwh[sel]
            v = v[np.argsort(t, kind="stable")]
            d = np.diff(v)
            d = np.where(d < 0, d + (m.rollover_kwh or 0.0), d)
            out[m.id] = float(d.sum())
    return out


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory):
    factory = demo_factory()
    res = simulate(factory, list(factory.orders[:6]), seed=3)
    d = write_events_dir(res.events, tmp_path_factory.mktemp("events"))
    return d, _meter_totals(res.events, factory)


def test_json_totals_equal_the_input_meters(events_dir):
    d, totals = events_dir
    out = runner.invoke(
        app, ["attribute", "--factory", str(demo_factory_path()), "--events", str(d), "--json"]
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert set(doc["metered_kwh"]) == set(totals)
    for meter, kwh in totals.items():
        assert doc["metered_kwh"][meter] == pytest.approx(kwh, rel=1e-9), meter
    assert sum(doc["filled_kwh"].values()) == 0.0
    assert doc["total_kwh"] == pytest.approx(sum(totals.values()), rel=1e-9)
    orders = sum(o["energy_kwh"] for o in doc["orders"])
    assert orders + doc["overhead_kwh"] == pytest.approx(sum(totals.values()), rel=1e-9)
    assert orders == pytest.approx(doc["orders_kwh"], rel=1e-12)
    assert len(doc["orders"]) == 6
    for o in doc["orders"]:
        assert o["co2e_kg"] == pytest.approx(
            o["scope1_kg"] + o["scope2_location_kg"] + o["scope3_kg"], rel=1e-9
        )
        assert o["rules"]["idle"] == "processing_time_share"
        assert o["factor_versions"]["electricity_location"].startswith("DE_2019_hourly")
    assert "ENTSO-E" in doc["attribution"][0]


def test_table_plot_and_rules(events_dir, tmp_path):
    d, _ = events_dir
    rules = tmp_path / "rules.yaml"
    rules.write_text("idle: overhead\n", encoding="utf-8")
    png = tmp_path / "orders.png"
    out = runner.invoke(
        app,
        [
            "attribute",
            "--factory",
            str(demo_factory_path()),
            "--events",
            str(d),
            "--rules",
            str(rules),
            "--plot",
            str(png),
        ],
    )
    assert out.exit_code == 0, out.output
    assert "O-1001" in out.stdout
    assert "Per-order footprints" in out.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    js = runner.invoke(
        app,
        [
            "attribute",
            "--factory",
            str(demo_factory_path()),
            "--events",
            str(d),
            "--rules",
            str(rules),
            "--json",
        ],
    )
    assert json.loads(js.stdout)["rules"]["idle"] == "overhead"


def test_errors_exit_1_with_a_message(events_dir, tmp_path):
    d, _ = events_dir
    bad = tmp_path / "rules.yaml"
    bad.write_text("idel: overhead\n", encoding="utf-8")
    out = runner.invoke(
        app,
        [
            "attribute",
            "--factory",
            str(demo_factory_path()),
            "--events",
            str(d),
            "--rules",
            str(bad),
        ],
    )
    assert out.exit_code == 1
    assert "unknown rule" in out.output
    out = runner.invoke(
        app,
        ["attribute", "--factory", str(demo_factory_path()), "--events", str(tmp_path / "nope")],
    )
    assert out.exit_code == 1
    assert "does not exist" in out.output
