"""CBAM embedded emissions against a hand-worked case (Implementing Regulation
(EU) 2023/1773, Annex III section F), read back from the workbook with openpyxl."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.plugins.cbam import cbam_category, cbam_report, parse_period, write_workbook
from carbontwin.twin.errors import PluginError
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.store import Store

T0 = datetime(2019, 3, 4, 6, tzinfo=UTC)


def _fp(order, product, quantity, s1, s2, elec_kwh, materials, *, start=T0, **kw) -> Footprint:
    s3 = sum(materials.values())
    return Footprint(
        order=order,
        product=product,
        quantity=quantity,
        declared_unit="piece",
        period_start=start,
        period_end=start + timedelta(hours=6),
        energy_kwh=elec_kwh,
        co2e_kg=s1 + s2 + s3,
        co2e_market_kg=s1 + 0.5 * s2 + s3,
        scope1_kg=s1,
        scope2_location_kg=s2,
        scope2_market_kg=0.5 * s2,
        scope3_kg=s3,
        energy_by_carrier_kwh={"electricity": elec_kwh},
        co2e_by_material_kg=materials,
        **kw,
    )


# Hand-worked case. Bracket (CN 7326 90 98, 2.0 kg a piece) from hot-rolled sheet
# (CN 7208) of sup-nordstahl at 2.3 kg CO2e/kg, a sector value (not primary):
#   O-1001: 240 pieces, 12 kg scope 1, 80 kg scope 2, 200 kWh, 240*2.6 kg sheet
#   O-1005: 300 pieces, 18 kg scope 1, 95 kg scope 2, 250 kWh, 300*2.6 kg sheet
# AL = 540 * 2.0 kg = 1.08 t; AttrEm_dir = 0.030 t; AttrEm_indir = 0.175 t;
# M = 1.404 t sheet; EE_InpMat = 1.404 t * 2.3 = 3.2292 t (all direct, flagged)
# SEE_dir = (0.030 + 3.2292) / 1.08 = 3.017778 t/t; SEE_indir = 0.175 / 1.08 = 0.162037 t/t
HAND = {
    "activity_t": 1.08,
    "attributed_direct_t": 0.030,
    "attributed_indirect_t": 0.175,
    "electricity_mwh": 0.45,
    "precursor_mass_t": 1.404,
    "precursor_t": 3.2292,
    "see_direct": 3.2592 / 1.08,
    "see_indirect": 0.175 / 1.08,
    "default_share": 3.2292 / 3.4342,
}


def _footprints() -> list[Footprint]:
    first = _fp("O-1001", "bracket", 240, 99.0, 99.0, 999.0, {"steel-sheet-s235": 240 * 2.6 * 2.3})
    return [
        first,  # replaced by the correction below: must not count
        _fp(
            "O-1001",
            "bracket",
            240,
            12.0,
            80.0,
            200.0,
            {"steel-sheet-s235": 240 * 2.6 * 2.3},
            version=2,
            replaces=first.id,
        ),
        _fp("O-1005", "bracket", 300, 18.0, 95.0, 250.0, {"steel-sheet-s235": 300 * 2.6 * 2.3}),
        _fp("O-1002", "shaft", 45, 5.0, 30.0, 90.0, {"steel-bar-42crmo4": 45 * 3.9 * 0.9}),
        # next quarter: its own period
        _fp(
            "O-1009",
            "bracket",
            100,
            1.0,
            10.0,
            30.0,
            {"steel-sheet-s235": 100 * 2.6 * 2.3},
            start=datetime(2019, 4, 2, 6, tzinfo=UTC),
        ),
    ]


def test_hand_worked_case():
    report = cbam_report(_footprints(), demo_factory(), ["2019Q1"])
    assert report.periods == ("2019Q1",)
    (good,) = report.goods
    assert good.cn_code == "7326 90 98"
    assert good.category == "Iron or steel products"
    assert good.orders == ("O-1001", "O-1005")
    assert good.activity_t == pytest.approx(HAND["activity_t"])
    assert good.attributed_direct_t == pytest.approx(HAND["attributed_direct_t"])
    assert good.attributed_indirect_t == pytest.approx(HAND["attributed_indirect_t"])
    assert good.electricity_mwh == pytest.approx(HAND["electricity_mwh"])
    (prec,) = good.precursors
    assert prec.cn_code == "7208"
    assert prec.mass_t == pytest.approx(HAND["precursor_mass_t"])
    assert prec.see_direct == pytest.approx(2.3)
    assert prec.embedded_direct_t == pytest.approx(HAND["precursor_t"])
    assert prec.data_type == "default"
    assert good.see_direct == pytest.approx(HAND["see_direct"])
    assert good.see_indirect == pytest.approx(HAND["see_indirect"])
    assert good.see_total == pytest.approx(HAND["see_direct"] + HAND["see_indirect"])
    assert good.default_share == pytest.approx(HAND["default_share"])
    assert any("default value" in f for f in good.flags)
    assert report.not_covered == {"shaft": "8483 10 95"}


def test_every_period_by_default_and_actual_data_of_a_primary_supplier():
    factory = demo_factory()
    report = cbam_report(_footprints(), factory)
    assert report.periods == ("2019Q1", "2019Q2")
    q2 = report.goods[-1]
    assert q2.period == "2019Q2"
    assert q2.see_direct == pytest.approx((0.001 + 0.1 * 2.6 * 2.3) / 0.2)
    # the same sheet from the EAF supplier with its own declaration: actual data
    bom = tuple(replace(b, supplier="sup-rheinstahl") for b in factory.product("bracket").bom)
    products = tuple(replace(p, bom=bom) if p.id == "bracket" else p for p in factory.products)
    fps = [_fp("O-1", "bracket", 10, 0.0, 0.0, 0.0, {"steel-sheet-s235": 10 * 2.6 * 1.0})]
    (good,) = cbam_report(fps, replace(factory, products=products)).goods
    assert good.precursors[0].data_type == "actual"
    assert good.precursors[0].mass_t == pytest.approx(0.026)
    assert good.default_share == 0.0


def test_workbook_reads_back_with_the_hand_figures(tmp_path):
    report = cbam_report(_footprints(), demo_factory(), ["2019Q1"])
    path = write_workbook(report, tmp_path / "cbam.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["A_InstData", "D_Processes", "E_PurchPrec", "Summary_Products"]
    inst = {r[0]: r[1] for r in wb["A_InstData"].iter_rows(values_only=True)}
    assert inst["Country"] == "DE"
    assert inst["Reporting periods"] == "2019Q1"
    header, *rows = wb["Summary_Products"].iter_rows(values_only=True)
    (row,) = rows
    col = dict(zip(header, row, strict=True))
    assert col["CN code"] == "7326 90 98"
    assert col["Reporting period"] == "2019Q1"
    assert col["Activity level [t]"] == pytest.approx(HAND["activity_t"])
    assert col["Specific direct embedded emissions [t CO2e/t]"] == pytest.approx(HAND["see_direct"])
    assert col["Specific indirect embedded emissions [t CO2e/t]"] == pytest.approx(
        HAND["see_indirect"]
    )
    assert col["Data type"] == "default values used (flagged)"
    header, *rows = wb["E_PurchPrec"].iter_rows(values_only=True)
    prec = dict(zip(header, rows[0], strict=True))
    assert prec["Mass consumed [t]"] == pytest.approx(HAND["precursor_mass_t"])
    assert prec["Embedded direct emissions [t CO2e]"] == pytest.approx(HAND["precursor_t"])
    assert prec["Data type"] == "default"


def _issued_store(url: str, signer, tenant: str = "default") -> None:
    """The demo factory, its orders and :func:`_footprints` issued, in ``tenant``."""
    with Store.open(url, tenant=tenant) as store:
        factory = demo_factory()
        store.save_factory(factory)
        store.save_orders(factory.orders)
        for fp in _footprints():
            store.issue_footprint(fp, signer)


def test_cli_writes_workbook_and_json_from_a_store(tmp_path, signer):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    _issued_store(url, signer)
    runner = CliRunner()
    out = tmp_path / "cbam.xlsx"
    r = runner.invoke(app, ["cbam", "--database-url", url, "--period", "2019Q1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "7326 90 98" in r.output
    header, *rows = openpyxl.load_workbook(out)["Summary_Products"].iter_rows(values_only=True)
    col = dict(zip(header, rows[0], strict=True))
    assert col["Specific direct embedded emissions [t CO2e/t]"] == pytest.approx(HAND["see_direct"])
    js = tmp_path / "cbam.json"
    r = runner.invoke(app, ["cbam", "--database-url", url, "--out", str(js)])
    assert r.exit_code == 0, r.output
    doc = json.loads(js.read_text())
    assert [g["period"] for g in doc["goods"]] == ["2019Q1", "2019Q2"]
    r = runner.invoke(app, ["cbam", "--database-url", url, "--period", "2019-13", "--out", str(js)])
    assert r.exit_code != 0


def test_cli_reads_the_named_tenant(tmp_path, signer):
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    with Store.open(url) as store:
        store.admin.add_tenant("plant-a")
    _issued_store(url, signer, "plant-a")
    runner = CliRunner()
    js = tmp_path / "cbam.json"
    r = runner.invoke(app, ["cbam", "--database-url", url, "--tenant", "plant-a", "--out", str(js)])
    assert r.exit_code == 0, r.output
    goods = json.loads(js.read_text())["goods"]
    assert [g["period"] for g in goods] == ["2019Q1", "2019Q2"]
    assert goods[0]["see_direct"] == pytest.approx(HAND["see_direct"])
    # the default tenant has no factory: named, not the other tenant's goods
    r = runner.invoke(app, ["cbam", "--database-url", url, "--out", str(tmp_path / "d.json")])
    assert r.exit_code != 0
    assert "no factory saved yet" in str(r.exception)


@pytest.mark.parametrize(
    ("cn", "category"),
    [
        ("7326 90 98", "Iron or steel products"),
        ("7208", "Iron or steel products"),
        ("7207 11 14", "Crude steel"),
        ("7616 99 90", "Aluminium products"),
        ("7602 00 19", ""),  # aluminium waste and scrap is not in Annex I
        ("7204 10 00", ""),  # nor ferrous waste and scrap
        ("8483 10 95", ""),
        ("", ""),
    ],
)
def test_category_of_cn_codes(cn, category):
    assert cbam_category(cn) == category


def test_period_parsing():
    assert parse_period("2026Q3") == (2026, 3)
    with pytest.raises(PluginError, match="2026Q5"):
        parse_period("2026Q5")
