"""Allocation rules as objects: what each one does, in code and in words.

Two kinds of rule choose where shared energy goes (docs/architecture.md, "Attribution"):

- an :class:`IdleRule` hands the IDLE and STANDBY energy of an asset in an
  allocation period (shift or day) to the orders that used the asset in that
  period, in proportion to a weight per step: :attr:`IdleRule.weight` gets,
  for each piece of an order step clipped to the period, its seconds, whether
  the step is processing (not setup) and its quantity, and returns the
  piece's weight (0: no share). A period in which no piece has weight sends
  the energy to plant overhead.
- a :class:`UtilityKey` hands a utility's energy (compressed air, HVAC) on:
  either to the served assets segment by segment, by serves weight x
  :attr:`UtilityKey.running` (then on through each asset's own rules), or,
  with ``straight=True``, per period straight to the orders by their
  processing machine-hours on the served assets (x serves weight).

Each rule carries the sentence that describes it (``text``, with ``{period}``
for the allocation period); footprints record the names of the rules applied
and these sentences, so labels, PACT and AAS say what was done.

The built-in rules below register in the entry-point group
``carbontwin.allocation`` like any plugin's (``pyproject.toml``); a plugin
registers an :class:`IdleRule` or :class:`UtilityKey` object the same way and
names it in :class:`~carbontwin.twin.attribution.Rules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import AttributionError
from .model import STATE_INDEX, State

__all__ = [
    "BUILTIN",
    "MACHINE_HOURS",
    "OVERHEAD",
    "PROCESSING_HOURS",
    "PROCESSING_TIME_ONLY",
    "PROCESSING_TIME_SHARE",
    "AllocationRule",
    "DECLARED",
    "IdleRule",
    "UtilityKey",
    "idle_rule",
    "utility_key",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_OFF = STATE_INDEX[State.OFF]
_PROCESSING = STATE_INDEX[State.PROCESSING]


@dataclass(frozen=True, slots=True)
class IdleRule:
    """Where IDLE/STANDBY energy of an asset in a period goes (see module doc).

    ``weight(seconds, processing, quantity) -> weights``: arrays with one entry
    per piece of an order step clipped to the period [s], [bool], [unit];
    returns the non-negative weight of each piece.
    """

    name: str
    text: str
    weight: Callable[[FloatArray, BoolArray, FloatArray], FloatArray]
    slot: str = "idle"


@dataclass(frozen=True, slots=True)
class UtilityKey:
    """How a utility's energy reaches the served assets or the orders (see module doc).

    ``running(state, covered) -> factor`` per segment of a served asset:
    ``state`` codes (:data:`~carbontwin.twin.model.STATE_INDEX`) and whether an
    order step covers it; used when ``straight`` is False.
    """

    name: str
    text: str
    running: Callable[[IntArray, BoolArray], FloatArray] | None = None
    straight: bool = False
    slot: str = "utility_key"


AllocationRule = IdleRule | UtilityKey


def _occupied(seconds: FloatArray, processing: BoolArray, quantity: FloatArray) -> FloatArray:
    return seconds


def _processing_only(
    seconds: FloatArray, processing: BoolArray, quantity: FloatArray
) -> FloatArray:
    out: FloatArray = np.where(processing, seconds, 0.0)
    return out


def _nothing(seconds: FloatArray, processing: BoolArray, quantity: FloatArray) -> FloatArray:
    return np.zeros(seconds.shape)


def _not_off(state: IntArray, covered: BoolArray) -> FloatArray:
    out: FloatArray = (state != _OFF).astype(np.float64)
    return out


def _always(state: IntArray, covered: BoolArray) -> FloatArray:
    return np.ones(state.shape)


PROCESSING_TIME_SHARE = IdleRule(
    "processing_time_share",
    "idle and standby energy of an asset in each {period} to the orders by the time "
    "their setup and processing steps occupied it in that {period} (setup counted); "
    "to overhead in a {period} without orders on it",
    _occupied,
)
PROCESSING_TIME_ONLY = IdleRule(
    "processing_time_only",
    "idle and standby energy of an asset in each {period} to the orders by their "
    "processing time on it in that {period} (setup not counted); to overhead in a "
    "{period} without processing on it",
    _processing_only,
)
OVERHEAD = IdleRule("overhead", "idle and standby energy to plant overhead", _nothing)
MACHINE_HOURS = UtilityKey(
    "machine_hours",
    "utility energy (compressed air, HVAC) of each moment to the served assets by serves "
    "weight x time not OFF (idle and standby included), then on as each asset's own "
    "energy in its state (so idle shares follow the idle rule)",
    _not_off,
)
DECLARED = UtilityKey(
    "declared",
    "utility energy (compressed air, HVAC) of each moment to the served assets by their "
    "declared serves weights, then on as each asset's own energy in its state",
    _always,
)
PROCESSING_HOURS = UtilityKey(
    "processing_hours",
    "utility energy (compressed air, HVAC) of each {period} straight to the orders by "
    "their processing machine-hours on the served assets in that {period} (x serves "
    "weight; setup and idle not counted); to overhead in a {period} without processing",
    straight=True,
)

#: The rules carbontwin ships, by name (also registered as entry points).
BUILTIN: Mapping[str, AllocationRule] = {
    r.name: r
    for r in (
        PROCESSING_TIME_SHARE,
        PROCESSING_TIME_ONLY,
        OVERHEAD,
        MACHINE_HOURS,
        DECLARED,
        PROCESSING_HOURS,
    )
}


def _lookup(rules: Mapping[str, AllocationRule] | None, slot: str, name: str, cls: type) -> Any:
    table = BUILTIN if rules is None else rules
    rule = table.get(name)
    if not isinstance(rule, cls):
        known = sorted(k for k, r in table.items() if isinstance(r, cls))
        msg = (
            f"rule {slot}={name!r} is not one of {known} (the {cls.__name__} rules of "
            "carbontwin.allocation)"
        )
        raise AttributionError(msg, field=slot)
    return rule


def idle_rule(rules: Mapping[str, AllocationRule] | None, name: str) -> IdleRule:
    """The :class:`IdleRule` ``name`` in ``rules`` (default: the built-ins)."""
    rule: IdleRule = _lookup(rules, "idle", name, IdleRule)
    return rule


def utility_key(rules: Mapping[str, AllocationRule] | None, name: str) -> UtilityKey:
    """The :class:`UtilityKey` ``name`` in ``rules`` (default: the built-ins)."""
    key: UtilityKey = _lookup(rules, "utility_key", name, UtilityKey)
    return key
