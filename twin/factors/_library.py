"""The built-in factor library: annual grid factors per zone and year, fuel and heat factors.

Annual location-based grid factors live in ``twin/data/grid_factors_annual.csv``
(one row per zone and year: the published value and its unit, what it covers,
and the source). Zones are ISO 3166-1 alpha-2 country codes, ``EU27`` and
``US-<eGRID subregion>`` (``US-CAMX``, ``US-RFCE``, ...). The bundled hourly
series are ``twin/data/<ZONE>_<YEAR>_hourly.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.model import Carrier

__all__ = [
    "ANNUAL_GRID_FACTORS",
    "FUEL_FACTORS",
    "ZONE_ALIASES",
    "AnnualFactor",
    "FuelFactor",
    "bundled_series_names",
    "library_annual",
    "normalize_zone",
]

# IPCC 2006 Guidelines, Vol. 2 (Energy), ch. 2, Tables 2.2/2.3 (stationary combustion in
# manufacturing industries), per TJ of fuel on the net calorific value; CH4 and N2O weighted
# with IPCC AR6 GWP100 (WG I, ch. 7, Table 7.15: fossil CH4 29.8, N2O 273), the
# characterisation PACT requires. 1 kWh = 3.6e-6 TJ.
_TJ_PER_KWH = 3.6e-6

#: Published units of the library file -> factor to kg per kWh.
_UNIT_TO_KG_PER_KWH = {"g/kWh": 1e-3, "kg/kWh": 1.0, "t/MWh": 1.0, "lb/MWh": 0.45359237e-3}

#: Other spellings of zones: the United Kingdom's ISO code is GB; the EU writes Greece as EL.
ZONE_ALIASES: Mapping[str, str] = {"UK": "GB", "EL": "GR", "EU": "EU27", "EU-27": "EU27"}


def normalize_zone(zone: str) -> str:
    """Upper-case zone id with its alias resolved (``"uk"`` -> ``"GB"``)."""
    z = zone.strip().upper()
    return ZONE_ALIASES.get(z, z)


def _ipcc(co2_kg_per_tj: float, ch4_kg_per_tj: float, n2o_kg_per_tj: float) -> float:
    return (co2_kg_per_tj + 29.8 * ch4_kg_per_tj + 273.0 * n2o_kg_per_tj) * _TJ_PER_KWH


@dataclass(frozen=True, slots=True)
class FuelFactor:
    """Constant combustion factor of a fuel, or factor of purchased steam or heat.

    Attributes
    ----------
    carrier : str
        Energy carrier id (:class:`~carbontwin.twin.model.Carrier` value).
    factor_kg_per_kwh : float
        kg CO2e per kWh of fuel, net calorific value (H_i) [kg CO2e/kWh].
    source : str
        Where the number comes from.
    version : str
        Recorded in every footprint that used it.
    scope : int
        1 for fuels burnt on site; 2 for purchased steam or heat.
    """

    carrier: str
    factor_kg_per_kwh: float
    source: str
    version: str
    scope: int = 1


#: Built-in fuel factors (NCV basis, CO2 + CH4 + N2O as CO2e). Purchased steam and district
#: heat have no built-in factor: it depends on the supplier's plant, so the factory file's
#: ``factors.fuels`` must give one (``factory validate`` says so).
FUEL_FACTORS: Mapping[str, FuelFactor] = {
    # 56,100 kg CO2/TJ (= 0.2020 kg CO2/kWh NCV; about 0.182 per kWh on the gross value H_s)
    Carrier.NATURAL_GAS.value: FuelFactor(
        Carrier.NATURAL_GAS.value,
        _ipcc(56_100.0, 1.0, 0.1),
        "IPCC 2006 GL Vol.2 Tab.2.2/2.3 natural gas, NCV; AR6 GWP100",
        "ipcc2006-ar6",
    ),
    Carrier.DIESEL.value: FuelFactor(
        Carrier.DIESEL.value,
        _ipcc(74_100.0, 3.0, 0.6),
        "IPCC 2006 GL Vol.2 Tab.2.2/2.3 gas/diesel oil, NCV; AR6 GWP100",
        "ipcc2006-ar6",
    ),
    Carrier.LPG.value: FuelFactor(
        Carrier.LPG.value,
        _ipcc(63_100.0, 1.0, 0.1),
        "IPCC 2006 GL Vol.2 Tab.2.2/2.3 liquefied petroleum gases, NCV; AR6 GWP100",
        "ipcc2006-ar6",
    ),
    Carrier.FUEL_OIL.value: FuelFactor(
        Carrier.FUEL_OIL.value,
        _ipcc(77_400.0, 3.0, 0.6),
        "IPCC 2006 GL Vol.2 Tab.2.2/2.3 residual fuel oil, NCV; AR6 GWP100 "
        "(light heating oil: use the diesel factor)",
        "ipcc2006-ar6",
    ),
}

#: Carriers bought as heat: scope 2 when a factory file gives their factor.
HEAT_CARRIERS = frozenset({Carrier.STEAM.value, Carrier.HEAT.value, Carrier.DISTRICT_HEAT.value})


@dataclass(frozen=True, slots=True)
class AnnualFactor:
    """One grid emission factor for a zone and year [kg CO2(e)/kWh].

    Attributes
    ----------
    zone : str
        Grid zone id (``"DE"``, ``"US-CAMX"``, ...).
    year : int
        Calendar year (UTC) the factor describes.
    factor_kg_per_kwh : float
        The factor [kg CO2e/kWh] (or kg CO2/kWh where ``basis`` says so).
    source, version : str
        Citation and a short version id recorded in footprints.
    basis : str
        What it covers (CO2 or CO2e; generation or consumption; life cycle or direct).
    """

    zone: str
    year: int
    factor_kg_per_kwh: float
    source: str
    version: str
    basis: str = ""

    @property
    def name(self) -> str:
        return f"{self.zone}_{self.year}_annual"


@cache
def _annual_rows() -> tuple[AnnualFactor, ...]:
    raw = resources.files("carbontwin.twin.data").joinpath("grid_factors_annual.csv").read_text()
    out: list[AnnualFactor] = []
    for i, row in enumerate(csv.DictReader(io.StringIO(raw)), start=2):
        try:
            value = float(row["value"]) * _UNIT_TO_KG_PER_KWH[row["unit"]]
            year = int(row["year"])
        except (KeyError, ValueError) as exc:  # pragma: no cover - the shipped file is tested
            msg = f"carbontwin.twin.data/grid_factors_annual.csv:{i}: bad row {row}: {exc}"
            raise CarbonTwinError(msg) from None
        out.append(
            AnnualFactor(row["zone"], year, value, row["source"], row["version"], row["basis"])
        )
    return tuple(out)


class _AnnualTable(Mapping[str, AnnualFactor]):
    """``"ZONE_YEAR"`` -> :class:`AnnualFactor`, read from the library file on first use."""

    def _d(self) -> dict[str, AnnualFactor]:
        return {f"{a.zone}_{a.year}": a for a in _annual_rows()}

    def __getitem__(self, key: str) -> AnnualFactor:
        return self._d()[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._d())

    def __len__(self) -> int:
        return len(_annual_rows())


#: Annual grid factors with their sources, keyed ``"<ZONE>_<YEAR>"`` (e.g. ``"CN_2022"``).
ANNUAL_GRID_FACTORS: Mapping[str, AnnualFactor] = _AnnualTable()


def library_annual(zone: str) -> tuple[AnnualFactor, ...]:
    """The library's annual factors of ``zone``, by year."""
    z = normalize_zone(zone)
    return tuple(sorted((a for a in _annual_rows() if a.zone == z), key=lambda a: a.year))


@cache
def _bundled_names() -> tuple[str, ...]:
    files = resources.files("carbontwin.twin.data")
    return tuple(
        sorted(
            p.name.removesuffix(".csv") for p in files.iterdir() if p.name.endswith("_hourly.csv")
        )
    )


def bundled_series_names(zone: str | None = None) -> tuple[str, ...]:
    """Names of the bundled hourly series (of ``zone`` only, when given), oldest first."""
    names = _bundled_names()
    if zone is None:
        return names
    z = normalize_zone(zone)
    return tuple(n for n in names if n.split("_")[0] == z)
