"""Issuing skips an order whose latest stored footprint has the same figures and inputs:
the field-by-field comparison says what comparing both ``to_dict()`` says."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

from carbontwin.api.issuing import _VOLATILE, _same
from carbontwin.twin.footprint import Footprint

START = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)


def _by_dicts(a: Footprint, b: Footprint) -> bool:
    """The comparison through ``to_dict()`` (the second method)."""
    if a.lineage.get("input_sha256") != b.lineage.get("input_sha256"):
        return False
    da, db = a.to_dict(), b.to_dict()
    return all(da[k] == db.get(k) for k in da if k not in _VOLATILE)


def _fresh() -> Footprint:
    """A footprint as attribution makes it: tuples, datetimes in UTC, dict breakdowns."""
    return Footprint(
        order="O1",
        product="bracket",
        quantity=40.0,
        declared_unit="piece",
        period_start=START,
        period_end=START + timedelta(hours=3, microseconds=151703),
        energy_kwh=31.25,
        co2e_kg=12.5,
        co2e_market_kg=10.5,
        scope1_kg=1.0,
        scope2_location_kg=7.5,
        scope2_market_kg=5.5,
        scope3_kg=4.0,
        energy_by_carrier_kwh={"electricity": 31.25},
        energy_by_asset_kwh={"washer": 11.25, "cnc-1": 20.0},
        energy_by_state_kwh={"PROCESSING": 25.0, "IDLE": 6.25},
        co2e_by_asset_kg={"cnc-1": 5.0, "washer": 2.5},
        co2e_by_material_kg={"steel": 4.0},
        primary_data_share=0.93,
        rules={"idle": "processing_time_share"},
        factor_versions={"DE_2019_hourly": "2019.1"},
        flags=("gap filled on M2",),
        method=("idle by processing time",),
        lineage={"input_sha256": "ab" * 32, "events": {"windows": [(1.0, 2.0)]}},
        factory="demo",
    )


def _read_back(fp: Footprint) -> Footprint:
    """``fp`` as the store gives it back: its JSON payload, ``Footprint.from_dict``
    (a naive period is refused by the store: kept as it is)."""
    if fp.period_start.tzinfo is None:
        return fp
    return Footprint.from_dict(json.loads(json.dumps(fp.to_dict())))


CHANGES: list[dict[str, Any]] = [
    {},
    {"co2e_kg": 12.500000000000002},
    {"energy_by_asset_kwh": {"cnc-1": 20.0, "washer": 11.0}},
    {"energy_by_asset_kwh": {"cnc-1": 20.0}},
    {"energy_by_asset_kwh": MappingProxyType({"cnc-1": 20.0, "washer": 11.25})},
    {"rules": {2: "y", 1: "x"}},  # to_dict writes the keys as strings
    {"rules": {"1": "x", "2": "y"}},
    {"flags": ["gap filled on M2"]},  # a list where the fresh one has a tuple
    {"flags": ()},
    {"method": ("idle by processing time", "more")},
    {"period_start": START.astimezone(timezone(timedelta(hours=1)))},  # the same instant
    {"period_start": START.replace(tzinfo=None)},  # naive
    {"period_end": START + timedelta(hours=3)},
    {"status": "Deprecated"},
    {"company_id": "acme"},
    {"primary_data_share": float("nan")},
    {"lineage": {"input_sha256": "cd" * 32}},  # other inputs
    {"lineage": {"input_sha256": "ab" * 32, "events": "other"}},  # lineage is not compared
    {"id": "other", "version": 7, "replaces": "x", "issued_at": START},  # nor these
]


def test_same_says_what_comparing_dicts_says():
    checked = 0
    for ca, cb, back_a, back_b in itertools.product(CHANGES, CHANGES, (0, 1), (0, 1)):
        a, b = replace(_fresh(), **ca), replace(_fresh(), **cb)
        a = _read_back(a) if back_a else a
        b = _read_back(b) if back_b else b
        assert _same(a, b) == _by_dicts(a, b), (ca, cb, back_a, back_b)
        checked += _same(a, b)
    assert checked > len(CHANGES)  # some pairs are the same, and not only the identical


def test_a_fresh_footprint_is_the_same_as_itself_read_back():
    fp = _fresh()
    back = replace(_read_back(fp), id="x", version=2, issued_at=START)
    assert back.flags == fp.flags
    assert back.lineage != fp.lineage  # tuples came back as lists
    assert _same(fp, back)
    assert not _same(fp, replace(back, co2e_kg=12.6))
    assert not _same(fp, replace(back, energy_by_state_kwh={"PROCESSING": 25.0}))
    assert not _same(fp, replace(back, lineage={"input_sha256": "cd" * 32}))
