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
    ZoneFactors,
    bundled_series,
    bundled_series_names,
    library_annual,
    load_hourly_csv,
)
from carbontwin.twin.model import (
    Carrier,
    CarrierFactor,
    ElectricityContract,
    FactorsSection,
    GridZoneFactors,
    YearFactor,
)


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
    assert isinstance(fs.location, ZoneFactors)
    assert [s.name for s in fs.location.series] == ["DE_2019_hourly", "DE_2020_hourly"]
    assert fs.contracts == f.contracts
    cn = dataclasses.replace(f, site=dataclasses.replace(f.site, country="CN", grid_zone="CN"))
    e = FactorSet.default(cn).electricity(np.array([ts(2022, 7, 1), ts(1999, 1, 1)]))
    # MEE 2022 for 2022; 1999 takes the nearest year's (2021: 0.5568), flagged
    assert e.location_kg_per_kwh.tolist() == [0.5366, 0.5568]
    assert e.fallback.tolist() == [False, True]
    assert "no 1999 factor for zone 'CN'; used the annual factor of 2021" in e.notes[0]
    xx = dataclasses.replace(f, site=dataclasses.replace(f.site, country="XX", grid_zone="XX"))
    with pytest.raises(AttributionError, match="no emission factor for grid zone 'XX'"):
        FactorSet.default(xx)


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


# --- the built-in library -------------------------------------------------------------------

EU27 = [
    "AT",
    "BE",
    "BG",
    "HR",
    "CY",
    "CZ",
    "DK",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "HU",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SK",
    "SI",
    "ES",
    "SE",
]
OTHERS = ["GB", "NO", "CH", "TR", "US", "CA", "MX", "BR", "CN", "IN", "JP", "KR", "VN", "TH", "ID"]
EGRID = [
    "AKGD",
    "AKMS",
    "AZNM",
    "CAMX",
    "ERCT",
    "FRCC",
    "HIMS",
    "HIOA",
    "MROE",
    "MROW",
    "NEWE",
    "NWPP",
    "NYCW",
    "NYLI",
    "NYUP",
    "PRMS",
    "RFCE",
    "RFCM",
    "RFCW",
    "RMPA",
    "SPNO",
    "SPSO",
    "SRMV",
    "SRMW",
    "SRSO",
    "SRTV",
    "SRVC",
]


def test_library_covers_the_zones_with_year_and_source():
    for zone in [*EU27, *OTHERS, *(f"US-{s}" for s in EGRID)]:
        entries = library_annual(zone)
        assert entries, zone
        for a in entries:
            assert 2015 <= a.year <= 2030, zone
            assert 0.0 < a.factor_kg_per_kwh < 1.2, zone
            assert a.source, zone
            assert a.version, zone
            assert a.basis, zone
    assert library_annual("uk") == library_annual("GB")  # alias
    # published figures, converted by hand: eGRID2022 CAMX 497.443 lb/MWh x 0.45359237 kg/lb
    assert ANNUAL_GRID_FACTORS["US-CAMX_2022"].factor_kg_per_kwh == pytest.approx(0.2256363, 1e-6)
    # Ember 2023, France: 56.039 g CO2e/kWh; Norway 30.08 g
    assert ANNUAL_GRID_FACTORS["FR_2023"].factor_kg_per_kwh == pytest.approx(0.056039)
    assert ANNUAL_GRID_FACTORS["NO_2023"].factor_kg_per_kwh == pytest.approx(0.03008)
    assert "eGRID2022" in ANNUAL_GRID_FACTORS["US-SRMW_2022"].source
    assert "Ember" in ANNUAL_GRID_FACTORS["AT_2023"].source


@pytest.mark.parametrize(
    ("name", "hours", "mean_g", "filled"),
    [
        # figures of the data README (twin/data/GRID_INTENSITY_README.md)
        ("DE_2019_hourly", 8760, 421.0, 0),
        ("DE_2020_hourly", 8784, 382.5, 0),
        ("FR_2019_hourly", 8760, 55.4, 9),
        ("PL_2019_hourly", 8760, 968.4, 0),
        ("GB_2019_hourly", 8760, 264.6, 0),
    ],
)
def test_bundled_series_match_their_readme(name, hours, mean_g, filled):
    s = bundled_series(name)
    assert s.values.size == hours
    assert int(s.filled.sum()) == filled
    assert s.mean_kg_per_kwh * 1000 == pytest.approx(mean_g, abs=0.6)  # README rounds, fills
    assert name in bundled_series_names(name[:2])


