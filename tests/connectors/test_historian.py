"""Historian import: a plant's own export, through a mapping, into the same events as the native folder."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from carbontwin.connectors.files import read_events_dir, write_events_dir
from carbontwin.connectors.historian import (
    import_historian,
    load_historian_mapping,
    read_historian,
)
from carbontwin.plugins.factors import factor_set
from carbontwin.twin.attribution import attribute
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch, OrderStep, StepKind
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.model import State

BERLIN = ZoneInfo("Europe/Berlin")
# 00:00 local on the day clocks go back (27 Oct 2019, 03:00 CEST -> 02:00 CET) = 22:00 UTC the day before
T0 = datetime(2019, 10, 26, 22, tzinfo=UTC).timestamp()
MINUTES = 6 * 60 + 1  # 00:00 .. 05:00 local: six hours of UTC, the 02:xx hour twice
CODES = {
    0: State.OFF,
    1: State.STANDBY,
    2: State.IDLE,
    3: State.PROCESSING,
    4: State.SETUP,
    9: State.FAULT,
}
CODE_OF = {s: c for c, s in CODES.items()}

MAPPING = """\
# the plant's historian export: one column per tag
layout: wide
format:
  delimiter: ";"
  decimal: ","
  missing: ["", "Bad"]
time:
  column: Zeitstempel
  format: "%d.%m.%Y %H:%M:%S"
  timezone: Europe/Berlin
signals:
  "CNC1 Wirkleistung [W]": {kind: power, meter: M-cnc-1, unit: W}
  "Laser Leistung":        {kind: power, meter: M-laser, unit: kW}
  "Presse Zaehler [MWh]":  {kind: energy, meter: M-press, unit: MWh}
  "CNC1 Status":
    kind: state
    asset: cnc-1
    states: {0: off, 1: standby, 2: idle, 3: processing, 4: Setup, 9: FAULT}
  "Laser Status": {kind: state, asset: laser-1, states: {0: off, 1: standby, 2: idle, 3: processing, 4: setup, 9: fault}}
  "Presse Status": {kind: state, asset: press-1, states: {0: off, 1: standby, 2: idle, 3: processing, 4: setup, 9: fault}}
