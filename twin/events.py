"""Events: the only thing the outside world hands the twin.

Connectors (OPC UA, files, MQTT) and the simulator emit the same events. Each
kind exists as a frozen dataclass (one event, with a timezone-aware UTC
datetime) and as a columnar table of numpy arrays (float64 epoch seconds) in
:class:`EventBatch`, the form the hot paths work on.

Every event has a natural key (kind, source, time[, order, operation]); the
store uses it to keep a re-sent batch only once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_readings import group_rows
from .errors import EventConflictError, EventError
from .model import State
from .quantities import from_epoch, to_epoch, utc

__all__ = [
    "KINDS",
    "EnergyCounter",
    "Event",
    "EventBatch",
    "EventKind",
    "Gap",
    "MaterialUse",
    "OrderStep",
    "PowerSample",
    "Settlement",
    "StateChange",
    "StepKind",
    "Superseded",
    "settle",
]

FloatArray = npt.NDArray[np.float64]
StrArray = npt.NDArray[np.object_]
BoolArray = npt.NDArray[np.bool_]


class StepKind(StrEnum):
    SETUP = "setup"
    PROCESSING = "processing"


@dataclass(frozen=True, slots=True)
class StateChange:
    """Asset ``asset`` entered ``state`` at ``t``."""

    asset: str
    t: datetime
    state: State
    correction: bool = False


@dataclass(frozen=True, slots=True)
class PowerSample:
    """Meter ``meter`` read ``power_kw`` [kW] at ``t``."""

    meter: str
    t: datetime
    power_kw: float
    correction: bool = False


@dataclass(frozen=True, slots=True)
class EnergyCounter:
    """Meter ``meter``'s cumulative counter read ``energy_kwh`` [kWh] at ``t``.

    Counters may reset to zero or roll over; attribution handles both.
    """

    meter: str
    t: datetime
    energy_kwh: float
    correction: bool = False


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
    correction: bool = False


@dataclass(frozen=True, slots=True)
class MaterialUse:
    """Order ``order`` used ``quantity`` ``unit`` of ``material``, booked as ``booking``.

    Each booking has its own id (an MES goods-issue document number, say): two
    bookings of one material for one order are two events and both count.
    """

    order: str
    material: str
    quantity: float
    unit: str = "kg"
    t: datetime | None = None
    booking: str = ""
    correction: bool = False


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
    correction: bool = False


Event = StateChange | PowerSample | EnergyCounter | OrderStep | MaterialUse | Gap


def _f64(values: Iterable[float]) -> FloatArray:
    return np.asarray(list(values), dtype=np.float64)


def _bool(values: Iterable[bool]) -> BoolArray:
    return np.asarray(list(values), dtype=bool)


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

    ``material_booking`` and the ``*_correction`` flags may be left empty
    (no booking ids, no corrections); :meth:`bookings` and
    :meth:`corrections` read them at full length.
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
    material_booking: StrArray = field(default_factory=lambda: _obj([]))
    # Gap
    gap_source: StrArray = field(default_factory=lambda: _obj([]))
    gap_start: FloatArray = field(default_factory=lambda: _f64([]))
    gap_end: FloatArray = field(default_factory=lambda: _f64([]))
    gap_reason: StrArray = field(default_factory=lambda: _obj([]))
    # explicit corrections, one flag per row of each kind (empty: none)
    state_correction: BoolArray = field(default_factory=lambda: _bool([]))
    power_correction: BoolArray = field(default_factory=lambda: _bool([]))
    counter_correction: BoolArray = field(default_factory=lambda: _bool([]))
    step_correction: BoolArray = field(default_factory=lambda: _bool([]))
    material_correction: BoolArray = field(default_factory=lambda: _bool([]))
    gap_correction: BoolArray = field(default_factory=lambda: _bool([]))

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
            material_booking=_obj(e.booking for e in mu),
            gap_source=_obj(e.source for e in gp),
            gap_start=_f64(to_epoch(e.start) for e in gp),
            gap_end=_f64(to_epoch(e.end) for e in gp),
            gap_reason=_obj(e.reason for e in gp),
            state_correction=_bool(e.correction for e in sc),
            power_correction=_bool(e.correction for e in ps),
            counter_correction=_bool(e.correction for e in ec),
            step_correction=_bool(e.correction for e in st),
            material_correction=_bool(e.correction for e in mu),
            gap_correction=_bool(e.correction for e in gp),
        )

    def rows(self, kind: str) -> int:
        """Number of rows of ``kind`` (``"states"``, ``"power"``, ... see :data:`KINDS`)."""
        return len(getattr(self, KINDS[kind].key[0]))

    def corrections(self, kind: str) -> BoolArray:
        """Correction flag of every row of ``kind`` (all False when none were given)."""
        flags: BoolArray = getattr(self, KINDS[kind].correction)
        n = self.rows(kind)
        if flags.size == n:
            return flags
        if flags.size:
            msg = f"{kind}: {flags.size} correction flags for {n} rows"
            raise EventError(msg, field=KINDS[kind].correction)
        return np.zeros(n, dtype=bool)

    def materials(self) -> EventBatch:
        """A batch of this one's material uses only."""
        return EventBatch(
            material_order=self.material_order,
            material_id=self.material_id,
            material_quantity=self.material_quantity,
            material_unit=self.material_unit,
            material_booking=self.material_booking,
            material_correction=self.material_correction,
        )

    def bookings(self) -> StrArray:
        """Booking id of every material use (``""`` where none was given)."""
        n = self.material_quantity.size
        if self.material_booking.size == n:
            return self.material_booking
        if self.material_booking.size:
            msg = f"materials: {self.material_booking.size} booking ids for {n} rows"
            raise EventError(msg, field="booking")
        return _obj([""] * n)

    def events(self) -> Iterator[Event]:
        """The batch as dataclass events, kind by kind, in stored order."""
        fix = self.corrections
        for a, t, s, c in zip(
            self.state_asset, self.state_t, self.state, fix("states"), strict=True
        ):
            yield StateChange(str(a), from_epoch(float(t)), State(s), bool(c))
        for m, t, p, c in zip(
            self.power_meter, self.power_t, self.power_kw, fix("power"), strict=True
        ):
            yield PowerSample(str(m), from_epoch(float(t)), float(p), bool(c))
        for m, t, k, c in zip(
            self.counter_meter, self.counter_t, self.counter_kwh, fix("counters"), strict=True
        ):
            yield EnergyCounter(str(m), from_epoch(float(t)), float(k), bool(c))
        for o, op, a, s0, s1, q, kd, c in zip(
            self.step_order,
            self.step_operation,
            self.step_asset,
            self.step_start,
            self.step_end,
            self.step_quantity,
            self.step_kind,
            fix("steps"),
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
                bool(c),
            )
        for o, m, q, u, b, c in zip(
            self.material_order,
            self.material_id,
            self.material_quantity,
            self.material_unit,
            self.bookings(),
            fix("materials"),
            strict=True,
        ):
            yield MaterialUse(str(o), str(m), float(q), str(u), booking=str(b), correction=bool(c))
        for s, g0, g1, r, c in zip(
            self.gap_source, self.gap_start, self.gap_end, self.gap_reason, fix("gaps"), strict=True
        ):
            yield Gap(str(s), from_epoch(float(g0)), from_epoch(float(g1)), str(r), bool(c))

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        """One batch holding all rows of ``batches``, in order."""
        out = cls()
        optional = {k.correction: k.name for k in KINDS.values()}
        for f in fields(cls):
            parts: list[npt.NDArray[Any]]
            if f.name == "material_booking":
                parts = [b.bookings() for b in batches]
            elif f.name in optional:
                parts = [b.corrections(optional[f.name]) for b in batches]
            else:
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
        for kind in KINDS:
            self.corrections(kind)
        self.bookings()
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
    # by source, keeping the batch's order within each (the codes sort as the sources'
    # first appearance, which groups them just as sorting the names would)
    order = np.argsort(pd.factorize(sources)[0], kind="stable")
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


