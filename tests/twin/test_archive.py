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


def test_a_changed_archive_file_is_refused(tmp_path, signer):
    factory, events = plant(2)
    store = Store.open(f"sqlite:///{tmp_path / 'b.db'}")
    store.save_factory(factory)
    store.write_events(EventBatch.from_events(events))
    factors = FactorSet.default(factory)
    issue_windows(store, signer, {"max_sample_interval_s": 900.0}, factors=factors)
    cut = store.attributed_windows()[-1].end
    files = store.archive(cut, tmp_path / "arch")
    with open(files[0].path, "ab") as f:
        f.write(b"\0")
    store.delete_windows([w.start for w in store.attributed_windows()])
    with pytest.raises(StoreError, match="changed since it was written"):
        issue_windows(store, signer, {"max_sample_interval_s": 900.0}, factors=factors)
    with store.engine.connect() as conn:  # nothing of the store was lost on the way
        assert conn.execute(sa.text("SELECT count(*) FROM archives")).scalar_one() == len(files)
    store.close()
