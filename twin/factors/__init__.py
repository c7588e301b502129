"""Emission factors: data, not code.

Where a factor comes from, highest priority first (documented in the README):

- ``--grid-factor QUANTITY`` on the command line: one grid factor for every hour;
- ``--grid-factors FILE.csv``: an hourly series (``hour_start_utc,g_co2e_per_kwh``)
  for the site's zone;
- the factory file's ``factors:`` section: per grid zone hourly series files
  (over HTTP: series uploaded to the store, versioned by content hash) and
  annual factors per year with their source, a residual mix per year for the
  market-based method, and fuel and heat factors with units (``"56.1 t/TJ"``);
- the built-in library: annual location-based grid factors per zone and year
  with their sources (``twin/data/grid_factors_annual.csv``), the bundled hourly
  series (``twin/data/<ZONE>_<YEAR>_hourly.csv``) and IPCC fuel factors.

For an hour that no series covers, :class:`ZoneFactors` falls back explicitly:
the zone's hourly profile of the nearest year for the same hour of the year,
scaled to the target year's annual factor where one is known; else the annual
factor. Each fallback is flagged on the orders that used it and lowers their
data-quality rating. A zone with no factor at all is an error when the factory
file is validated (:func:`missing_factors`).

Lookups work on float64 epoch seconds. Grid intensity of the bundled series is
derived from ENTSO-E Transparency Platform generation data and Tranberg et al.
(2019) emission factors (see ``twin/data/GRID_INTENSITY_README.md``).
"""

from ._library import (
    ANNUAL_GRID_FACTORS,
    FUEL_FACTORS,
    AnnualFactor,
    FuelFactor,
    bundled_series_names,
    library_annual,
    normalize_zone,
)
from ._series import GRID_ATTRIBUTION, HourlySeries, bundled_series, load_hourly_csv, parse_hourly
from ._set import ConstantFactor, ElectricityLookup, FactorSet, factory_series, missing_factors
from ._zone import ZoneFactors

__all__ = [
    "ANNUAL_GRID_FACTORS",
    "FUEL_FACTORS",
    "GRID_ATTRIBUTION",
    "AnnualFactor",
    "ConstantFactor",
    "ElectricityLookup",
    "FactorSet",
    "FuelFactor",
    "HourlySeries",
    "ZoneFactors",
    "bundled_series",
    "bundled_series_names",
    "factory_series",
    "library_annual",
    "load_hourly_csv",
    "missing_factors",
    "normalize_zone",
    "parse_hourly",
]
