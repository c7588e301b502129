"""The printable product carbon label of one order: SVG, HTML and PDF.

One layout (A6 landscape, 148 x 105 mm) is built once as a list of shapes and
drawn by two back ends: SVG text and a reportlab PDF canvas, so the screen and
the printed label agree. The label shows the product, the order, kg CO2e per
declared unit and in total, a bar of scopes 1/2/3, the primary data share, the
reference period, the methods used and a QR code (``qrcode``) with the URL of
the footprint's PACT document. A withdrawn footprint's label (status
Deprecated, issued by a withdrawal) says so: a red band "WITHDRAWN", the
reason, and the figures in grey.

Both scope 2 methods are on every label: the headline figure uses the one the
service chose (``headline``, location- or market-based), the line below it the
other. A label carries no signature of its own: its document
(:func:`label_document`) embeds the footprint exactly as signed when it was
issued, with the presentation context (product name, company, QR URL,
headline); :func:`verify_label` checks that signature and that the label's
figures are the ones that footprint gives. Nothing is signed when a label is
made.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import qrcode
from reportlab.lib.colors import HexColor
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from carbontwin.twin.errors import PluginError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.quantities import utc

from ._methods import factor_phrases, rule_phrases
from .signing import Verification, verify_document

__all__ = [
    "LabelData",
    "label_data",
    "label_document",
    "label_from_document",
    "verify_label",
    "render_html",
    "render_pdf",
    "render_svg",
    "verify_pdf",
]

MM = 72.0 / 25.4
WIDTH = 148 * MM
HEIGHT = 105 * MM
SCOPE_COLOURS = ("#33658a", "#86bbd8", "#f6ae2d")
INK = "#1d2b36"
MUTED = "#5b6b78"
ACCENT = "#2f7d4f"
WITHDRAWN_RED = "#b3261e"


@dataclass(frozen=True, slots=True)
class LabelData:
    """Everything the label prints, already in words and numbers.

    Attributes
    ----------
    per_unit_kg, total_kg : float
        Headline footprint per declared unit and of the whole order [kg CO2e].
    location_per_unit_kg, market_per_unit_kg : float
        Per declared unit with location- and market-based scope 2 [kg CO2e].
    headline : str
        ``"location"`` or ``"market"``: the scope 2 method of the headline.
    scopes_kg : tuple of (str, float)
        Scope name and emissions of the whole order [kg CO2e].
    primary_data_share : float
        0..1.
    """

    company: str
    product: str
    order: str
    quantity: float
    unit: str
    per_unit_kg: float
    total_kg: float
    market_per_unit_kg: float
    scopes_kg: tuple[tuple[str, float], ...]
    primary_data_share: float
    period_start: datetime
    period_end: datetime
    methods: tuple[str, ...]
    qr_url: str
    footprint_id: str
    version: int
    issued_at: datetime | None = None
    key_id: str = ""
    energy_kwh: float = 0.0
    location_per_unit_kg: float = float("nan")
    headline: str = "location"
    facts: tuple[tuple[str, str], ...] = ()  # more label lines: validity, mass, DQR, spec
    withdrawn: str = ""  # why the footprint was withdrawn; "" while it stands

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (checked against its footprint by :func:`verify_label`)."""
        return {
            "company": self.company,
            "product": self.product,
            "order": self.order,
            "quantity": self.quantity,
            "unit": self.unit,
            "per_unit_kg": round(self.per_unit_kg, 6),
            "total_kg": round(self.total_kg, 6),
            "market_per_unit_kg": round(self.market_per_unit_kg, 6),
            "scopes_kg": {k: round(v, 6) for k, v in self.scopes_kg},
            "primary_data_share": round(self.primary_data_share, 6),
            "period_start": _iso(self.period_start),
            "period_end": _iso(self.period_end),
            "methods": list(self.methods),
            "qr_url": self.qr_url,
            "footprint_id": self.footprint_id,
            "version": self.version,
            "issued_at": _iso(self.issued_at) if self.issued_at else None,
            "energy_kwh": round(self.energy_kwh, 6),
            "location_per_unit_kg": round(self.location_per_unit_kg, 6),
            "headline": self.headline,
            **({"facts": [list(f) for f in self.facts]} if self.facts else {}),
            **({"withdrawn": self.withdrawn} if self.withdrawn else {}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, key_id: str = "") -> LabelData:
        """Inverse of :meth:`to_dict` (for re-rendering signed label data)."""
        return cls(
            company=str(d["company"]),
            product=str(d["product"]),
            order=str(d["order"]),
            quantity=float(d["quantity"]),
            unit=str(d["unit"]),
            per_unit_kg=float(d["per_unit_kg"]),
            total_kg=float(d["total_kg"]),
            market_per_unit_kg=float(d["market_per_unit_kg"]),
            scopes_kg=tuple((str(k), float(v)) for k, v in d["scopes_kg"].items()),
            primary_data_share=float(d["primary_data_share"]),
            period_start=utc(d["period_start"]),
            period_end=utc(d["period_end"]),
            methods=tuple(str(m) for m in d["methods"]),
            qr_url=str(d["qr_url"]),
            footprint_id=str(d["footprint_id"]),
            version=int(d["version"]),
            issued_at=utc(d["issued_at"]) if d.get("issued_at") else None,
            key_id=key_id,
            energy_kwh=float(d.get("energy_kwh", 0.0)),
            location_per_unit_kg=float(d.get("location_per_unit_kg", d["per_unit_kg"])),
            headline=str(d.get("headline", "location")),
            facts=tuple((str(k), str(v)) for k, v in d.get("facts", ())),
            withdrawn=str(d.get("withdrawn", "")),
        )


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def label_data(
    fp: Footprint,
    *,
    product_name: str = "",
    company: str = "",
    pact_url: str = "",
    key_id: str = "",
    headline: str = "location",
    facts: tuple[tuple[str, str], ...] = (),
) -> LabelData:
    """Label content of footprint ``fp``; ``pact_url`` goes into the QR code; ``facts``
    are more (name, value) lines (:func:`carbontwin.plugins.pact.label_facts`).

    ``headline`` chooses the scope 2 method of the big figure (``"location"``
    or ``"market"``); the other is printed beside it. The methods are the
    footprint's own method text, generated from the rules that were applied.
    """
    if headline not in ("location", "market"):
        msg = f"headline {headline!r} is not 'location' or 'market'"
        raise PluginError(msg, field="headline")
    methods = [
        "GHG Protocol Product Standard and ISO 14067; cradle-to-gate",
        "metered machine energy by machine state; grid factor at the hour of use",
    ]
    applied = list(fp.method) or rule_phrases(fp.rules)
    if applied:
        methods.append("Allocation: " + "; ".join(applied))
    factors = factor_phrases(fp.factor_versions)
    if factors:
        methods.append("Factors: " + "; ".join(factors))
    q = fp.quantity if fp.quantity else float("nan")
    market = headline == "market"
    total = fp.co2e_market_kg if market else fp.co2e_kg
    scope2 = fp.scope2_market_kg if market else fp.scope2_location_kg
    return LabelData(
        company=company or fp.factory,
        product=product_name or fp.product,
        order=fp.order,
        quantity=fp.quantity,
        unit=fp.declared_unit,
        per_unit_kg=total / q,
        total_kg=total,
        market_per_unit_kg=fp.co2e_market_kg / q,
        scopes_kg=(
            ("Scope 1 fuels", fp.scope1_kg),
            ("Scope 2 electricity", scope2),
            ("Scope 3 materials", fp.scope3_kg),
        ),
        primary_data_share=fp.primary_data_share,
        period_start=fp.period_start,
        period_end=fp.period_end,
        methods=tuple(methods),
        qr_url=pact_url or f"urn:uuid:{fp.id}",
        footprint_id=fp.id,
        version=fp.version,
        issued_at=fp.issued_at,
        key_id=key_id,
        energy_kwh=fp.energy_kwh,
        location_per_unit_kg=fp.co2e_kg / q,
        headline=headline,
        facts=tuple(facts),
        withdrawn=fp.withdrawal_reason,
    )


def label_document(
    signed_footprint: Mapping[str, Any],
    *,
    product_name: str = "",
    company: str = "",
    pact_url: str = "",
    headline: str = "location",
    facts: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """The label's document: the footprint as signed at issuance, the presentation
    context and the label data they give (nothing is signed here)."""
    context = {
        "product_name": product_name,
        "company": company,
        "pact_url": pact_url,
        "headline": headline,
        "facts": [list(f) for f in facts],
    }
    doc = {"footprint": dict(signed_footprint), "context": context}
    doc["label"] = label_from_document(doc).to_dict()
    return doc


def label_from_document(doc: Mapping[str, Any]) -> LabelData:
    """The label data of a label document (from its embedded footprint and context)."""
    try:
        fp = Footprint.from_dict(doc["footprint"]["payload"])
        ctx = doc["context"]
        sig = doc["footprint"].get("signature") or {}
        return label_data(
            fp,
            product_name=str(ctx.get("product_name", "")),
            company=str(ctx.get("company", "")),
            pact_url=str(ctx.get("pact_url", "")),
            key_id=str(sig.get("key_id", "")) if isinstance(sig, Mapping) else "",
            headline=str(ctx.get("headline", "location")),
            facts=tuple((str(k), str(v)) for k, v in ctx.get("facts", ())),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = f"not a label document (footprint, context): {exc}"
        raise PluginError(msg, field="label") from exc


def verify_label(doc: Any, public_key: Any) -> Verification:
    """Was a label document altered? Its embedded footprint must carry a valid signature
    made at issuance, and its label data must be what that footprint gives."""
    if not isinstance(doc, Mapping) or "footprint" not in doc or "context" not in doc:
        return Verification(False, "not a label document: needs 'footprint' and 'context'")
    result = verify_document(doc["footprint"], public_key)
    if not result.valid:
        return Verification(
            False,
            f"embedded footprint: {result.reason}",
            result.key_id,
            result.sha256,
            altered=result.altered,
        )
    try:
        want = label_from_document(doc).to_dict()
    except PluginError as exc:
        return Verification(False, exc.message, result.key_id, result.sha256)
    if "label" in doc and doc["label"] != want:
        return Verification(
            False,
            "the label data differ from what its signed footprint gives: the label was altered",
            result.key_id,
            result.sha256,
            altered=True,
        )
    return Verification(
        True,
        "signature made at issuance valid and the label matches its footprint",
        result.key_id,
        result.sha256,
    )


# --- layout -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rect:
    x: float
    y: float  # top, from the top edge [pt]
    w: float
    h: float
    fill: str
    stroke: str = ""


@dataclass(frozen=True, slots=True)
class _Text:
    x: float
    y: float  # baseline, from the top edge [pt]
    text: str
    size: float
    bold: bool = False
    colour: str = INK
    anchor: str = "start"  # start | end | middle


@dataclass(slots=True)
class _Layout:
    shapes: list[_Rect | _Text] = field(default_factory=list)

    def rect(self, *a: Any, **k: Any) -> None:
        self.shapes.append(_Rect(*a, **k))

    def text(self, *a: Any, **k: Any) -> None:
        self.shapes.append(_Text(*a, **k))


def _font(bold: bool) -> str:
    return "Helvetica-Bold" if bold else "Helvetica"


def _wrap(text: str, size: float, width: float, bold: bool = False) -> Iterator[str]:
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if stringWidth(trial, _font(bold), size) <= width or not line:
            line = trial
        else:
            yield line
            line = word
    if line:
        yield line


def _fit(text: str, size: float, width: float, bold: bool = False) -> str:
    """``text`` shortened with an ellipsis to fit ``width``."""
    if stringWidth(text, _font(bold), size) <= width:
        return text
    while text and stringWidth(text + "…", _font(bold), size) > width:
        text = text[:-1]
    return text + "…"


def _num(x: float) -> str:
    if x != x:  # NaN
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}"
    if abs(x) >= 0.1:
        return f"{x:,.2f}"
    return f"{x:.3g}"


def _layout(d: LabelData) -> _Layout:
    lay = _Layout()
    m = 6 * MM
    lay.rect(0, 0, WIDTH, HEIGHT, "#ffffff", stroke="#c9d3da")
    # header band (a withdrawn footprint's says so, in red)
    lay.rect(0, 0, WIDTH, 11 * MM, WITHDRAWN_RED if d.withdrawn else ACCENT)
    title = "WITHDRAWN · NOT A VALID FOOTPRINT" if d.withdrawn else "PRODUCT CARBON FOOTPRINT"
    lay.text(m, 7.3 * MM, title, 11, bold=True, colour="#ffffff")
    lay.text(WIDTH - m, 7.3 * MM, _fit(d.company, 9, 60 * MM), 9, colour="#ffffff", anchor="end")
    qr_size = 30 * MM
    left_w = WIDTH - 2 * m - qr_size - 5 * MM
    y = 18.5 * MM
    lay.text(m, y, _fit(d.product, 14, left_w, True), 14, bold=True)
    y += 5 * MM
    unit = "piece" if d.unit == "piece" else d.unit
    qty = f"{d.quantity:g} {unit}{'s' if unit == 'piece' and d.quantity != 1 else ''}"
    lay.text(m, y, _fit(f"Order {d.order}  ·  {qty}", 8.5, left_w), 8.5, colour=MUTED)
    # headline number
    y += 12 * MM
    big = _num(d.per_unit_kg)
    lay.text(m, y, big, 30, bold=True, colour=MUTED if d.withdrawn else ACCENT)
    bw = stringWidth(big, _font(True), 30)
    lay.text(m + bw + 2 * MM, y - 5.5 * MM, "kg CO2e", 10, bold=True)
    lay.text(m + bw + 2 * MM, y, f"per {unit}", 9, colour=MUTED)
    y += 5 * MM
    other, other_kg = (
        ("location-based", d.location_per_unit_kg)
        if d.headline == "market"
        else ("market-based", d.market_per_unit_kg)
    )
    lay.text(
        m,
        y,
        f"{_num(d.total_kg)} kg CO2e for the order ({d.headline}-based scope 2)  ·  "
        f"{other} {_num(other_kg)} kg/{unit}",
        8,
        colour=MUTED,
    )
    # scope bar
    y += 4 * MM
    bar_w = left_w
    total = sum(max(v, 0.0) for _, v in d.scopes_kg)
    x = m
    lay.rect(m, y, bar_w, 4.5 * MM, "#eef2f5")
    for (_, v), colour in zip(d.scopes_kg, SCOPE_COLOURS, strict=True):
        w = bar_w * max(v, 0.0) / total if total > 0 else 0.0
        if w > 0:
            lay.rect(x, y, w, 4.5 * MM, colour)
        x += w
    y += 8.5 * MM
    col_w = bar_w / 3
    for i, ((name, v), colour) in enumerate(zip(d.scopes_kg, SCOPE_COLOURS, strict=True)):
        cx = m + i * col_w
        lay.rect(cx, y - 2.6 * MM, 2.6 * MM, 2.6 * MM, colour)
        lay.text(cx + 3.6 * MM, y, name, 6.5, bold=True)
        share = f"{100 * v / total:.0f} %" if total > 0 else "–"
        lay.text(cx + 3.6 * MM, y + 3.2 * MM, f"{_num(v)} kg  ({share})", 6.5, colour=MUTED)
    # facts
    y += 9.5 * MM
    period = (
        f"{d.period_start:%Y-%m-%d %H:%M} – {d.period_end:%Y-%m-%d %H:%M} UTC"
        if d.period_start.date() != d.period_end.date()
        else f"{d.period_start:%Y-%m-%d}, {d.period_start:%H:%M}–{d.period_end:%H:%M} UTC"
    )
    facts = (
        *((("Withdrawn", d.withdrawn),) if d.withdrawn else ()),
        ("Primary data", f"{100 * d.primary_data_share:.0f} % measured"),
        ("Reference period", period),
        ("Energy", f"{_num(d.energy_kwh)} kWh"),
        *d.facts,
    )
    for fact, value in facts:
        lay.text(m, y, fact, 7, bold=True)
        lay.text(m + 24 * MM, y, _fit(value, 7, left_w - 24 * MM), 7)
        y += 3.6 * MM
    lay.text(m, y, "Methods", 7, bold=True)
    for method in d.methods:
        for line in _wrap(method, 6.5, left_w - 24 * MM):
            if y > HEIGHT - 5 * MM:
                break
            lay.text(m + 24 * MM, y, line, 6.5, colour=MUTED)
            y += 3.0 * MM
    # QR code, right column
    qx = WIDTH - m - qr_size
    qy = 15 * MM
    _qr(lay, d.qr_url, qx, qy, qr_size)
    lay.text(
        qx + qr_size / 2,
        qy + qr_size + 4 * MM,
        "Scan for the PACT data",
        6.5,
        bold=True,
        anchor="middle",
    )
    ty = qy + qr_size + 7.5 * MM
    for line in _chunks(d.qr_url, 6, qr_size + 4 * MM):
        lay.text(qx + qr_size / 2, ty, line, 5, colour=MUTED, anchor="middle")
        ty += 2.4 * MM
    ty += 2 * MM
    lay.text(qx + qr_size / 2, ty, f"Footprint v{d.version}", 6, bold=True, anchor="middle")
    ty += 2.8 * MM
    lay.text(qx + qr_size / 2, ty, d.footprint_id, 4.5, colour=MUTED, anchor="middle")
    ty += 2.4 * MM
    if d.issued_at is not None:
        lay.text(
            qx + qr_size / 2, ty, f"issued {d.issued_at:%Y-%m-%d}", 5, colour=MUTED, anchor="middle"
        )
        ty += 2.4 * MM
    if d.key_id:
        lay.text(
            qx + qr_size / 2,
            ty,
            f"Ed25519 key fingerprint {d.key_id}",
            5,
            colour=MUTED,
            anchor="middle",
        )
    return lay


def _chunks(text: str, size: float, width: float) -> Iterator[str]:
    line = ""
    for ch in text:
        if stringWidth(line + ch, "Helvetica", size) > width:
            yield line
            line = ""
        line += ch
    if line:
        yield line


def _qr(lay: _Layout, data: str, x: float, y: float, size: float) -> None:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    cell = size / len(matrix)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                lay.rect(
                    x + start * cell, y + r * cell, (c - start) * cell + 0.05, cell + 0.05, INK
                )
            else:
                c += 1


# --- back ends --------------------------------------------------------------


def render_svg(d: LabelData) -> str:
    """The label as a standalone SVG document (148 x 105 mm)."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="148mm" height="105mm" '
        f'viewBox="0 0 {WIDTH:.2f} {HEIGHT:.2f}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>Product carbon footprint of order {html.escape(d.order)}</title>",
    ]
    for s in _layout(d).shapes:
        if isinstance(s, _Rect):
            stroke = f' stroke="{s.stroke}" stroke-width="0.8"' if s.stroke else ""
            out.append(
                f'<rect x="{s.x:.2f}" y="{s.y:.2f}" width="{s.w:.2f}" height="{s.h:.2f}" '
                f'fill="{s.fill}"{stroke}/>'
            )
        else:
            weight = ' font-weight="bold"' if s.bold else ""
            out.append(
                f'<text x="{s.x:.2f}" y="{s.y:.2f}" font-size="{s.size}" '
                f'fill="{s.colour}" text-anchor="{s.anchor}"{weight}>'
                f"{html.escape(s.text)}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)


def render_html(d: LabelData | None, document: Mapping[str, Any] | None = None) -> str:
    """A small HTML page with the SVG label and its data as JSON: the label document
    (:func:`label_document`, the signed footprint inside) when given."""
    if document is not None:
        d = label_from_document(document)
    if d is None:
        msg = "render_html needs label data or a label document"
        raise PluginError(msg, field="label")
    data = json.dumps(
        dict(document) if document is not None else {"label": d.to_dict()},
        indent=1,
        sort_keys=True,
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Carbon label · order {html.escape(d.order)}</title>"
        "<style>body{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#1d2b36}"
        "svg{max-width:100%;height:auto;box-shadow:0 1px 4px #0002}"
        "pre{font-size:.75rem;background:#f4f6f8;padding:1rem;overflow:auto}</style>"
        f"</head><body>\n{render_svg(d)}\n"
        f'<p><a href="{html.escape(d.qr_url)}">PACT footprint data</a></p>'
        "<details><summary>Label data</summary>"
        f'<pre id="label-data">{html.escape(data)}</pre></details>\n</body></html>\n'
    )


_PDF_TAG = "carbontwin-signed-label:"


def render_pdf(d: LabelData | None, document: Mapping[str, Any] | None = None) -> bytes:
    """The label as a one-page PDF (A6 landscape, vector QR code).

    With ``document`` (:func:`label_document`: the footprint as signed at
    issuance and the presentation context) the label is drawn from it and the
    document travels in the PDF's Keywords, so :func:`verify_pdf` can tell
    whether any byte of the file was changed. Rendering is deterministic
    (reportlab ``invariant`` mode).
    """
    keywords = ""
    if document is not None:
        d = label_from_document(document)
        blob = json.dumps(dict(document), separators=(",", ":"), ensure_ascii=False)
        keywords = _PDF_TAG + base64.b64encode(blob.encode("utf-8")).decode("ascii")
    if d is None:
        msg = "render_pdf needs label data or a label document"
        raise PluginError(msg, field="label")
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(WIDTH, HEIGHT), invariant=True)
    c.setTitle(f"Product carbon footprint, order {d.order}")
    c.setAuthor(d.company)
    c.setSubject(d.qr_url)
    if keywords:
        c.setKeywords(keywords)
    for s in _layout(d).shapes:
        if isinstance(s, _Rect):
            c.setFillColor(HexColor(s.fill))
            if s.stroke:
                c.setStrokeColor(HexColor(s.stroke))
                c.setLineWidth(0.8)
            c.rect(s.x, HEIGHT - s.y - s.h, s.w, s.h, stroke=1 if s.stroke else 0, fill=1)
        else:
            c.setFillColor(HexColor(s.colour))
            c.setFont(_font(s.bold), s.size)
            yy = HEIGHT - s.y
            if s.anchor == "end":
                c.drawRightString(s.x, yy, s.text)
            elif s.anchor == "middle":
                c.drawCentredString(s.x, yy, s.text)
            else:
                c.drawString(s.x, yy, s.text)
    c.showPage()
    c.save()
    return buf.getvalue()


def verify_pdf(pdf: bytes, public_key: Any) -> Verification:
    """Was a label PDF altered? Checks the embedded footprint's signature made at
    issuance and the label data (:func:`verify_label`), then that the file is byte
    for byte the rendering of that label document."""
    m = re.search(rb"/Keywords \(" + re.escape(_PDF_TAG.encode()) + rb"([A-Za-z0-9+/=]+)\)", pdf)
    if m is None:
        return Verification(False, "no signed label data in this PDF")
    try:
        signed = json.loads(base64.b64decode(m.group(1), validate=True))
    except ValueError:
        return Verification(False, "the embedded label data is damaged", altered=True)
    result = verify_label(signed, public_key)
    if not result.valid:
        return result
    try:
        same = render_pdf(None, signed) == pdf
    except (KeyError, TypeError, ValueError, PluginError):
        same = False
    if not same:
        return Verification(
            False,
            "the PDF differs from its label document: the file was altered",
            result.key_id,
            result.sha256,
            altered=True,
        )
    return Verification(
        True,
        "signature made at issuance valid and the PDF matches its footprint",
        result.key_id,
        result.sha256,
    )
