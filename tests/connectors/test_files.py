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
        ConnectorError, match=r"power.csv:3:2: t '2019-03-04T06:00:01' has no time zone"
    ):
        read_events_dir(tmp_path)
    (tmp_path / "power.csv").write_text(
        "meter,t,power_kw\nM1,2019-03-04T06:00:00Z,1 kW\n", encoding="utf-8"
    )
    with pytest.raises(ConnectorError, match=r"power.csv:2:3: power_kw '1 kW' is not a number"):
        read_events_dir(tmp_path)
    (tmp_path / "power.csv").write_text("meter,time,power_kw\n", encoding="utf-8")
    with pytest.raises(
        ConnectorError, match=r"unknown column\(s\) \['time'\] and column\(s\) \['t'\] missing"
    ):
        read_events_dir(tmp_path)
    with pytest.raises(ConnectorError, match="does not exist"):
        read_events_dir(tmp_path / "nothing")


EXPECTED = "states.csv, power.csv, counters.csv, steps.csv, materials.csv, gaps.csv, orders.csv"


def test_an_unknown_file_is_an_error_listing_the_expected_names(tmp_path):
    write_events_dir(EventBatch.from_events([PowerSample("M1", T0, 1.0)]), tmp_path)
    (tmp_path / "state.csv").write_text("asset,t,state\n", encoding="utf-8")
    (tmp_path / ".DS_Store").write_bytes(b"\0")  # hidden files are not events
    with pytest.raises(ConnectorError) as err:
        read_events_dir(tmp_path)
    assert err.value.message == (
        f"events folder {tmp_path}: unknown file(s) ['state.csv']; an events folder holds "
        f"only {EXPECTED} (each optional; see docs/events-folder.md)"
    )


def test_state_names_in_any_case_and_the_factory_file_spelling(tmp_path):
    (tmp_path / "states.csv").write_text(
        "asset,t,state\n"
        "cnc-1,2019-03-04T06:00:00Z,processing\n"  # as the factory file's power: keys
        "cnc-1,2019-03-04T06:10:00Z,Idle\n"
        "cnc-1,2019-03-04T06:20:00Z, STANDBY \n",
        encoding="utf-8",
    )
    (tmp_path / "steps.csv").write_text(
        "order,operation,asset,start,end,quantity,kind\n"
        "O1,op10,cnc-1,2019-03-04T06:00:00Z,2019-03-04T06:10:00Z,3,Processing\n",
        encoding="utf-8",
    )
    b = read_events_dir(tmp_path)
    assert b.state.tolist() == ["PROCESSING", "IDLE", "STANDBY"]
    assert b.step_kind.tolist() == ["processing"]
    (tmp_path / "states.csv").write_text(
        "asset,t,state\ncnc-1,2019-03-04T06:00:00Z,idle\n\ncnc-1,2019-03-04T06:10:00Z,running\n",
        encoding="utf-8",
    )
    # the blank line 3 still counts: the bad row is line 4, column 3
    with pytest.raises(ConnectorError) as err:
        read_events_dir(tmp_path)
    assert err.value.message == (
        f"{tmp_path / 'states.csv'}:4:3: state 'running' is not one of OFF, STANDBY, IDLE, "
        "SETUP, PROCESSING, FAULT (any letter case)"
    )


def test_bad_rows_are_named_by_file_line_and_column(tmp_path):
    (tmp_path / "steps.csv").write_text(
        "order,operation,asset,start,end,quantity,kind\n"
        "O1,op10,cnc-1,2019-03-04T06:00:00Z,2019-03-04T06:10:00Z,3,setup\n"
        "O1,op10,cnc-1,2019-03-04T06:10:00Z,2019-13-45T06:00:00Z,3,processing\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ConnectorError, match=r"steps.csv:3:5: end .2019-13-45T06:00:00Z. is not an ISO 8601"
    ):
        read_events_dir(tmp_path)
    (tmp_path / "steps.csv").write_text(
        "order,operation,asset,start,end,quantity,kind\n"
        ",op10,cnc-1,2019-03-04T06:00:00Z,2019-03-04T06:10:00Z,3,setup\n",
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError, match=r"steps.csv:2:1: order '' is empty"):
        read_events_dir(tmp_path)
    (tmp_path / "steps.csv").unlink()
    (tmp_path / "power.csv").write_text(
        "meter;t;power_kw\nM1;2019-03-04T06:00:00Z;1,5\n", encoding="utf-8"
    )
    with pytest.raises(ConnectorError, match=r"power.csv:1: unknown column.*comma-separated"):
        read_events_dir(tmp_path)


def test_duplicates_count_once_conflicts_name_both_lines_corrections_replace(tmp_path):
    (tmp_path / "power.csv").write_text(
        "meter,t,power_kw\n"
        "M1,2019-03-04T06:00:00Z,1.5\n"
        "M1,2019-03-04T06:00:00Z,1.5\n"  # the same event again
        "M1,2019-03-04T06:01:00Z,2\n",
        encoding="utf-8",
    )
    b = read_events_dir(tmp_path)
    assert b.power_kw.tolist() == [1.5, 2.0]
    assert read_events_dir(tmp_path, settled=False).power_kw.tolist() == [1.5, 1.5, 2.0]
    with (tmp_path / "power.csv").open("a", encoding="utf-8") as f:
        f.write("M1,2019-03-04T06:00:00Z,1.75\n")
    with pytest.raises(ConnectorError) as err:
        read_events_dir(tmp_path)
    assert err.value.message == (
        f"1 conflicting row(s): {tmp_path / 'power.csv'}:5: power sample (meter 'M1', "
        "t 2019-03-04T06:00:00Z) has power_kw 1.75 but power_kw 1.5 was sent in line 2; "
        "send it as a correction to replace it"
    )
    (tmp_path / "power.csv").write_text(
        "meter,t,power_kw,correction\n"
        "M1,2019-03-04T06:00:00Z,1.5,\n"
        "M1,2019-03-04T06:01:00Z,2,false\n"
        "M1,2019-03-04T06:00:00Z,1.75,true\n",
        encoding="utf-8",
    )
    b = read_events_dir(tmp_path)
    assert b.power_kw.tolist() == [1.75, 2.0]
    assert b.power_correction.tolist() == [True, False]


def test_each_material_row_is_a_booking_of_its_own(tmp_path):
    (tmp_path / "materials.csv").write_text(
        "order,material,quantity,unit\nO1,steel,25,kg\nO1,steel,25,kg\n", encoding="utf-8"
    )
    b = read_events_dir(tmp_path)
    assert b.material_quantity.tolist() == [25.0, 25.0]
    assert b.material_booking.tolist() == ["materials.csv:2", "materials.csv:3"]
    (tmp_path / "materials.csv").write_text(
        "order,material,quantity,booking\nO1,steel,25,GI-4711\nO1,steel,25,GI-4711\n"
        "O1,steel,10,GI-4712\n",
        encoding="utf-8",
    )
    b = read_events_dir(tmp_path)  # the same booking twice is one booking
    assert b.material_quantity.tolist() == [25.0, 10.0]
    assert b.material_unit.tolist() == ["kg", "kg"]
    d = write_events_dir(b, tmp_path / "out")
    header = (d / "materials.csv").read_text().splitlines()[0]
    assert header.replace('"', "") == "order,material,quantity,unit,booking"
    assert read_events_dir(d).material_booking.tolist() == ["GI-4711", "GI-4712"]
