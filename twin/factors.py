"""Emission factors: a small, versioned library.

Three kinds of factor, each carrying its source and a version string that
every footprint records:

- :class:`FuelFactor` — constant combustion factors per kWh of fuel (scope 1),
  on the net calorific value (NCV, German *Heizwert* H\\ :sub:`i`);
- :class:`AnnualFactor` — one grid factor for a country and year;
- :class:`HourlySeries` — an hourly grid carbon-intensity series loaded from
  CSV (:func:`load_hourly_csv`); the bundled German 2019 series
  (``twin/data/DE_2019_hourly.csv``) is the default.

:class:`FactorSet` bundles them for one factory: the location-based
electricity factor (hourly series or annual factor), the market-based factor
built from the factory's contracts (PPAs, guarantees of origin) and the fuel
factors. Lookups work on float64 epoch seconds.

A time outside the hourly series is an :class:`~carbontwin.twin.errors.AttributionError`
naming the time and the series, unless the set was built with an explicit
annual ``fallback``; then the annual factor is used and :meth:`FactorSet.fallback_used`
says where, so attribution can flag it.

Grid intensity derived from ENTSO-E Transparency Platform generation data and
Tranberg et al. (2019) emission factors (see ``twin/data/GRID_INTENSITY_README.md``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from .errors import AttributionError
from .model import Carrier, ElectricityContract, Factory
from .quantities import from_epoch

__all__ = [
    "ANNUAL_GRID_FACTORS",
    "FUEL_FACTORS",
    "GRID_ATTRIBUTION",
    "AnnualFactor",
    "FactorSet",
    "FuelFactor",
    "HourlySeries",
    "bundled_series",
    "load_hourly_csv",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The citation that must accompany the bundled hourly grid series.
GRID_ATTRIBUTION = (
    "Grid intensity derived from ENTSO-E Transparency Platform generation data "
    "and Tranberg et al. (2019) emission factors."
)

_HOUR_S = 3600.0

# IPCC 2006 Guidelines, Vol. 2 (Energy), ch. 2, Tables 2.2/2.3 (stationary combustion in
# manufacturing industries), per TJ of fuel on the net calorific value; CH4 and N2O weighted
# with IPCC AR6 GWP100 (WG I, ch. 7, Table 7.15: fossil CH4 29.8, N2O 273), the
# characterisation PACT requires. 1 kWh = 3.6e-6 TJ.
_TJ_PER_KWH = 3.6e-6


def _ipcc(co2_kg_per_tj: float, ch4_kg_per_tj: float, n2o_kg_per_tj: float) -> float:
    return (co2_kg_per_tj + 29.8 * ch4_kg_per_tj + 273.0 * n2o_kg_per_tj) * _TJ_PER_KWH


@dataclass(frozen=True, slots=True)
class FuelFactor:
    """Constant combustion factor of a fuel.

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


#: Built-in fuel factors (NCV basis, CO2 + CH4 + N2O as CO2e).
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
}


@dataclass(frozen=True, slots=True)
class AnnualFactor:
    """One grid emission factor for a zone and year [kg CO2(e)/kWh]."""

    zone: str
    year: int
    factor_kg_per_kwh: float
    source: str
    version: str

    @property
    def name(self) -> str:
        return f"{self.zone}_{self.year}_annual"


