"""Hourly input signals of a scenario: time-of-use tariff and grid carbon intensity.

Both are piecewise constant per clock hour. :class:`HourlySignal` holds one
value per hour on the simulation clock (hour ``k`` covers
``[t0_hour + 3600 k, t0_hour + 3600 (k + 1))``), which the release policies and
the KPI step read by index, without datetimes in the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from carbontwin.twin.errors import SimulationError

__all__ = [
    "HourlySignal",
    "TariffPeriod",
    "TimeOfUseTariff",
    "grid_intensity_fn",
    "held_series_fn",
    "interval_edges",
    "peak_demand_kw",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    """A price that applies on ``weekdays`` (0 = Monday) from ``start`` to ``end`` local time.

    ``start``/``end`` are whole hours "HH:00"; an end before the start runs past
    midnight.
    """

    price_per_kwh: float
    start: str = "00:00"
    end: str = "24:00"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)


def _hour(text: str) -> int:
    try:
        hh, mm = text.split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        msg = f"tariff time {text!r} is not HH:MM"
        raise SimulationError(msg, field="tariff.periods") from None
    if m != 0 or not 0 <= h <= 24:
        msg = f"tariff time {text!r} must be a whole hour 00:00..24:00"
        raise SimulationError(msg, field="tariff.periods")
    return h


@dataclass(frozen=True, slots=True)
class TimeOfUseTariff:
    """Energy price by hour of the week in the site's local time.

    Attributes
    ----------
    default_per_kwh : float
        Price outside every period [currency/kWh].
    periods : tuple of TariffPeriod
        Later periods override earlier ones where they overlap.
    currency : str
        ISO 4217 code, e.g. "EUR".
    timezone : str
        IANA zone the periods are given in.
    demand_charge_per_kw : float
        Peak-demand charge [currency/kW]: paid once per billing period on the
        highest mean electric demand of any ``demand_interval_s`` interval of it.
        carbontwin takes the simulated period as the billing period. 0: none.
    demand_interval_s : float
        Length of the demand intervals [s], 900 (15 min) by default; it must
        divide an hour. Intervals are aligned to the clock (epoch multiples);
        an interval's demand is its electricity over its full length [kW].
    """

    default_per_kwh: float
    periods: tuple[TariffPeriod, ...] = ()
    currency: str = "EUR"
    timezone: str = "UTC"
    demand_charge_per_kw: float = 0.0
    demand_interval_s: float = 900.0
    _week: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        week = np.full(168, float(self.default_per_kwh))
        for p in self.periods:
            h0, h1 = _hour(p.start), _hour(p.end)
            hours = range(h0, h1 if h1 > h0 else h1 + 24)  # past midnight: next weekday
            for wd in p.weekdays:
                for h in hours:
                    week[(wd * 24 + h) % 168] = p.price_per_kwh
        if not np.all(np.isfinite(week)) or np.any(week < 0):
            msg = "tariff prices must be finite and not negative"
            raise SimulationError(msg, field="tariff")
        if not (math.isfinite(self.demand_charge_per_kw) and self.demand_charge_per_kw >= 0):
            msg = "tariff demand_charge_per_kw must be finite and not negative"
            raise SimulationError(msg, field="tariff.demand_charge_per_kw")
        iv = float(self.demand_interval_s)
        if not (0 < iv <= 3600 and 3600.0 % iv == 0 and iv == int(iv)):
            msg = (
                f"tariff demand interval {iv:g} s must divide an hour in whole seconds "
                "(e.g. 15 min, 30 min, 60 min)"
            )
            raise SimulationError(msg, field="tariff.demand_interval")
        object.__setattr__(self, "_week", week)

    @property
    def has_demand_charge(self) -> bool:
        """Whether the tariff charges the peak demand."""
        return self.demand_charge_per_kw > 0

    def price_per_kwh(self, t: FloatArray) -> FloatArray:
        """Price [currency/kWh] at epoch seconds ``t`` (any shape)."""
        t = np.asarray(t, dtype=np.float64)
        tz = ZoneInfo(self.timezone or "UTC")
        # local hour-of-week via the UTC offset of each hour (DST-safe)
        hours = np.floor(t / 3600.0)
        uniq, inv = np.unique(hours, return_inverse=True)
        how = np.empty(uniq.shape, dtype=np.int64)
        for i, h in enumerate(uniq):
            local = datetime.fromtimestamp(float(h) * 3600.0, UTC).astimezone(tz)
            how[i] = local.weekday() * 24 + local.hour
        return self._week[how[inv].reshape(t.shape)]


def peak_demand_kw(energy_kwh: FloatArray, interval_s: float) -> float:
    """Highest mean demand of intervals holding ``energy_kwh`` each [kW] (0 for none)."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    return float(e.max() * 3600.0 / interval_s) if e.size else 0.0


