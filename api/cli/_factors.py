"""The ``--grid-factor`` and ``--grid-factors`` options that ``attribute``, ``simulate`` and
``demo`` share, and the factor set they give."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["GridFactorOpt", "GridFactorsOpt", "attributions", "cli_factor_set"]

GridFactorOpt = Annotated[
    str | None,
    typer.Option(
        "--grid-factor",
        help="One grid emission factor for every hour, with its unit, e.g. '0.35 kg/kWh' "
        "('350 g/kWh', '771 lb/MWh'); overrides the factory file and --grid-factors.",
        show_default=False,
    ),
]
GridFactorsOpt = Annotated[
    Path | None,
    typer.Option(
        "--grid-factors",
        help="Hourly grid factors for the site's zone: a CSV with columns "
        "hour_start_utc,g_co2e_per_kwh (ISO 8601 UTC); overrides the factory file's series. "
        "Hours it does not cover fall back as documented (README, 'Emission factors').",
        show_default=False,
    ),
]


def cli_factor_set(
    factory: Any, factory_path: Path | None, grid_factor: str | None, grid_factors: Path | None
) -> Any:
    """The factor set of a command (see :func:`carbontwin.plugins.factors.command_line_factors`)."""
    from carbontwin.plugins.factors import command_line_factors

    return command_line_factors(
        factory,
        base_dir=factory_path.parent if factory_path is not None else None,
        grid_factor=grid_factor,
        grid_factors=grid_factors,
    )


def attributions(factors: Any) -> list[str]:
    """Citations the factors in use ask to be shown (the bundled hourly series')."""
    from carbontwin.twin.factors import GRID_ATTRIBUTION, HourlySeries, ZoneFactors

    loc = factors.location
    series = loc.series if isinstance(loc, ZoneFactors) else (loc,)
    used = any(isinstance(s, HourlySeries) and s.source == GRID_ATTRIBUTION for s in series)
    return [GRID_ATTRIBUTION] if used else []