#: Annual grid factors with their sources (location-based, consumption at the grid).
ANNUAL_GRID_FACTORS: Mapping[str, AnnualFactor] = {
    "CN_2022": AnnualFactor(
        "CN",
        2022,
        0.5366,
        "Ministry of Ecology and Environment / National Bureau of Statistics of China, national "
        "average grid emission factor 2022 (announced 2024-12-20)",
        "mee-2024-12",
    ),
    "CN_2021": AnnualFactor(
        "CN",
        2021,
        0.5568,
        "Ministry of Ecology and Environment of China, national average grid emission factor 2021",
        "mee-2024-12",
    ),
    "DE_2023": AnnualFactor(
        "DE",
        2023,
        0.380,
        "Umweltbundesamt, Icha & Lauf, Climate Change 23/2024 (2023 estimate)",
        "uba-cc-23-2024",
    ),
    "DE_2019": AnnualFactor(
        "DE", 2019, 0.401, "Umweltbundesamt, Icha & Lauf, Climate Change 23/2024", "uba-cc-23-2024"
    ),
    "EU27_2018": AnnualFactor(
        "EU27",
        2018,
        0.281,
        "European Environment Agency, GHG emission intensity of "
        "electricity generation indicator (CC BY 4.0)",
        "eea-2018",
    ),
}


@dataclass(frozen=True, slots=True, eq=False)
class HourlySeries:
    """Hourly grid carbon intensity.

    Attributes
    ----------
    t_start : numpy.ndarray
        Start of each hour, consecutive, float64 epoch seconds [s].
    values : numpy.ndarray
        Intensity in that hour [kg CO2e/kWh].
    name, version, source : str
        Identification recorded in footprints.
    filled : numpy.ndarray of bool
        True where the hour was missing in the source and filled (linear
        interpolation between the neighbouring hours).
    """

    t_start: FloatArray
    values: FloatArray
    name: str
    version: str
    source: str = GRID_ATTRIBUTION
    filled: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if self.t_start.shape != self.values.shape or self.t_start.size == 0:
            msg = f"hourly series {self.name!r} needs equally long, non-empty times and values"
            raise AttributionError(msg)
        if self.filled.size == 0:
            object.__setattr__(self, "filled", np.zeros(self.values.size, dtype=bool))
        steps = np.diff(self.t_start)
        if steps.size and not np.all(steps == _HOUR_S):
            i = int(np.flatnonzero(steps != _HOUR_S)[0]) + 1
            msg = (
                f"hourly series {self.name!r} is not consecutive hours at "
                f"{from_epoch(float(self.t_start[i])).isoformat()}"
            )
            raise AttributionError(msg)

    @property
    def start(self) -> float:
        return float(self.t_start[0])

    @property
    def end(self) -> float:
        """End of the last hour [epoch s] (exclusive)."""
        return float(self.t_start[-1]) + _HOUR_S

    def index(self, t: FloatArray) -> npt.NDArray[np.int64]:
        """Hour index of each time; -1 or ``len`` outside the series."""
        idx = np.floor((np.asarray(t, dtype=np.float64) - self.start) / _HOUR_S).astype(np.int64)
        return np.clip(idx, -1, self.values.size)

    def lookup(self, t: FloatArray) -> FloatArray:
        """Intensity at each time [kg CO2e/kWh]; raises outside the series."""
        idx = self.index(t)
        bad = (idx < 0) | (idx >= self.values.size)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            msg = (
                f"time {from_epoch(float(np.asarray(t)[i])).isoformat()} is outside the hourly "
                f"grid series {self.name!r} ({from_epoch(self.start).isoformat()} to "
                f"{from_epoch(self.end).isoformat()}); give a series that covers it or a "
                "FactorSet with an annual fallback"
            )
            raise AttributionError(msg)
        return self.values[idx]


