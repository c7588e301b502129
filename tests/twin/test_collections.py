"""The cyclic garbage collector paused while records are built (twin/_collections.py)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from test_attribution import HAND_RULES, hand_events, hand_factors, hand_factory

from carbontwin.twin._collections import collections_paused
from carbontwin.twin.attribution import attribute
from carbontwin.twin.events import EventBatch


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_and_on_again_after_even_on_an_error(collector_on: None) -> None:
    with collections_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collections_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outermost(collector_on: None) -> None:
    with collections_paused():
        with collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause closing does not end the outer one
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with collections_paused():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()


def test_overlapping_pauses_in_two_threads(collector_on: None) -> None:
    """Thread A pauses, B pauses, A ends: still off until B ends too."""
    a_in, b_in, a_out, b_may_end = (threading.Event() for _ in range(4))
    seen: dict[str, bool] = {}

    def a() -> None:
        with collections_paused():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b() -> None:
        a_in.wait(10)
        with collections_paused():
            b_in.set()
            a_out.wait(10)
            seen["after A ended"] = gc.isenabled()
            b_may_end.wait(10)

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start()
    tb.start()
    a_out.wait(10)
    b_may_end.set()
    ta.join(10)
    tb.join(10)
    assert seen == {"after A ended": False}
    assert gc.isenabled()


def test_records_are_built_with_no_collection_on_the_way(collector_on: None) -> None:
    """With the youngest generation collected after every allocation, no collection
    starts while the records are built; without the pause one would start for about
    every container the records hold."""
    f = hand_factory()
    res = attribute(f, EventBatch.from_events(hand_events()), hand_factors(f), HAND_RULES)
    starts: list[int] = []
    during: list[int] = []
    lazy: Any = res.footprints
    build = lazy._build

    def watched(ks: Any) -> Any:
        before = len(starts)
        out = build(ks)
        during.append(len(starts) - before)  # collections started during this build
        return out

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            starts.append(info["generation"])

    lazy._build = watched
    threshold = gc.get_threshold()
    gc.collect()
    gc.callbacks.append(count)
    gc.set_threshold(1)
    try:
        first = res.footprints["O2"]  # one record
        records = res.footprints.many(["O1", "O2", "O3"])  # the other two, together
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(count)
    assert [fp.order for fp in records] == ["O1", "O2", "O3"]
    assert records[1] is first
    assert during == [0, 0]  # two builds, no collection started during either