# --- natural keys, duplicates, conflicts and corrections ---------------------------------


@dataclass(frozen=True, slots=True)
class EventKind:
    """One event kind: its name (events file stem, list in ``POST /events``), the
    :class:`EventBatch` columns of its natural key (source first) and of its values."""

    name: str
    label: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    correction: str
    names: tuple[str, ...] = ()  # key and value columns as the events file names them

    def column(self, batch: EventBatch, attr: str) -> npt.NDArray[Any]:
        if attr == "material_booking":
            return batch.bookings()
        out: npt.NDArray[Any] = getattr(batch, attr)
        return out


#: The event kinds by name. A stored event is identified by its kind's key: the
#: same key with the same values again is a no-op, with other values a conflict
#: unless the row is flagged as a correction.
KINDS: Mapping[str, EventKind] = {
    k.name: k
    for k in (
        EventKind(
            "states",
            "state change",
            ("state_asset", "state_t"),
            ("state",),
            "state_correction",
            ("asset", "t", "state"),
        ),
        EventKind(
            "power",
            "power sample",
            ("power_meter", "power_t"),
            ("power_kw",),
            "power_correction",
            ("meter", "t", "power_kw"),
        ),
        EventKind(
            "counters",
            "energy counter reading",
            ("counter_meter", "counter_t"),
            ("counter_kwh",),
            "counter_correction",
            ("meter", "t", "energy_kwh"),
        ),
        EventKind(
            "steps",
            "order step",
            ("step_order", "step_operation", "step_asset", "step_start", "step_kind"),
            ("step_end", "step_quantity"),
            "step_correction",
            ("order", "operation", "asset", "start", "kind", "end", "quantity"),
        ),
        EventKind(
            "materials",
            "material booking",
            ("material_order", "material_id", "material_booking"),
            ("material_quantity", "material_unit"),
            "material_correction",
            ("order", "material", "booking", "quantity", "unit"),
        ),
        EventKind(
            "gaps",
            "gap",
            ("gap_source", "gap_start"),
            ("gap_end", "gap_reason"),
            "gap_correction",
            ("source", "start", "end", "reason"),
        ),
    )
}

