"""The period report for a manager: what the plant's orders carried in a period, where it
came from, how good the data was, and how it was computed; as HTML or PDF.

::

    carbontwin report --period 2019-03-04 --out report.pdf
    carbontwin report --period 2019-03-01/2019-04-01 --out report.html

Orders belong to the period their footprint's reference period ends in; the
report reads the newest issued version of each (the signed, official figures).
Hotspots and the hourly profile come from attributing the stored events and
keeping the energy drawn inside the period. The HTML file is self-contained
(plots embedded as PNG); the PDF is laid out with reportlab.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.footprint import Footprint

from .breakdowns import hotspots, orders_frame

__all__ = ["Period", "ReportData", "build_report", "parse_period", "write_report"]


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC interval ``[start, end)``."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        last = self.end - timedelta(seconds=1)
        if last.date() == self.start.date():
            return f"{self.start:%Y-%m-%d}"
        return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d}"


def _day(text: str) -> datetime:
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--period: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time"
        raise CarbonTwinError(msg, field="period") from None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def parse_period(text: str) -> Period:
    """``YYYY-MM-DD`` (a day), ``YYYY-MM`` (a month), ``YYYY`` (a year) or ``START/END``
    (ISO 8601 dates or times, END exclusive); UTC unless a time zone is given."""
    text = text.strip()
    if "/" in text:
        a, _, b = text.partition("/")
        start, end = _day(a), _day(b)
    elif re.fullmatch(r"\d{4}", text):
        start = datetime(int(text), 1, 1, tzinfo=UTC)
        end = datetime(int(text) + 1, 1, 1, tzinfo=UTC)
    elif m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            msg = f"--period: {text!r} has no month {mo}"
            raise CarbonTwinError(msg, field="period")
        start = datetime(y, mo, 1, tzinfo=UTC)
        end = datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=UTC)
    else:
        start = _day(text)
        end = start + timedelta(days=1)
    if end <= start:
        msg = f"--period: {text!r} ends before it starts"
        raise CarbonTwinError(msg, field="period")
    return Period(start, end)


@dataclass(slots=True)
class ReportData:
    """Everything the report shows, computed once for both formats."""

    factory_name: str
    period: Period
    orders: pd.DataFrame
    totals: dict[str, float]
    products: pd.DataFrame
    hot: dict[str, Any]
    hourly: pd.DataFrame
    quality: dict[str, Any]
    methods: dict[str, Any]
    plots: dict[str, bytes] = field(default_factory=dict)


def build_report(store: Any, period: Period) -> ReportData:
    """Collect the period's footprints and the energy drawn in it from ``store``."""
    from .issuing import attribute_stored

    factory = store.load_factory()
    fps: list[Footprint] = [
        fp
        for fp in store.list_footprints(latest_only=True, since=period.start)
        if period.start <= fp.period_end < period.end
    ]
    fps.sort(key=lambda fp: (fp.period_end, fp.order))
    if not fps:
        msg = (
            f"no issued footprint ends in {period.label}: issue them first "
            "(carbontwin demo, or POST /footprints/attribute)"
        )
        raise CarbonTwinError(msg, field="period")
    orders = orders_frame(fps)
    res = attribute_stored(store, factory)
    t0, t1 = period.start.timestamp(), period.end.timestamp()
    hot = hotspots(res, factory, limit=8, start=t0, end=t1)
    hourly = res.hourly_frame()
    hourly = hourly[(hourly.index >= period.start) & (hourly.index < period.end)]
    energy = float(orders["energy_kwh"].sum())
    co2e = float(orders["co2e_kg"].sum())
    totals = {
        "orders": float(len(orders)),
        "energy_kwh": energy,
        "co2e_kg": co2e,
        "co2e_market_kg": float(orders["co2e_market_kg"].sum()),
        "scope1_kg": float(orders["scope1_kg"].sum()),
        "scope2_location_kg": float(orders["scope2_location_kg"].sum()),
        "scope2_market_kg": float(orders["scope2_market_kg"].sum()),
        "scope3_kg": float(orders["scope3_kg"].sum()),
        "plant_kwh": float(hourly["energy_kwh"].sum()),
        "plant_co2e_kg": float(hourly["co2e_kg"].sum()),
        "overhead_kwh": float(hourly["overhead_kwh"].sum()),
    }
    per_product = orders.assign(
        unit_kg=orders["co2e_kg"] / orders["quantity"],
        unit_kwh=orders["energy_kwh"] / orders["quantity"],
    )
    products = (
        per_product.groupby(["product", "declared_unit"])
        .agg(
            orders=("order", "count"),
            quantity=("quantity", "sum"),
            co2e_kg=("co2e_kg", "sum"),
            energy_kwh=("energy_kwh", "sum"),
            min_unit_kg=("unit_kg", "min"),
            max_unit_kg=("unit_kg", "max"),
        )
        .reset_index()
    )
    products["co2e_per_unit_kg"] = products["co2e_kg"] / products["quantity"]
    flags: dict[str, int] = {}
    for fp in fps:
        for flag in fp.flags:
            flags[flag] = flags.get(flag, 0) + 1
    primary = (
        float((orders["primary_data_share"] * orders["co2e_kg"]).sum() / co2e) if co2e else 0.0
    )
    quality = {
        "primary_share": primary,
        "orders_flagged": int(sum(1 for fp in fps if fp.flags)),
        "flags": sorted(flags.items(), key=lambda kv: -kv[1]),
        "filled_kwh": float(sum(res.filled_kwh.values())),
        "metered_kwh": float(sum(res.metered_kwh.values())),
    }
    first = fps[-1]
    methods = {
        "rules": dict(first.rules),
        "factor_versions": dict(first.factor_versions),
        "versions": sorted({fp.version for fp in fps}),
    }
    data = ReportData(factory.name, period, orders, totals, products, hot, hourly, quality, methods)
    data.plots = _plots(data)
    return data