"""


def _timeline(rng, n, busy):
    """State code per minute: off, warm (setup), idle, processing in the busy window, idle, standby."""
    s = np.full(n, CODE_OF[State.IDLE])
    s[:20] = CODE_OF[State.OFF]
    s[20:35] = CODE_OF[State.SETUP]
    s[busy[0] : busy[1]] = CODE_OF[State.PROCESSING]
    s[busy[1] + rng.integers(5, 15) :] = CODE_OF[State.STANDBY]
    s[busy[0] + 30] = CODE_OF[State.FAULT]
    return s


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    """The same six hours as a historian export (local time) and as a native events folder (UTC)."""
    rng = np.random.default_rng(7)
    t = T0 + 60.0 * np.arange(MINUTES)
    cnc_w = np.round(rng.uniform(2_000, 30_000, MINUTES), 3)  # watts, three decimals
    laser_kw = np.round(rng.uniform(1, 40, MINUTES), 2)
    press_mwh = np.round(81.25 + np.cumsum(rng.uniform(0, 0.0009, MINUTES)), 7)
    cnc_s = _timeline(rng, MINUTES, (60, 250))
    laser_s = _timeline(rng, MINUTES, (40, 150))
    press_s = _timeline(rng, MINUTES, (160, 300))
    gaps = rng.choice(MINUTES, 12, replace=False)  # "Bad" readings of the laser meter

    def comma(x, digits):
        return f"{x:.{digits}f}".replace(".", ",")

    local = [datetime.fromtimestamp(x, UTC).astimezone(BERLIN) for x in t]
    lines = [
        "Zeitstempel;CNC1 Wirkleistung [W];Laser Leistung;Presse Zaehler [MWh];"
        "CNC1 Status;Laser Status;Presse Status"
    ]
    for i, lt in enumerate(local):
        laser = "Bad" if i in gaps else comma(laser_kw[i], 2)
        lines.append(
            f"{lt:%d.%m.%Y %H:%M:%S};{comma(cnc_w[i], 3)};{laser};{comma(press_mwh[i], 7)};"
            f"{cnc_s[i]};{laser_s[i]};{press_s[i]}"
        )
    root = tmp_path_factory.mktemp("plant")
    export = root / "historian.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mapping = root / "mapping.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")

    # order steps, the same in both folders (in UTC, as the MES would give them)
    steps = EventBatch.from_events(
        [
            OrderStep("O-1002", "op10-rough", "cnc-1", _at(45), _at(60), 45, StepKind.SETUP),
            OrderStep("O-1002", "op10-rough", "cnc-1", _at(60), _at(250), 45),
            OrderStep("O-1001", "op10-cut", "laser-1", _at(30), _at(40), 240, StepKind.SETUP),
            OrderStep("O-1001", "op10-cut", "laser-1", _at(40), _at(150), 240),
            OrderStep("O-1001", "op20-bend", "press-1", _at(160), _at(300), 240),
        ]
    )
    hist_dir = root / "imported"
    write_events_dir(steps, hist_dir)

    # the native folder, written from the hand-converted values
    def changes(asset, codes):
        keep = np.r_[True, codes[1:] != codes[:-1]]
        return (
            np.full(keep.sum(), asset, dtype=object),
            t[keep],
            np.array([CODES[int(c)].value for c in codes[keep]], dtype=object),
        )

    ok = np.setdiff1d(np.arange(MINUTES), gaps)
    states = [changes("cnc-1", cnc_s), changes("laser-1", laser_s), changes("press-1", press_s)]
    native = EventBatch(
        power_meter=np.array(["M-cnc-1"] * MINUTES + ["M-laser"] * ok.size, dtype=object),
        power_t=np.r_[t, t[ok]],
        power_kw=np.r_[cnc_w / 1000.0, laser_kw[ok]],
        counter_meter=np.array(["M-press"] * MINUTES, dtype=object),
        counter_t=t.copy(),
        counter_kwh=press_mwh * 1000.0,
        state_asset=np.concatenate([s[0] for s in states]),
        state_t=np.concatenate([s[1] for s in states]),
        state=np.concatenate([s[2] for s in states]),
    )
    native_dir = write_events_dir(EventBatch.concat([native, steps]), root / "native")
    return {
        "export": export,
        "mapping": mapping,
        "imported": hist_dir,
        "native": native_dir,
        "native_batch": native,
        "t": t,
    }


def _at(minute: int) -> datetime:
    return datetime.fromtimestamp(T0 + 60.0 * minute, UTC)


def test_wide_export_attributes_like_the_native_folder(plant):
    stats = import_historian(
        plant["export"], plant["mapping"], out=plant["imported"], chunk_rows=50
    )
    assert stats.rows == MINUTES
    nb = plant["native_batch"]
    assert stats.power_samples == len(nb.power_t)
    assert stats.energy_counters == MINUTES
    assert stats.state_changes == len(nb.state_t)
    # every local time landed on its UTC minute, the repeated 02:xx hour included
    assert stats.first_t == plant["t"][0]
    assert stats.last_t == plant["t"][-1]
    imported = read_events_dir(plant["imported"])
    assert sorted(imported.counter_t.tolist()) == plant["t"].tolist()
    np.testing.assert_allclose(np.sort(imported.counter_kwh), np.sort(nb.counter_kwh), rtol=1e-15)

    factory = demo_factory()
    native = read_events_dir(plant["native"])
    a = attribute(factory, native, factor_set(factory))
    b = attribute(factory, imported, factor_set(factory))
    assert set(a.footprints) == set(b.footprints) == {"O-1001", "O-1002"}
    # the metered energy is what the export says, worked out here from the columns
    cnc_kwh = float(np.sum(nb.power_kw[nb.power_meter == "M-cnc-1"][:-1]) * 60 / 3600)
    assert b.metered_kwh["M-cnc-1"] == pytest.approx(cnc_kwh, rel=1e-12)
    press = nb.counter_kwh
    assert b.metered_kwh["M-press"] == pytest.approx(press[-1] - press[0], rel=1e-9)
    for order in a.footprints:
        fa, fb = a.footprints[order], b.footprints[order]
        assert fb.energy_kwh == pytest.approx(fa.energy_kwh, rel=1e-9)
        assert fb.co2e_kg == pytest.approx(fa.co2e_kg, rel=1e-9)
        assert fa.energy_kwh > 0


def test_repeated_and_skipped_hours(tmp_path):
    """Hand-worked instants: the autumn hour twice (infer), a spring time that does not exist."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "time: {column: t, timezone: Europe/Berlin}\nsignals: {P: {kind: power, meter: M1}}\n",
        encoding="utf-8",
    )
    data = tmp_path / "d.csv"
    data.write_text(
        "t,P\n"
        "2019-10-27 01:30:00,1\n"  # CEST: 23:30 UTC
        "2019-10-27 02:00:00,2\n"  # first 02:00 (CEST): 00:00 UTC
        "2019-10-27 02:30:00,3\n"  # 00:30 UTC
        "2019-10-27 02:00:00,4\n"  # the time repeats: now CET, 01:00 UTC
        "2019-10-27 02:30:00,5\n"  # 01:30 UTC
        "2019-10-27 03:00:00,6\n"  # CET: 02:00 UTC
        "2019-03-31 02:30:00,7\n",  # skipped hour: read with CET, 01:30 UTC
        encoding="utf-8",
    )
    (b,) = read_historian(data, load_historian_mapping(mapping))
    got = {
        float(v): datetime.fromtimestamp(float(t), UTC)
        for t, v in zip(b.power_t, b.power_kw, strict=True)
    }
    assert got == {
        1.0: datetime(2019, 10, 26, 23, 30, tzinfo=UTC),
        2.0: datetime(2019, 10, 27, 0, 0, tzinfo=UTC),
        3.0: datetime(2019, 10, 27, 0, 30, tzinfo=UTC),
        4.0: datetime(2019, 10, 27, 1, 0, tzinfo=UTC),
        5.0: datetime(2019, 10, 27, 1, 30, tzinfo=UTC),
        6.0: datetime(2019, 10, 27, 2, 0, tzinfo=UTC),
        7.0: datetime(2019, 3, 31, 1, 30, tzinfo=UTC),
    }
    mapping.write_text(
        "time: {column: t, timezone: Europe/Berlin, ambiguous: error}\n"
        "signals: {P: {kind: power, meter: M1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError, match=r"d\.csv:3:t: 2019-10-27 02:00:00 happens twice"):
        list(read_historian(data, load_historian_mapping(mapping)))


def test_long_layout_sorted_by_tag(tmp_path):
    """A long export sorted by tag, then time: each tag passes the repeated hour once."""
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "layout: long\n"
        "format: {delimiter: tab, decimal: ','}\n"
        "time: {column: Time, timezone: Europe/Berlin}\n"
        "tag_column: Tag\nvalue_column: Value\n"
        "unmapped: ignore\n"
        "signals:\n"
        "  P1: {kind: power, meter: M1, unit: MW}\n"
        "  S1: {kind: state, asset: a1, states: {RUN: processing, STOP: idle}}\n",
        encoding="utf-8",
    )
    rows = ["Time\tTag\tValue"]
    for tag, vals in (
        ("P1", ["0,5", "1,5", "2,5"]),
        ("S1", ["RUN", "STOP", "STOP"]),
        ("X9", ["7", "8", "9"]),
    ):
        for clock, v in zip(("02:00:00", "02:00:00", "02:30:00"), vals, strict=True):
            rows.append(f"2019-10-27 {clock}\t{tag}\t{v}")
    data = tmp_path / "long.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    (b,) = read_historian(data, load_historian_mapping(mapping))
    h = 3600.0
    t00 = datetime(2019, 10, 27, 0, tzinfo=UTC).timestamp()
    assert b.power_t.tolist() == [t00, t00 + h, t00 + 1.5 * h]
    assert b.power_kw.tolist() == [500.0, 1500.0, 2500.0]
    # STOP repeated is no change
    assert b.state_t.tolist() == [t00, t00 + h]
    assert b.state.tolist() == ["PROCESSING", "IDLE"]