#: What settling does with a key (``Settlement.status``).
INSERT, UPDATE, UNCHANGED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Superseded:
    """A value replaced by a correction: kept as history."""

    kind: str
    key: tuple[Any, ...]
    old: tuple[Any, ...]
    new: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a batch lands on the events already there (see :func:`settle`).

    ``batch`` holds one row per key of the incoming batch with its final value
    (rows flagged ``correction`` where a correction set it); ``status[kind]``
    says per row of ``batch`` whether the key is new (``INSERT``), replaces a
    stored value (``UPDATE``) or leaves it as it is (``UNCHANGED``).
    Every received row is counted once: ``received == new + unchanged + corrected``.
    """

    batch: EventBatch
    status: Mapping[str, npt.NDArray[np.int8]]
    received: int
    new: int
    unchanged: int
    corrected: int
    superseded: tuple[Superseded, ...]


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def _describe(kind: EventKind, key: tuple[Any, ...]) -> str:
    parts = []
    for name, v in zip(kind.names, key, strict=False):
        if name in ("t", "start") and isinstance(v, float) and np.isfinite(v):
            parts.append(f"{name} {from_epoch(v).isoformat().replace('+00:00', 'Z')}")
        else:
            parts.append(f"{name} {v!r}")
    return f"{kind.label} ({', '.join(parts)})"


def _values(kind: EventKind, vals: tuple[Any, ...]) -> str:
    names = kind.names[len(kind.key) :]
    return ", ".join(f"{a} {v!r}" for a, v in zip(names, vals, strict=True))


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(x == y or (x != x and y != y) for x, y in zip(a, b, strict=True))


def _group_ids(frame: pd.DataFrame, key: Sequence[str]) -> npt.NDArray[np.int64]:
    """A group number per row of ``frame``: rows with equal ``key`` columns (missing
    values equal to each other) share one. Each column is factorized alone and the codes
    combined into one integer, which is much faster than grouping by the object columns."""
    combined = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for name in key:
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=False)
        n = max(len(uniques), 1)
        if span > (2**62) // n:  # too many combinations for one integer
            ids = frame.groupby(list(key), sort=False, dropna=False).ngroup().to_numpy()
            return np.asarray(ids, dtype=np.int64)
        combined += np.asarray(codes, dtype=np.int64) * span
        span *= n
    return np.asarray(pd.factorize(combined)[0], dtype=np.int64)


def _keys_plainly_unique(src: npt.NDArray[Any], t: npt.NDArray[Any]) -> bool:
    """True when the keys (source, time) of these rows are certainly all different: each
    source's rows come as one run with strictly rising times, as connectors and imports
    send them. False says nothing (the rows are then grouped)."""
    if src.size < 2:
        return True
    if t.dtype.kind != "f":
        return False
    runs = list(group_rows(src).values())
    if any(len(r) > 1 for r in runs):  # a source in two runs
        return False
    rising = t[1:] > t[:-1]  # NaN is never rising
    starts = [r[0][0] for r in runs]  # each source's one run
    rising[[a - 1 for a in starts if a]] = True  # a new run may start at any time
    return bool(rising.all())


def settle(batch: EventBatch, prior: EventBatch | None = None) -> Settlement:
    """Resolve duplicates and corrections of ``batch`` on top of ``prior``.

    ``prior`` holds what is already stored for (some of) the batch's keys, one
    row per key. Rows are taken in order: a row with a key not seen before is
    new; a row repeating the current value of its key is a no-op; a row with
    another value replaces it when flagged ``correction`` (the old value is
    returned in ``superseded``) and is a conflict otherwise.

    Raises
    ------
    EventConflictError
        Listing every conflicting row (kind, row number within the kind, key,
        both values); nothing of the batch should then be stored.
    """
    out: dict[str, dict[str, npt.NDArray[Any]]] = {}
    status: dict[str, npt.NDArray[np.int8]] = {}
    new = unchanged = corrected = 0
    superseded: list[Superseded] = []
    conflicts: list[tuple[str, int, str]] = []
    for kind in KINDS.values():
        n = batch.rows(kind.name)
        attrs = (*kind.key, *kind.values)
        cols = {a: kind.column(batch, a) for a in attrs}
        fix = batch.corrections(kind.name)
        m = prior.rows(kind.name) if prior is not None else 0
        if n == 0:
            out[kind.name] = {**cols, kind.correction: fix}
            status[kind.name] = np.zeros(0, dtype=np.int8)
            continue
        if not m and len(kind.key) == 2 and _keys_plainly_unique(*(cols[a] for a in kind.key)):
            out[kind.name] = {**cols, kind.correction: fix}  # every key once, none stored
            status[kind.name] = np.full(n, INSERT, dtype=np.int8)
            new += n
            continue
        frame = pd.DataFrame({a: pd.Series(cols[a], dtype=object) for a in kind.key})
        if m:
            assert prior is not None
            before = pd.DataFrame(
                {a: pd.Series(kind.column(prior, a), dtype=object) for a in kind.key}
            )
            frame = pd.concat([before, frame], ignore_index=True)
        group = _group_ids(frame, kind.key)
        sizes = np.bincount(group)
        single = sizes[group[m:]] == 1
        if single.all():  # every key once and not stored: all new
            out[kind.name] = {**cols, kind.correction: fix}
            status[kind.name] = np.full(n, INSERT, dtype=np.int8)
            new += n
            continue
        # the rows whose key repeats (in the batch or in prior) are settled one by one
        prior_val: dict[int, tuple[Any, ...]] = {}
        if m:
            assert prior is not None
            pvals = [kind.column(prior, a) for a in kind.values]
            for j in range(m):
                prior_val[int(group[j])] = tuple(_py(v[j]) for v in pvals)
        cur = dict(prior_val)
        rep: dict[int, int] = {}  # group -> its first row in the batch
        src: dict[int, int] = {}  # group -> the batch row that set its current value
        fixed: set[int] = set()
        cols = {a: (c.copy() if a in kind.values else c) for a, c in cols.items()}
        fix = fix.copy()
        bvals = [cols[a] for a in kind.values]
        bkeys = [cols[a] for a in kind.key]
        flags = fix.tolist()
        for i in np.flatnonzero(~single).tolist():
            g = int(group[m + i])
            vals = tuple(_py(v[i]) for v in bvals)
            if g not in cur:  # first sight of this key
                cur[g] = vals
                rep[g] = i
                src[g] = i
                new += 1
                continue
            rep.setdefault(g, i)
            if _same(vals, cur[g]):
                unchanged += 1
                continue
            key = tuple(_py(k[i]) for k in bkeys)
            if not flags[i]:
                where = "is stored" if g not in src else f"was sent in {kind.name}[{src[g]}]"
                conflicts.append(
                    (
                        kind.name,
                        i,
                        f"{kind.name}[{i}]: {_describe(kind, key)} has {_values(kind, vals)} "
                        f"but {_values(kind, cur[g])} {where}; send it as a correction "
                        "to replace it",
                    )
                )
                continue
            superseded.append(Superseded(kind.name, key, cur[g], vals))
            corrected += 1
            cur[g] = vals
            src[g] = i
            fixed.add(g)
        new += int(single.sum())
        keep = single.copy()
        kstatus = np.full(n, INSERT, dtype=np.int8)
        for g, row in rep.items():
            keep[row] = True
            for v, x in zip(bvals, cur[g], strict=True):
                v[row] = x
            fix[row] = g in fixed or bool(flags[row])
            if g in prior_val:
                kstatus[row] = UNCHANGED if _same(cur[g], prior_val[g]) else UPDATE
        out[kind.name] = {a: c[keep] for a, c in cols.items()} | {kind.correction: fix[keep]}
        status[kind.name] = kstatus[keep]
    if conflicts:
        shown = [c[2] for c in conflicts[:20]]
        more = f" (and {len(conflicts) - 20} more)" if len(conflicts) > 20 else ""
        msg = f"{len(conflicts)} conflicting event(s){more}: " + "; ".join(shown)
        raise EventConflictError(msg, rows=[(k, i, text) for k, i, text in conflicts])
    arrays: dict[str, Any] = {}
    for d in out.values():
        arrays.update(d)
    settled = EventBatch(**arrays)
    return Settlement(settled, status, len(batch), new, unchanged, corrected, tuple(superseded))
