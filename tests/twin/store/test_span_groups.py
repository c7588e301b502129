"""Which sources of a batch are read together when the store looks for rows that share
their keys (``_events._span_groups``): hand-worked groups."""

from __future__ import annotations

import pandas as pd

from carbontwin.twin.store._events import _span_groups


def groups(spans: dict[str, tuple[float, float]]) -> list[tuple[list[str], float, float]]:
    frame = pd.DataFrame(
        {"min": [a for a, _ in spans.values()], "max": [b for _, b in spans.values()]},
        index=list(spans),
    )
    return list(_span_groups(frame))


def test_a_live_batch_is_one_group():
    # every meter over the same two seconds
    assert groups({"a": (10.0, 11.0), "b": (10.5, 12.0), "c": (11.0, 11.5)}) == [
        (["a", "b", "c"], 10.0, 12.0)
    ]


def test_a_day_delivery_is_one_group_and_an_odd_source_its_own():
    day = {"m1": (0.0, 86340.0), "m2": (0.0, 86340.0), "m3": (30.0, 86370.0)}
    # m4 reports over an hour only: read with the day it would read 23 hours too many
    assert groups({**day, "m4": (1000.0, 4600.0)}) == [
        (["m1", "m2", "m3"], 0.0, 86370.0),
        (["m4"], 1000.0, 4600.0),
    ]


def test_spans_that_drift_do_not_chain_into_one_group():
    # each ends 50 s after the one before: the third is 100 s from the first's end
    got = groups({"a": (0.0, 1000.0), "b": (10.0, 1050.0), "c": (20.0, 1100.0)})
    assert got == [(["a", "b"], 0.0, 1050.0), (["c"], 20.0, 1100.0)]
