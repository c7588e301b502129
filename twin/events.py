"""Events: the only thing the outside world hands the twin.

Connectors (OPC UA, files, MQTT) and the simulator emit the same events. Each
kind exists as a frozen dataclass (one event, with a timezone-aware UTC
datetime) and as a columnar table of numpy arrays (float64 epoch seconds) in
:class:`EventBatch`, the form the hot paths work on.

Every event has a natural key (kind, source, time[, order, operation]); the
store uses it to keep a re-sent batch only once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import EventError
from .model import State
from .quantities import from_epoch, to_epoch, utc

__all__ = [
    "EnergyCounter",
    "Event",
    "EventBatch",
    "Gap",
    "MaterialUse",
    "OrderStep",
    "PowerSample",
    "StateChange",
    "StepKind",
]

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.object_]


class StepKind(StrEnum):
    SETUP = "setup"
    PROCESSING = "processing"


@dataclass(frozen=True, slots=True)
class StateChange:
    """Asset ``asset`` entered ``state`` at ``t``."""

    asset: str
    t: datetime
    state: State


@dataclass(frozen=True, slots=True)
class PowerSample:
    """Meter ``meter`` read ``power_kw`` [kW] at ``t``."""

    meter: str
    t: datetime
    power_kw: float


@dataclass(frozen=True, slots=True)
class EnergyCounter:
    """Meter ``meter``'s cumulative counter read ``energy_kwh`` [kWh] at ``t``.

    Counters may reset to zero or roll over; attribution handles both.
    """

    meter: str
    t: datetime
    energy_kwh: float


@dataclass(frozen=True, slots=True)
class OrderStep:
    """Order ``order`` occupied ``asset`` for ``operation`` from ``start`` to ``end``."""

    order: str
    operation: str
    asset: str
    start: datetime
    end: datetime
    quantity: float
    kind: StepKind = StepKind.PROCESSING


@dataclass(frozen=True, slots=True)
class MaterialUse:
    """Order ``order`` used ``quantity`` ``unit`` of ``material``."""

    order: str
    material: str
    quantity: float
    unit: str = "kg"
    t: datetime | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """No data reached the twin for ``source`` (meter or asset) from ``start`` to ``end``.

    A connector records one per signal for an outage; attribution fills the
    gap from the power-state model and flags it.
    """

    source: str
    start: datetime
    end: datetime
    reason: str = ""


Event = StateChange | PowerSample | EnergyCounter | OrderStep | MaterialUse | Gap


def _f64(values: Iterable[float]) -> FloatArray:
    return np.asarray(list(values), dtype=np.float64)


def _obj(values: Iterable[Any]) -> StrArray:
    arr = np.empty(0, dtype=object)
    lst = list(values)
    if lst:
        arr = np.empty(len(lst), dtype=object)
        arr[:] = lst
    return arr


@dataclass(slots=True)
class EventBatch:
    """Events as columns: one set of numpy arrays per kind.

    Times are float64 seconds since the epoch (UTC). String columns are numpy
    object arrays. Build with :meth:`from_events` or directly from arrays;
    :meth:`events` gives the dataclass form back.
    """

    # StateChange
    state_asset: StrArray = field(default_factory=lambda: _obj([]))
    state_t: FloatArray = field(default_factory=lambda: _f64([]))
    state: StrArray = field(default_factory=lambda: _obj([]))
    # PowerSample
    power_meter: StrArray = field(default_factory=lambda: _obj([]))
    power_t: FloatArray = field(default_factory=lambda: _f64([]))
    power_kw: FloatArray = field(default_factory=lambda: _f64([]))
    # EnergyCounter
    counter_meter: StrArray = field(default_factory=lambda: _obj([]))
    counter_t: FloatArray = field(default_factory=lambda: _f64([]))
    counter_kwh: FloatArray = field(default_factory=lambda: _f64([]))
    # OrderStep
    step_order: StrArray = field(default_factory=lambda: _obj([]))
    step_operation: StrArray = field(default_factory=lambda: _obj([]))
    step_asset: StrArray = field(default_factory=lambda: _obj([]))
    step_start: FloatArray = field(default_factory=lambda: _f64([]))
    step_end: FloatArray = field(default_factory=lambda: _f64([]))
    step_quantity: FloatArray = field(default_factory=lambda: _f64([]))
    step_kind: StrArray = field(default_factory=lambda: _obj([]))
    # MaterialUse
    material_order: StrArray = field(default_factory=lambda: _obj([]))
    material_id: StrArray = field(default_factory=lambda: _obj([]))
    material_quantity: FloatArray = field(default_factory=lambda: _f64([]))
    material_unit: StrArray = field(default_factory=lambda: _obj([]))
    # Gap
    gap_source: StrArray = field(default_factory=lambda: _obj([]))
    gap_start: FloatArray = field(default_factory=lambda: _f64([]))
    gap_end: FloatArray = field(default_factory=lambda: _f64([]))
    gap_reason: StrArray = field(default_factory=lambda: _obj([]))

    def __len__(self) -> int:
        return int(
            len(self.state_t)
            + len(self.power_t)
            + len(self.counter_t)
            + len(self.step_start)
            + len(self.material_quantity)
            + len(self.gap_start)
        )

    @classmethod
    def from_events(cls, events: Iterable[Event]) -> EventBatch:
        """Columnar batch from dataclass events (any order, any mix of kinds)."""
        sc: list[StateChange] = []
        ps: list[PowerSample] = []
        ec: list[EnergyCounter] = []
        st: list[OrderStep] = []
        mu: list[MaterialUse] = []
        gp: list[Gap] = []
        for i, e in enumerate(events):
            if isinstance(e, StateChange):
                sc.append(e)
            elif isinstance(e, PowerSample):
                ps.append(e)
            elif isinstance(e, EnergyCounter):
                ec.append(e)
            elif isinstance(e, OrderStep):
                st.append(e)
            elif isinstance(e, MaterialUse):
                mu.append(e)
            elif isinstance(e, Gap):
                gp.append(e)
            else:
                msg = f"event #{i} is a {type(e).__name__}, not a carbontwin event"
                raise EventError(msg)
        return cls(
            state_asset=_obj(e.asset for e in sc),
            state_t=_f64(to_epoch(e.t) for e in sc),
            state=_obj(State(e.state).value for e in sc),
            power_meter=_obj(e.meter for e in ps),
            power_t=_f64(to_epoch(e.t) for e in ps),
            power_kw=_f64(e.power_kw for e in ps),
            counter_meter=_obj(e.meter for e in ec),
            counter_t=_f64(to_epoch(e.t) for e in ec),
            counter_kwh=_f64(e.energy_kwh for e in ec),
            step_order=_obj(e.order for e in st),
            step_operation=_obj(e.operation for e in st),
            step_asset=_obj(e.asset for e in st),
            step_start=_f64(to_epoch(e.start) for e in st),
            step_end=_f64(to_epoch(e.end) for e in st),
            step_quantity=_f64(e.quantity for e in st),
            step_kind=_obj(StepKind(e.kind).value for e in st),
            material_order=_obj(e.order for e in mu),
            material_id=_obj(e.material for e in mu),
            material_quantity=_f64(e.quantity for e in mu),
            material_unit=_obj(e.unit for e in mu),
            gap_source=_obj(e.source for e in gp),
            gap_start=_f64(to_epoch(e.start) for e in gp),
            gap_end=_f64(to_epoch(e.end) for e in gp),
            gap_reason=_obj(e.reason for e in gp),
        )

    def events(self) -> Iterator[Event]:
        """The batch as dataclass events, kind by kind, in stored order."""
        for a, t, s in zip(self.state_asset, self.state_t, self.state, strict=True):
            yield StateChange(str(a), from_epoch(float(t)), State(s))
        for m, t, p in zip(self.power_meter, self.power_t, self.power_kw, strict=True):
            yield PowerSample(str(m), from_epoch(float(t)), float(p))
        for m, t, k in zip(self.counter_meter, self.counter_t, self.counter_kwh, strict=True):
            yield EnergyCounter(str(m), from_epoch(float(t)), float(k))
        for o, op, a, s0, s1, q, kd in zip(
            self.step_order,
            self.step_operation,
            self.step_asset,
            self.step_start,
            self.step_end,
            self.step_quantity,
            self.step_kind,
            strict=True,
        ):
            yield OrderStep(
                str(o),
                str(op),
                str(a),
                from_epoch(float(s0)),
                from_epoch(float(s1)),
                float(q),
                StepKind(kd),
            )
        for o, m, q, u in zip(
            self.material_order,
            self.material_id,
            self.material_quantity,
            self.material_unit,
            strict=True,
        ):
            yield MaterialUse(str(o), str(m), float(q), str(u))
        for s, g0, g1, r in zip(
            self.gap_source, self.gap_start, self.gap_end, self.gap_reason, strict=True
        ):
            yield Gap(str(s), from_epoch(float(g0)), from_epoch(float(g1)), str(r))

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """One batch holding all rows of ``batches``, in order."""
        out = cls()
        for f in fields(cls):
            parts = [getattr(b, f.name) for b in batches]
            if parts:
                setattr(
                    out,
                    f.name,
                    np.concatenate(parts) if any(len(p) for p in parts) else getattr(out, f.name),
                )
        return out

    def validate(
        self,
        *,
        assets: Iterable[str] | None = None,
        meters: Iterable[str] | None = None,
        orders: Iterable[str] | None = None,
        monotone: bool = True,
    ) -> None:
        """Check the batch; raise :class:`EventError` naming the first bad row.

        Checks: times and values finite; power and counters not negative;
        step end not before start; quantities positive; ids known (when the
        sets are given); and, with ``monotone``, time not going back within
        one source (a meter's samples, an asset's state changes).
        """
        _finite("state change", self.state_t, self.state_asset, "t")
        _finite("power sample", self.power_t, self.power_meter, "t")
        _finite("power sample", self.power_kw, self.power_meter, "power_kw", self.power_t)
        _finite("energy counter", self.counter_t, self.counter_meter, "t")
        _finite(
            "energy counter", self.counter_kwh, self.counter_meter, "energy_kwh", self.counter_t
        )
        _finite("order step", self.step_start, self.step_order, "start")
        _finite("order step", self.step_end, self.step_order, "end")
        _finite("order step", self.step_quantity, self.step_order, "quantity")
        _finite("material use", self.material_quantity, self.material_order, "quantity")
        _nonneg("power sample", self.power_kw, self.power_meter, "power_kw", self.power_t)
        _nonneg(
            "energy counter", self.counter_kwh, self.counter_meter, "energy_kwh", self.counter_t
        )
        _nonneg("material use", self.material_quantity, self.material_order, "quantity")
        bad = np.flatnonzero(self.step_end < self.step_start)
        if bad.size:
            i = int(bad[0])
            msg = (
                f"order step of order {self.step_order[i]!r} on {self.step_asset[i]!r} ends "
                f"({from_epoch(self.step_end[i]).isoformat()}) before it starts "
                f"({from_epoch(self.step_start[i]).isoformat()})"
            )
            raise EventError(msg, field="end")
        bad = np.flatnonzero(self.step_quantity <= 0)
        if bad.size:
            i = int(bad[0])
            msg = (
                f"order step of order {self.step_order[i]!r} on {self.step_asset[i]!r} has "
                f"quantity {self.step_quantity[i]}; it must be positive"
            )
            raise EventError(msg, field="quantity")
        valid_states = {s.value for s in State}
        for i, s in enumerate(self.state):
            if s not in valid_states:
                msg = (
                    f"state change of {self.state_asset[i]!r} at "
                    f"{from_epoch(self.state_t[i]).isoformat()} has unknown state {s!r}; "
                    f"expected one of {sorted(valid_states)}"
                )
                raise EventError(msg, field="state")
        if assets is not None:
            known = set(assets)
            _known("state change", self.state_asset, known, "asset")
            _known("order step", self.step_asset, known, "asset")
        if meters is not None:
            known_m = set(meters)
            _known("power sample", self.power_meter, known_m, "meter")
            _known("energy counter", self.counter_meter, known_m, "meter")
        if orders is not None:
            known_o = set(orders)
            _known("order step", self.step_order, known_o, "order")
            _known("material use", self.material_order, known_o, "order")
        if monotone:
            _monotone("state change", self.state_asset, self.state_t)
            _monotone("power sample", self.power_meter, self.power_t)
            _monotone("energy counter", self.counter_meter, self.counter_t)


def _finite(
    what: str, values: FloatArray, sources: StrArray, name: str, times: FloatArray | None = None
) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        when = (
            f" at {from_epoch(times[i]).isoformat()}"
            if times is not None and np.isfinite(times[i])
            else ""
        )
        msg = f"{what} of {sources[i]!r}{when} has a non-finite {name} ({values[i]})"
        raise EventError(msg, field=name)


def _nonneg(
    what: str, values: FloatArray, sources: StrArray, name: str, times: FloatArray | None = None
) -> None:
    bad = np.flatnonzero(values < 0)
    if bad.size:
        i = int(bad[0])
        when = f" at {from_epoch(times[i]).isoformat()}" if times is not None else ""
        msg = f"{what} of {sources[i]!r}{when} has a negative {name} ({values[i]})"
        raise EventError(msg, field=name)


def _known(what: str, ids: StrArray, known: set[str], name: str) -> None:
    for i, x in enumerate(ids):
        if x not in known:
            msg = f"{what} #{i} names unknown {name} {x!r}"
            raise EventError(msg, field=name)


def _monotone(what: str, sources: StrArray, t: FloatArray) -> None:
    if t.size < 2:
        return
    order = np.argsort(sources.astype(str), kind="stable")
    s_sorted = sources[order]
    t_sorted = t[order]
    same = s_sorted[1:] == s_sorted[:-1]
    back = np.flatnonzero(same & (np.diff(t_sorted) < 0))
    if back.size:
        j = int(back[0]) + 1
        msg = (
            f"{what} of {s_sorted[j]!r}: time goes back to "
            f"{from_epoch(t_sorted[j]).isoformat()} after "
            f"{from_epoch(t_sorted[j - 1]).isoformat()}"
        )
        raise EventError(msg, field="t")


def as_utc(value: datetime | str) -> datetime:
    """Boundary helper: parse or check a UTC datetime for an event field."""
    return utc(value)