# ------------------------------------------------------------------------- plots


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plots(d: ReportData) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    o = d.orders
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(o))
    s1, s2, s3 = (o[c].to_numpy(float) for c in ("scope1_kg", "scope2_location_kg", "scope3_kg"))
    ax.bar(x, s1, color="#b5651d", label="scope 1 (fuels)")
    ax.bar(x, s2, bottom=s1, color="#4a7ab7", label="scope 2 (electricity, location-based)")
    ax.bar(x, s3, bottom=s1 + s2, color="#8fbc8f", label="scope 3 (materials)")
    ax.set_xticks(x, o["order"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("kg CO2e per order")
    ax.set_title("Footprint per order, by scope")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out["orders"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for product, g in o.groupby("product"):
        when = pd.to_datetime(g["period_end_utc"]).dt.tz_convert("UTC").dt.tz_localize(None)
        ax.plot(when, g["co2e_kg"] / g["quantity"], marker="o", label=str(product))
    ax.set_ylabel("kg CO2e per unit")
    ax.set_title("kg CO2e per unit by product, at each order's completion (UTC)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    out["per_unit"] = _png(fig)

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, key, title, colour in (
        (axes[0], "machines", "machines (with utilities)", "#2f6f4f"),
        (axes[1], "idle", "idle and standby", "#b3261e"),
    ):
        rows = d.hot[key][::-1]
        ax.barh([r["key"] for r in rows], [r["co2e_kg"] for r in rows], color=colour)
        ax.set_title(f"Hotspots: {title}", fontsize=9)
        ax.set_xlabel("kg CO2e", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    out["hotspots"] = _png(fig)

    h = d.hourly
    if len(h):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        idx = h.index.tz_convert("UTC").tz_localize(None)
        ax.bar(idx, h["energy_kwh"], width=1 / 24, align="edge", color="#4a7ab7", label="kWh")
        ax.bar(
            idx,
            h["overhead_kwh"],
            width=1 / 24,
            align="edge",
            color="#b3261e",
            label="of it overhead",
        )
        ax.set_ylabel("kWh per hour")
        ax2 = ax.twinx()
        ax2.step(idx, h["co2e_kg"], where="post", color="#333333", label="kg CO2e")
        ax2.set_ylabel("kg CO2e per hour")
        ax.set_title("Plant energy per hour (UTC)")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper right")
        fig.autofmt_xdate()
        fig.tight_layout()
        out["hourly"] = _png(fig)
    return out


# ------------------------------------------------------------------------- text


def _f(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


_RULES = {
    "idle": "idle and standby energy",
    "off": "energy while switched off",
    "fault": "energy in faults",
    "batch_share": "orders sharing a machine split by",
    "utility_key": "utilities to machines by",
    "idle_period": "idle energy shared within each",
    "bad_readings": "implausible meter readings",
    "max_sample_interval_s": "readings further apart than this are a gap [s]",
}

METHODS = (
    "Cradle-to-gate product footprints after the GHG Protocol Product Standard and ISO 14067. "
    "Metered energy is split to machines by their power-state model, to orders by the time "
    "their steps occupied each machine; utilities (compressed air, HVAC) follow their "
    "allocation key. Electricity uses the grid factor of the hour it was drawn in "
    "(location-based; market-based beside it), fuels their factor as scope 1, materials "
    "their supplier's product footprint as scope 3. Energy no order carries is plant "
    "overhead. Every footprint is signed (Ed25519) when issued."
)


def _sections(d: ReportData) -> list[tuple[str, list[Any]]]:
    """The report as (heading, blocks): a block is a paragraph (str), a table
    (``("table", header, rows)``) or a plot (``("plot", name)``)."""
    t = d.totals
    totals_rows = [
        ["orders completed", f"{int(t['orders'])}"],
        ["energy of the orders", f"{_f(t['energy_kwh'])} kWh"],
        ["footprint of the orders (location-based)", f"{_f(t['co2e_kg'])} kg CO2e"],
        ["footprint of the orders (market-based)", f"{_f(t['co2e_market_kg'])} kg CO2e"],
        ["scope 1 (fuels)", f"{_f(t['scope1_kg'])} kg CO2e"],
        ["scope 2 (electricity, location-based)", f"{_f(t['scope2_location_kg'])} kg CO2e"],
        ["scope 3 (materials)", f"{_f(t['scope3_kg'])} kg CO2e"],
        ["plant energy drawn in the period", f"{_f(t['plant_kwh'])} kWh"],
        ["of it plant overhead (no order)", f"{_f(t['overhead_kwh'])} kWh"],
    ]
    products = [
        [
            r.product,
            f"{int(r.orders)}",
            f"{r.quantity:,.6g} {r.declared_unit}",
            _f(r.co2e_per_unit_kg, 4),
            f"{_f(r.min_unit_kg, 4)} – {_f(r.max_unit_kg, 4)}",
            _f(r.energy_kwh / r.quantity, 3),
        ]
        for r in d.products.itertuples()
    ]
    orders = [
        [
            r.order,
            r.product,
            f"{r.quantity:g} {r.declared_unit}",
            _f(r.energy_kwh),
            _f(r.co2e_kg),
            _f(r.co2e_kg / r.quantity, 4),
            f"{r.primary_data_share:.0%}",
            f"{pd.Timestamp(r.period_end_utc):%Y-%m-%d %H:%M}",
        ]
        for r in d.orders.itertuples()
    ]

    def hot_rows(key: str) -> list[list[str]]:
        return [
            [r["key"], _f(r["energy_kwh"]), _f(r["co2e_kg"]), _f(r["overhead_co2e_kg"])]
            for r in d.hot[key]
        ]

    q = d.quality
    quality: list[Any] = [
        f"Primary (measured) data: {q['primary_share']:.0%} of the orders' kg CO2e. "
        f"{q['orders_flagged']} of {len(d.orders)} orders carry data-quality flags. "
        f"Energy filled from the power-state model where meters had gaps: "
        f"{_f(q['filled_kwh'])} kWh of {_f(q['metered_kwh'] + q['filled_kwh'])} kWh."
    ]
    if q["flags"]:
        quality.append(("table", ["flag", "orders"], [[f, str(n)] for f, n in q["flags"]]))
    rules = [
        [_RULES.get(k, k), str(v) if v != "" else "each utility's own key"]
        for k, v in sorted(d.methods["rules"].items())
    ]
    factors = [[k, str(v)] for k, v in sorted(d.methods["factor_versions"].items())]
    return [
        ("Totals", [("table", ["", ""], totals_rows), ("plot", "orders")]),
        (
            "kg CO2e per unit, by product",
            [
                (
                    "table",
                    ["product", "orders", "quantity", "kg CO2e/unit", "range", "kWh/unit"],
                    products,
                ),
                ("plot", "per_unit"),
            ],
        ),
        (
            "Hotspots: what cost the most CO2e (scopes 1 and 2)",
            [
                ("table", ["machine", "kWh", "kg CO2e", "of it overhead"], hot_rows("machines")),
                ("table", ["state", "kWh", "kg CO2e", "of it overhead"], hot_rows("states")),
                ("plot", "hotspots"),
                ("plot", "hourly"),
            ],
        ),
        ("Data quality", quality),
        (
            "Methods and rules",
            [
                METHODS,
                ("table", ["allocation rule", "setting"], rules),
                ("table", ["emission factors", "version"], factors),
                "Grid intensity derived from ENTSO-E Transparency Platform generation data "
                "and Tranberg et al. (2019) emission factors.",
            ],
        ),
        (
            "Orders",
            [
                (
                    "table",
                    [
                        "order",
                        "product",
                        "quantity",
                        "kWh",
                        "kg CO2e",
                        "kg CO2e/unit",
                        "primary",
                        "completed (UTC)",
                    ],
                    orders,
                )
            ],
        ),
    ]


_NUMERIC = re.compile(r"^[-\d.,]+( |$|%)")


def _html(d: ReportData) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Carbon report {html.escape(d.period.label)}</title><style>",
        "body{font-family:system-ui,'DejaVu Sans',sans-serif;color:#1d2a24;max-width:60rem;"
        "margin:2rem auto;padding:0 1rem}h1{color:#2f6f4f}h2{border-bottom:2px solid #2f6f4f;"
        "padding-bottom:.2rem;margin-top:2rem}table{border-collapse:collapse;margin:.6rem 0;"
        "font-size:.9rem}td,th{border-bottom:1px solid #d6ddd9;padding:.25rem .6rem;"
        "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums;"
        "white-space:nowrap}img{max-width:100%}.muted{color:#5b6b63}",
        "</style></head><body>",
        f"<h1>Carbon report: {html.escape(d.factory_name)}</h1>",
        f"<p class='muted'>Period {html.escape(d.period.label)} (UTC); generated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by carbontwin.</p>",
    ]
    for heading, blocks in _sections(d):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for b in blocks:
            if isinstance(b, str):
                parts.append(f"<p>{html.escape(b)}</p>")
            elif b[0] == "plot":
                if b[1] in d.plots:
                    src = base64.b64encode(d.plots[b[1]]).decode("ascii")
                    parts.append(f"<img alt='{b[1]}' src='data:image/png;base64,{src}'>")
            else:
                _, header, rows = b
                parts.append("<table>")
                if any(header):
                    parts.append(
                        "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
                    )
                for row in rows:
                    cells = "".join(
                        f"<td class='{'n' if _NUMERIC.match(c) else ''}'>{html.escape(c)}</td>"
                        for c in row
                    )
                    parts.append(f"<tr>{cells}</tr>")
                parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _pdf(d: ReportData, path: Path) -> None:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    body = styles["BodyText"]
    story: list[Any] = [
        Paragraph(f"Carbon report: {html.escape(d.factory_name)}", styles["Title"]),
        Paragraph(
            f"Period {html.escape(d.period.label)} (UTC); generated "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC by carbontwin.",
            body,
        ),
    ]
    width = A4[0] - 36 * mm
    for heading, blocks in _sections(d):
        story.append(Paragraph(html.escape(heading), styles["Heading2"]))
        for b in blocks:
            if isinstance(b, str):
                story.append(Paragraph(html.escape(b), body))
            elif b[0] == "plot":
                if b[1] in d.plots:
                    img = Image(io.BytesIO(d.plots[b[1]]))
                    scale = width / img.drawWidth
                    img.drawWidth, img.drawHeight = width, img.drawHeight * scale
                    story.append(img)
            else:
                _, header, rows = b
                data = ([header] if any(header) else []) + rows
                small = styles["BodyText"].clone("cell", fontSize=7.5, leading=9)
                right = small.clone("number", alignment=TA_RIGHT)
                cells = [
                    [Paragraph(html.escape(c), right if _NUMERIC.match(c) else small) for c in row]
                    for row in data
                ]
                tbl = Table(cells, repeatRows=1 if any(header) else 0, hAlign="LEFT")
                style = [
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d6ddd9")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
                if any(header):
                    style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0eb")))
                tbl.setStyle(TableStyle(style))
                story.append(tbl)
            story.append(Spacer(1, 3 * mm))
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Carbon report {d.period.label}",
        author="carbontwin",
    )
    doc.build(story)


def write_report(data: ReportData, path: Path) -> Path:
    """Write ``data`` as HTML (``.html``/``.htm``) or PDF (``.pdf``), by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        path.write_text(_html(data), encoding="utf-8")
    elif suffix == ".pdf":
        _pdf(data, path)
    else:
        msg = f"--out {path}: the report is written as .html or .pdf"
        raise CarbonTwinError(msg, field="out")
    return path
