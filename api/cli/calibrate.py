"""``carbontwin calibrate``: the simulator's power model against a plant's meters, and fitted."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from carbontwin.twin.errors import CarbonTwinError

from .factory import resolve_factory_path

__all__ = ["register"]


def _num(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _num(v) for k, v in x.items()}
    return x


def calibrate_command(
    factory: Annotated[Path, typer.Option("--factory", help="Factory file (YAML or JSON).")],
    events: Annotated[
        Path,
        typer.Option(
            "--events", help="Events folder of the measured period (states, steps, meters)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the factory with the fitted powers (YAML) here."),
    ] = None,
    min_hours: Annotated[
        float,
        typer.Option("--min-hours", min=0.0, help="Fit a state only after this many hours in it."),
    ] = 0.25,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Replay a measured period's states and order steps through the simulator's power model,
    report the energy error per meter and in total, fit each asset's power per state to the
    readings (least squares over state durations) and print the error after the fit."""
    from carbontwin.connectors.files import read_events_dir
    from carbontwin.simulation.calibrate import annotate_factory_yaml, calibrate
    from carbontwin.twin.factory_file import dumps_factory, load_factory

    err = Console(stderr=True)
    try:
        f = load_factory(resolve_factory_path(factory, err))
        batch = read_events_dir(events)
        with err.status("fitting state powers to the meters", spinner="dots"):
            cal = calibrate(f, batch, min_hours=min_hours)
        written = None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(annotate_factory_yaml(dumps_factory(cal.factory), cal))
            written = str(out)
    except CarbonTwinError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    data = cal.to_dict()
    if written:
        data["factory_file"] = written
    if as_json:
        typer.echo(json.dumps(_num(data), indent=2, allow_nan=False))
        return
    console = Console() if Console().is_terminal else Console(width=160)
    t = Table(title="Energy per meter: simulator's power model against the readings")
    for col in (
        "meter",
        "metered kWh",
        "model kWh",
        "error",
        "model kWh (fitted)",
        "error (fitted)",
    ):
        t.add_column(col, justify="left" if col == "meter" else "right")
    for mid, b in cal.before["meters"].items():
        a = cal.after["meters"][mid]
        t.add_row(
            mid,
            f"{b['metered_kwh']:,.1f}",
            f"{b['model_kwh']:,.1f}",
            f"{b['error_pct']:+.2f} %",
            f"{a['model_kwh']:,.1f}",
            f"{a['error_pct']:+.2f} %",
        )
    console.print(t)
    console.print(
        f"total energy error (sum of |model - meter| / metered): "
        f"{cal.before['total_error_pct']:.2f} % before, {cal.after['total_error_pct']:.2f} % "
        "after calibration"
    )
    if written:
        console.print(f"wrote {written}")


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to ``app``."""
    app.command("calibrate")(calibrate_command)