def test_excel_and_parquet_read_like_csv(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "format: {sheet: Daten}\n"
        "time: {column: Zeit, timezone: Europe/Vienna}\n"
        "signals:\n"
        "  Leistung: {kind: power, meter: M1, unit: kW}\n"
        "  Status: {kind: state, asset: a1, states: {1: idle, 2: processing}}\n",
        encoding="utf-8",
    )
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Daten"
    ws.append(["Zeit", "Leistung", "Status"])
    ws.append([datetime(2024, 7, 1, 8, 0), 12.5, 1])
    ws.append([datetime(2024, 7, 1, 8, 1), None, 2])
    ws.append([datetime(2024, 7, 1, 8, 2), 13.25, 2])
    xlsx = tmp_path / "d.xlsx"
    wb.save(xlsx)
    (b,) = read_historian(xlsx, load_historian_mapping(mapping))
    t8 = datetime(2024, 7, 1, 6, tzinfo=UTC).timestamp()  # 08:00 CEST
    assert b.power_t.tolist() == [t8, t8 + 120]
    assert b.power_kw.tolist() == [12.5, 13.25]
    assert b.state.tolist() == ["IDLE", "PROCESSING"]
    frame = pd.DataFrame(
        {
            "Zeit": pd.to_datetime(["2024-07-01 08:00", "2024-07-01 08:01", "2024-07-01 08:02"]),
            "Leistung": [12.5, math.nan, 13.25],
            "Status": [1, 2, 2],
        }
    )
    pq = tmp_path / "d.parquet"
    frame.to_parquet(pq)
    (c,) = read_historian(pq, load_historian_mapping(mapping))
    assert c.power_t.tolist() == b.power_t.tolist()
    assert c.state_t.tolist() == b.state_t.tolist()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "signals: {P: {kind: power, meter: M1, unit: kg}}\n",
            r"m\.yaml:3: signals\.P: .*unit 'kg'",
        ),
        ("signals: {P: {kind: power, asset: a1}}\n", r"m\.yaml:3: signals\.P: .*needs 'meter'"),
        (
            "signals: {S: {kind: state, asset: a, states: {1: runing}}}\n",
            r"m\.yaml:3: .*unknown state 'runing'",
        ),
        ("signals: {P: {kind: power, meter: M1}}\nlayot: long\n", r"m\.yaml:4: layot: unknown key"),
    ],
)
def test_mapping_errors_name_the_line(tmp_path, text, match):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "# mapping\ntime: {column: t, timezone: Europe/Berlin}\n" + text, encoding="utf-8"
    )
    with pytest.raises(ConnectorError, match=match):
        load_historian_mapping(mapping)


