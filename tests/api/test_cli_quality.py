"""``carbontwin attribute`` prints the run's data-quality checks with their counts, not
only in ``--json``; a conflicting events folder stops it naming the row.

The plant is tests/intake_plant.py with a second machine m2 on a meter M2 that
sends nothing. Events: O1 on m1 06:00-07:00, M1 read every 10 minutes at 10 kW
with a gap 06:20-06:40, and steps of order O9, which is not in the plan.
"""

from __future__ import annotations

import json
from datetime import timedelta

import yaml
from intake_plant import T0, hour_of_work, plant_document
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.connectors.files import write_events_dir
from carbontwin.twin.events import EventBatch, Gap, OrderStep, StateChange
from carbontwin.twin.model import State

runner = CliRunner()


def _setup(tmp_path):
    doc = plant_document()
    doc["machines"].append(
        {"id": "m2", "line": "l1", "type": "press", "power": {"idle": 2, "processing": 20}}
    )
    doc["meters"].append({"id": "M2", "measures": ["m2"]})
    factory = tmp_path / "plant.yaml"
    factory.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    extra = EventBatch.from_events(
        [
            StateChange("m2", T0, State.IDLE),
            OrderStep("O9", "op10", "m1", T0, T0 + timedelta(hours=1), 5.0),
            Gap("M1", T0 + timedelta(minutes=20), T0 + timedelta(minutes=40), "link down"),
        ]
    )
    events = write_events_dir(EventBatch.concat([hour_of_work(), extra]), tmp_path / "events")
    return factory, events


def test_data_quality_is_printed_and_counted(tmp_path):
    factory, events = _setup(tmp_path)
    out = runner.invoke(app, ["attribute", "--factory", str(factory), "--events", str(events)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())
    assert "data quality: 3 finding(s)" in text
    assert "1 order(s) with steps that are not in the production plan: O9" in text
    assert "1 meter(s) without readings (their assets modelled): M2" in text
    # 20 of M1's 60 minutes filled from m1's model: 10 kW x 1/3 h
    assert (
        "1 meter(s) with gaps over part of their range (filled from the model): "
        "M1 (0.333 h of 1 h filled, 3.33333 kWh)" in text
    )
    doc = json.loads(
        runner.invoke(
            app, ["attribute", "--factory", str(factory), "--events", str(events), "--json"]
        ).stdout
    )
    assert {k: v["count"] for k, v in doc["quality"].items()} == {
        "orders_not_in_plan": 1,
        "meters_without_readings": 1,
        "meters_partly_filled": 1,
        "main_below_sub_meters": 0,
    }
    assert doc["quality"]["orders_not_in_plan"]["items"] == ["O9"]


def test_a_clean_run_says_so(tmp_path):
    doc = plant_document()
    factory = tmp_path / "plant.yaml"
    factory.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    events = write_events_dir(hour_of_work(), tmp_path / "events")
    out = runner.invoke(app, ["attribute", "--factory", str(factory), "--events", str(events)])
    assert out.exit_code == 0, out.output
    assert "data quality: 0 finding(s)" in " ".join(out.stdout.split())


def test_a_conflicting_row_stops_attribute_naming_it(tmp_path):
    factory, events = _setup(tmp_path)
    with (events / "power.csv").open("a", encoding="utf-8") as f:
        f.write("M1,2019-03-04T06:10:00Z,12\n")
    out = runner.invoke(app, ["attribute", "--factory", str(factory), "--events", str(events)])
    assert out.exit_code == 1
    lines = (events / "power.csv").read_text(encoding="utf-8").splitlines()
    first = lines.index("M1,2019-03-04T06:10:00Z,10") + 1
    assert (
        f"power.csv:{len(lines)}: power sample (meter 'M1', t 2019-03-04T06:10:00Z) has "
        f"power_kw 12.0 but power_kw 10.0 was sent in line {first}"
    ) in " ".join(out.stderr.split())
    (events / "notes.txt").write_text("x", encoding="utf-8")
    out = runner.invoke(app, ["attribute", "--factory", str(factory), "--events", str(events)])
    assert out.exit_code == 1
    assert "unknown file(s) ['notes.txt']" in " ".join(out.stderr.split())