def load_hourly_csv(
    path: str | Path,
    *,
    name: str | None = None,
    version: str | None = None,
    source: str = GRID_ATTRIBUTION,
    unit: str = "g_co2e_per_kwh",
) -> HourlySeries:
    """Read an hourly series from CSV.

    Parameters
    ----------
    path : str or Path
        CSV with columns ``hour_start_utc`` (ISO 8601 UTC) and the value column
        ``unit`` (``g_co2e_per_kwh`` [g/kWh] or ``kg_co2e_per_kwh`` [kg/kWh]).
    name, version : str, optional
        Default: the file's stem, and ``"<stem>@sha256:<first 12 hex>"`` of its bytes.

    Notes
    -----
    An empty value, or a missing row, is an hour without data: it is filled by
    linear interpolation between its neighbours and marked in ``filled`` — never
    silently zero. Attribution flags footprints that used a filled hour.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        msg = f"cannot read hourly factor series {p}: {exc}"
        raise AttributionError(msg) from None
    return _parse_hourly(
        raw, name=name or p.stem, version=version, source=source, unit=unit, where=str(p)
    )


def _parse_hourly(
    raw: bytes, *, name: str, version: str | None, source: str, unit: str, where: str
) -> HourlySeries:
    scale = {"g_co2e_per_kwh": 1e-3, "kg_co2e_per_kwh": 1.0}.get(unit)
    if scale is None:
        msg = f"{where}: unknown value unit {unit!r}; use g_co2e_per_kwh or kg_co2e_per_kwh"
        raise AttributionError(msg)
    frame = pd.read_csv(io.BytesIO(raw))
    for col in ("hour_start_utc", unit):
        if col not in frame.columns:
            msg = f"{where}: column {col!r} missing (have {list(frame.columns)})"
            raise AttributionError(msg)
    try:
        times = pd.to_datetime(frame["hour_start_utc"], utc=True)
    except (ValueError, TypeError) as exc:
        msg = f"{where}: hour_start_utc is not ISO 8601 UTC: {exc}"
        raise AttributionError(msg) from None
    t = times.dt.as_unit("ns").astype("int64").to_numpy() / 1e9
    v = pd.to_numeric(frame[unit], errors="coerce").to_numpy(dtype=np.float64) * scale
    if t.size == 0:
        msg = f"{where}: no rows"
        raise AttributionError(msg)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    if np.any(np.diff(t) == 0):
        i = int(np.flatnonzero(np.diff(t) == 0)[0]) + 1
        msg = f"{where}: hour {from_epoch(float(t[i])).isoformat()} appears twice"
        raise AttributionError(msg)
    if np.any(np.mod(t - t[0], _HOUR_S) != 0):
        msg = f"{where}: hour_start_utc values are not whole hours apart"
        raise AttributionError(msg)
    n = int(round((t[-1] - t[0]) / _HOUR_S)) + 1
    full = np.full(n, np.nan)
    full[np.rint((t - t[0]) / _HOUR_S).astype(np.int64)] = v
    filled = ~np.isfinite(full) | (full < 0)
    if filled.all():
        msg = f"{where}: no valid values"
        raise AttributionError(msg)
    hours = t[0] + _HOUR_S * np.arange(n, dtype=np.float64)
    if filled.any():
        full[filled] = np.interp(hours[filled], hours[~filled], full[~filled])
    ver = version or f"{name}@sha256:{hashlib.sha256(raw).hexdigest()[:12]}"
    return HourlySeries(hours, full, name, ver, source, filled)


@cache
def bundled_series(name: str = "DE_2019_hourly") -> HourlySeries:
    """An hourly series shipped in ``carbontwin.twin.data`` (e.g. ``"DE_2019_hourly"``)."""
    try:
        raw = resources.files("carbontwin.twin.data").joinpath(f"{name}.csv").read_bytes()
    except (FileNotFoundError, OSError):
        msg = f"no bundled hourly grid series {name!r} in carbontwin.twin.data"
        raise AttributionError(msg) from None
    return _parse_hourly(
        raw,
        name=name,
        version=None,
        source=GRID_ATTRIBUTION,
        unit="g_co2e_per_kwh",
        where=f"carbontwin.twin.data/{name}.csv",
    )


@dataclass(frozen=True, slots=True, eq=False)
class FactorSet:
    """The emission factors one attribution uses.

    Attributes
    ----------
    location : HourlySeries or AnnualFactor
        Location-based electricity factor.
    contracts : tuple of ElectricityContract
        Contractual instruments; their shares (summing to at most 1) carry
        their own factors in the market-based method.
    residual_mix_kg_per_kwh : float or None
        Factor of the uncontracted rest in the market-based method [kg CO2e/kWh];
        None uses the location-based factor at that hour (documented
        approximation when no residual mix is published).
    fuels : Mapping[str, FuelFactor]
        Factors per fuel carrier (and purchased steam/heat, scope 2).
    fallback : AnnualFactor or None
        Used, and flagged, outside an hourly series; None raises instead.
    """

    location: HourlySeries | AnnualFactor
    contracts: tuple[ElectricityContract, ...] = ()
    residual_mix_kg_per_kwh: float | None = None
    fuels: Mapping[str, FuelFactor] = field(default_factory=lambda: dict(FUEL_FACTORS))
    fallback: AnnualFactor | None = None

    def __post_init__(self) -> None:
        total = sum(c.share for c in self.contracts)
        for c in self.contracts:
            if not 0.0 <= c.share <= 1.0 or c.factor_kg_per_kwh < 0:
                msg = (
                    f"contract {c.name!r}: share {c.share} must be within 0..1 and factor "
                    f"{c.factor_kg_per_kwh} not negative"
                )
                raise AttributionError(msg)
        if total > 1.0 + 1e-12:
            msg = f"contract shares add up to {total:.4f} > 1 ({[c.name for c in self.contracts]})"
            raise AttributionError(msg)

    @classmethod
    def default(
        cls, factory: Factory | None = None, *, fallback: AnnualFactor | None = None
    ) -> FactorSet:
        """German 2019 hourly series, built-in fuel factors and the factory's contracts.

        A site in China gets the MEE 2022 annual factor; any other site outside
        Germany must pass its own factors (an error says so).
        """
        contracts = factory.contracts if factory is not None else ()
        country = factory.site.country.upper() if factory is not None else "DE"
        zone = (factory.site.grid_zone.upper() if factory is not None else "") or country
        location: HourlySeries | AnnualFactor
        if zone in ("DE", ""):
            location = bundled_series("DE_2019_hourly")
        elif zone == "CN":
            location = ANNUAL_GRID_FACTORS["CN_2022"]
        else:
            msg = (
                f"no default grid factor for site zone {zone!r}; build a FactorSet with an "
                "hourly series (load_hourly_csv) or an AnnualFactor"
            )
            raise AttributionError(msg)
        return cls(location=location, contracts=tuple(contracts), fallback=fallback)

    # -- electricity -------------------------------------------------------------
    def electricity_location_kg_per_kwh(self, t: FloatArray) -> FloatArray:
        """Location-based factor at each time ``t`` [epoch s] -> [kg CO2e/kWh]."""
        tt = np.asarray(t, dtype=np.float64)
        if isinstance(self.location, AnnualFactor):
            return np.full(tt.shape, self.location.factor_kg_per_kwh)
        if self.fallback is None:
            return self.location.lookup(tt)
        idx = self.location.index(tt)
        inside = (idx >= 0) & (idx < self.location.values.size)
        out = np.full(tt.shape, self.fallback.factor_kg_per_kwh)
        out[inside] = self.location.values[idx[inside]]
        return out

    def electricity_market_kg_per_kwh(self, t: FloatArray) -> FloatArray:
        """Market-based factor at each time: contracts at their factors, the rest at the
        residual-mix factor (or the location-based one) [kg CO2e/kWh]."""
        share = sum(c.share for c in self.contracts)
        contracted = sum(c.share * c.factor_kg_per_kwh for c in self.contracts)
        if self.residual_mix_kg_per_kwh is not None:
            rest = np.full(np.shape(t), self.residual_mix_kg_per_kwh)
        else:
            rest = self.electricity_location_kg_per_kwh(t)
        return contracted + (1.0 - share) * rest

    def electricity_factors(
        self, t: FloatArray
    ) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
        """Location- and market-based factors [kg CO2e/kWh] at each time, and where the
        annual fallback or a filled (interpolated) hour gave them; one hour lookup."""
        tt = np.asarray(t, dtype=np.float64)
        loc_f = self.location
        if isinstance(loc_f, AnnualFactor):
            loc = np.full(tt.shape, loc_f.factor_kg_per_kwh)
            fb = filled = np.zeros(tt.shape, dtype=bool)
        else:
            idx = loc_f.index(tt)
            outside = (idx < 0) | (idx >= loc_f.values.size)
            if outside.any() and self.fallback is None:
                loc_f.lookup(tt)  # raises, naming the time and the series
            inner = np.clip(idx, 0, loc_f.values.size - 1)
            loc = np.where(
                outside,
                self.fallback.factor_kg_per_kwh if self.fallback else 0.0,
                loc_f.values[inner],
            )
            fb = outside
            filled = ~outside & loc_f.filled[inner]
        share = sum(c.share for c in self.contracts)
        contracted = sum(c.share * c.factor_kg_per_kwh for c in self.contracts)
        rest = loc if self.residual_mix_kg_per_kwh is None else self.residual_mix_kg_per_kwh
        mkt = contracted + (1.0 - share) * rest
        return loc, np.broadcast_to(mkt, tt.shape).astype(np.float64), fb, filled

    def fallback_used(self, t: FloatArray) -> BoolArray:
        """True where the annual fallback (not the hourly series) gave the factor."""
        tt = np.asarray(t, dtype=np.float64)
        if isinstance(self.location, AnnualFactor) or self.fallback is None:
            return np.zeros(tt.shape, dtype=bool)
        idx = self.location.index(tt)
        return (idx < 0) | (idx >= self.location.values.size)

    def filled_hour(self, t: FloatArray) -> BoolArray:
        """True where the hourly series' value was filled (missing in its source)."""
        tt = np.asarray(t, dtype=np.float64)
        if isinstance(self.location, AnnualFactor):
            return np.zeros(tt.shape, dtype=bool)
        idx = self.location.index(tt)
        inside = (idx >= 0) & (idx < self.location.values.size)
        out = np.zeros(tt.shape, dtype=bool)
        out[inside] = self.location.filled[idx[inside]]
        return out

    # -- fuels -------------------------------------------------------------------
    def fuel(self, carrier: str) -> FuelFactor:
        try:
            return self.fuels[str(carrier)]
        except KeyError:
            msg = (
                f"no emission factor for energy carrier {str(carrier)!r}; known: "
                f"{sorted(self.fuels)}; add a FuelFactor to FactorSet.fuels"
            )
            raise AttributionError(msg) from None

    def fuel_kg_per_kwh(self, carrier: str) -> float:
        """Factor of a fuel (or purchased heat) [kg CO2e/kWh]."""
        return self.fuel(carrier).factor_kg_per_kwh

    @property
    def versions(self) -> dict[str, str]:
        """Factor name -> version, for footprints."""
        loc = self.location
        out = {"electricity_location": f"{loc.name}:{loc.version}"}
        if self.contracts or self.residual_mix_kg_per_kwh is not None:
            parts = [f"{c.name}={c.share:g}@{c.factor_kg_per_kwh:g}" for c in self.contracts]
            rest = (
                "residual=location"
                if self.residual_mix_kg_per_kwh is None
                else f"residual={self.residual_mix_kg_per_kwh:g}"
            )
            out["electricity_market"] = ";".join([*parts, rest])
        else:
            out["electricity_market"] = "no contracts: market = location"
        if self.fallback is not None:
            out["electricity_fallback"] = f"{self.fallback.name}:{self.fallback.version}"
        for k in sorted(self.fuels):
            out[f"fuel:{k}"] = self.fuels[k].version
        return out

    @property
    def sources(self) -> dict[str, str]:
        """Factor name -> source text (for labels and reports)."""
        out = {"electricity_location": self.location.source}
        for k in sorted(self.fuels):
            out[f"fuel:{k}"] = self.fuels[k].source
        for c in self.contracts:
            out[f"contract:{c.name}"] = c.source
        return out
