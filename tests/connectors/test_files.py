"""Events folder: CSV round trip and located errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from carbontwin.connectors.files import read_events_dir, write_events_dir
from carbontwin.twin.errors import ConnectorError
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

T0 = datetime(2019, 3, 4, 6, tzinfo=UTC)


def _batch() -> EventBatch:
    return EventBatch.from_events(
        [
            StateChange("cnc-1", T0, State.IDLE),
            StateChange("cnc-1", T0 + timedelta(seconds=90.25), State.PROCESSING),
            PowerSample("M1", T0, 7.5),
            PowerSample("M1", T0 + timedelta(seconds=1), math.nan),
            PowerSample("M1", T0 + timedelta(seconds=2), -1.0),
            EnergyCounter("M2", T0, 999_999.5),
            OrderStep("O1", "op10", "cnc-1", T0, T0 + timedelta(minutes=5), 12.0, StepKind.SETUP),
            MaterialUse("O1", "steel", 2.5, "t"),
            Gap("M1", T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), "network, lost"),
        ]
    )


def test_round_trip_keeps_every_value(tmp_path):
    b = _batch()
    d = write_events_dir(b, tmp_path / "ev")
    assert sorted(p.name for p in d.iterdir()) == [
        "counters.csv",
        "gaps.csv",
        "materials.csv",
        "power.csv",
        "states.csv",
        "steps.csv",
    ]
    assert "2019-03-04T06:01:30.250000Z" in (d / "states.csv").read_text()
    r = read_events_dir(d)
    for name in (
        "state_t",
        "power_t",
        "power_kw",
        "counter_kwh",
        "step_start",
        "step_end",
        "step_quantity",
        "material_quantity",
        "gap_start",
        "gap_end",
    ):
        assert np.array_equal(getattr(b, name), getattr(r, name), equal_nan=True), name
    assert list(r.events()) != []
    assert [str(x) for x in r.gap_reason] == ["network, lost"]
    assert [str(x) for x in r.step_kind] == ["setup"]
    assert [str(x) for x in r.material_unit] == ["t"]
    # ids read back share one object per value (fast grouping in attribution)
    assert r.power_meter[0] is r.power_meter[1]


def test_missing_files_mean_no_events(tmp_path):
    b = EventBatch.from_events([PowerSample("M1", T0, 1.0)])
    r = read_events_dir(write_events_dir(b, tmp_path))
    assert len(r) == 1
    assert r.step_start.size == 0


def test_located_errors(tmp_path):
    (tmp_path / "power.csv").write_text(
        "meter,t,power_kw\nM1,2019-03-04T06:00:00Z,1\nM1,2019-03-04T06:00:01,2\n", encoding="utf-8"
    )
    with pytest.raises(
        ConnectorError, match=r"power.csv:3: t '2019-03-04T06:00:01' has no time zone"
    ):
        read_events_dir(tmp_path)
    (tmp_path / "power.csv").write_text(
        "meter,t,power_kw\nM1,2019-03-04T06:00:00Z,1 kW\n", encoding="utf-8"
    )
    with pytest.raises(ConnectorError, match=r"power.csv:2: power_kw '1 kW' is not a number"):
        read_events_dir(tmp_path)
    (tmp_path / "power.csv").write_text("meter,time,power_kw\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"column\(s\) \['t'\] missing"):
        read_events_dir(tmp_path)
    with pytest.raises(ConnectorError, match="does not exist"):
        read_events_dir(tmp_path / "nothing")
