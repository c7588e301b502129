"""The demo factory: the plant every other area builds on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from carbontwin.twin.examples import demo_factory, demo_factory_path, example_path
from carbontwin.twin.factory_file import load_factory
from carbontwin.twin.model import Carrier, State

WEEK_START = datetime(2019, 3, 4, tzinfo=UTC)
WEEK_END = datetime(2019, 3, 11, tzinfo=UTC)


def test_demo_factory_is_the_bundled_yaml():
    path = demo_factory_path()
    assert path.name == "demo_factory.yaml"
    assert path.is_file()
    assert load_factory(path) == demo_factory()
    assert example_path("demo_factory.yaml") == path


def test_site_lines_and_machines():
    f = demo_factory()
    assert (f.site.country, f.site.grid_zone, f.site.timezone) == ("DE", "DE", "Europe/Berlin")
    assert f.company_id.startswith("urn:")
    assert len(f.lines) == 2
    assert len(f.machines) == 8
    kinds = Counter(m.type for m in f.machines)
    assert kinds["cnc"] == 3
    for kind in ("press", "furnace", "paint_booth", "washer"):
        assert kinds[kind] == 1


def test_power_models_are_plausible():
    f = demo_factory()
    for m in f.machines:
        p = m.power.power_kw
        assert set(p) == set(State)
        assert p[State.OFF] <= p[State.STANDBY] <= p[State.IDLE] < p[State.PROCESSING]
    cnc = [m for m in f.machines if m.type == "cnc"]
    assert all(5.0 <= m.power.power_kw[State.IDLE] <= 10.0 for m in cnc)
    assert all(15.0 <= m.power.power_kw[State.PROCESSING] <= 30.0 for m in cnc)
    furnace = next(m for m in f.machines if m.type == "furnace")
    assert furnace.capacity > 1
    assert furnace.power.carrier is Carrier.NATURAL_GAS
    assert furnace.power.warmup_s == 3 * 3600.0
    assert furnace.power.warmup_energy_kwh == 620.0
    assert any(m.setup_matrix_s for m in f.machines)
    assert any(m.mtbf_s and m.mttr_s for m in f.machines)


def test_meters_and_utilities():
    f = demo_factory()
    shared = [m for m in f.meters if len(m.measures) > 1]
    assert len(shared) == 1
    assert len(shared[0].measures) == 2
    assert {m.signal for m in f.meters} == {"power", "energy"}
    metered = Counter(a for m in f.meters for a in m.measures)
    assert set(metered) == set(f.asset_ids)  # every machine and utility is metered once
    assert set(metered.values()) == {1}
    kinds = {u.kind: u for u in f.utilities}
    assert set(kinds) == {"compressed_air", "hvac"}
    assert {u.allocation_key for u in f.utilities} == {"machine_hours", "declared"}
    assert all(len(u.serves) >= 3 for u in f.utilities)


def test_products_boms_and_supplier_pcfs():
    f = demo_factory()
    assert len(f.products) == 4
    pcf = {(s.id, x.material): x.pcf_kg_per_unit for s in f.suppliers for x in s.supplies}
    assert pcf[("sup-alu-primary", "al-6082-primary")] == 16.0
    assert 1.8 <= pcf[("sup-nordstahl", "steel-sheet-s235")] <= 2.4
    for p in f.products:
        assert 3 <= len(p.routing) <= 5
        assert p.bom
        for item in p.bom:
            assert any(x.material == item.material for s in f.suppliers for x in s.supplies)


def test_orders_fall_in_the_demo_week():
    f = demo_factory()
    assert 30 <= len(f.orders) <= 60
    for o in f.orders:
        assert WEEK_START <= o.release < o.due < WEEK_END
        assert o.quantity > 0
    assert {o.product for o in f.orders} == {p.id for p in f.products}
    assert len(f.shifts) == 2
    assert f.contracts[0].share == 0.3
    assert f.contracts[0].factor_kg_per_kwh == 0.0


def test_example_path_refuses_unknown_names_and_paths():
    for name in ("nope.yaml", "../twin/model.py", "__init__.py/.."):
        with pytest.raises(FileNotFoundError, match="no bundled example"):
            example_path(name)
