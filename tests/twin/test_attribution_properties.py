"""Property tests: the balance closes on random factories and messy event streams.

Each example builds a small random plant (1-3 machines, one or two meters, maybe a
shared meter, maybe a compressed-air utility, power or counter meters), random
states, order steps (overlapping steps share an asset) and readings, then
corrupts the stream: shuffled order, exact duplicates, NaN and negative readings,
counter resets and rollovers, gaps. Ground truth energy is computed here with a
plain loop over the clean readings, independently of the vectorized code.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from carbontwin.twin.attribution import Rules, attribute
from carbontwin.twin.errors import AttributionError
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    OrderStep,
    PowerSample,
    StateChange,
    StepKind,
)
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.model import (
    STATES,
    BomItem,
    Factory,
    Line,
    Machine,
    Material,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Supplier,
    SupplyLink,
    Utility,
)

BASE = datetime(2019, 3, 4, 5, 0, tzinfo=UTC)
SPAN_S = 4 * 3600
REL = 1e-9
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def t_at(s: float) -> datetime:
    return BASE + timedelta(seconds=float(s))


power_value = st.floats(0.0, 60.0, allow_nan=False, allow_infinity=False)


@st.composite
def power_models(draw):
    kw = {s: draw(power_value) for s in STATES}
    kw[State.OFF] = draw(st.sampled_from([0.0, kw[State.OFF]]))
    return PowerModel(kw)


@st.composite
def plants(draw):
    """A random factory, its events (messy) and the ground truth per meter."""
    n_m = draw(st.integers(1, 3))
    machines = [f"m{k}" for k in range(n_m)]
    with_util = draw(st.booleans())
    util_metered = with_util and draw(st.booleans())
    shared = n_m > 1 and draw(st.booleans())
    meter_sets = [tuple(machines)] if shared else [(m,) for m in machines]
    if util_metered:
        meter_sets.append(("air",))
    signals = [draw(st.sampled_from(["power", "energy"])) for _ in meter_sets]
    rollovers = [draw(st.sampled_from([None, 500.0])) if s == "energy" else None for s in signals]
    meters = tuple(
        Meter(f"M{k}", f"M{k}", ms, signal=sig, rollover_kwh=ro)
        for k, (ms, sig, ro) in enumerate(zip(meter_sets, signals, rollovers, strict=True))
    )
    utilities = ()
    if with_util:
        served = tuple(ServesLink(m, draw(st.floats(0.1, 3.0))) for m in machines)
        key = draw(st.sampled_from(["machine_hours", "declared"]))
        utilities = (Utility("air", "air", "compressed_air", draw(power_models()), served, key),)
    factory = Factory(
        id="p",
        name="p",
        site=Site("s", "s", "DE", "UTC", "DE"),
        lines=(Line("L", "L", "s"),),
        machines=tuple(
            Machine(m, m, "L", "cnc", draw(power_models()), capacity=3) for m in machines
        ),
        meters=meters,
        utilities=utilities,
        materials=(Material("steel", "steel"),),
        suppliers=(Supplier("sup", "sup", (SupplyLink("steel", 1.9, primary=False),)),),
        products=(
            Product("P", "P", (Operation("op", machines[0], 60, 30),), (BomItem("steel", 0.7),)),
        ),
        shifts=(Shift("day", "06:00", "14:00", (0, 1, 2, 3, 4)),),
        orders=tuple(Order(f"O{k}", "P", 10.0, BASE, BASE) for k in range(3)),
    )
    events: list = []
    # states
    for a in [*machines, *(["air"] if with_util else [])]:
        times = sorted(set(draw(st.lists(st.integers(0, SPAN_S), min_size=0, max_size=6))))
        for t in times:
            events.append(StateChange(a, t_at(t), draw(st.sampled_from(list(State)))))
    # steps, overlapping allowed
    for m in machines:
        for _ in range(draw(st.integers(0, 4))):
            s = draw(st.integers(0, SPAN_S - 1))
            e = draw(st.integers(s, min(SPAN_S, s + 3600)))
            kind = draw(st.sampled_from(list(StepKind)))
            events.append(
                OrderStep(
                    draw(st.sampled_from(["O0", "O1", "O2"])),
                    "op",
                    m,
                    t_at(s),
                    t_at(e),
                    float(draw(st.integers(1, 20))),
                    kind,
                )
            )
    # readings and ground truth
    truth: dict[str, float] = {}
    samples: dict[str, list[tuple[float, float]]] = {}
    for meter in meters:
        times = sorted(set(draw(st.lists(st.integers(0, SPAN_S), min_size=0, max_size=12))))
        if meter.signal == "power":
            vals = [draw(power_value) for _ in times]
            samples[meter.id] = list(zip(map(float, times), vals, strict=True))
            truth[meter.id] = sum(
                vals[i] * (times[i + 1] - times[i]) / 3600.0 for i in range(len(times) - 1)
            )
            events += [PowerSample(meter.id, t_at(t), v) for t, v in zip(times, vals, strict=True)]
        else:
            deltas = [draw(st.floats(0.0, 200.0)) for _ in times[1:]]
            value = draw(st.floats(0.0, 400.0))
            readings = [value] if times else []
            for d in deltas:
                if meter.rollover_kwh is not None:
                    value = (value + d) % meter.rollover_kwh
                elif value > d and draw(st.integers(0, 4)) == 0:
                    value = d  # the counter was reset to zero just after the last reading
                else:
                    value = value + d
                readings.append(value)
            truth[meter.id] = sum(deltas) if len(times) > 1 else 0.0
            events += [
                EnergyCounter(meter.id, t_at(t), v) for t, v in zip(times, readings, strict=True)
            ]
    return factory, events, truth, samples


def messy(draw, events: list) -> list:
    """Shuffle, duplicate some readings exactly, add NaN and negative readings."""
    readings = [e for e in events if isinstance(e, PowerSample | EnergyCounter)]
    extra = []
    for e in readings:
        if draw(st.integers(0, 3)) == 0:
            extra.append(e)  # exact duplicate
    used = {(type(e), getattr(e, "meter", ""), e.t) for e in readings}
    for e in readings[:3]:
        t = e.t + timedelta(seconds=0.5)
        if (type(e), e.meter, t) in used:
            continue
        bad = draw(st.sampled_from([math.nan, -1.0, math.inf]))
        extra.append(
            PowerSample(e.meter, t, bad)
            if isinstance(e, PowerSample)
            else EnergyCounter(e.meter, t, bad)
        )
    out = events + extra
    return draw(st.permutations(out))


def check_balance(res) -> None:
    bal = res.balance_frame()
    got = bal["orders_kwh"] + bal["overhead_kwh"]
    want = bal["metered_kwh"] + bal["filled_kwh"]
    for name in bal.index:
        assert got[name] == pytest.approx(want[name], rel=REL, abs=1e-9), name
    orders = sum(fp.energy_kwh for fp in res.footprints.values())
    assert orders + res.overhead_kwh == pytest.approx(res.total_kwh, rel=REL, abs=1e-9)
    for fp in res.footprints.values():
        for bd in (fp.energy_by_asset_kwh, fp.energy_by_state_kwh, fp.energy_by_carrier_kwh):
            assert sum(bd.values()) == pytest.approx(fp.energy_kwh, rel=REL, abs=1e-9)
        assert fp.co2e_kg == pytest.approx(
            fp.scope1_kg + fp.scope2_location_kg + fp.scope3_kg, rel=REL, abs=1e-9
        )
        assert sum(fp.co2e_by_asset_kg.values()) == pytest.approx(
            fp.scope1_kg + fp.scope2_location_kg, rel=REL, abs=1e-9
        )
        assert 0.0 <= fp.primary_data_share <= 1.0
        assert fp.energy_kwh >= -1e-12


@SETTINGS
@given(plant=plants(), data=st.data())
def test_balance_closes_on_messy_streams(plant, data):
    factory, events, truth, _ = plant
    events = messy(data.draw, events)
    rules = Rules(max_sample_interval_s=1e9)
    res = attribute(factory, EventBatch.from_events(events), FactorSet.default(factory), rules)
    check_balance(res)
    for meter, kwh in truth.items():
        assert res.metered_kwh[meter] == pytest.approx(kwh, rel=REL, abs=1e-9), meter
    n_readings: dict[str, set] = {}
    for e in events:
        value = getattr(e, "power_kw", getattr(e, "energy_kwh", math.nan))
        if isinstance(e, PowerSample | EnergyCounter) and math.isfinite(value) and value >= 0:
            n_readings.setdefault(e.meter, set()).add(e.t)
    for m in factory.meters:
        if len(n_readings.get(m.id, ())) >= 2:  # with readings nothing is filled without gaps
            assert res.filled_kwh[m.id] == 0.0
        elif res.filled_kwh[m.id] > 0:  # a meter without readings is modelled, and says so
            assert any(f"meter {m.id!r} has no readings" in f for f in res.flags)
    bad = [
        e
        for e in events
        if isinstance(e, PowerSample | EnergyCounter)
        and not (
            math.isfinite(getattr(e, "power_kw", getattr(e, "energy_kwh", 0.0)))
            and getattr(e, "power_kw", getattr(e, "energy_kwh", 0.0)) >= 0
        )
    ]
    if bad:
        assert any("invalid" in f for f in res.flags)


def _outside(lo: float, hi: float, gaps: list[tuple[float, float]]) -> float:
    """Length of [lo, hi) outside the union of gaps (plain loop)."""
    pts = sorted(gaps)
    merged: list[list[float]] = []
    for a, b in pts:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    covered = sum(max(0.0, min(hi, b) - max(lo, a)) for a, b in merged)
    return (hi - lo) - covered


@SETTINGS
@given(
    plant=plants(),
    idle=st.sampled_from(["processing_time_share", "processing_time_only", "overhead"]),
    key=st.sampled_from(["", "machine_hours", "declared", "processing_hours"]),
)
def test_balance_closes_under_every_idle_rule_and_utility_key(plant, idle, key):
    factory, events, truth, _ = plant
    rules = Rules(idle=idle, utility_key=key, max_sample_interval_s=1e9)
    res = attribute(factory, EventBatch.from_events(events), FactorSet.default(factory), rules)
    check_balance(res)
    for meter, kwh in truth.items():
        assert res.metered_kwh[meter] == pytest.approx(kwh, rel=REL, abs=1e-9), meter
    for fp in res.footprints.values():
        assert fp.rules["idle"] == idle
        assert fp.method[0].startswith(f"{idle}: ")


@SETTINGS
@given(plant=plants(), data=st.data())
def test_gaps_are_filled_flagged_and_balanced(plant, data):
    factory, events, truth, samples = plant
    gaps: dict[str, list[tuple[float, float]]] = {}
    for meter in factory.meters:
        for _ in range(data.draw(st.integers(0, 2))):
            a = data.draw(st.integers(0, SPAN_S - 1))
            b = data.draw(st.integers(a + 1, SPAN_S))
            gaps.setdefault(meter.id, []).append((float(a), float(b)))
            events.append(Gap(meter.id, t_at(a), t_at(b), "test"))
    events = messy(data.draw, events)
    rules = Rules(max_sample_interval_s=data.draw(st.sampled_from([1e9, 1800.0])))
    res = attribute(factory, EventBatch.from_events(events), FactorSet.default(factory), rules)
    check_balance(res)
    for meter, pts in samples.items():
        if rules.max_sample_interval_s < 1e9:
            g = gaps.get(meter, []) + [
                (t0, t1)
                for (t0, _), (t1, _) in zip(pts, pts[1:], strict=False)
                if t1 - t0 > rules.max_sample_interval_s
            ]
        else:
            g = gaps.get(meter, [])
        want = sum(
            p * _outside(t0, t1, g) / 3600.0 for (t0, p), (t1, _) in zip(pts, pts[1:], strict=False)
        )
        assert res.metered_kwh[meter] == pytest.approx(want, rel=1e-7, abs=1e-9), meter
    for meter in factory.meters:
        if meter.signal == "energy":  # a counter measures its whole range, gaps or not
            assert res.metered_kwh[meter.id] == pytest.approx(truth[meter.id], rel=REL, abs=1e-9)
    for fp in res.footprints.values():
        secondary = any("secondary data" in f for f in fp.flags)
        if secondary and fp.co2e_kg > 0:
            assert fp.primary_data_share < 1.0
        if not secondary and fp.scope3_kg == 0 and fp.co2e_kg > 0:
            assert fp.primary_data_share == pytest.approx(1.0)


@SETTINGS
@given(plant=plants(), data=st.data())
def test_reject_mode_names_meter_and_time(plant, data):
    factory, events, truth, _ = plant
    readings = [e for e in events if isinstance(e, PowerSample)]
    if not readings:
        return
    e = data.draw(st.sampled_from(readings))
    bad = PowerSample(e.meter, e.t + timedelta(seconds=0.25), -5.0)
    rules = Rules(max_sample_interval_s=1e9, bad_readings="reject")
    ok = attribute(factory, EventBatch.from_events(events), FactorSet.default(factory), rules)
    check_balance(ok)
    meter = next(m for m in factory.meters if m.id == e.meter)
    if meter.signal != "power":
        return
    when = bad.t.isoformat().replace("+00:00", "Z")
    with pytest.raises(AttributionError, match=rf"meter '{e.meter}' at {when}"):
        attribute(
            factory, EventBatch.from_events([*events, bad]), FactorSet.default(factory), rules
        )
