"""Retractions: stored events taken out of attribution, on record.

A stored event is never deleted. When events are wrong (a meter with a wrong
clock, samples no emission factor covers, a machine reporting for another),
a retraction names their source (a meter, or an asset for state changes and
order steps, or a gap's source) and a time range ``[start, end)`` with a
reason; from then on attribution reads the store without them, and the next
issue gives the affected orders new footprint versions. The retraction itself
is kept, append-only, with when it was made (``carbontwin events retract``,
``POST /events/retractions``).

Which events a retraction covers, by kind: power samples and counter readings
of meter ``source`` with ``start <= t < end``; state changes of asset
``source`` in that range; order steps on asset ``source`` that start in it;
gaps of ``source`` that start in it. Material bookings have no time and are
not retracted this way.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from .events import EventBatch

__all__ = ["RETRACTABLE", "Retraction", "retracted_mask", "without_retracted"]

#: event kind -> (EventBatch prefix of its columns, source column, time column)
RETRACTABLE: dict[str, tuple[str, str, str]] = {
    "states": ("state", "state_asset", "state_t"),
    "power": ("power_", "power_meter", "power_t"),
    "counters": ("counter_", "counter_meter", "counter_t"),
    "steps": ("step_", "step_asset", "step_start"),
    "gaps": ("gap_", "gap_source", "gap_start"),
}


@dataclass(frozen=True, slots=True)
class Retraction:
    """Events of ``source`` with ``start <= t < end`` [epoch s] taken out of attribution."""

    source: str
    start: float
    end: float
    reason: str
    id: int | None = None
    retracted_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        from .quantities import from_epoch

        return {
            "id": self.id,
            "source": self.source,
            "start": from_epoch(self.start).isoformat(),
            "end": from_epoch(self.end).isoformat(),
            "reason": self.reason,
            "retracted_at": self.retracted_at.isoformat() if self.retracted_at else None,
        }


def retracted_mask(
    batch: EventBatch, kind: str, retractions: list[Retraction]
) -> npt.NDArray[np.bool_]:
    """True for each event of ``kind`` in ``batch`` that a retraction covers."""
    _, src_col, t_col = RETRACTABLE[kind]
    src = getattr(batch, src_col)
    t = getattr(batch, t_col)
    out = np.zeros(len(t), dtype=bool)
    for r in retractions:
        out |= (src == r.source) & (t >= r.start) & (t < r.end)
    return out


def _take(batch: EventBatch, prefix: str, keep: npt.NDArray[np.bool_]) -> EventBatch:
    cols: dict[str, Any] = {}
    for f in fields(batch):
        if f.name.startswith(prefix):
            column = getattr(batch, f.name)
            # corrections and booking ids may be left empty (none given)
            cols[f.name] = column[keep] if len(column) == len(keep) else column
    return replace(batch, **cols)


def without_retracted(
    batch: EventBatch, retractions: list[Retraction]
) -> tuple[EventBatch, dict[str, int]]:
    """``batch`` without the events ``retractions`` cover, and how many of each kind went."""
    removed: dict[str, int] = {}
    if not retractions:
        return batch, removed
    for kind, (prefix, _, _) in RETRACTABLE.items():
        hit = retracted_mask(batch, kind, retractions)
        if hit.any():
            removed[kind] = int(hit.sum())
            batch = _take(batch, prefix, ~hit)
    return batch, removed
