from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbontwin.twin.errors import EventError
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    MaterialUse,
    OrderStep,
    PowerSample,
    StateChange,
    StepKind,
)
from carbontwin.twin.model import State

T0 = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sample_events():
    return [
        StateChange("cnc-1", at(0), State.IDLE),
        StateChange("cnc-1", at(60), State.PROCESSING),
        PowerSample("M1", at(0), 6.5),
        PowerSample("M1", at(60), 21.0),
        EnergyCounter("M2", at(0), 1200.25),
        OrderStep("O-1", "op10", "cnc-1", at(60), at(660), 5.0, StepKind.PROCESSING),
        MaterialUse("O-1", "steel-c45", 12.5, "kg"),
        Gap("M1", at(300), at(360), "server restart"),
    ]


def test_batch_round_trips_every_kind():
    events = sample_events()
    batch = EventBatch.from_events(events)
    assert len(batch) == len(events)
    assert batch.power_t.dtype == np.float64
    assert batch.power_t[1] - batch.power_t[0] == 60.0
    assert sorted(map(repr, batch.events())) == sorted(map(repr, events))


def test_concat_keeps_all_rows():
    a = EventBatch.from_events(sample_events()[:3])
    b = EventBatch.from_events(sample_events()[3:])
    both = EventBatch.concat([a, b])
    assert len(both) == len(a) + len(b)
    assert list(both.power_kw) == [6.5, 21.0]


@pytest.mark.parametrize(
    ("events", "fragment"),
    [
        ([PowerSample("M1", at(0), float("nan"))], "non-finite power_kw"),
        ([PowerSample("M1", at(0), -3.0)], "negative power_kw"),
        ([EnergyCounter("M2", at(0), -1.0)], "negative energy_kwh"),
        ([OrderStep("O-1", "op10", "cnc-1", at(60), at(0), 1.0)], "ends"),
        ([OrderStep("O-1", "op10", "cnc-1", at(0), at(60), 0.0)], "quantity 0.0"),
        ([PowerSample("M1", at(60), 1.0), PowerSample("M1", at(0), 1.0)], "time goes back"),
        ([StateChange("press-9", at(0), State.IDLE)], "unknown asset 'press-9'"),
        ([PowerSample("M7", at(0), 1.0)], "unknown meter 'M7'"),
    ],
)
def test_validate_names_source_and_problem(events, fragment):
    batch = EventBatch.from_events(events)
    with pytest.raises(EventError) as info:
        batch.validate(assets={"cnc-1"}, meters={"M1", "M2"})
    assert fragment in str(info.value)


def test_validate_names_meter_and_time_of_bad_reading():
    batch = EventBatch.from_events([PowerSample("M1", at(120), float("inf"))])
    with pytest.raises(EventError, match=r"'M1' at 2019-03-04T06:02:00"):
        batch.validate()


def test_monotone_is_per_source():
    batch = EventBatch.from_events([PowerSample("M1", at(60), 1.0), PowerSample("M2", at(0), 1.0)])
    batch.validate(meters={"M1", "M2"})  # different meters may interleave in any order


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["M1", "M2", "M3"]), st.integers(0, 10**6), st.floats(0, 1e4)),
        max_size=30,
    )
)
def test_from_events_and_back_is_lossless(rows):
    events = [PowerSample(m, at(s), kw) for m, s, kw in rows]
    batch = EventBatch.from_events(events)
    assert list(batch.events()) == events


def test_group_ids_partition_rows_as_grouping_by_the_key_columns_does():
    """``_group_ids`` (factorized columns) against pandas' groupby ``ngroup`` on random
    keys with repeats and missing values: the same rows share a number."""
    import numpy as np
    import pandas as pd

    from carbontwin.twin.events import _group_ids

    rng = np.random.default_rng(5)
    n = 500
    frame = pd.DataFrame(
        {
            "src": pd.Series(rng.choice(["a", "b", "c", None], n), dtype=object),
            "t": pd.Series(rng.choice([0.0, -0.0, 1.5, np.nan, 2.0], n), dtype=object),
            "k": pd.Series(rng.choice(["setup", "processing"], n), dtype=object),
        }
    )
    want = frame.groupby(["src", "t", "k"], sort=False, dropna=False).ngroup().to_numpy()
    got = _group_ids(frame, ("src", "t", "k"))
    pairs = set(zip(want.tolist(), got.tolist(), strict=True))
    # a bijection between the two numberings: same partition of the rows
    assert len(pairs) == len(set(want.tolist())) == len(set(got.tolist()))
    assert len(pairs) > 20


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["M1", "M2", "M3"]), st.sampled_from([0.0, -0.0, 1.0, 2.5])),
        max_size=12,
    ),
    runs=st.booleans(),
)
def test_keys_said_plainly_unique_are_unique(rows, runs):
    """The shortcut of ``settle`` (one run per source, times rising) says "unique" only
    for rows whose keys are all different (a set of the tuples: the second method), and
    says it for the rows as a connector sends them (by source, then time, no repeats)."""
    from carbontwin.twin.events import _keys_plainly_unique

    if runs:  # what a connector or an import sends: by source, then time, each key once
        rows = sorted({(s, x + 0.0) for s, x in rows})  # -0.0 + 0.0 is 0.0: one key
    src = np.empty(len(rows), dtype=object)
    src[:] = [r[0] for r in rows]
    t = np.array([r[1] for r in rows], dtype=np.float64)
    unique = len({(s, float(x) + 0.0) for s, x in rows}) == len(rows)  # -0.0 is 0.0
    said = _keys_plainly_unique(src, t)
    if said:
        assert unique
    if runs and unique:
        assert said
