"""``carbontwin optimize``: search schedules that save CO2e, energy and cost against as-is."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from carbontwin.twin.errors import CarbonTwinError

__all__ = ["register"]

_KPIS = (
    ("co2e_kg", "kg CO2e"),
    ("energy_kwh", "kWh"),
    ("cost", "currency"),
    ("makespan_h", "h"),
    ("total_tardiness_h", "h"),
    ("late_orders", "orders"),
    ("switch_offs", "-"),
)


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _num(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_num(v) for v in x]
    return x


def _table(report: dict[str, Any], currency: str) -> Table:
    base, pick = report["baseline_kpis"], report["recommended_kpis"]
    t = Table(
        title=f"{report['scenario']}: recommended schedule against as-is "
        f"(nominal times; {report['evaluations']} schedules scored in {report['seconds']:.1f} s)",
        caption="co2e_kg: electricity x hourly location-based grid factor, fuels as scope 1",
    )
    for col in ("KPI", "unit", "as-is", "recommended", "change"):
        t.add_column(col, justify="left" if col in ("KPI", "unit") else "right")
    for k, unit in _KPIS:
        if k not in base:
            continue
        b, p = base[k], pick[k]
        rel = f" ({(p - b) / b * 100:+.1f}%)" if b else ""
        t.add_row(
            k,
            currency if unit == "currency" else unit,
            f"{b:,.1f}",
            f"{p:,.1f}",
            f"{p - b:+,.1f}{rel}",
        )
    return t


def optimize_command(
    scenario: Annotated[
        Path,
        typer.Argument(help="Scenario YAML file (as for simulate).", exists=True, dir_okay=False),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (savings, front, replay).")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the Pareto front as a PNG here.")
    ] = None,
    generations: Annotated[
        int, typer.Option("--generations", min=1, help="NSGA-II generations.")
    ] = 60,
    population: Annotated[int, typer.Option("--population", min=8, help="Population size.")] = 48,
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", min=0.1, help="Stop the search after S seconds.")
    ] = None,
    max_makespan_increase: Annotated[
        float,
        typer.Option(
            "--max-makespan-increase",
            min=0.0,
            help="Largest makespan growth over as-is (0.05 = 5 %).",
        ),
    ] = 0.05,
    max_delay: Annotated[
        float, typer.Option("--max-delay", min=0.0, help="Longest release delay per order [h].")
    ] = 24.0,
    due_dates: Annotated[
        str,
        typer.Option(
            "--due-dates",
            help="penalised (tardiness is an objective) or hard (no more than as-is).",
        ),
    ] = "hard",
    replications: Annotated[
        int,
        typer.Option(
            "--replications",
            "-n",
            min=0,
            help="Replay as-is and the recommended schedule with random times and breakdowns.",
        ),
    ] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search.")] = 1,
    solver: Annotated[
        str,
        typer.Option(
            "--solver",
            help="nsga2 (metaheuristic), cpsat (exact CP-SAT model; small instances: at most "
            "40 operations, 8 days, times in whole minutes) or auto (NSGA-II, and CP-SAT too "
            "on a small instance, reporting its bound and gap).",
        ),
    ] = "auto",
    cpsat_time_limit: Annotated[
        float,
        typer.Option("--cpsat-time-limit", min=0.1, help="CP-SAT's time limit [s]."),
    ] = 30.0,
    executor: Annotated[
        str, typer.Option("--executor", help="Where populations are scored: local or dask.")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT.")
    ] = None,
) -> None:
    """Search schedules (order sequence, machine among a routing step's alternatives,
    batches, release times, switching off, overtime after working days where the scenario
    has an overtime section) for a Pareto front of CO2e, cost (time-of-use energy,
    peak-demand charge, overtime labour), makespan and tardiness; report the savings of
    the lowest-CO2e one within the makespan limit against as-is. Small instances are also
    solved exactly with CP-SAT (incumbent, bound and gap in the JSON)."""
    from carbontwin.simulation.optimizer import ScheduleSearch, optimize_scenario
    from carbontwin.simulation.scenario import load_scenario

    err = Console(stderr=True)
    search = ScheduleSearch(
        max_delay_h=max_delay,
        max_makespan_increase=max_makespan_increase,
        due_dates=due_dates,
        population=population,
        generations=generations,
        time_limit_s=time_limit,
        seed=seed,
    )
    try:
        sc = load_scenario(scenario)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            console=err,
            transient=as_json,
            disable=not err.is_terminal,
        ) as progress:
            gen_task = progress.add_task("optimizing", total=generations, best="")
            cp_task = progress.add_task("CP-SAT", total=cpsat_time_limit, best="", visible=False)
            rep_task = progress.add_task(
                "replaying", total=2 * replications, best="", visible=replications > 0
            )

            def on_gen(done: int, total: int, best: float) -> None:
                progress.update(
                    gen_task,
                    completed=done,
                    best=f"best CO2e {best:,.0f} kg" if math.isfinite(best) else "",
                )

            report = optimize_scenario(
                sc,
                search,
                executor=executor,
                scheduler=scheduler,
                replications=replications,
                on_generation=on_gen,
                on_replication=lambda d, _n: progress.update(rep_task, completed=d),
                solver=solver,
                cpsat_time_limit_s=cpsat_time_limit,
                on_cpsat=lambda s, v: progress.update(
                    cp_task,
                    visible=True,
                    completed=min(s, cpsat_time_limit),
                    best=f"incumbent {v:,.2f}" if math.isfinite(v) else "",
                ),
            )
        report.pop("_result", None)
        if plot is not None:
            from carbontwin.simulation.plots import pareto_chart

            report["plot"] = str(pareto_chart(report, plot))
    except CarbonTwinError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(_num(report), indent=2, allow_nan=False, default=str))
        return
    out = Console()
    if not out.is_terminal:
        out = Console(width=200)
    currency = sc.tariff.currency if sc.tariff is not None else ""
    out.print(_table(report, currency))
    out.print(
        f"CO2e {report['co2e_saving_pct']:.1f} % below as-is at a makespan change of "
        f"{report['makespan_change_pct']:+.1f} %; {len(report['front'])} schedules on the front"
    )
    cp = report.get("cpsat", {})
    if cp.get("used"):
        out.print(
            f"CP-SAT ({cp['status'].lower()}, {cp['seconds']:.1f} s): {cp['objective_name']} "
            f"{cp['objective']:,.2f}, bound {cp['bound']:,.2f}, gap {cp['gap_pct']:.2f} % "
            f"(over {cp['class']})"
        )
    if "replay" in report:
        d = report["replay"]["differences"]["Optimized"]["co2e_kg"]
        out.print(
            f"replayed with random times and breakdowns ({replications} replications): "
            f"CO2e change {d['mean']:+,.0f} kg (95 % CI {d['ci95_low']:+,.0f} .. {d['ci95_high']:+,.0f})"
            if d["ci95_low"] is not None
            else f"replayed ({replications} replication): CO2e change {d['mean']:+,.0f} kg"
        )
    if plot is not None:
        out.print(f"wrote {report['plot']}")


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to ``app``."""
    app.command("optimize")(optimize_command)
