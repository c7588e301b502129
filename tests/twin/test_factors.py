"""Emission factor library: sources, versions, hourly lookups, gaps, market-based factors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from carbontwin.twin.errors import AttributionError
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.factors import (
    ANNUAL_GRID_FACTORS,
    FUEL_FACTORS,
    GRID_ATTRIBUTION,
    FactorSet,
    HourlySeries,
    bundled_series,
    load_hourly_csv,
)
from carbontwin.twin.model import ElectricityContract


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_bundled_german_series():
    s = bundled_series("DE_2019_hourly")
    assert s.values.size == 8760
    assert s.values.mean() == pytest.approx(0.4210, abs=5e-4)  # 421.0 g/kWh (data README)
    assert not s.filled.any()
    assert s.start == ts(2018, 12, 31, 23)
    assert s.version.startswith("DE_2019_hourly@sha256:")
    assert s.source == GRID_ATTRIBUTION
    # rows 2 and 3 of the CSV: 2019-01-01T00:00Z 213.2 g/kWh, 01:00Z 206.3
    got = s.lookup(np.array([ts(2019, 1, 1, 0, 30), ts(2019, 1, 1, 1, 59)]))
    assert got == pytest.approx([0.2132, 0.2063])


def test_outside_the_series_names_time_and_series():
    fs = FactorSet(bundled_series())
    with pytest.raises(
        AttributionError,
        match=r"2020-01-05T00:00:00\+00:00 is outside the hourly "
        r"grid series 'DE_2019_hourly'",
    ):
        fs.electricity_location_kg_per_kwh(np.array([ts(2020, 1, 5)]))
    fb = FactorSet(bundled_series(), fallback=ANNUAL_GRID_FACTORS["DE_2019"])
    t = np.array([ts(2020, 1, 5), ts(2019, 1, 1, 0)])
    assert fb.electricity_location_kg_per_kwh(t) == pytest.approx([0.401, 0.2132])
    assert fb.fallback_used(t).tolist() == [True, False]
    assert fb.versions["electricity_fallback"] == "DE_2019_annual:uba-cc-23-2024"


def test_missing_hour_is_filled_and_flagged(tmp_path):
    p = tmp_path / "XX_2019_hourly.csv"
    p.write_text(
        "hour_start_utc,g_co2e_per_kwh\n2019-01-01T00:00:00Z,100\n"
        "2019-01-01T01:00:00Z,\n2019-01-01T02:00:00Z,300\n"
        "2019-01-01T04:00:00Z,500\n",
        encoding="utf-8",
    )
    s = load_hourly_csv(p)
    assert s.values == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])  # empty and absent hours
    assert s.filled.tolist() == [False, True, False, True, False]
    assert s.name == "XX_2019_hourly"
    fs = FactorSet(s)
    assert fs.filled_hour(np.array([ts(2019, 1, 1, 1, 30), ts(2019, 1, 1, 2)])).tolist() == [
        True,
        False,
    ]
    v1 = s.version
    p.write_text(p.read_text().replace("500", "501"), encoding="utf-8")
    assert load_hourly_csv(p).version != v1


def test_bad_series_files(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("hour,g\n", encoding="utf-8")
    with pytest.raises(AttributionError, match="column 'hour_start_utc' missing"):
        load_hourly_csv(p)
    p.write_text(
        "hour_start_utc,g_co2e_per_kwh\n2019-01-01T00:00:00Z,1\n2019-01-01T00:00:00Z,2\n",
        encoding="utf-8",
    )
    with pytest.raises(AttributionError, match="appears twice"):
        load_hourly_csv(p)
    with pytest.raises(AttributionError, match="consecutive hours"):
        HourlySeries(np.array([0.0, 1800.0]), np.array([1.0, 1.0]), "x", "v")


def test_fuel_factors_follow_ipcc_defaults():
    ng = FUEL_FACTORS["natural_gas"]
    # 56,100 kg CO2 + 1 kg CH4 x 29.8 + 0.1 kg N2O x 273 per TJ (NCV; IPCC AR6 GWP100,
    # WG I ch. 7 Table 7.15), 1 kWh = 3.6e-6 TJ
    assert ng.factor_kg_per_kwh == pytest.approx((56_100 + 29.8 + 27.3) * 3.6e-6)
    assert ng.version == "ipcc2006-ar6"
    assert ng.factor_kg_per_kwh == pytest.approx(0.2022, abs=1e-4)
    assert FUEL_FACTORS["diesel"].factor_kg_per_kwh == pytest.approx(0.2676, abs=1e-4)
    assert FUEL_FACTORS["lpg"].factor_kg_per_kwh == pytest.approx(0.2274, abs=1e-4)
    assert all(f.scope == 1 and "IPCC" in f.source for f in FUEL_FACTORS.values())
    with pytest.raises(AttributionError, match="no emission factor for energy carrier 'steam'"):
        FactorSet(bundled_series()).fuel("steam")


def test_annual_factors_have_sources():
    assert ANNUAL_GRID_FACTORS["CN_2022"].factor_kg_per_kwh == 0.5366
    assert "Ecology and Environment" in ANNUAL_GRID_FACTORS["CN_2022"].source
    assert ANNUAL_GRID_FACTORS["DE_2023"].factor_kg_per_kwh == 0.380
    assert ANNUAL_GRID_FACTORS["EU27_2018"].factor_kg_per_kwh == 0.281
    assert all(f.source and f.version for f in ANNUAL_GRID_FACTORS.values())


def test_market_based_factor_from_contracts():
    t = np.array([ts(2019, 1, 1, 0), ts(2019, 1, 1, 1)])
    ppa = ElectricityContract("wind", 0.3, 0.0, "PPA")
    goo = ElectricityContract("hydro GO", 0.2, 0.004)
    fs = FactorSet(bundled_series(), contracts=(ppa, goo))
    loc = fs.electricity_location_kg_per_kwh(t)
    assert fs.electricity_market_kg_per_kwh(t) == pytest.approx(0.2 * 0.004 + 0.5 * loc)
    rm = dataclasses.replace(fs, residual_mix_kg_per_kwh=0.55)
    assert rm.electricity_market_kg_per_kwh(t) == pytest.approx([0.2 * 0.004 + 0.5 * 0.55] * 2)
    assert "wind=0.3@0" in fs.versions["electricity_market"]
    with pytest.raises(AttributionError, match="add up to 1.1"):
        FactorSet(bundled_series(), contracts=(ppa, dataclasses.replace(goo, share=0.8)))


def test_default_for_factories():
    f = demo_factory()
    fs = FactorSet.default(f)
    assert fs.location.name == "DE_2019_hourly"
    assert fs.contracts == f.contracts
    cn = dataclasses.replace(f, site=dataclasses.replace(f.site, country="CN", grid_zone="CN"))
    assert FactorSet.default(cn).electricity_location_kg_per_kwh(np.array([0.0])) == [0.5366]
    fr = dataclasses.replace(f, site=dataclasses.replace(f.site, country="FR", grid_zone="FR"))
    with pytest.raises(AttributionError, match="no default grid factor for site zone 'FR'"):
        FactorSet.default(fr)


def test_combined_lookup_matches_the_single_ones():
    ppa = ElectricityContract("wind", 0.3, 0.0)
    fs = FactorSet(bundled_series(), contracts=(ppa,), fallback=ANNUAL_GRID_FACTORS["DE_2019"])
    t = np.array([ts(2019, 6, 1, 12), ts(2020, 1, 5), ts(2019, 1, 1, 0, 30)])
    loc, mkt, fb, filled = fs.electricity_factors(t)
    assert loc == pytest.approx(fs.electricity_location_kg_per_kwh(t))
    assert mkt == pytest.approx(fs.electricity_market_kg_per_kwh(t))
    assert fb.tolist() == fs.fallback_used(t).tolist() == [False, True, False]
    assert filled.tolist() == [False, False, False]
    with pytest.raises(AttributionError, match="outside the hourly grid series"):
        FactorSet(bundled_series()).electricity_factors(t)
