"""``carbontwin simulate``: run a scenario file and compare policies (see api/cli.py)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carbontwin.twin.errors import CarbonTwinError

from ._factors import GridFactorOpt, GridFactorsOpt
from .tables import fits, keep_words, print_table

__all__ = ["register"]


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}" if ax >= 0.01 or ax == 0 else f"{x:.2e}"


def _pm(mean: float, hw: float) -> str:
    return _fmt(mean) if math.isnan(hw) else f"{_fmt(mean)} ± {_fmt(hw)}"


def _table(report: object, currency: str, names: tuple[str, ...] | None = None) -> Table:
    from carbontwin.simulation.scenario import KPI_UNITS, ScenarioReport

    assert isinstance(report, ScenarioReport)
    n = len(report.seeds)
    names = names if names is not None else report.names
    t = Table(
        title=f"{report.scenario}: {n} replications, mean ± 95% CI (Student t); "
        f"differences paired by seed",
        caption="co2e_kg: energy only (electricity x hourly location-based grid factor, fuels "
        "as scope 1), from the simulator's own power integral; attributed_co2e_kg: the "
        "attribution engine's orders + overhead, cradle-to-gate (with materials)",
    )
    t.add_column("KPI", no_wrap=True)
    t.add_column("unit", no_wrap=True)
    for name in names:
        t.add_column(name, justify="right")
        if name != report.baseline:
            t.add_column(f"Δ {name} vs {report.baseline}", justify="right")
    for k in report.kpis:
        unit = currency if KPI_UNITS.get(k) == "currency" else KPI_UNITS.get(k, "")
        row = [k, unit]
        for name in names:
            s = report.stats[name][k]
            row.append(_pm(s.mean, s.half_width))
            if name != report.baseline:
                d = report.diffs[name][k]
                rel = report.relative[name][k]
                pct = "" if math.isnan(rel) or math.isinf(rel) else f" ({rel * 100:+.1f}%)"
                row.append(f"{_pm(d.mean, d.half_width)}{pct}")
        t.add_row(*row)
    return keep_words(t)


def tables(report: object, currency: str, width: int) -> list[Table]:
    """The KPI table, or one table per candidate against the baseline when it is too wide.

    Cells wrap between words, never inside a number (see :func:`keep_words`).
    """
    from carbontwin.simulation.scenario import ScenarioReport

    assert isinstance(report, ScenarioReport)
    full = _table(report, currency)
    if fits(full, width) or len(report.names) <= 2:
        return [full]
    return [
        _table(report, currency, (report.baseline, name))
        for name in report.names
        if name != report.baseline
    ]


def simulate_command(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario YAML file.", exists=True, dir_okay=False)
    ],
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications", "-n", min=1, help="Replications per policy (default: the file's)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    plots: Annotated[
        Path | None,
        typer.Option(
            "--plots",
            help="Write a Gantt and a power chart per policy (plant local time, one time "
            "range) and a KPI comparison chart (PNG) into this folder.",
        ),
    ] = None,
    executor: Annotated[
        str,
        typer.Option("--executor", help="Where replications run: local (process pool) or dask."),
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Local processes (1 = run in this process)."),
    ] = None,
    grid_factor: GridFactorOpt = None,
    grid_factors: GridFactorsOpt = None,
) -> None:
    """Simulate a baseline and candidate policies; print KPIs with 95% confidence intervals.

    The grid factor is the scenario's ``grid`` unless --grid-factor (a constant for every
    hour) or --grid-factors (an hourly CSV) is given.
    """
    from carbontwin.plugins.factors import constant_grid_factor
    from carbontwin.simulation.scenario import load_scenario, run_scenario, simulate_one

    err = Console(stderr=True)
    try:
        sc = load_scenario(scenario, replications=replications)
        if grid_factor is not None:
            constant_grid_factor(grid_factor)  # a unit error names the option
            sc = replace(sc, grid=grid_factor)
        elif grid_factors is not None:
            sc = replace(sc, grid=str(grid_factors))
        total = len(sc.policies) * sc.replications
        with Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=as_json,
            disable=not err.is_terminal and as_json,
        ) as progress:
            task = progress.add_task("replications", total=total)
            report = run_scenario(
                sc,
                executor=executor,
                scheduler=scheduler,
                workers=workers,
                on_done=lambda done, _n: progress.update(task, completed=done),
            )
        written: list[str] = []
        if plots is not None:
            from carbontwin.simulation.plots import gantt_chart, kpi_chart, power_chart, time_range

            tz = sc.factory.site.timezone or "UTC"
            runs = [simulate_one(sc, i, 0) for i in range(len(sc.policies))]
            xlim = time_range(runs)  # one time range, so the charts line up
            for cand, res in zip(sc.policies, runs, strict=True):
                slug = "".join(c if c.isalnum() else "_" for c in cand.name.lower()).strip("_")
                written.append(
                    str(
                        gantt_chart(
                            res,
                            plots / f"gantt_{slug}.png",
                            f"{cand.name}: machine states, replication 0",
                            tz=tz,
                            xlim=xlim,
                        )
                    )
                )
                written.append(
                    str(
                        power_chart(
                            res,
                            plots / f"power_{slug}.png",
                            f"{cand.name}: power per energy carrier and grid intensity",
                            tz=tz,
                            xlim=xlim,
                        )
                    )
                )
            if len(sc.policies) > 1:
                written.append(str(kpi_chart(report, plots / "kpis.png")))
    except CarbonTwinError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    if as_json:
        out = report.to_dict()
        if written:
            out["plots"] = written
        typer.echo(json.dumps(out, indent=2, allow_nan=False, default=_json_default))
        return
    currency = sc.tariff.currency if sc.tariff is not None else ""
    out_console = Console()
    if not out_console.is_terminal and "COLUMNS" not in os.environ:
        out_console = Console(width=200)  # a pipe or a file: do not squeeze the table to 80
    for table in tables(report, currency, out_console.width):
        print_table(out_console, table)
    for p in written:
        out_console.print(f"wrote {p}")


def _json_default(x: object) -> object:
    return str(x)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to ``app``."""
    app.command("simulate")(simulate_command)
