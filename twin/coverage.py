"""Readings no emission factor covers: held out, flagged, never blocking other orders.

An electricity reading at an hour for which the factor set has no factor (a
grid zone of hourly series alone, outside them; a bare series without
fallback) cannot be turned into CO2e. Such readings used to make every
attribution fail. :func:`hold_uncovered` takes them out of the batch and
names, per meter, how many there were, their time range and the orders they
hold back: the orders with a step on an asset of that meter from the meter's
last covered reading before them to its first covered reading after them
(the stretch whose energy they would change). Every other order is
attributed and issued as usual; the held orders issue once the readings are
retracted (:mod:`carbontwin.twin.retractions`) or a factor covers them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .events import EventBatch
from .factors import FactorSet
from .model import Carrier, Factory
from .quantities import from_epoch

__all__ = ["Uncovered", "hold_uncovered"]


@dataclass(frozen=True, slots=True)
class Uncovered:
    """Readings of ``meter`` no factor covers, from ``first`` to ``last`` [epoch s]."""

    meter: str
    count: int
    first: float
    last: float
    orders: tuple[str, ...]

    @property
    def message(self) -> str:
        held = ", ".join(self.orders) if self.orders else "no order"
        return (
            f"{self.count} reading(s) of meter {self.meter!r} from "
            f"{from_epoch(self.first).isoformat()} to {from_epoch(self.last).isoformat()} lie in "
            f"hours no emission factor covers; held out of attribution, holding back {held}. "
            f"Retract them (carbontwin events retract --source {self.meter} ...) or give a "
            "factor for those hours"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "count": self.count,
            "first": from_epoch(self.first).isoformat(),
            "last": from_epoch(self.last).isoformat(),
            "orders": list(self.orders),
            "message": self.message,
        }


_READINGS = (("power_", "power_meter", "power_t"), ("counter_", "counter_meter", "counter_t"))


def hold_uncovered(
    factory: Factory, events: EventBatch, factors: FactorSet
) -> tuple[EventBatch, list[Uncovered]]:
    """``events`` without the electricity readings ``factors`` do not cover, and what they were."""
    electric = [m for m in factory.meters if m.carrier == Carrier.ELECTRICITY]
    if not electric:
        return events, []
    names = np.array([m.id for m in electric], dtype=object)
    masks = {}
    for prefix, src_col, t_col in _READINGS:
        src, t = getattr(events, src_col), getattr(events, t_col)
        mask = ~factors.covers(t) if t.size else np.zeros(0, bool)
        if mask.any():  # of the readings no factor covers, those of electricity meters
            mask[mask] = np.isin(src[mask], names)
        masks[prefix] = mask
    if not any(m.any() for m in masks.values()):
        return events, []
    measures = {m.id: set(m.measures) for m in electric}
    found: list[Uncovered] = []
    for meter in sorted({str(x) for p, c, _ in _READINGS for x in getattr(events, c)[masks[p]]}):
        bad_t: list[float] = []
        good_t: list[float] = []
        for prefix, src_col, t_col in _READINGS:
            mine = getattr(events, src_col) == meter
            t = getattr(events, t_col)
            bad_t += t[mine & masks[prefix]].tolist()
            good_t += t[mine & ~masks[prefix]].tolist()
        first, last = min(bad_t), max(bad_t)
        good = np.sort(np.array(good_t, dtype=np.float64))
        before, after = good[good < first], good[good > last]
        lo = float(before[-1]) if before.size else -np.inf
        hi = float(after[0]) if after.size else np.inf
        on = np.isin(events.step_asset, list(measures[meter]))
        touch = on & (events.step_start <= hi) & (events.step_end >= lo)
        orders = tuple(sorted({str(o) for o in events.step_order[touch]}))
        found.append(Uncovered(meter, len(bad_t), first, last, orders))
    cols: dict[str, Any] = {}
    for prefix, _, t_col in _READINGS:
        keep = ~masks[prefix]
        n = getattr(events, t_col).size
        for name in EventBatch.__dataclass_fields__:
            if name.startswith(prefix):
                column = getattr(events, name)
                cols[name] = column[keep] if len(column) == n else column
    return replace(events, **cols), found
