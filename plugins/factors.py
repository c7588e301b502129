"""Emission-factor providers (entry point group ``carbontwin.factors``) and factor sets for
the command line and the issuing service.

A factor provider is a callable ``provider(factory) -> FactorSet``. The
built-in one (``default``) wraps :meth:`carbontwin.twin.factors.FactorSet.default`:
the factory file's ``factors:`` section over the built-in library (annual
grid factors per zone and year, bundled hourly series, IPCC fuel factors) and
the factory's electricity contracts. Host platforms register their own
providers (for example a live grid-intensity feed) with
:func:`carbontwin.plugins.registry.register_factor_provider`.

:func:`command_line_factors` builds the set the ``attribute``, ``simulate`` and
``demo`` commands use (with ``--grid-factor`` / ``--grid-factors``);
:func:`stored_factors` the one the issuing service uses, with the hourly series
the factory names read from the store (uploaded there, versioned by content hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carbontwin.twin.errors import CarbonTwinError, PluginError, StoreError

__all__ = [
    "command_line_factors",
    "constant_grid_factor",
    "default_factor_set",
    "factor_set",
    "series_name",
    "stored_factors",
]


def default_factor_set(factory: Any) -> Any:
    """``FactorSet.default(factory)`` (imported on call, so the registry stays light)."""
    from carbontwin.twin.factors import FactorSet

    return FactorSet.default(factory)


def factor_set(factory: Any, provider: str = "default") -> Any:
    """The factor set of ``factory`` from the provider registered as ``provider``."""
    from .registry import get_factor_provider

    fs = get_factor_provider(provider)(factory)
    if fs is None:
        msg = f"factor provider {provider!r} returned no factor set"
        raise PluginError(msg, field="provider")
    return fs


def constant_grid_factor(text: str) -> Any:
    """``--grid-factor "0.35 kg/kWh"`` as a :class:`~carbontwin.twin.factors.ConstantFactor`.

    A bare number is in kg CO2e/kWh; units such as g/kWh, lb/MWh, t/TJ work too.
    """
    from carbontwin.twin.factors import ConstantFactor
    from carbontwin.twin.quantities import QuantityError, parse_quantity

    try:
        value = parse_quantity(text, "emission_factor")
    except QuantityError as exc:
        msg = f"--grid-factor: {exc.message}"
        raise CarbonTwinError(msg) from None
    if value < 0:
        msg = f"--grid-factor: {text!r} is negative"
        raise CarbonTwinError(msg)
    return ConstantFactor(value, f"--grid-factor {text}", version=f"constant {value:g} kg/kWh")


def command_line_factors(
    factory: Any,
    *,
    base_dir: str | Path | None = None,
    grid_factor: str | None = None,
    grid_factors: str | Path | None = None,
) -> Any:
    """The factor set of a command: the factory's factors (series files relative to
    ``base_dir``) and the library, overridden by ``--grid-factors FILE.csv`` (hourly,
    ``hour_start_utc,g_co2e_per_kwh``) and ``--grid-factor QUANTITY`` (every hour)."""
    from carbontwin.twin.factors import FactorSet, factory_series, load_hourly_csv

    constant = constant_grid_factor(grid_factor) if grid_factor is not None else None
    override = (
        load_hourly_csv(grid_factors, source=f"--grid-factors {grid_factors}")
        if grid_factors is not None
        else None
    )
    # a constant overrides every hour: the file's series are not read (nor required to exist)
    series = factory_series(factory, base_dir) if base_dir is not None and constant is None else ()
    if constant is None and base_dir is None:
        return (
            FactorSet.default(factory)
            if override is None
            else FactorSet.for_factory(factory, grid_series=override)
        )
    return FactorSet.for_factory(factory, series=series, grid_series=override, grid_factor=constant)


def series_name(ref: str) -> str:
    """The store name of the series a factory file names: the file's stem."""
    return Path(ref).stem


def stored_factors(factory: Any, store: Any) -> Any:
    """The factor set the issuing service uses: the hourly series the factory names
    (``factors.grid.<zone>.hourly``) read from ``store`` by name (newest version),
    then the factory's annual factors and the library."""
    from carbontwin.twin.factors import FactorSet, normalize_zone

    zone = normalize_zone(factory.grid_zone)
    section = factory.factors.zone(zone)
    series = []
    for ref in section.hourly if section is not None else ():
        name = series_name(ref)
        try:
            series.append(store.load_factor_series(name))
        except CarbonTwinError as exc:
            msg = (
                f"the factory names the hourly series {ref!r} for zone {zone!r}, but the store "
                f"has no series {name!r} ({exc.message}); upload it with "
                f"PUT /factors/series/{name} (CSV hour_start_utc,g_co2e_per_kwh)"
            )
            raise StoreError(msg, field="factors") from None
    return FactorSet.for_factory(factory, series=tuple(series))