def test_data_errors_name_file_row_column(tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "format: {delimiter: ';', decimal: ','}\n"
        "time: {column: t, timezone: Europe/Berlin}\n"
        "signals:\n"
        "  P: {kind: power, meter: M1}\n"
        "  S: {kind: state, asset: a1, states: {1: idle}}\n",
        encoding="utf-8",
    )
    data = tmp_path / "d.csv"
    data.write_text("t;P;S\n2024-01-01 00:00;1,5;1\n2024-01-01 00:01;zwei;1\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"d\.csv:3:P: 'zwei' is not a number"):
        list(read_historian(data, load_historian_mapping(mapping)))
    data.write_text("t;P;S\n2024-01-01 00:00;1,5;1\n2024-01-01 00:01;2;7\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"d\.csv:3:S: state '7' is not in the mapping"):
        list(read_historian(data, load_historian_mapping(mapping)))
    data.write_text("t;P;S\n01/01/2024 00:00;1,5;1\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"d\.csv:2:t: '01/01/2024 00:00' is not a time"):
        list(read_historian(data, load_historian_mapping(mapping)))
    data.write_text("t;P;Q;S\n2024-01-01 00:00;1;1;1\n", encoding="utf-8")
    with pytest.raises(
        ConnectorError, match=r"d\.csv:1: column\(s\) \['Q'\] are not in the mapping"
    ):
        list(read_historian(data, load_historian_mapping(mapping)))
    data.write_text("t;Leistung;S\n2024-01-01 00:00;1;1\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"m\.yaml:4: signals\.P: column 'P' is not in"):
        list(read_historian(data, load_historian_mapping(mapping)))
