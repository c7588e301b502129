"""``carbontwin demo``: the whole flow on the demo factory, in one command
(the composition itself is :mod:`carbontwin.api.demo`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import typer

from carbontwin.twin.errors import CarbonTwinError

from ._factors import GridFactorOpt, GridFactorsOpt
from .opcua import quiet_asyncua


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("demo")
    def demo(
        out: Path | None = typer.Option(
            None, help="Output folder (default: a temporary folder; ./carbontwin-out is common)."
        ),
        seconds: float = typer.Option(30.0, help="Real seconds for the simulated day."),
        seed: int = typer.Option(0, help="Simulation seed."),
        as_json: bool = typer.Option(False, "--json", help="Print the footprints as JSON."),
        serve: bool = typer.Option(False, help="Keep the API running on the demo store."),
        api_port: int = typer.Option(8000, help="Port of the API with --serve."),
        wide: bool = typer.Option(
            False, "--wide", help="All table columns, even wider than the terminal."
        ),
        grid_factor: GridFactorOpt = None,
        grid_factors: GridFactorsOpt = None,
    ) -> None:
        """Demo line -> OPC UA -> connector -> store -> per-order footprints, in one command."""
        from carbontwin.api.demo import run_demo, serve_api

        quiet_asyncua()
        folder = out or Path(tempfile.mkdtemp(prefix="carbontwin-demo-"))
        t = time.monotonic()
        try:
            code = run_demo(
                folder,
                seconds=seconds,
                seed=seed,
                as_json=as_json,
                grid_factor=grid_factor,
                grid_factors=grid_factors,
                wide=wide,
            )
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        if not as_json:
            typer.echo(f"done in {time.monotonic() - t:.1f} s; output in {folder}")
        if serve:
            serve_api(folder, api_port)
        if code:
            raise typer.Exit(code)