def interval_edges(t0: float, t_end: float, interval_s: float) -> FloatArray:
    """Clock-aligned interval edges covering ``[t0, t_end]`` (epoch s), cut at both ends."""
    first = math.floor(t0 / interval_s) * interval_s
    edges = np.arange(first, t_end + interval_s, interval_s)
    edges = edges[edges < t_end]
    edges = np.append(edges, t_end)
    edges[0] = t0
    return edges


@dataclass(frozen=True, slots=True)
class HourlySignal:
    """One value per hour on the simulation clock.

    ``t0_hour`` is the start of hour 0 [s on the simulation clock, <= 0];
    ``values[k]`` holds in ``[t0_hour + 3600 k, t0_hour + 3600 (k + 1))``.
    """

    t0_hour: float
    values: FloatArray

    @classmethod
    def sample(
        cls, fn: Callable[[FloatArray], FloatArray], t0: float, duration_s: float
    ) -> HourlySignal:
        """Read ``fn(epoch seconds)`` at every hour from ``t0`` to ``t0 + duration_s``."""
        first = math.floor(t0 / 3600.0) * 3600.0
        n = int(math.ceil((t0 + duration_s - first) / 3600.0)) + 1
        starts = first + 3600.0 * np.arange(n, dtype=np.float64)
        return cls(first - t0, np.asarray(fn(starts), dtype=np.float64))

    def at(self, t: float) -> float:
        """Value at simulation time ``t`` (held at the ends)."""
        k = int((t - self.t0_hour) // 3600.0)
        k = min(max(k, 0), len(self.values) - 1)
        return float(self.values[k])

    def window_means(self, starts: FloatArray, duration_s: float) -> FloatArray:
        """Time-mean of the signal over ``[s, s + duration_s]`` for each start ``s``."""
        cum = np.concatenate(([0.0], np.cumsum(self.values) * 3600.0))
        edges = self.t0_hour + 3600.0 * np.arange(len(cum))

        def integral(t: FloatArray) -> FloatArray:
            return np.interp(t, edges, cum)

        d = max(float(duration_s), 1.0)
        return (integral(starts + d) - integral(starts)) / d


def grid_intensity_fn(source: str | None = None) -> Callable[[FloatArray], FloatArray]:
    """Location-based grid factor [kg CO2e/kWh] as a function of epoch seconds.

    ``source`` is a bundled series name such as ``"DE_2019"`` (see
    :func:`carbontwin.twin.factors.bundled_series`), a constant with its unit
    (``"0.35 kg/kWh"``), a path to a CSV of
    ``hour_start_utc, g_co2e_per_kwh`` (:func:`~carbontwin.twin.factors.load_hourly_csv`),
    or ``None`` for DE_2019. Times outside the series hold its first or last
    value (the simulator samples a margin past the scenario for release look-ahead).
    """
    from pathlib import Path

    from carbontwin.twin.errors import AttributionError
    from carbontwin.twin.factors import HourlySeries, bundled_series, load_hourly_csv

    name = source or "DE_2019"
    series: HourlySeries
    if Path(name).suffix != ".csv" and "/" in name:  # a constant with its unit: "0.35 kg/kWh"
        from carbontwin.twin.quantities import QuantityError, parse_quantity

        try:
            value = parse_quantity(name, "emission_factor")
        except QuantityError as exc:
            msg = f"grid {name!r}: {exc.message}"
            raise SimulationError(msg, field="grid") from None
        return lambda ts: np.full(np.shape(ts), value)
    try:
        if Path(name).suffix == ".csv":
            series = load_hourly_csv(name)
        else:
            series = bundled_series(name if name.endswith("_hourly") else f"{name}_hourly")
    except AttributionError as exc:
        msg = f"grid series {name!r}: {exc.message}"
        raise SimulationError(msg, field="grid") from None
    return held_series_fn(series)


def held_series_fn(series: Any) -> Callable[[FloatArray], FloatArray]:
    """Lookup of an ``HourlySeries`` that holds its end values outside its range."""
    lo, hi = series.start, series.end - 1.0

    def fn(ts: FloatArray) -> FloatArray:
        return np.asarray(series.lookup(np.clip(np.asarray(ts, dtype=np.float64), lo, hi)))

    return fn
