import dataclasses
import json
from datetime import UTC, datetime

import pytest

from carbontwin.twin.footprint import Footprint, canonical_json, footprint_maker


def make_fp(**kw):
    base = dict(
        order="O-1",
        product="P-1",
        quantity=10.0,
        declared_unit="piece",
        period_start=datetime(2019, 3, 4, 6, tzinfo=UTC),
        period_end=datetime(2019, 3, 4, 9, tzinfo=UTC),
        energy_kwh=120.0,
        co2e_kg=80.0,
        co2e_market_kg=70.0,
        scope1_kg=5.0,
        scope2_location_kg=45.0,
        scope2_market_kg=35.0,
        scope3_kg=30.0,
        energy_by_asset_kwh={"cnc-1": 100.0, "air": 20.0},
    )
    base.update(kw)
    return Footprint(**base)


def test_per_unit_values():
    fp = make_fp()
    assert fp.co2e_per_unit_kg == 8.0
    assert fp.co2e_market_per_unit_kg == 7.0
    assert fp.energy_per_unit_kwh == 12.0


def test_dict_round_trip_through_json():
    fp = make_fp(flags=("gap filled on M1",))
    again = Footprint.from_dict(json.loads(json.dumps(fp.to_dict())))
    assert again == fp
    assert fp.to_dict()["period_start"] == "2019-03-04T06:00:00Z"


def test_successor_names_the_version_it_replaces():
    first = make_fp()
    second = first.successor(make_fp(co2e_kg=81.0))
    assert second.version == 2
    assert second.replaces == first.id
    assert second.id != first.id
    assert second.co2e_kg == 81.0


def test_canonical_json_is_key_order_independent():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
    assert canonical_json({"a": "ü"}) == '{"a":"ü"}'.encode()


def test_footprint_maker_builds_the_record_the_constructor_builds():
    fp = make_fp(
        energy_by_state_kwh={"PROCESSING": 120.0},
        flags=("a",),
        method=("m",),
        lineage={"filled_gaps": []},
        rules={"idle": "time_share"},
        id="f0c1",
        factory="plant",
        company_id="urn:c",
    )
    # every field the maker is given, in an order other than the class's
    names = [f.name for f in dataclasses.fields(Footprint)][::-1]
    names = [n for n in names if n not in ("status", "version", "replaces", "issued_at")]
    made = footprint_maker(names)([getattr(fp, n) for n in names])
    assert type(made) is Footprint
    assert made == fp
    assert (made.status, made.version, made.replaces, made.issued_at) == ("Active", 1, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.co2e_kg = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="shorter"):  # a value missing
        footprint_maker(names)([getattr(fp, n) for n in names[:-1]])
    with pytest.raises(TypeError, match="co2e_total"):
        footprint_maker([*names, "co2e_total"])
    with pytest.raises(TypeError, match="lineage"):  # a field with a default factory
        footprint_maker([n for n in names if n != "lineage"])


def test_footprint_maker_columns_build_the_records_the_constructor_builds():
    fps = [
        make_fp(order="O-1", co2e_kg=80.0, flags=("a",), id="id-1", lineage={"filled_gaps": []}),
        make_fp(order="O-2", co2e_kg=81.5, method=("m",), id="id-2", company_id="urn:c"),
        make_fp(order="O-3", quantity=2.0, declared_unit="kg", id="id-3", factory="plant"),
    ]
    names = [f.name for f in dataclasses.fields(Footprint)]
    names = [n for n in names if n not in ("status", "version", "replaces", "issued_at")][::-1]
    columns = [[getattr(fp, n) for fp in fps] for n in names]
    made = footprint_maker(names).columns(columns)
    assert [type(m) for m in made] == [Footprint] * 3
    assert made == fps  # each record from its own row of every column
    assert [m.order for m in made] == ["O-1", "O-2", "O-3"]
    assert {(m.status, m.version, m.replaces, m.issued_at) for m in made} == {
        ("Active", 1, None, None)
    }
    assert footprint_maker(names).columns([[] for _ in names]) == []
    short = [*columns[:-1], columns[-1][:2]]  # the last column one value short
    with pytest.raises(ValueError, match=repr(names[-1])):
        footprint_maker(names).columns(short)
    with pytest.raises(ValueError, match="columns for"):
        footprint_maker(names).columns(columns[:-1])
