"""``carbontwin report``: the period report for a manager, as HTML or PDF
(the report itself is :mod:`carbontwin.api.report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from carbontwin.twin.errors import CarbonTwinError

from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]


def report(
    period: Annotated[
        str,
        typer.Option(
            "--period",
            help="YYYY-MM-DD (a day), YYYY-MM (a month), YYYY, or START/END in ISO 8601 "
            "(END exclusive); UTC.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Report file: .html (one file) or .pdf.")
    ],
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Totals, kg CO2e per unit per product, hotspots, data quality, methods and rules of the
    orders completed in a period, with plots."""
    from carbontwin.api.report import build_report, parse_period, write_report
    from carbontwin.twin.store import Store

    err = Console(stderr=True)
    settings = _settings(database_url, None)
    try:
        p = parse_period(period)
        with err.status(f"building the report for {p.label}"):
            store = Store.open(settings.database_url, tenant=tenant)
            try:
                data = build_report(store, p)
            finally:
                store.close()
            path = write_report(data, out)
    except CarbonTwinError as exc:
        err.print(f"error: {escape(exc.message)}", soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    err.print(
        f"report for {p.label}: {len(data.orders)} orders, "
        f"{data.totals['co2e_kg']:,.2f} kg CO2e; written to {path}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""
    app.command("report")(report)
