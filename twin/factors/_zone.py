"""All location-based grid factors of one zone, and the fallback order for an hour.

For each time, :meth:`ZoneFactors.lookup` takes the first of:

1. an hourly series that covers the hour (series in priority order: the
   command line's, the factory file's or the store's, then the bundled ones);
2. **fallback, profile**: the hour of the same hour-of-year (UTC) in the zone's
   series of the nearest year (a later year wins a tie), scaled so that the
   series' mean equals the target year's annual factor where one is known,
   unscaled where none is;
3. the annual factor of the hour's year (a fallback only when the zone has
   hourly series; for a zone without series it is the method);
4. **fallback, other year**: the annual factor of the nearest year.

Each time gets a :data:`Method` code; the fallbacks are flagged on the orders
that used them and lower their data-quality rating.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import AttributionError
from carbontwin.twin.quantities import from_epoch

from ._library import AnnualFactor
from ._series import HourlySeries

__all__ = [
    "ANNUAL",
    "ANNUAL_OTHER_YEAR",
    "FILLED",
    "HOURLY",
    "PROFILE",
    "PROFILE_SCALED",
    "ZoneFactors",
    "year_start",
    "years_of",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOURLY, FILLED, ANNUAL, PROFILE_SCALED, PROFILE, ANNUAL_OTHER_YEAR = range(6)
_DAY_S = 86_400.0


def year_start(year: int) -> float:
    """1 January of ``year``, 00:00 UTC [epoch s]."""
    return datetime(year, 1, 1, tzinfo=UTC).timestamp()


def years_of(t: FloatArray) -> IntArray:
    """UTC calendar year of each time [epoch s]."""
    years = np.asarray(t, dtype="datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    return np.asarray(years, dtype=np.int64)


def _nearest(years: list[int], target: int) -> int:
    """The year nearest ``target``; a later year wins a tie."""
    return min(years, key=lambda y: (abs(y - target), -y))


@dataclass(frozen=True, slots=True, eq=False)
class ZoneFactors:
    """Hourly series and annual factors of one grid zone, with explicit fallbacks.

    Attributes
    ----------
    zone : str
        Grid zone id.
    series : tuple of HourlySeries
        Hourly series, highest priority first.
    annual : tuple of AnnualFactor
        Annual factors; the first one of a year wins (factory file before library).
    """

    zone: str
    series: tuple[HourlySeries, ...] = ()
    annual: tuple[AnnualFactor, ...] = ()

    def __post_init__(self) -> None:
        if not self.series and not self.annual:
            msg = (
                f"no emission factor for grid zone {self.zone!r}: give the zone an annual factor "
                f"or an hourly series in the factory file's factors.grid.{self.zone} section, "
                "or pass --grid-factor / --grid-factors"
            )
            raise AttributionError(msg)

    @property
    def name(self) -> str:
        return f"{self.zone}_grid"

    @property
    def source(self) -> str:
        parts = dict.fromkeys([s.source for s in self.series] + [a.source for a in self.annual])
        return "; ".join(parts)

    @property
    def version(self) -> str:
        parts = [s.version for s in self.series]  # "<name>@sha256:<12 hex>"
        parts += [f"{a.name}:{a.version}" for a in self.annual]
        return ",".join(parts)

    def annual_for(self, year: int) -> AnnualFactor | None:
        """The annual factor of exactly ``year`` (the first given), or None."""
        for a in self.annual:
            if a.year == year:
                return a
        return None

    def lookup(self, t: FloatArray) -> tuple[FloatArray, IntArray]:
        """Factor at each time [kg CO2e/kWh] and the method code that gave it."""
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        if self.series:  # the common case: the first series covers every time
            first = self.series[0]
            idx = first.index(tt)
            if idx.size and idx.min() >= 0 and idx.max() < first.values.size:
                code = (
                    np.where(first.filled[idx], FILLED, HOURLY)
                    if first.filled.any()
                    else (np.zeros(tt.size, dtype=np.int64))
                )
                return first.values[idx].reshape(np.shape(t)), code.reshape(np.shape(t))
        out = np.full(tt.size, np.nan)
        code = np.full(tt.size, -1, dtype=np.int64)
        for s in self.series:
            todo = np.flatnonzero(code < 0)
            if todo.size == 0:
                break
            idx = s.index(tt[todo])
            inside = (idx >= 0) & (idx < s.values.size)
            sel, at = todo[inside], idx[inside]
            out[sel] = s.values[at]
            code[sel] = np.where(s.filled[at], FILLED, HOURLY)
        todo = np.flatnonzero(code < 0)
        if todo.size:
            years = years_of(tt[todo])
            for year in np.unique(years).tolist():
                self._fill_year(tt, todo[years == year], int(year), out, code)
        return out.reshape(np.shape(t)), code.reshape(np.shape(t))

    def _fill_year(
        self, t: FloatArray, sel: IntArray, year: int, out: FloatArray, code: IntArray
    ) -> None:
        target = self.annual_for(year)
        by_year = sorted(
            range(len(self.series)),
            key=lambda k: (abs(self.series[k].year - year), -self.series[k].year, k),
        )
        for k in by_year:
            s = self.series[k]
            todo = sel[code[sel] < 0]
            if todo.size == 0:
                return
            shift = year_start(s.year) - year_start(year)
            scale = (
                target.factor_kg_per_kwh / s.mean_kg_per_kwh
                if target and s.mean_kg_per_kwh > 0
                else 1.0
            )
            for day in (0.0, -_DAY_S, _DAY_S):
                todo = todo[code[todo] < 0]
                idx = s.index(t[todo] + shift + day)
                inside = (idx >= 0) & (idx < s.values.size)
                hit = todo[inside]
                out[hit] = s.values[idx[inside]] * scale
                code[hit] = PROFILE_SCALED if target else PROFILE
        todo = sel[code[sel] < 0]
        if todo.size == 0:
            return
        if target is not None:
            out[todo] = target.factor_kg_per_kwh
            code[todo] = ANNUAL
            return
        if not self.annual:  # series only, none holding this hour of the year
            msg = (
                f"grid zone {self.zone!r}: no factor for {from_epoch(float(t[todo[0]])).isoformat()}"
                f": its hourly series do not hold that hour of the year and it has no annual "
                "factor; give one in the factory file's factors.grid section"
            )
            raise AttributionError(msg)
        near = _nearest([a.year for a in self.annual], year)
        chosen = self.annual_for(near)
        assert chosen is not None
        out[todo] = chosen.factor_kg_per_kwh
        code[todo] = ANNUAL_OTHER_YEAR

    def covered(self, t: FloatArray) -> npt.NDArray[np.bool_]:
        """True where some factor of the zone gives the hour (a series, a profile of one,
        an annual factor); False only for a zone of series alone, outside them."""
        tt = np.asarray(t, dtype=np.float64).reshape(-1)
        if self.annual or tt.size == 0:
            return np.ones(np.shape(t), dtype=bool)
        out = np.full(tt.size, np.nan)
        code = np.full(tt.size, -1, dtype=np.int64)
        for s in self.series:
            idx = s.index(tt)
            code[(idx >= 0) & (idx < s.values.size)] = HOURLY
        todo = np.flatnonzero(code < 0)
        years = years_of(tt[todo])
        for year in np.unique(years).tolist():
            sel = todo[years == year]
            with contextlib.suppress(AttributionError):  # what stays unfilled is uncovered
                self._fill_year(tt, sel, int(year), out, code)
        return (code >= 0).reshape(np.shape(t))

    def is_fallback(self, code: IntArray) -> npt.NDArray[np.bool_]:
        """True where ``code`` is a fallback (the annual factor counts when the zone has series)."""
        # codes: HOURLY 0, FILLED 1, ANNUAL 2, then the fallbacks 3, 4, 5
        return np.asarray(code >= (ANNUAL if self.series else PROFILE_SCALED), dtype=bool)

    def describe(self, code: int, year: int) -> str:
        """What the method ``code`` meant for a time in ``year`` (for flags)."""
        target = self.annual_for(year)
        if code in (PROFILE_SCALED, PROFILE):
            near = _nearest([s.year for s in self.series], year)
            names = ", ".join(s.name for s in self.series if s.year == near)
            how = (
                f"scaled to the {year} annual factor {target.factor_kg_per_kwh:.4g} kg/kWh "
                f"({target.source})"
                if code == PROFILE_SCALED and target is not None
                else f"unscaled (no {year} annual factor known)"
            )
            return (
                f"grid factor fallback: hours of {year} outside the hourly series of zone "
                f"{self.zone!r} used the profile of {near} ({names}) for the same hour of the "
                f"year, {how}"
            )
        if code == ANNUAL:
            return (
                f"grid factor fallback: hours of {year} outside the hourly series of zone "
                f"{self.zone!r} used the {year} annual factor"
            )
        if code == ANNUAL_OTHER_YEAR:
            near = _nearest([a.year for a in self.annual], year)
            return (
                f"grid factor fallback: no {year} factor for zone {self.zone!r}; used the "
                f"annual factor of {near}"
            )
        return ""
