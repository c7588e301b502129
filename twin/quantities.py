"""Glossary of names and canonical units, and the one place human units are parsed.

carbontwin keeps one unit per kind of quantity and puts it in the name:

==========================  =============  =====================================
name                        unit           meaning
==========================  =============  =====================================
``power_kw``                kW             electric or fuel power
``energy_kwh``              kWh            energy (electricity, or fuel by LHV)
``co2e_kg``                 kg CO2e        emissions
``factor_kg_per_kwh``       kg CO2e / kWh  emission factor of an energy carrier
                                           (input: ``"0.202 kg/kWh"``, ``"56.1 t/TJ"``,
                                           ``"823 lb/MWh"``, ``"380 g CO2e/kWh"``)
``pcf_kg_per_unit``         kg CO2e / unit supplier product footprint
``duration_s``              s              durations
``mass_kg``                 kg             masses
``t`` (hot paths)           s              float64 seconds since 1970-01-01 UTC
``t`` (boundaries)          datetime       timezone-aware, UTC
==========================  =============  =====================================

Human input such as ``"15 kW"`` or ``"2.5 MWh"`` is parsed once, at the boundary,
with :func:`parse_quantity`; nothing in ``twin/`` or ``simulation/`` sees another unit.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from .errors import CarbonTwinError

__all__ = [
    "CANONICAL_UNITS",
    "QuantityError",
    "from_epoch",
    "parse_quantity",
    "plus_years",
    "to_epoch",
    "utc",
]

#: Canonical unit of each physical dimension carbontwin accepts.
CANONICAL_UNITS: dict[str, str] = {
    "power": "kW",
    "energy": "kWh",
    "duration": "s",
    "mass": "kg",
    "co2e": "kg",
    "volume": "m**3",
    "emission_factor": "kg/kWh",
    "dimensionless": "",
}

_DIMENSIONALITY = {
    "power": "[mass] * [length] ** 2 / [time] ** 3",
    "energy": "[mass] * [length] ** 2 / [time] ** 2",
    "duration": "[time]",
    "mass": "[mass]",
    "co2e": "[mass]",
    "volume": "[length] ** 3",
    "emission_factor": "[time] ** 2 / [length] ** 2",
    "dimensionless": "",
}
#: Gas names allowed inside an emission factor's unit ("0.35 kg CO2e/kWh"): dropped before parsing.
_GAS = re.compile(r"\s*\b(CO2e|CO2eq|CO2-eq|CO2)\b", re.IGNORECASE)


class QuantityError(CarbonTwinError, ValueError):
    """A value could not be read as a quantity of the expected kind."""


@cache
def _registry() -> Any:
    import pint  # half a second to import: only when a unit is parsed, not by every command

    ureg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("piece = [] = pcs = pieces")
    return ureg


def parse_quantity(value: Any, kind: str) -> float:
    """Read ``value`` as a quantity of ``kind`` and return it in the canonical unit.

    Parameters
    ----------
    value : str or float or int
        ``"15 kW"``, ``"2.5 MWh"``, ``"90 s"``, ``"1.2 t"``; a bare number is
        taken to be in the canonical unit already.
    kind : str
        One of :data:`CANONICAL_UNITS` (``"power"``, ``"energy"``, ...).

    Returns
    -------
    float
        The value in the canonical unit of ``kind``.

    Raises
    ------
    QuantityError
        For an unknown unit (``"15 kWW"``), a unit of another dimension
        (``"15 kg"`` for power), a non-numeric or non-finite value.
    """
    if kind not in CANONICAL_UNITS:
        msg = f"unknown quantity kind {kind!r}; expected one of {sorted(CANONICAL_UNITS)}"
        raise QuantityError(msg)
    if isinstance(value, bool):
        msg = f"expected a {kind} quantity, got the boolean {value!r}"
        raise QuantityError(msg)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = _parse_string(value, kind)
    else:
        msg = f"expected a {kind} quantity such as '15 kW' or a number, got {type(value).__name__}"
        raise QuantityError(msg)
    if not math.isfinite(number):
        msg = f"{kind} must be a finite number, got {value!r}"
        raise QuantityError(msg)
    return number


def _parse_string(text: str, kind: str) -> float:
    import pint

    ureg = _registry()
    stripped = text.strip()
    if not stripped:
        msg = f"expected a {kind} quantity, got an empty string"
        raise QuantityError(msg)
    try:
        return float(stripped)
    except ValueError:
        pass
    if kind == "emission_factor":
        stripped = _GAS.sub("", stripped)
    try:
        quantity: Any = ureg.Quantity(stripped)
    except (
        pint.errors.UndefinedUnitError,
        pint.errors.DefinitionSyntaxError,
        AttributeError,
        TypeError,
        ValueError,
        SyntaxError,
    ) as exc:
        msg = f"cannot read {text!r} as a {kind} quantity: {exc}"
        raise QuantityError(msg) from None
    if not isinstance(quantity, pint.Quantity):
        return float(quantity)
    target = CANONICAL_UNITS[kind]
    expected = ureg.get_dimensionality(_DIMENSIONALITY[kind]) if _DIMENSIONALITY[kind] else {}
    if quantity.dimensionality != expected:
        article = "an" if kind[0] in "aeiou" else "a"
        msg = (
            f"{text!r} is not {article} {kind} (its unit {quantity.units:~} has dimension "
            f"{quantity.dimensionality}); use a unit such as {target or 'a plain number'}"
        )
        raise QuantityError(msg)
    converted = quantity.to(target) if target else quantity.to("dimensionless")
    return float(converted.magnitude)


def utc(value: datetime | str) -> datetime:
    """Return ``value`` as a timezone-aware UTC datetime.

    Naive datetimes are refused: a time without a zone is a bug waiting for
    daylight saving time.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            msg = f"cannot read {value!r} as an ISO 8601 time"
            raise QuantityError(msg) from None
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"time {value.isoformat()} has no timezone; give it in UTC (e.g. '...Z')"
        raise QuantityError(msg)
    return value.astimezone(UTC)


def to_epoch(value: datetime | str) -> float:
    """UTC datetime (or ISO string) -> float seconds since the epoch."""
    return utc(value).timestamp()


def from_epoch(t: float) -> datetime:
    """Float seconds since the epoch -> timezone-aware UTC datetime."""
    return datetime.fromtimestamp(t, tz=UTC)


def plus_years(t: datetime, years: int) -> datetime:
    """``t`` moved by whole calendar years (29 February to 28 February)."""
    try:
        return t.replace(year=t.year + years)
    except ValueError:
        return t.replace(year=t.year + years, day=28)
