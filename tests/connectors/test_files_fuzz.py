"""Fuzzing connector files and events CSV: a result or the project's clear error, fast.

Connector files: the demo OPC UA and MQTT connector files mutated (lines
dropped, doubled, overwritten, cut off) and arbitrary text. Events folders:
CSV files of each kind whose cells mix well-formed values (ids, ISO times,
numbers, states) with arbitrary text, huge and infinite numbers, empty cells,
and files of arbitrary bytes. Each input either loads or raises a
``CarbonTwinError`` (``ConnectorError``, ``EventError``); any other exception,
or an example slower than the deadline, fails the test.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbontwin.connectors.files import FILES, read_events_dir
from carbontwin.connectors.live import load_live_config
from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.examples import example_path

FUZZ = settings(
    max_examples=100, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
CONNECTORS = {
    name: example_path(name).read_text(encoding="utf-8").splitlines()
    for name in ("demo_connector.yaml", "mqtt_connector.yaml")
}


@st.composite
def mutated_connector(draw) -> str:
    lines = list(CONNECTORS[draw(st.sampled_from(sorted(CONNECTORS)))])
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "double", "overwrite", "cut"]))
        if op == "drop":
            del lines[i]
        elif op == "double":
            lines.insert(i, lines[i])
        elif op == "overwrite":
            lines[i] = draw(st.text(max_size=40))
        else:
            lines = lines[:i]
        if not lines:
            break
    return "\n".join(lines) + "\n"


def _outcome(fn: Any, *args: Any) -> tuple[Any, CarbonTwinError | None]:
    """``(result, None)``, or ``(None, error)`` for the project's own error; anything else raises."""
    try:
        return fn(*args), None
    except CarbonTwinError as exc:
        return None, exc


def _load_connector(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "connector.yaml"
        path.write_text(text, encoding="utf-8")
        got, err = _outcome(load_live_config, path)
        assert err.message if err is not None else got is not None


@FUZZ
@given(mutated_connector())
def test_mutated_connector_files(text):
    _load_connector(text)


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_connector_text(text):
    _load_connector(text)


def _cell(column: str) -> st.SearchStrategy[str]:
    good = {
        "t": st.sampled_from(["2019-03-04T06:00:00Z", "2019-03-04T06:15:00+01:00", "2019-03-04"]),
        "start": st.sampled_from(["2019-03-04T06:00:00Z", "2019-03-04T07:00:00Z"]),
        "end": st.sampled_from(["2019-03-04T06:30:00Z", "2019-03-04T05:00:00Z"]),
        "state": st.sampled_from(["PROCESSING", "idle", "Off", "RUNNING"]),
        "kind": st.sampled_from(["processing", "setup", "other"]),
    }.get(column, st.sampled_from(["M-press", "press-1", "O-1", "5", "0", "-1"]))
    wild = st.sampled_from(["", "1e308", "inf", "-inf", "nan", "1,5", '"', "x\ny"])
    return st.one_of(good, wild, st.text(max_size=12))


@st.composite
def events_folder(draw) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in draw(st.lists(st.sampled_from(sorted(FILES)), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 9)) == 0:
            files[name] = draw(st.binary(max_size=200))
            continue
        cols = list(FILES[name][0])
        if draw(st.booleans()) and len(cols) > 2:
            cols = cols[: draw(st.integers(1, len(cols)))]  # columns missing
        rows = [",".join(cols)]
        for _ in range(draw(st.integers(0, 6))):
            rows.append(",".join(draw(_cell(c)) for c in cols))
        files[name] = ("\n".join(rows) + "\n").encode("utf-8")
    return files


@FUZZ
@given(events_folder())
def test_events_folders(files):
    with tempfile.TemporaryDirectory() as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        got, err = _outcome(read_events_dir, d)
    if err is not None:
        assert err.message
        assert "Traceback" not in err.message
    else:
        assert isinstance(got, EventBatch)


def test_good_connector_files_still_load():
    """The mutations start from files that load: the fuzzer is not vacuous."""
    for name in CONNECTORS:
        load_live_config(example_path(name))
