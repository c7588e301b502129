"""The printable label: SVG, HTML and PDF with a QR code of the PACT URL."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pypdf
import pytest

from carbontwin.plugins.label import label_data, render_html, render_pdf, render_svg
from carbontwin.twin.footprint import Footprint

URL = "https://carbon.example.com/carbon/3/footprints/0b6d6a4e-5d1e-4c3a-9a43-3e8f1c2d9b10"


def footprint() -> Footprint:
    t0 = datetime(2019, 3, 4, 6, tzinfo=UTC)
    return Footprint(
        order="O-1001",
        product="bracket",
        quantity=240.0,
        declared_unit="piece",
        period_start=t0,
        period_end=datetime(2019, 3, 4, 13, 40, tzinfo=UTC),
        energy_kwh=412.5,
        co2e_kg=690.0,
        co2e_market_kg=501.0,
        scope1_kg=34.5,
        scope2_location_kg=241.5,
        scope2_market_kg=52.5,
        scope3_kg=414.0,
        primary_data_share=0.87,
        rules={"idle": "processing_time_share"},
        factor_versions={"DE_2019_hourly": "2019.1"},
        issued_at=datetime(2019, 3, 5, tzinfo=UTC),
        factory="demo-plant",
        id="0b6d6a4e-5d1e-4c3a-9a43-3e8f1c2d9b10",
    )


@pytest.fixture
def data():
    return label_data(
        footprint(),
        product_name="Steel mounting bracket",
        company="Demo metalworks",
        pact_url=URL,
        key_id="abcd1234abcd1234",
    )


def test_label_data_numbers(data):
    assert data.per_unit_kg == pytest.approx(690.0 / 240.0)
    assert dict(data.scopes_kg) == {
        "Scope 1 fuels": 34.5,
        "Scope 2 electricity": 241.5,
        "Scope 3 materials": 414.0,
    }
    assert data.to_dict()["qr_url"] == URL


def test_svg_shows_the_facts_and_a_qr_code(data):
    svg = render_svg(data)
    root = ET.fromstring(svg)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for needle in (
        "Steel mounting bracket",
        "Order O-1001",
        "2.88",
        "kg CO2e",
        "per piece",
        "87 % measured",
        "2019-03-04, 06:00–13:40 UTC",
        "Scope 2 electricity",
        "35 %",
        "setup counted",
    ):
        assert needle in texts, needle
    rects = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) > 100  # QR modules


def test_scope_bar_widths_are_proportional(data):
    svg = render_svg(data)
    widths = {
        fill: float(w)
        for w, fill in re.findall(
            r'width="([\d.]+)" height="12\.76" fill="(#33658a|#86bbd8|#f6ae2d)"', svg
        )
    }
    total = sum(widths.values())
    assert widths["#f6ae2d"] / total == pytest.approx(414.0 / 690.0, abs=1e-3)


def test_html_embeds_label_data(data):
    page = render_html(data)
    assert "<svg" in page
    assert "&quot;qr_url&quot;" in page
    assert URL in page


def test_label_shows_both_scope2_methods_with_the_chosen_headline():
    """690 kg location-based, 501 kg market-based over 240 pieces (the footprint above)."""
    loc = label_data(footprint(), pact_url=URL)
    mkt = label_data(footprint(), pact_url=URL, headline="market")
    assert loc.per_unit_kg == pytest.approx(690.0 / 240.0)
    assert mkt.per_unit_kg == pytest.approx(501.0 / 240.0)
    assert dict(mkt.scopes_kg)["Scope 2 electricity"] == 52.5
    loc_text = " ".join(re.findall(r">([^<]+)</text>", render_svg(loc)))
    mkt_text = " ".join(re.findall(r">([^<]+)</text>", render_svg(mkt)))
    assert "2.88" in loc_text
    assert "market-based 2.09 kg/piece" in loc_text
    assert "2.09" in mkt_text
    assert "location-based 2.88 kg/piece" in mkt_text


def test_label_method_text_is_the_footprints_own():
    import dataclasses

    fp = dataclasses.replace(footprint(), method=("processing_time_only: by processing time",))
    d = label_data(fp)
    assert "Allocation: processing_time_only: by processing time" in d.methods


def test_pdf_is_one_page(data, tmp_path):
    pdf = render_pdf(data)
    assert pdf.startswith(b"%PDF-")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1
    # the text a reader extracts from the page (pypdf reads the content stream)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Steel mounting bracket" in text
    assert "2.88" in text
    assert "Scope 3 materials" in text


def test_signed_pdf_detects_changed_bytes(tmp_path):
    from carbontwin.plugins.label import label_document, verify_label, verify_pdf
    from carbontwin.plugins.signing import load_or_create_key, sign_document

    key = load_or_create_key(tmp_path / "k.pem")
    issued = sign_document(footprint().to_dict(), key)  # as the store signs at issuance
    doc = label_document(issued, product_name="Steel mounting bracket", pact_url=URL)
    assert verify_label(doc, key).valid
    pdf = render_pdf(None, doc)
    assert render_pdf(None, doc) == pdf  # deterministic
    assert verify_pdf(pdf, key).valid
    other = load_or_create_key(tmp_path / "other.pem")
    assert not verify_pdf(pdf, other).valid
    assert not verify_pdf(render_pdf(label_data(footprint())), key).valid  # no footprint inside
    for i in range(0, len(pdf), 37):  # a changed byte anywhere in the file
        altered = bytearray(pdf)
        altered[i] ^= 0x01
        assert not verify_pdf(bytes(altered), key).valid, i
    # the label's figures must be what its signed footprint gives
    edited = {**doc, "label": {**doc["label"], "per_unit_kg": 0.01}}
    assert "label was altered" in verify_label(edited, key).reason
    # a footprint rewritten after issuance: its signature no longer holds
    forged = {**doc, "footprint": {**issued, "payload": {**issued["payload"], "co2e_kg": 1.0}}}
    assert not verify_label(forged, key).valid