def _csv_value(name: str, hour: str) -> float:
    """The CSV's own value of one hour [kg/kWh], read without carbontwin."""
    import csv
    from importlib import resources

    text = resources.files("carbontwin.twin.data").joinpath(f"{name}.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        if row["hour_start_utc"] == hour:
            return float(row["g_co2e_per_kwh"]) / 1000.0
    raise KeyError(hour)


def _csv_mean(name: str) -> float:
    import csv
    from importlib import resources

    text = resources.files("carbontwin.twin.data").joinpath(f"{name}.csv").read_text()
    vals = [float(r["g_co2e_per_kwh"]) for r in csv.DictReader(text.splitlines())]
    return sum(vals) / len(vals) / 1000.0


def _de_factory(**section):
    f = demo_factory()
    grid = (GridZoneFactors("DE", **section),) if section else ()
    return dataclasses.replace(f, factors=FactorsSection(grid=grid))


def test_fallback_profile_of_the_nearest_year_unscaled_then_scaled():
    t = np.array([ts(2024, 3, 1, 12), ts(2019, 3, 1, 12)])
    e = FactorSet.for_factory(_de_factory()).electricity(t)
    # 2024 has no hourly series and no annual factor: the 2020 profile (nearest year) for the
    # same hour of the year (both leap years: 1 March is day 61 in both), unscaled
    want_2024 = _csv_value("DE_2020_hourly", "2020-03-01T12:00:00Z")
    assert e.location_kg_per_kwh.tolist() == pytest.approx(
        [want_2024, _csv_value("DE_2019_hourly", "2019-03-01T12:00:00Z")]
    )
    assert e.fallback.tolist() == [True, False]
    assert "profile of 2020 (DE_2020_hourly)" in e.notes[0]
    assert "unscaled (no 2024 annual factor known)" in e.notes[0]
    # with a 2024 annual factor in the factory file the profile is scaled to it
    scaled = FactorSet.for_factory(
        _de_factory(annual=(YearFactor(2024, 0.30, "grid operator 2024"),))
    ).electricity(t)
    assert scaled.location_kg_per_kwh[0] == pytest.approx(
        want_2024 * 0.30 / _csv_mean("DE_2020_hourly"), rel=1e-9
    )
    assert "scaled to the 2024 annual factor 0.3 kg/kWh (grid operator 2024)" in scaled.notes[0]


def test_last_hour_of_a_leap_year_against_a_shorter_profile():
    # 2028-12-31 23:00 UTC maps to 2020-12-31 23:00, past the DE_2020 series (it ends at
    # 22:00 UTC, local year); the same hour a day earlier is used
    e = FactorSet.for_factory(_de_factory()).electricity(np.array([ts(2028, 12, 31, 23)]))
    assert e.location_kg_per_kwh[0] == pytest.approx(
        _csv_value("DE_2020_hourly", "2020-12-30T23:00:00Z")
    )
    assert e.fallback.tolist() == [True]


def test_annual_only_zone_same_year_is_the_method_other_year_is_a_fallback():
    f = dataclasses.replace(
        demo_factory(),
        site=dataclasses.replace(demo_factory().site, country="AT", grid_zone="AT"),
        factors=FactorsSection(
            grid=(GridZoneFactors("AT", annual=(YearFactor(2024, 0.12, "E-Control 2024"),)),)
        ),
    )
    e = FactorSet.for_factory(f).electricity(np.array([ts(2024, 5, 1), ts(2023, 5, 1)]))
    # 2024 from the file; 2023 from the library (Ember 110.812 g) -- both exact years
    assert e.location_kg_per_kwh.tolist() == pytest.approx([0.12, 0.110812])
    assert e.fallback.tolist() == [False, False]
    e = FactorSet.for_factory(f).electricity(np.array([ts(2026, 5, 1)]))
    assert e.location_kg_per_kwh.tolist() == [0.12]
    assert e.fallback.tolist() == [True]
    assert "no 2026 factor for zone 'AT'; used the annual factor of 2024" in e.notes[0]


def test_residual_mix_per_year_in_the_market_based_factor():
    f = dataclasses.replace(
        _de_factory(
            residual_mix=(
                YearFactor(2019, 0.60, "AIB 2019"),
                YearFactor(2020, 0.55, "AIB 2020"),
            )
        ),
        contracts=(ElectricityContract("ppa", 0.25, 0.0),),
    )
    fs = FactorSet.for_factory(f)
    t = np.array([ts(2019, 6, 1, 12), ts(2020, 6, 1, 12), ts(2024, 6, 1, 12)])
    mkt = fs.electricity(t).market_kg_per_kwh
    # 25 % at 0 (PPA), 75 % at the residual mix of the year (2024: nearest, 2020)
    assert mkt.tolist() == pytest.approx([0.75 * 0.60, 0.75 * 0.55, 0.75 * 0.55])
    assert fs.sources["residual_mix:2019"] == "AIB 2019"


def test_factory_fuels_and_heat_override_the_library():
    f = dataclasses.replace(
        demo_factory(),
        factors=FactorsSection(
            fuels=(
                CarrierFactor(Carrier.NATURAL_GAS, 0.19, "supplier 2024"),
                CarrierFactor(Carrier.STEAM, 0.25, "site boiler house"),
            )
        ),
    )
    fs = FactorSet.for_factory(f)
    assert fs.fuel("natural_gas").factor_kg_per_kwh == 0.19
    assert fs.fuel("natural_gas").scope == 1
    assert fs.fuel("steam").scope == 2  # purchased heat
    # IPCC 2006 residual fuel oil 77,400 kg CO2/TJ + 29.8 x 3 CH4 + 273 x 0.6 N2O (AR6), per kWh
    assert fs.fuel("fuel_oil").factor_kg_per_kwh == pytest.approx(
        (77_400 + 89.4 + 163.8) * 3.6e-6, rel=1e-12
    )
