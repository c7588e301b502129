"""The emission factors of one attribution (:class:`FactorSet`) and how a factory gets them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import AttributionError
from carbontwin.twin.model import ElectricityContract, Factory

from ._library import (
    FUEL_FACTORS,
    HEAT_CARRIERS,
    AnnualFactor,
    FuelFactor,
    bundled_series_names,
    library_annual,
    normalize_zone,
)
from ._series import HourlySeries, bundled_series, load_hourly_csv
from ._zone import FILLED, ZoneFactors, _nearest, years_of

__all__ = [
    "ConstantFactor",
    "ElectricityLookup",
    "FactorSet",
    "factory_series",
    "missing_factors",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ConstantFactor:
    """One grid factor for every hour, given by the user (``--grid-factor "0.35 kg/kWh"``)."""

    factor_kg_per_kwh: float
    source: str
    version: str = "constant"
    name: str = "grid-factor"


Location = HourlySeries | AnnualFactor | ConstantFactor | ZoneFactors


@dataclass(frozen=True, slots=True, eq=False)
class ElectricityLookup:
    """Electricity factors at given times and how each was found.

    Attributes
    ----------
    location_kg_per_kwh, market_kg_per_kwh : numpy.ndarray
        Location- and market-based factors [kg CO2e/kWh].
    fallback : numpy.ndarray of bool
        True where a fallback gave the location-based factor.
    filled : numpy.ndarray of bool
        True where the hourly series' value was interpolated (missing in its source).
    note : numpy.ndarray of int
        Index into ``notes`` of the fallback that gave the factor, -1 for none.
    notes : list of str
        What each fallback did (flag text).
    """

    location_kg_per_kwh: FloatArray
    market_kg_per_kwh: FloatArray
    fallback: BoolArray
    filled: BoolArray
    note: IntArray
    notes: list[str]


def _year_values(entries: Sequence[AnnualFactor], t: FloatArray) -> FloatArray:
    """Per time: the entry of its year, else of the nearest year [kg CO2e/kWh]."""
    years = years_of(t)
    out = np.empty(np.shape(t))
    by_year = {e.year: e.factor_kg_per_kwh for e in reversed(entries)}
    for y in np.unique(years).tolist():
        near = y if y in by_year else _nearest(list(by_year), int(y))
        out[years == y] = by_year[near]
    return out


@dataclass(frozen=True, slots=True, eq=False)
class FactorSet:
    """The emission factors one attribution uses.

    Attributes
    ----------
    location : HourlySeries, AnnualFactor, ConstantFactor or ZoneFactors
        Location-based electricity factor. A :class:`ZoneFactors` falls back
        explicitly outside its series (see :mod:`carbontwin.twin.factors`); a
        bare :class:`HourlySeries` raises outside itself unless ``fallback`` is set.
    contracts : tuple of ElectricityContract
        Contractual instruments; their shares (summing to at most 1) carry
        their own factors in the market-based method.
    residual_mix_kg_per_kwh : float or None
        Factor of the uncontracted rest in the market-based method [kg CO2e/kWh];
        None uses ``residual_mix`` or else the location-based factor at that hour
        (documented approximation when no residual mix is published).
    fuels : Mapping[str, FuelFactor]
        Factors per fuel carrier (and purchased steam/heat, scope 2).
    fallback : AnnualFactor or None
        Used, and flagged, outside a bare hourly series; None raises instead.
    residual_mix : tuple of AnnualFactor
        Residual mix per year (the nearest year's for a year not listed).
    """

    location: Location
    contracts: tuple[ElectricityContract, ...] = ()
    residual_mix_kg_per_kwh: float | None = None
    fuels: Mapping[str, FuelFactor] = field(default_factory=lambda: dict(FUEL_FACTORS))
    fallback: AnnualFactor | None = None
    residual_mix: tuple[AnnualFactor, ...] = ()

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

    # -- building ----------------------------------------------------------------
    @classmethod
    def for_factory(
        cls,
        factory: Factory,
        *,
        series: Iterable[HourlySeries] = (),
        grid_series: HourlySeries | None = None,
        grid_factor: ConstantFactor | None = None,
    ) -> FactorSet:
        """The factors of ``factory``: its ``factors:`` section over the built-in library.

        Parameters
        ----------
        factory : Factory
            The plant; its site's grid zone (``grid_zone``, else its country) chooses
            the zone's factors, its contracts and fuel factors are used as given.
        series : iterable of HourlySeries
            The zone's hourly series named by the factory file, already loaded
            (:func:`factory_series` reads them from files; the issuing service from
            the store).
        grid_series : HourlySeries, optional
            ``--grid-factors FILE.csv``: the zone's series of highest priority.
        grid_factor : ConstantFactor, optional
            ``--grid-factor QUANTITY``: one factor for every hour; overrides everything.

        Raises
        ------
        AttributionError
            When the zone has no factor at all, naming the zone and how to give one.
        """
        zone = normalize_zone(factory.grid_zone)
        section = factory.factors.zone(zone) or next(
            (z for z in factory.factors.grid if normalize_zone(z.zone) == zone), None
        )
        own_annual = tuple(
            AnnualFactor(zone, y.year, y.factor_kg_per_kwh, y.source or "factory file", "factory")
            for y in (section.annual if section else ())
        )
        residual = tuple(
            AnnualFactor(zone, y.year, y.factor_kg_per_kwh, y.source or "factory file", "factory")
            for y in (section.residual_mix if section else ())
        )
        location: Location
        if grid_factor is not None:
            location = grid_factor
        else:
            ordered = ([grid_series] if grid_series is not None else []) + list(series)
            ordered += [bundled_series(n) for n in bundled_series_names(zone)]
            location = ZoneFactors(zone, tuple(ordered), own_annual + library_annual(zone))
        fuels = dict(FUEL_FACTORS)
        for f in factory.factors.fuels:
            key = f.carrier.value
            fuels[key] = FuelFactor(
                key,
                f.factor_kg_per_kwh,
                f.source or "factory file",
                "factory",
                2 if key in HEAT_CARRIERS else 1,
            )
        return cls(
            location=location,
            contracts=tuple(factory.contracts),
            fuels=fuels,
            residual_mix=residual,
        )

    @classmethod
    def default(
        cls, factory: Factory | None = None, *, fallback: AnnualFactor | None = None
    ) -> FactorSet:
        """The factors of ``factory`` from its own section and the built-in library.

        Without a factory: the bundled German hourly series and built-in fuel
        factors. A factory whose file names hourly series files needs them
        loaded: use :meth:`for_factory` with :func:`factory_series`.
        """
        if factory is None:
            return cls(location=bundled_series("DE_2019_hourly"), fallback=fallback)
        section = factory.factors.zone(normalize_zone(factory.grid_zone))
        if section is not None and section.hourly:
            msg = (
                f"factory {factory.id!r} names hourly series files {list(section.hourly)}; "
                "load them with FactorSet.for_factory(factory, series=factory_series(factory, "
                "base_dir)) (the command line does this)"
            )
            raise AttributionError(msg)
        return cls.for_factory(factory)

    # -- electricity -------------------------------------------------------------
    def covers(self, t: FloatArray) -> BoolArray:
        """True where an electricity factor exists for time ``t`` [epoch s] (fallbacks
        included); False where attributing electricity would fail: outside a bare
        hourly series without ``fallback``, or a zone of hourly series alone outside them."""
        tt = np.asarray(t, dtype=np.float64)
        loc = self.location
        if isinstance(loc, ZoneFactors):
            return loc.covered(tt)
        if isinstance(loc, AnnualFactor | ConstantFactor) or self.fallback is not None:
            return np.ones(tt.shape, dtype=bool)
        idx = loc.index(tt)
        out: BoolArray = (idx >= 0) & (idx < loc.values.size)
        return out

    def electricity(self, t: FloatArray) -> ElectricityLookup:
        """Location- and market-based factors at each time ``t`` [epoch s], with the fallbacks."""
        tt = np.asarray(t, dtype=np.float64)
        loc_f = self.location
        note = np.full(tt.shape, -1, dtype=np.int64)
        notes: list[str] = []
        if isinstance(loc_f, AnnualFactor | ConstantFactor):
            loc = np.full(tt.shape, loc_f.factor_kg_per_kwh)
            fb = filled = np.zeros(tt.shape, dtype=bool)
        elif isinstance(loc_f, ZoneFactors):
            loc, code = loc_f.lookup(tt)
            fb = loc_f.is_fallback(code)
            filled = code == FILLED
            if fb.any():
                years = years_of(tt)
                pairs = np.unique(np.stack([code[fb], years[fb]]), axis=1)
                for c, y in pairs.T.tolist():
                    sel = fb & (code == c) & (years == y)
                    note[sel] = len(notes)
                    notes.append(loc_f.describe(int(c), int(y)))
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
            if fb.any():
                note[fb] = 0
                notes.append(
                    "electricity outside the hourly grid series used the annual fallback factor"
                )
        share = sum(c.share for c in self.contracts)
        contracted = sum(c.share * c.factor_kg_per_kwh for c in self.contracts)
        rest: FloatArray | float
        if self.residual_mix_kg_per_kwh is not None:
            rest = self.residual_mix_kg_per_kwh
        elif self.residual_mix:
            rest = _year_values(self.residual_mix, tt)
        else:
            rest = loc
        mkt = np.broadcast_to(contracted + (1.0 - share) * rest, tt.shape).astype(np.float64)
        return ElectricityLookup(loc, mkt, fb, filled, note, notes)

    def electricity_factors(
        self, t: FloatArray
    ) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
        """Location- and market-based factors [kg CO2e/kWh] at each time, and where a
        fallback or a filled (interpolated) hour gave them; one hour lookup."""
        e = self.electricity(t)
        return e.location_kg_per_kwh, e.market_kg_per_kwh, e.fallback, e.filled

    def electricity_location_kg_per_kwh(self, t: FloatArray) -> FloatArray:
        """Location-based factor at each time ``t`` [epoch s] -> [kg CO2e/kWh]."""
        return self.electricity(t).location_kg_per_kwh

    def electricity_market_kg_per_kwh(self, t: FloatArray) -> FloatArray:
        """Market-based factor at each time: contracts at their factors, the rest at the
        residual-mix factor (or the location-based one) [kg CO2e/kWh]."""
        return self.electricity(t).market_kg_per_kwh

    def fallback_used(self, t: FloatArray) -> BoolArray:
        """True where a fallback (not an hourly series covering the hour) gave the factor."""
        return self.electricity(t).fallback

    def filled_hour(self, t: FloatArray) -> BoolArray:
        """True where the hourly series' value was filled (missing in its source)."""
        return self.electricity(t).filled

    # -- fuels -------------------------------------------------------------------
    def fuel(self, carrier: str) -> FuelFactor:
        try:
            return self.fuels[str(carrier)]
        except KeyError:
            msg = (
                f"no emission factor for energy carrier {str(carrier)!r}; known: "
                f"{sorted(self.fuels)}; give one in the factory file's factors.fuels section "
                f"(e.g. {str(carrier)}: {{factor: '0.25 kg/kWh', source: ...}})"
            )
            raise AttributionError(msg) from None

    def fuel_kg_per_kwh(self, carrier: str) -> float:
        """Factor of a fuel (or purchased heat) [kg CO2e/kWh]."""
        return self.fuel(carrier).factor_kg_per_kwh

    @property
    def versions(self) -> dict[str, str]:
        """Factor name -> version, for footprints."""
        loc = self.location
        where = loc.version if isinstance(loc, ZoneFactors) else f"{loc.name}:{loc.version}"
        out = {"electricity_location": where}
        if self.contracts or self.residual_mix_kg_per_kwh is not None or self.residual_mix:
            parts = [f"{c.name}={c.share:g}@{c.factor_kg_per_kwh:g}" for c in self.contracts]
            if self.residual_mix_kg_per_kwh is not None:
                rest = f"residual={self.residual_mix_kg_per_kwh:g}"
            elif self.residual_mix:
                rest = "residual=" + ",".join(
                    f"{r.year}:{r.factor_kg_per_kwh:g}" for r in self.residual_mix
                )
            else:
                rest = "residual=location"
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
        for r in self.residual_mix:
            out[f"residual_mix:{r.year}"] = r.source
        return out


def factory_series(factory: Factory, base_dir: str | Path) -> tuple[HourlySeries, ...]:
    """Load the hourly series files the factory file names for its site's zone.

    Paths are relative to ``base_dir`` (the factory file's folder). Each series is
    named by its file's stem and versioned by the hash of its bytes.
    """
    zone = normalize_zone(factory.grid_zone)
    section = factory.factors.zone(zone)
    if section is None:
        return ()
    base = Path(base_dir)
    out = []
    for ref in section.hourly:
        p = Path(ref)
        out.append(
            load_hourly_csv(p if p.is_absolute() else base / p, source=f"factory file: {ref}")
        )
    return tuple(out)


def missing_factors(factory: Factory) -> list[tuple[str, str]]:
    """What has no emission factor: ``(what, message)`` pairs, ``what`` in
    ``"zone"`` or ``"carrier:<id>"``; empty when every factor can be found."""
    out: list[tuple[str, str]] = []
    zone = normalize_zone(factory.grid_zone)
    section = factory.factors.zone(zone)
    has_own = section is not None and bool(section.annual or section.hourly)
    if not (has_own or library_annual(zone) or bundled_series_names(zone)):
        out.append(
            (
                "zone",
                f"no emission factor for grid zone '{zone}' (neither in the factory file nor "
                f"in the built-in library); add factors.grid.{zone} with an annual factor, "
                f"e.g. 'annual: [{{year: 2024, factor: \"0.35 kg/kWh\", source: ...}}]', "
                "or an hourly series file ('hourly: grid.csv' with columns "
                "hour_start_utc,g_co2e_per_kwh), or run with --grid-factor/--grid-factors",
            )
        )
    known = set(FUEL_FACTORS) | {f.carrier.value for f in factory.factors.fuels}
    used = {m.power.carrier.value for m in factory.machines}
    used |= {u.power.carrier.value for u in factory.utilities}
    used |= {mt.carrier.value for mt in factory.meters}
    for c in sorted(used - known - {"electricity"}):
        out.append(
            (
                f"carrier:{c}",
                f"no emission factor for energy carrier '{c}'; add factors.fuels.{c}, e.g. "
                f"'{c}: {{factor: \"0.25 kg/kWh\", source: ...}}' (units such as "
                "kg/kWh, g/kWh, t/TJ)",
            )
        )
    return out
