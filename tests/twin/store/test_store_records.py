"""Footprints (versioned, immutable), orders, factory versions and factor series in the store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from carbontwin.twin.errors import StoreError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory, Line, Machine, Order, PowerModel, Site, State
from carbontwin.twin.store import NotFoundError, Store

START = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)


def footprint(order: str = "O1", co2e_kg: float = 12.5, product: str = "bracket") -> Footprint:
    return Footprint(
        order=order,
        product=product,
        quantity=40.0,
        declared_unit="piece",
        period_start=START,
        period_end=START + timedelta(hours=3),
        energy_kwh=31.25,
        co2e_kg=co2e_kg,
        co2e_market_kg=co2e_kg - 2.0,
        scope1_kg=1.0,
        scope2_location_kg=co2e_kg - 1.0 - 4.0,
        scope2_market_kg=co2e_kg - 1.0 - 4.0 - 2.0,
        scope3_kg=4.0,
        energy_by_carrier_kwh={"electricity": 31.25},
        energy_by_asset_kwh={"cnc-1": 20.0, "washer": 11.25},
        energy_by_state_kwh={"PROCESSING": 25.0, "IDLE": 6.25},
        co2e_by_asset_kg={"cnc-1": 5.0, "washer": 2.5},
        co2e_by_material_kg={"steel": 4.0},
        primary_data_share=0.93,
        rules={"idle": "processing_time_share"},
        factor_versions={"DE_2019_hourly": "2019.1"},
        flags=("gap filled on M2",),
        factory="demo",
    )


# --- footprints -------------------------------------------------------------------------


def test_issue_and_round_trip(store: Store):
    fp = footprint()
    issued = store.issue_footprint(fp)
    assert issued.version == 1
    assert issued.replaces is None
    assert issued.issued_at is not None
    assert issued.issued_at.tzinfo is not None
    back = store.get_footprint(fp.id)
    assert back == issued  # Footprint.from_dict(payload) gives the issued record back
    assert back.energy_by_asset_kwh == {"cnc-1": 20.0, "washer": 11.25}
    assert store.latest_footprint("O1") == issued
    assert store.latest_footprint("nope") is None


def test_corrections_are_new_versions(store: Store):
    v1 = store.issue_footprint(footprint(co2e_kg=12.5))
    v2 = store.issue_footprint(footprint(co2e_kg=13.0))  # replaces left None: store fills it
    assert (v2.version, v2.replaces) == (2, v1.id)
    v3 = store.issue_footprint(v2.successor(footprint(co2e_kg=13.5)))
    assert (v3.version, v3.replaces) == (3, v2.id)
    assert [f.co2e_kg for f in store.footprint_versions("O1")] == [12.5, 13.0, 13.5]
    assert store.latest_footprint("O1") == v3
    assert store.get_footprint(v1.id) == v1  # the old version is still there, unchanged


def test_issued_footprints_are_never_reissued_or_forked(store: Store):
    v1 = store.issue_footprint(footprint())
    with pytest.raises(StoreError, match="already issued"):
        store.issue_footprint(replace(footprint(), id=v1.id))
    store.issue_footprint(footprint(co2e_kg=14.0))
    with pytest.raises(StoreError, match="the latest is version 2"):
        store.issue_footprint(replace(footprint(), replaces=v1.id))
    with pytest.raises(StoreError, match="belongs to order 'O1'"):
        store.issue_footprint(replace(footprint(order="O2"), replaces=v1.id))
    with pytest.raises(NotFoundError, match="never issued"):
        store.issue_footprint(replace(footprint(), replaces=str(uuid.uuid4())))
    with pytest.raises(StoreError, match="is not a UUID"):
        store.issue_footprint(replace(footprint(), id="fp-1"))
    assert len(store.footprint_versions("O1")) == 2


def test_database_rejects_updates_of_issued_footprints(store: Store):
    fp = store.issue_footprint(footprint())
    with pytest.raises(sa.exc.DatabaseError, match="immutable"), store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE footprints SET co2e_kg = 0"))
    assert store.get_footprint(fp.id).co2e_kg == 12.5


def test_list_footprints_filters_and_pages(store: Store):
    a1 = store.issue_footprint(footprint("A", 10.0, "bracket"))
    b1 = store.issue_footprint(footprint("B", 20.0, "housing"))
    a2 = store.issue_footprint(footprint("A", 11.0, "bracket"))
    c1 = store.issue_footprint(
        replace(
            footprint("C", 30.0, "housing"),
            period_start=START + timedelta(days=2),
            period_end=START + timedelta(days=2, hours=1),
        )
    )
    ids = lambda fps: [f.id for f in fps]  # noqa: E731
    assert ids(store.list_footprints()) == [a1.id, b1.id, a2.id, c1.id]
    assert ids(store.list_footprints(limit=2, offset=1)) == [b1.id, a2.id]
    assert ids(store.list_footprints(order="A")) == [a1.id, a2.id]
    assert ids(store.list_footprints(product="housing")) == [b1.id, c1.id]
    assert ids(store.list_footprints(latest_only=True)) == [b1.id, a2.id, c1.id]
    assert ids(store.list_footprints(min_co2e_kg=15, max_co2e_kg=25)) == [b1.id]
    assert ids(store.list_footprints(since=START + timedelta(days=1))) == [c1.id]
    assert ids(store.list_footprints(until=START + timedelta(days=1), product="housing")) == [b1.id]
    with pytest.raises(StoreError, match="unknown footprint filter 'colour'"):
        store.list_footprints(colour="green")


def test_get_unknown_footprint(store: Store):
    with pytest.raises(NotFoundError, match="no footprint"):
        store.get_footprint(str(uuid.uuid4()))
    with pytest.raises(NotFoundError, match="footprint ids are UUIDs"):
        store.get_footprint("fp-1")


# --- orders -----------------------------------------------------------------------------


def test_orders_save_list_get_and_replace(store: Store):
    orders = [
        Order("O2", "housing", 10, START + timedelta(hours=2), START + timedelta(days=1)),
        Order("O1", "bracket", 40, START, START + timedelta(days=2)),
    ]
    assert store.save_orders(orders) == 2
    assert store.list_orders() == [orders[1], orders[0]]  # by release
    got = store.get_order("O1")
    assert got == orders[1]
    assert got.release.tzinfo is not None
    moved = replace(orders[0], quantity=12.0, due=START + timedelta(days=3))
    assert store.save_orders([moved]) == 1
    assert store.get_order("O2") == moved
    assert len(store.list_orders()) == 2
    with pytest.raises(NotFoundError, match="no order 'O9'"):
        store.get_order("O9")


def test_naive_order_times_are_refused(store: Store):
    naive = Order("O3", "bracket", 1, datetime(2019, 3, 4), datetime(2019, 3, 5))  # noqa: DTZ001
    with pytest.raises(StoreError, match="order 'O3' release is a naive datetime"):
        store.save_orders([naive])
    assert store.list_orders() == []


# --- factory versions ---------------------------------------------------------------------


def small_factory(name: str = "Test plant") -> Factory:
    power = PowerModel(
        {s: kw for s, kw in zip(State, [0.0, 1.0, 3.0, 4.0, 12.0, 0.5], strict=True)}
    )
    return Factory(
        id="test",
        name=name,
        site=Site("S", "Site", "DE", "Europe/Berlin", "DE"),
        lines=(Line("L1", "Line 1", "S"),),
        machines=(Machine("cnc-1", "CNC 1", "L1", "cnc", power),),
    )


def test_factory_versions(store: Store):
    factory_file = pytest.importorskip("carbontwin.twin.factory_file")
    with pytest.raises(NotFoundError, match="no factory saved yet"):
        store.load_factory()
    first = small_factory()
    v1 = store.save_factory(first)
    v2 = store.save_factory(small_factory("Test plant, after the retrofit"))
    assert v2 > v1
    assert store.load_factory(v1) == factory_file.factory_from_dict(
        factory_file.factory_to_dict(first)
    )
    assert store.load_factory().name == "Test plant, after the retrofit"
    assert [v for v, _, _ in store.factory_versions()] == [v1, v2]
    with pytest.raises(NotFoundError, match=f"no factory version {v2 + 1}"):
        store.load_factory(v2 + 1)


def test_factory_versions_are_built_once_and_never_stale(store: Store, db_url: str):
    v1 = store.save_factory(small_factory())
    first = store.load_factory()
    assert store.load_factory() is first  # built once, then served from memory
    assert store.load_factory(v1) is first
    # another process (a second API replica) saves a new version: the newest is read anew
    other = Store(db_url)
    try:
        v2 = other.save_factory(small_factory("Test plant, after the retrofit"))
    finally:
        other.close()
    newest = store.load_factory()
    assert v2 > v1
    assert newest.name == "Test plant, after the retrofit"
    assert store.load_factory(v1) is first


def test_demo_factory_round_trips(store: Store):
    examples = pytest.importorskip("carbontwin.twin.examples")
    demo = examples.demo_factory()
    assert store.load_factory(store.save_factory(demo)) == demo


# --- factor series ------------------------------------------------------------------------


class Series:
    """Any object with the attributes of an hourly series will do."""

    def __init__(self, name: str, version: str, values: list[float]) -> None:
        self.name, self.version, self.source = name, version, "test data"
        self.t_start = 1_546_300_800.0 + 3600.0 * np.arange(len(values), dtype=np.float64)
        self.values = np.asarray(values, dtype=np.float64)


def test_factor_series_round_trip(store: Store):
    factors = pytest.importorskip("carbontwin.twin.factors")
    store.save_factor_series(Series("DE", "2019.1", [0.41, 0.39, 0.1 + 0.2]))
    store.save_factor_series(Series("DE", "2019.2", [0.40, 0.38]))
    back = store.load_factor_series("DE", "2019.1")
    assert isinstance(back, factors.HourlySeries)
    assert back.values.tolist() == [0.41, 0.39, 0.1 + 0.2]  # exact float64
    assert back.t_start[1] - back.t_start[0] == 3600.0
    assert back.source == "test data"
    assert store.load_factor_series("DE").version == "2019.2"  # newest
    assert store.factor_series() == [("DE", "2019.1", "test data"), ("DE", "2019.2", "test data")]


def test_factor_series_versions_are_immutable(store: Store):
    sid = store.save_factor_series(Series("CN", "2022", [0.58, 0.57]))
    assert store.save_factor_series(Series("CN", "2022", [0.58, 0.57])) == sid  # same: no-op
    with pytest.raises(StoreError, match="already stored with other values"):
        store.save_factor_series(Series("CN", "2022", [0.58, 0.50]))
    with pytest.raises(NotFoundError, match="no factor series 'CN' version '2023'"):
        store.load_factor_series("CN", "2023")


def test_bundled_german_series_round_trips(store: Store):
    factors = pytest.importorskip("carbontwin.twin.factors")
    series = factors.bundled_series("DE_2019_hourly")
    assert series.values.size >= 8760
    store.save_factor_series(series)
    back = store.load_factor_series(series.name, series.version)
    assert (back.name, back.version, back.source) == (series.name, series.version, series.source)
    assert np.array_equal(back.values, series.values)
    assert np.array_equal(back.t_start, series.t_start)
    assert np.array_equal(back.filled, series.filled)


def test_concurrent_issuers_get_one_chain_of_versions(store: Store):
    """Writers in parallel threads (API replicas) still make versions 1..n, each replacing
    the one before."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        issued = list(
            pool.map(lambda i: store.issue_footprint(footprint(co2e_kg=10.0 + i)), range(12))
        )
    versions = store.footprint_versions("O1")
    assert sorted(f.version for f in issued) == list(range(1, 13))
    assert [f.version for f in versions] == list(range(1, 13))
    assert [f.replaces for f in versions] == [None] + [f.id for f in versions[:-1]]
