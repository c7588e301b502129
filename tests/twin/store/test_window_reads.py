"""A window's events read in bulk equal those read source by source.

``Store.read_window`` finds each source's carried rows (its last before the window,
its first after it) with one bulk read around the window and one statement for the
sources that had nothing near it. The source-by-source read (one edge query per
source and side, then its rows) is the second method: on stores whose sources
report densely, sparsely (days apart), once long before, only after, or never, the
two must give the same rows and the same span.
"""

from __future__ import annotations

import numpy as np
import pytest

from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store, _windows

DAY = 86_400.0
T0 = 1_700_000_000.0  # a Tuesday in November 2023 [epoch s]


def _obj(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _sparse_store(url: str, seed: int) -> tuple[Store, list[str], list[str]]:
    """Meters and assets whose rows lie from minutes to days apart, some empty."""
    rng = np.random.default_rng(seed)
    meters = [f"M{i}" for i in range(9)]
    assets = [f"A{i}" for i in range(7)]
    p_m, p_t, p_kw = [], [], []
    c_m, c_t, c_kwh = [], [], []
    for i, m in enumerate(meters[:-1]):  # the last meter never reports
        mean_gap = [60.0, 900.0, 0.4 * DAY, 1.5 * DAY, 4 * DAY][i % 5]
        n = int(rng.integers(1, 40))
        t = T0 + np.cumsum(rng.exponential(mean_gap, n)) + rng.uniform(-2, 8) * DAY
        p_m += [m] * n
        p_t += t.tolist()
        p_kw += rng.uniform(0, 50, n).tolist()
        if i % 3 == 0:  # some meters also have counters
            c_m += [m] * n
            c_t += (t + 1.0).tolist()
            c_kwh += np.cumsum(rng.uniform(0, 5, n)).tolist()
    s_a, s_t, s_s = [], [], []
    for i, a in enumerate(assets[:-1]):
        n = int(rng.integers(1, 12))
        t = T0 + np.sort(rng.uniform(-3 * DAY, 9 * DAY, n)) * (1 if i % 2 else 0.3)
        s_a += [a] * n
        s_t += np.unique(t).tolist()
        s_s += [str(rng.choice(["OFF", "IDLE", "PROCESSING"])) for _ in range(np.unique(t).size)]
    batch = EventBatch(
        state_asset=_obj(s_a[: len(s_t)]),
        state_t=np.asarray(s_t),
        state=_obj(s_s),
        power_meter=_obj(p_m),
        power_t=np.asarray(p_t),
        power_kw=np.asarray(p_kw),
        counter_meter=_obj(c_m),
        counter_t=np.asarray(c_t),
        counter_kwh=np.asarray(c_kwh),
    )
    store = Store.open(url)
    store.write_events(batch)
    return store, meters, assets


def _rows(batch: EventBatch) -> dict[str, list[tuple]]:
    return {
        "states": sorted(zip(batch.state_asset, batch.state_t, batch.state, strict=True)),
        "power": sorted(zip(batch.power_meter, batch.power_t, batch.power_kw, strict=True)),
        "counters": sorted(
            zip(batch.counter_meter, batch.counter_t, batch.counter_kwh, strict=True)
        ),
    }


@pytest.mark.parametrize("seed", range(6))
def test_bulk_window_read_equals_the_read_source_by_source(db_url, seed):
    store, meters, assets = _sparse_store(db_url, seed)
    rng = np.random.default_rng(100 + seed)
    nearest = []
    real = _windows._nearest_rows

    def spy(conn, tenant, kind, sources, t0, *, before):
        found = real(conn, tenant, kind, sources, t0, before=before)
        nearest.append(len(found))
        return found

    try:
        with store._tx("test reads") as conn, pytest.MonkeyPatch.context() as mp:
            mp.setattr(_windows, "_nearest_rows", spy)
            for w0 in T0 + rng.uniform(-4, 10, 8) * DAY:
                for length in (8 * 3600.0, DAY):
                    bulk = _windows.read_slice(conn, "default", w0, w0 + length, meters, assets)
                    one = _windows.read_slice(
                        conn, "default", w0, w0 + length, meters, assets, by_source=True
                    )
                    assert bulk[1:] == one[1:]
                    assert _rows(bulk[0]) == _rows(one[0])
        assert sum(nearest) > 0  # some sources had nothing near the window
    finally:
        store.close()


def test_bulk_window_read_carries_a_reading_from_days_before(tmp_path):
    """Hand-made: meter M reads at day -3 and day +2; the window [0, 1 day) carries both
    in, and the state set at day -5 (nothing near the window) is read too."""
    store = Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    store.write_events(
        EventBatch(
            state_asset=_obj(["A"]),
            state_t=np.array([T0 - 5 * DAY]),
            state=_obj(["IDLE"]),
            power_meter=_obj(["M", "M", "M"]),
            power_t=np.array([T0 - 3 * DAY, T0 + 2 * DAY, T0 + 3 * DAY]),
            power_kw=np.array([4.0, 6.0, 8.0]),
        )
    )
    with store._tx("test reads") as conn:
        batch, a, b = _windows.read_slice(conn, "default", T0, T0 + DAY, ["M"], ["A"])
    assert (a, b) == (T0 - 3 * DAY, T0 + 2 * DAY)
    assert batch.power_kw.tolist() == [4.0, 6.0]
    assert batch.state_t.tolist() == [T0 - 5 * DAY]
    store.close()


def test_slice_reach_spans_each_sources_carried_events():
    """Hand-made slice of the window [100, 200): meter M read at 40 (carried in) and 230
    (carried out), meter N at 60 and 150 (nothing after yet: open-ended), asset A set
    at 10; the slice depends on [10, inf). Without N and A: [40, 230]. A meter with
    nothing before the window: an earlier reading may still come, so from -inf."""
    from carbontwin.twin.windows import slice_reach

    both = EventBatch(
        state_asset=_obj(["A"]),
        state_t=np.array([10.0]),
        state=_obj(["IDLE"]),
        power_meter=_obj(["M", "M", "M", "N", "N"]),
        power_t=np.array([40.0, 120.0, 230.0, 60.0, 150.0]),
        power_kw=np.ones(5),
    )
    assert slice_reach(both, 100.0, 200.0) == (10.0, np.inf)
    m_only = EventBatch(
        power_meter=_obj(["M", "M", "M"]),
        power_t=np.array([40.0, 120.0, 230.0]),
        power_kw=np.ones(3),
    )
    assert slice_reach(m_only, 100.0, 200.0) == (40.0, 230.0)
    first = EventBatch(power_meter=_obj(["M"]), power_t=np.array([130.0]), power_kw=np.ones(1))
    assert slice_reach(first, 100.0, 200.0) == (-np.inf, np.inf)


def test_late_batches_dirty_the_windows_whose_reach_they_meet():
    from carbontwin.api.issuing import _dirty
    from carbontwin.twin.store._windows import StoredWindow

    ws = [
        StoredWindow(0.0, 100.0, "k", "s", 1, span=5, reach=(-5.0, 101.0)),
        StoredWindow(100.0, 200.0, "k", "s", 1, span=5, reach=(99.0, 201.0)),
        StoredWindow(200.0, 300.0, "k", "s", 1, span=5, reach=(40.0, 301.0)),  # state from 40
        StoredWindow(300.0, 400.0, "old", "s", 1, span=5, reach=(299.0, 401.0)),
    ]
    assert _dirty(ws, [], "k") == {300.0}  # another key
    assert _dirty(ws, [(6, 150.0, 160.0)], "k") == {100.0, 200.0, 300.0}
    assert _dirty(ws, [(6, 45.0, 50.0)], "k") == {0.0, 200.0, 300.0}  # the carried state
    assert _dirty(ws, [(5, 45.0, 50.0)], "k") == {300.0}  # checked already
    assert _dirty(ws, [(6, 45.0, 50.0)], "k", checked=6) == {300.0}  # checked in a run
    assert _dirty(ws, [(7, 500.0, 600.0)], "k") == {300.0}  # after every reach
