"""Hourly grid carbon-intensity series: the CSV format, loading, the bundled series."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from carbontwin.twin.errors import AttributionError
from carbontwin.twin.quantities import from_epoch
from carbontwin.twin.text_files import decode_text

__all__ = ["GRID_ATTRIBUTION", "HourlySeries", "bundled_series", "load_hourly_csv", "parse_hourly"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The citation that must accompany the bundled hourly grid series.
GRID_ATTRIBUTION = (
    "Grid intensity derived from ENTSO-E Transparency Platform generation data "
    "and Tranberg et al. (2019) emission factors."
)

_HOUR_S = 3600.0
MAX_FACTOR_KG_PER_KWH = 100.0
"""Above this no grid emits (coal plants emit about 1 kg/kWh): a unit or file mistake."""


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
    def year(self) -> int:
        """The UTC year holding the middle of the series (its "year" for fallbacks)."""
        return from_epoch(0.5 * (self.start + self.end)).year

    @property
    def mean_kg_per_kwh(self) -> float:
        """Mean intensity over the series [kg CO2e/kWh]."""
        return float(self.values.mean())

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
                "factor set with an annual fallback"
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
    return parse_hourly(
        raw, name=name or p.stem, version=version, source=source, unit=unit, where=str(p)
    )


def parse_hourly(
    raw: bytes, *, name: str, version: str | None, source: str, unit: str, where: str
) -> HourlySeries:
    scale = {"g_co2e_per_kwh": 1e-3, "kg_co2e_per_kwh": 1.0}.get(unit)
    if scale is None:
        msg = f"{where}: unknown value unit {unit!r}; use g_co2e_per_kwh or kg_co2e_per_kwh"
        raise AttributionError(msg)
    text = decode_text(raw, where, AttributionError)
    if not text.strip():
        msg = f"{where}:1: the file is empty; it needs a header line (hour_start_utc, {unit})"
        raise AttributionError(msg)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except ValueError as exc:  # pandas' parser and empty-data errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no data"
        msg = f"{where}:1: not a CSV of hour_start_utc,{unit}: {first}"
        raise AttributionError(msg) from None
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
    wild = np.flatnonzero(np.isinf(v) | (np.abs(v) > MAX_FACTOR_KG_PER_KWH))
    if wild.size:
        i = int(wild[0])
        msg = (
            f"{where}:{i + 2}: {unit} {str(frame[unit].iloc[i])!r} is not a grid factor "
            f"(infinite or above {MAX_FACTOR_KG_PER_KWH:g} kg/kWh); check the unit column"
        )
        raise AttributionError(msg)
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
    return parse_hourly(
        raw,
        name=name,
        version=None,
        source=GRID_ATTRIBUTION,
        unit="g_co2e_per_kwh",
        where=f"carbontwin.twin.data/{name}.csv",
    )
