"""``Store.archive``: raw events of attributed windows move to Parquet, and attributing
those windows again reads them back to the same events (same digests, no new
footprint versions), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from test_windows import plant

from carbontwin.api.issuing import issue_windows
from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.factors import FactorSet
from carbontwin.twin.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}"
        return
    from db_helpers import postgres_schema

    with postgres_schema(request.getfixturevalue("postgres_url")) as u:
        yield u


def _count(store: Store) -> int:
    return sum(
        store.count_events()[t] for t in ("state_changes", "power_samples", "energy_counters")
    )


def test_archived_windows_attribute_again_from_the_files(url, tmp_path, signer):
    factory, events = plant(2)
    store = Store.open(url)
    store.save_factory(factory)
    store.write_events(EventBatch.from_events(events))
    rules = {"max_sample_interval_s": 900.0}
    factors = FactorSet.default(factory)
    first = issue_windows(store, signer, rules, factors=factors, window="period")
    assert first.issued
    windows = {w.start: w.slice_sha256 for w in store.attributed_windows()}
    before_rows = _count(store)
    cut = sorted(w.end for w in store.attributed_windows())[len(windows) // 2]
    with pytest.raises(StoreError, match="run 'carbontwin issue' first"):
        store.archive(max(w.end for w in store.attributed_windows()) + 3600, tmp_path / "arch")
    files = store.archive(cut, tmp_path / "arch")
    assert files
    assert all(f.rows > 0 for f in files)
    archived = sum(f.rows for f in files)
    # the rows left the store, each exactly once, into the files
    old = sum(
        1
        for e in events
        if hasattr(e, "t")
        and type(e).__name__ in ("StateChange", "PowerSample", "EnergyCounter")
        and e.t.timestamp() < cut
    )
    assert archived == old
    assert _count(store) == before_rows - archived
    # attribute every window again, archived ones from their files
    store.delete_windows(list(windows))
    again = issue_windows(store, signer, rules, factors=factors, window="period")
    assert len(again.windows) == len(windows)
    assert {w.start: w.slice_sha256 for w in store.attributed_windows()} == windows
    assert again.issued == ()  # the same inputs: no new version
    store.close()


def _issued(url: str, signer) -> tuple[Store, float]:
    """The store at ``url`` with plant 2's events, its windows attributed; the end of the
    last one."""
    factory, events = plant(2)
    store = Store.open(url)
    store.save_factory(factory)
    store.write_events(EventBatch.from_events(events))
    factors = FactorSet.default(factory)
    issue_windows(store, signer, {"max_sample_interval_s": 900.0}, factors=factors)
    return store, store.attributed_windows()[-1].end


def test_a_changed_archive_file_is_refused(tmp_path, signer):
    store, cut = _issued(f"sqlite:///{tmp_path / 'b.db'}", signer)
    files = store.archive(cut, tmp_path / "arch")
    with open(files[0].path, "ab") as f:
        f.write(b"\0")
    store.delete_windows([w.start for w in store.attributed_windows()])
    with pytest.raises(StoreError, match="changed since it was written"):
        issue_windows(
            store,
            signer,
            {"max_sample_interval_s": 900.0},
            factors=FactorSet.default(store.load_factory()),
        )
    with store.engine.connect() as conn:  # nothing of the store was lost on the way
        assert conn.execute(sa.text("SELECT count(*) FROM archives")).scalar_one() == len(files)
    store.close()


def _stored_power(store: Store) -> list[tuple[str, float, float]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT meter, t, power_kw FROM power_samples ORDER BY meter, t")
        ).all()
    return [(str(m), float(t), float(p)) for m, t, p in rows]


def test_a_month_is_written_a_chunk_at_a_time(url, tmp_path, signer, monkeypatch):
    import pyarrow.parquet as pq

    from carbontwin.twin.store import _archive

    store, cut = _issued(url, signer)
    power = [r for r in _stored_power(store) if r[1] < cut]
    assert len(power) > 20
    monkeypatch.setattr(_archive, "CHUNK_ROWS", 7)
    seen: list[tuple[str, int]] = []
    files = store.archive(cut, tmp_path / "arch", on_rows=lambda tab, _, n: seen.append((tab, n)))
    (f,) = [f for f in files if f.table == "power_samples"]
    # progress after every 7 rows, the last one the file's count
    counts = [n for tab, n in seen if tab == "power_samples"]
    assert counts == [*range(7, f.rows, 7), f.rows]
    # the file holds the store's rows in (meter, time) order, every one once
    table = pq.read_table(f.path)
    got = list(
        zip(
            table.column("source").to_pylist(),
            table.column("t").to_pylist(),
            table.column("value").to_pylist(),
            strict=True,
        )
    )
    assert got == power
    assert pq.ParquetFile(f.path).metadata.num_row_groups == -(-f.rows // 7)
    assert not list((tmp_path / "arch").rglob("*.partial"))
    store.close()


def test_a_failed_archive_leaves_no_file_and_every_row(tmp_path, signer, monkeypatch):
    from carbontwin.twin.store import _archive

    store, cut = _issued(f"sqlite:///{tmp_path / 'c.db'}", signer)
    before = _count(store)
    drop = _archive._drop_rows
    calls = []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("disk full")
        return drop(*args, **kwargs)

    monkeypatch.setattr(_archive, "_drop_rows", fail_second)
    with pytest.raises(StoreError, match="disk full"):
        store.archive(cut, tmp_path / "arch")
    assert [p for p in (tmp_path / "arch").rglob("*") if p.is_file()] == []
    assert _count(store) == before
    assert store.archived_files() == []
    # the same folder again: it goes through
    monkeypatch.setattr(_archive, "_drop_rows", drop)
    files = store.archive(cut, tmp_path / "arch")
    assert _count(store) == before - sum(f.rows for f in files)
    # a file of that name that this store did not write is never overwritten
    store2, _ = _issued(f"sqlite:///{tmp_path / 'd.db'}", signer)
    with pytest.raises(StoreError, match="exists already"):
        store2.archive(cut, tmp_path / "arch")
    assert _count(store2) == before
    store2.close()
    store.close()


def test_archive_memory_does_not_grow_with_the_month(tmp_path, signer, monkeypatch):
    """259,200 one-second samples of a day archived 10,000 at a time: the Python memory
    the archive takes stays far below what the month's rows take as Python objects."""
    import tracemalloc

    import numpy as np

    from carbontwin.api.demo import simulate_day
    from carbontwin.twin.store import _archive

    day = simulate_day(seed=3)
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    store.save_factory(day.factory)
    store.save_orders(day.orders)
    store.write_events(day.events)
    t0 = float(day.events.power_t.min())
    meters = ["M-laser", "M-press", "M-paint"]
    t = np.tile(t0 + 0.5 + np.arange(86_400.0), len(meters))  # between the minute samples
    names = np.empty(t.size, dtype=object)
    names[:] = np.repeat(meters, 86_400)
    store.write_events(EventBatch(power_meter=names, power_t=t, power_kw=np.full(t.size, 3.0)))
    issue_windows(store, signer, factors=FactorSet.default(day.factory))
    cut = store.attributed_windows()[-1].end
    monkeypatch.setattr(_archive, "CHUNK_ROWS", 10_000)
    tracemalloc.start()
    files = store.archive(cut, tmp_path / "arch")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = sum(f.rows for f in files if f.table == "power_samples")
    assert rows > 250_000
    # a row held as a Python tuple of a str, two floats takes > 100 bytes; here < 20 / row
    assert peak < 20 * rows, (peak, rows)
    store.close()
