"""PostgreSQL: event tables are range-partitioned by month, made ahead of the data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from db_helpers import postgres_schema

from carbontwin.twin.events import EventBatch
from carbontwin.twin.store import Store

pytestmark = pytest.mark.postgres


def _epoch(y: int, m: int, d: int, h: int = 0) -> float:
    return datetime(y, m, d, h, tzinfo=UTC).timestamp()


def _obj(values):
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _samples(times: list[float]) -> EventBatch:
    return EventBatch(
        power_meter=_obj(["M1"] * len(times)),
        power_t=np.asarray(times, dtype=float),
        power_kw=np.arange(len(times), dtype=float),
    )


def _partitions(store: Store, table: str) -> dict[str, int]:
    """Partition name -> rows in it (read from the partitions themselves)."""
    with store.engine.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t "
                "AND p.relnamespace = to_regnamespace(current_schema())::oid"
            ),
            {"t": table},
        ).scalars()
        return {
            n: int(conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names
        }


def test_rows_land_in_their_month_and_the_next_month_is_made_ahead(postgres_url):
    with postgres_schema(postgres_url) as url:
        store = Store.open(url)
        # 3 samples in March 2019, 2 in May 2019 (one at the first second of May)
        store.write_events(
            _samples(
                [
                    _epoch(2019, 3, 4),
                    _epoch(2019, 3, 15),
                    _epoch(2019, 3, 31, 23),
                    _epoch(2019, 5, 1),
                    _epoch(2019, 5, 20),
                ]
            )
        )
        parts = _partitions(store, "power_samples")
        assert parts["power_samples_p201903"] == 3
        assert parts["power_samples_p201905"] == 2
        # made ahead: the month after the newest row, and the months between
        assert parts["power_samples_p201906"] == 0
        assert parts["power_samples_p201904"] == 0
        assert len(store.read_events().power_t) == 5
        store.close()


def test_a_window_read_scans_only_its_months_partition(postgres_url):
    with postgres_schema(postgres_url) as url:
        store = Store.open(url)
        store.write_events(_samples([_epoch(2019, m, 10) for m in (1, 2, 3, 4)]))
        with store.engine.connect() as conn:
            plan = "\n".join(
                conn.execute(
                    sa.text(
                        "EXPLAIN SELECT * FROM power_samples WHERE meter = 'M1' "
                        "AND t >= :a AND t <= :b"
                    ),
                    {"a": _epoch(2019, 3, 1), "b": _epoch(2019, 3, 20)},
                ).scalars()
            )
        assert "power_samples_p201903" in plan
        assert "power_samples_p201902" not in plan
        assert "power_samples_p201904" not in plan
        store.close()


def test_upgrade_moves_stored_rows_into_partitions(postgres_url):
    with postgres_schema(postgres_url) as url:
        store = Store(url)
        store.upgrade("0005")
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO power_samples (meter, t, power_kw) VALUES ('M1', :t, 2.5)"),
                [{"t": _epoch(2020, 1, 5)}, {"t": _epoch(2020, 2, 5)}],
            )
        store.upgrade()
        parts = _partitions(store, "power_samples")
        assert parts["power_samples_p202001"] == 1
        assert parts["power_samples_p202002"] == 1
        assert store.read_events().power_kw.tolist() == [2.5, 2.5]
        store.close()
