"""``carbontwin attribute``: per-order energy and CO2e from a factory file and an events folder.

::

    carbontwin attribute --factory examples/demo_factory.yaml --events events/ \\
        [--rules rules.yaml] [--json] [--plot orders.png] \\
        [--grid-factor "0.35 kg/kWh" | --grid-factors grid.csv]

Prints a table of orders (product, quantity, kWh, kg CO2e in total and per
unit, scope split, primary data share), or with ``--json`` the footprints and
the per-meter balance; ``--plot`` draws a stacked bar chart of scopes per order.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from carbontwin.connectors.events_folder import describe_events_folder
from carbontwin.twin.errors import CarbonTwinError, FactoryModelError

from ._factors import GridFactorOpt, GridFactorsOpt, attributions, cli_factor_set
from .factory import resolve_factory_path
from .tables import breakdown_table, footprint_table, print_table

if TYPE_CHECKING:  # the libraries behind them load when a command runs, not with --help
    from carbontwin.twin.attribution import Attribution, Rules
    from carbontwin.twin.factors import FactorSet
    from carbontwin.twin.model import Factory

__all__ = [
    "attribution_json",
    "export_attribution",
    "footprint_table",
    "plot_orders",
    "print_quality",
    "register",
]


def _rules(path: Path | None) -> Rules:
    import yaml

    from carbontwin.twin.attribution import Rules

    if path is None:
        return Rules()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot read rules file {path}: {exc}"
        raise CarbonTwinError(msg) from None
    if not isinstance(data, dict):
        msg = f"rules file {path} must hold a mapping such as 'idle: overhead'"
        raise CarbonTwinError(msg)
    return Rules.from_mapping(data)


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def attribution_json(res: Attribution, factors: FactorSet) -> dict[str, Any]:
    """The JSON document ``--json`` prints."""
    attribution = attributions(factors)
    return {
        "orders": [fp.to_dict() for fp in res.footprints.values()],
        "overhead_kwh": res.overhead_kwh,
        "overhead_co2e_kg": res.overhead_co2e_kg,
        "metered_kwh": dict(res.metered_kwh),
        "filled_kwh": dict(res.filled_kwh),
        "total_kwh": res.total_kwh,
        "orders_kwh": sum(fp.energy_kwh for fp in res.footprints.values()),
        "total_co2e_kg": res.total_co2e_kg,
        "rules": dict(res.rules),
        "factor_versions": dict(res.factor_versions),
        "factor_sources": factors.sources,
        "attribution": attribution,
        "flags": list(res.flags),
        "quality": {k: {"count": len(v), "items": list(v)} for k, v in res.quality.items()},
    }


def print_quality(console: Console, res: Attribution) -> None:
    """The run's data-quality counts, one line per check that found something."""
    lines = res.quality_summary()
    console.print(
        f"data quality: {sum(len(v) for v in res.quality.values())} finding(s)",
        style="bold yellow" if lines else None,
        highlight=False,
    )
    for line in lines:
        console.print(f"  {escape(line)}", soft_wrap=True, highlight=False)


