"""Command ``carbontwin cbam``: CBAM embedded emissions of the store's goods.

Writes the communication of the installation (Implementing Regulation (EU)
2023/1773, Annex IV) as an .xlsx in the structure of the EU communication
template, or as JSON (see :mod:`carbontwin.plugins.cbam`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]


def cbam(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Output file: .xlsx (communication template) or .json"),
    ],
    period: Annotated[
        list[str] | None,
        typer.Option(
            "--period", help="Reporting period, a quarter like 2026Q3 (repeatable; default: all)"
        ),
    ] = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Specific embedded emissions per good (CN code) and quarter, direct and indirect,
    with precursors and default-value flags, from the footprints in the store."""
    from carbontwin.plugins.cbam import cbam_report, write_workbook
    from carbontwin.twin.store import Store

    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".json"):
        msg = f"--out {out}: use a .xlsx or .json file"
        raise typer.BadParameter(msg)
    settings = _settings(database_url, None)
    store = Store.open(settings.database_url, tenant=tenant)
    try:
        factory = store.load_factory()
        report = cbam_report(store.list_footprints(), factory, period or None)
    finally:
        store.close()
    if suffix == ".xlsx":
        write_workbook(report, out)
    else:
        out.write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    console = Console()
    for g in report.goods:
        console.print(
            f"{g.period} CN {g.cn_code}: {g.activity_t:.3f} t, "
            f"direct {g.see_direct:.4f} + indirect {g.see_indirect:.4f} = "
            f"{g.see_total:.4f} t CO2e/t" + ("  (default values used)" if g.default_share else ""),
            highlight=False,
        )
    if not report.goods:
        console.print("no CBAM goods in the store for these periods", highlight=False)
    console.print(f"-> {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("cbam")(cbam)
