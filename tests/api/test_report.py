"""``carbontwin report`` on the demo store: HTML and PDF with totals, products,
hotspots, data quality and methods; figures checked against the issued footprints."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.api.report import parse_period

runner = CliRunner()


@pytest.fixture(scope="module")
def store(demo_store):
    return demo_store


def test_periods():
    p = parse_period("2019-03-04")
    assert (p.start, p.end) == (datetime(2019, 3, 4, tzinfo=UTC), datetime(2019, 3, 5, tzinfo=UTC))
    p = parse_period("2019-12")
    assert (p.start, p.end) == (datetime(2019, 12, 1, tzinfo=UTC), datetime(2020, 1, 1, tzinfo=UTC))
    p = parse_period("2019-03-04T06:00+01:00/2019-03-06")
    assert p.start == datetime(2019, 3, 4, 5, tzinfo=UTC)
    assert p.label == "2019-03-04 to 2019-03-05"


def test_report_html_and_pdf(store, tmp_path):
    fps = store["issued"]
    html_path, pdf_path = tmp_path / "report.html", tmp_path / "report.pdf"
    for path in (html_path, pdf_path):
        out = runner.invoke(
            app,
            [
                "report",
                "--period",
                "2019-03-04/2019-03-06",
                "--out",
                str(path),
                "--database-url",
                store["url"],
            ],
        )
        assert out.exit_code == 0, out.output
    html = html_path.read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", html)
    assert f"{len(fps)}" in text
    assert f"{sum(fp.co2e_kg for fp in fps):,.2f} kg CO2e" in text
    assert f"{sum(fp.energy_kwh for fp in fps):,.2f} kWh" in text
    assert f"{sum(fp.scope3_kg for fp in fps):,.2f} kg CO2e" in text
    # kg CO2e per unit of each product: its orders' kg over their quantity
    for product in {fp.product for fp in fps}:
        mine = [fp for fp in fps if fp.product == product]
        per_unit = sum(fp.co2e_kg for fp in mine) / sum(fp.quantity for fp in mine)
        assert re.search(rf"{product}\s+{len(mine)}\s+.*?{per_unit:,.4f}", text), product
    for heading in ("Totals", "Hotspots", "Data quality", "Methods and rules", "Orders"):
        assert f">{heading}" in html
    assert "processing_time_share" in text
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(pngs) == 4
    assert all(base64.b64decode(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert "http://" not in html.replace("http://www.w3.org", "")
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type /Page\b", pdf)) >= 3
    # four plots; a PNG with transparency adds its soft mask as one more image
    masks = set(re.findall(rb"/SMask (\d+) 0 R", pdf))
    images = len(re.findall(rb"/Subtype /Image", pdf)) - len(masks)
    assert images == 4


def test_report_errors_name_the_option(store, tmp_path):
    out = runner.invoke(
        app,
        [
            "report",
            "--period",
            "2020-01",
            "--out",
            str(tmp_path / "r.pdf"),
            "--database-url",
            store["url"],
        ],
    )
    assert out.exit_code == 1
    assert "no issued footprint ends in 2020-01-01 to 2020-01-31" in out.output
    out = runner.invoke(
        app,
        [
            "report",
            "--period",
            "2019-03-04",
            "--out",
            str(tmp_path / "r.docx"),
            "--database-url",
            store["url"],
        ],
    )
    assert out.exit_code == 1
    assert ".html or .pdf" in out.output