def plot_orders(res: Attribution, path: Path) -> Path:
    """Stacked bars of scope 1, scope 2 (location-based) and scope 3 per order [kg CO2e]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fps = list(res.footprints.values())
    names = [fp.order for fp in fps]
    s1 = [fp.scope1_kg for fp in fps]
    s2 = [fp.scope2_location_kg for fp in fps]
    s3 = [fp.scope3_kg for fp in fps]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(fps) + 2), 4.5))
    x = range(len(fps))
    ax.bar(x, s1, label="scope 1 (fuels)", color="#b5651d")
    ax.bar(x, s2, bottom=s1, label="scope 2 (electricity, location-based)", color="#4a7ab7")
    ax.bar(
        x,
        s3,
        bottom=[a + b for a, b in zip(s1, s2, strict=True)],
        label="scope 3 (materials)",
        color="#8fbc8f",
    )
    ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("kg CO2e per order")
    ax.set_title("Cradle-to-gate footprint per order")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def export_attribution(res: Attribution, factory: Factory, path: Path) -> list[Path]:
    """Write the orders and every breakdown (by machine, state, ...) to ``path``.

    ``.xlsx``: one workbook, sheet ``orders`` and a sheet ``by_<dimension>`` each;
    otherwise CSV: the orders in ``path`` and ``<stem>-by_<dimension>.csv`` beside it.
    """
    from carbontwin.api.breakdowns import breakdowns, export_frames, orders_frame

    frames = {"orders": orders_frame(res.footprints.values())}
    frames.update({f"by_{k}": v for k, v in breakdowns(res, factory).items()})
    return export_frames(frames, path)


def register(app: typer.Typer) -> None:
    """Add ``attribute`` to ``app``."""

    @app.command("attribute")
    def attribute_cmd(
        factory: Annotated[Path, typer.Option("--factory", help="Factory file (YAML or JSON).")],
        events: Annotated[
            Path,
            typer.Option(
                "--events",
                help="Events folder, one CSV per kind, each optional: "
                + describe_events_folder()
                + ". Times ISO 8601 with a zone; units in the column names (kW, kWh); "
                "states OFF, STANDBY, IDLE, SETUP, PROCESSING, FAULT in any letter case; "
                "any file may add a 'correction' column (true/false). The same event twice "
                "counts once; another value for the same key is an error unless marked as "
                "a correction. Its orders.csv (id, product, quantity, release, due), if any, "
                "replaces the factory's orders of the same id. Other files are an error; see "
                "docs/events-folder.md.",
            ),
        ],
        rules: Annotated[
            Path | None, typer.Option("--rules", help="Rules file (YAML/JSON mapping).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        plot: Annotated[
            Path | None, typer.Option("--plot", help="Write a stacked bar chart (PNG).")
        ] = None,
        by: Annotated[
            str | None,
            typer.Option(
                "--by",
                help="Also print the breakdown by machine, state, utility, material, scope or hour.",
            ),
        ] = None,
        csv: Annotated[
            Path | None,
            typer.Option(
                "--csv",
                help="Write the orders to this CSV file and each breakdown to "
                "<stem>-by_<dimension>.csv beside it.",
            ),
        ] = None,
        xlsx: Annotated[
            Path | None,
            typer.Option("--xlsx", help="Write the orders and every breakdown to an Excel file."),
        ] = None,
        wide: Annotated[
            bool, typer.Option("--wide", help="All columns, even wider than the terminal.")
        ] = False,
        grid_factor: GridFactorOpt = None,
        grid_factors: GridFactorsOpt = None,
    ) -> None:
        """Attribute metered energy and CO2e to production orders.

        Grid factors: --grid-factor, else --grid-factors, else the factory file's
        factors: section, else the built-in library; an hour no series covers falls
        back (the zone's profile of the nearest year, else an annual factor) and is
        flagged on the orders that used it.
        """
        from carbontwin.api.breakdowns import BY, breakdown, summary
        from carbontwin.api.issuing import with_orders
        from carbontwin.connectors.files import read_events_dir, read_orders_csv
        from carbontwin.plugins.registry import allocation_rules
        from carbontwin.twin.attribution import attribute
        from carbontwin.twin.coverage import hold_uncovered
        from carbontwin.twin.factory_file import load_factory

        err = Console(stderr=True)
        if by is not None and by not in BY:
            err.print(f"error: --by {escape(by)}: choose one of {', '.join(BY)}", highlight=False)
            raise typer.Exit(2)
        try:
            path = resolve_factory_path(factory, err)
            given = grid_factor is not None or grid_factors is not None
            fac = load_factory(path, check_factors=not given)
            batch = read_events_dir(events)
            fac = with_orders(fac, read_orders_csv(events))
            factors = cli_factor_set(fac, path, grid_factor, grid_factors)
            batch, uncovered = hold_uncovered(fac, batch, factors)
            res = attribute(fac, batch, factors, _rules(rules), allocation=allocation_rules())
        except FactoryModelError as exc:
            for line in exc.errors:
                err.print(escape(line), soft_wrap=True, highlight=False)
            raise typer.Exit(1) from None
        except CarbonTwinError as exc:
            err.print(f"error: {escape(exc.message)}", soft_wrap=True, highlight=False)
            raise typer.Exit(1) from None
        for u in uncovered:  # never blocks the run: named, held out
            err.print(f"warning: {escape(u.message)}", style="yellow", soft_wrap=True)
        if plot is not None:
            plot_orders(res, plot)
            err.print(f"chart written to {escape(str(plot))}", highlight=False)
        for target in (csv, xlsx):
            if target is not None:
                for written in export_attribution(res, fac, target):
                    err.print(f"written: {escape(str(written))}", highlight=False)
        if as_json:
            doc = attribution_json(res, factors)
            doc["uncovered"] = [u.to_dict() for u in uncovered]
            typer.echo(json.dumps(doc, indent=1, allow_nan=False, default=_num))
            return
        out = Console()
        print_table(out, footprint_table(res.footprints.values(), width=out.width, wide=wide))
        if by is not None:
            table = breakdown_table(
                summary(breakdown(res, fac, by), by), by, width=out.width, wide=wide
            )
            print_table(out, table)
        out.print(
            f"total {res.total_kwh:,.2f} kWh metered and filled; overhead "
            f"{res.overhead_kwh:,.2f} kWh ({res.overhead_co2e_kg:,.2f} kg CO2e); "
            f"{len(res.flags)} data note(s)",
            highlight=False,
        )
        print_quality(out, res)
        fallback = [fp.order for fp in res.footprints.values() if fp.factor_fallback_share > 0]
        if fallback:
            notes = [f for f in res.flags if "grid factor fallback" in f or "fallback" in f]
            out.print(
                f"{len(fallback)} order(s) used fallback grid factors: "
                + "; ".join(dict.fromkeys(notes)),
                style="yellow",
                highlight=False,
            )
        for text in attributions(factors):
            out.print(text, style="dim", highlight=False)
