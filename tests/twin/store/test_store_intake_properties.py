"""Property: nothing is dropped silently, and the command line and the store agree.

Random sequences of batches with duplicates, conflicting values, corrections
and repeated material bookings are sent to the store one batch at a time.
A reference written here from the rules alone (docs/events-folder.md) says
what each batch must do: keys not seen are stored, the same value again is a
no-op, another value is a correction when flagged and refuses the whole batch
otherwise. Checked:

- acknowledged = stored + rejected: every row is counted once, as new,
  unchanged or corrected in an accepted batch, or as part of a refused one
  (with the conflicting rows named);
- the store holds exactly the reference's keys and values, and its history
  one entry per applied correction;
- the command-line path (the accepted batches written as an events folder and
  read back) attributes to the same footprints as the store path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intake_plant import T0, plant

from carbontwin.connectors.files import read_events_dir, write_events_dir
from carbontwin.twin.attribution import attribute
from carbontwin.twin.errors import EventConflictError
from carbontwin.twin.events import (
    EventBatch,
    MaterialUse,
    OrderStep,
    PowerSample,
    StateChange,
)
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.model import State
from carbontwin.twin.store import Store

SLOT = timedelta(minutes=10)
FACTORY = plant()
FACTORS = FactorSet.default(FACTORY)


def key_and_value(e: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The natural key and values of an event, as the rules define them."""
    if isinstance(e, PowerSample):
        return ("power", e.meter, e.t), (e.power_kw,)
    if isinstance(e, StateChange):
        return ("states", e.asset, e.t), (e.state.value,)
    if isinstance(e, OrderStep):
        return ("steps", e.order, e.operation, e.asset, e.start, e.kind.value), (
            e.end,
            e.quantity,
        )
    assert isinstance(e, MaterialUse)
    return ("materials", e.order, e.material, e.booking), (e.quantity, e.unit)


@st.composite
def events(draw: st.DrawFn) -> Any:
    fix = draw(st.sampled_from([False, False, False, True]))
    kind = draw(st.sampled_from(["power", "power", "states", "steps", "materials"]))
    k = draw(st.integers(0, 5))
    if kind == "power":
        return PowerSample("M1", T0 + k * SLOT, draw(st.sampled_from([0.0, 5.0, 10.0])), fix)
    if kind == "states":
        state = draw(st.sampled_from([State.PROCESSING, State.IDLE, State.OFF]))
        return StateChange("m1", T0 + k * SLOT, state, fix)
    if kind == "steps":
        order = draw(st.sampled_from(["O1", "O2"]))
        n = draw(st.integers(1, 2))
        q = draw(st.sampled_from([5.0, 10.0]))
        return OrderStep(order, "op10", "m1", T0 + k * SLOT, T0 + (k + n) * SLOT, q, correction=fix)
    order = draw(st.sampled_from(["O1", "O2"]))
    booking = draw(st.sampled_from(["GI-1", "GI-2", "GI-3"]))
    q = draw(st.sampled_from([1.0, 2.5]))
    return MaterialUse(order, "steel", q, "kg", booking=booking, correction=fix)


def ordered(rows: list[Any]) -> list[Any]:
    """Readings and state changes of one source in time order (a batch must not go
    back in time per source); the order of rows with the same time is kept."""

    def when(e: Any) -> Any:
        return e.t if isinstance(e, PowerSample | StateChange) else T0

    return sorted(rows, key=when)


batches = st.lists(st.lists(events(), max_size=10).map(ordered), min_size=1, max_size=5)


def reference(batches: list[list[Any]]) -> tuple[dict[Any, Any], list[dict[str, Any]]]:
    """What the rules say: final key -> values, and per batch its outcome."""
    state: dict[Any, Any] = {}
    outcomes = []
    for rows in batches:
        trial = dict(state)
        out = {"new": 0, "unchanged": 0, "corrected": 0, "conflicts": []}
        seen_kind: dict[str, int] = {}
        for e in rows:
            key, val = key_and_value(e)
            i = seen_kind.get(key[0], 0)
            seen_kind[key[0]] = i + 1
            if key not in trial:
                trial[key] = val
                out["new"] += 1
            elif trial[key] == val:
                out["unchanged"] += 1
            elif e.correction:
                trial[key] = val
                out["corrected"] += 1
            else:
                out["conflicts"].append((key[0], i))
        if not out["conflicts"]:
            state = trial
        outcomes.append(out)
    return state, outcomes


def stored_state(store: Store) -> dict[Any, Any]:
    return {key_and_value(e)[0]: key_and_value(e)[1] for e in store.read_events().events()}


def footprints(batch: EventBatch) -> dict[str, tuple[float, ...]]:
    res = attribute(FACTORY, batch, FACTORS)
    return {
        o: (fp.energy_kwh, fp.co2e_kg, fp.scope3_kg, fp.primary_data_share)
        for o, fp in sorted(res.footprints.items())
    } | {"overhead": (res.overhead_kwh, res.overhead_co2e_kg, 0.0, 0.0)}


def check(store: Store, sent: list[list[Any]], folder: Any) -> None:
    with store.engine.begin() as conn:
        for table in ("state_changes", "power_samples", "order_steps", "material_uses"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        conn.exec_driver_sql("DELETE FROM event_history")
    want, outcomes = reference(sent)
    acknowledged = stored = rejected = 0
    accepted: list[EventBatch] = []
    for rows, out in zip(sent, outcomes, strict=True):
        batch = EventBatch.from_events(rows)
        acknowledged += len(batch)
        if out["conflicts"]:
            with pytest.raises(EventConflictError) as err:
                store.ingest(batch)
            assert sorted((k, i) for k, i, _ in err.value.rows) == sorted(out["conflicts"])
            rejected += len(batch)
            continue
        s = store.ingest(batch)
        assert (s.new, s.unchanged, s.corrected) == (
            out["new"],
            out["unchanged"],
            out["corrected"],
        )
        stored += s.new + s.unchanged + s.corrected
        accepted.append(batch)
    assert acknowledged == stored + rejected
    assert stored_state(store) == want
    assert len(store.event_history()) == sum(o["corrected"] for o in outcomes if not o["conflicts"])
    # the command-line path: the accepted batches as one events folder
    if not accepted or not len(store.read_events()):
        return
    for f in folder.iterdir():
        f.unlink()
    write_events_dir(EventBatch.concat(accepted), folder)
    cli = footprints(read_events_dir(folder))
    api = footprints(store.read_events())
    assert cli.keys() == api.keys()
    for o in cli:
        assert cli[o] == pytest.approx(api[o], rel=1e-9, abs=1e-12), o


@pytest.fixture(scope="module")
def memory_store() -> Iterator[Store]:
    s = Store.open("sqlite://")
    yield s
    s.close()


@pytest.fixture(scope="module")
def pg_store(pg_schema) -> Iterator[Store]:
    url = os.environ.get("CARBONTWIN_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CARBONTWIN_TEST_POSTGRES_URL is not set")
    with pg_schema(url) as schema_url:
        s = Store.open(schema_url)
        yield s
        s.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("events")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sent=batches)
def test_nothing_dropped_and_cli_equals_store_sqlite(memory_store, folder, sent):
    check(memory_store, sent, folder)


@pytest.mark.postgres
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sent=batches)
def test_nothing_dropped_and_cli_equals_store_postgres(pg_store, folder, sent):
    check(pg_store, sent, folder)
