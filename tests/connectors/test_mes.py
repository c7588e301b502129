"""MES import: order lists and order steps with the plant's own column names, CSV and Excel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carbontwin.connectors.files import read_events_dir, read_orders_csv
from carbontwin.connectors.mes import import_mes, load_mes_mapping, read_mes
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.model import Order

CSV_MAPPING = """\
format: {delimiter: ";", decimal: ","}
time: {format: "%d.%m.%Y %H:%M", timezone: Europe/Berlin}
orders:
  columns: {id: Auftragsnummer, product: Materialnummer, quantity: Menge, release: Freigabe, due: Liefertermin}
  products: {"4711-01": bracket, "4711-02": shaft}
steps:
  columns:
    order: Auftragsnummer
    operation: Vorgang
    machine: Arbeitsplatz
    start: Bearbeitung Start
    end: Bearbeitung Ende
    setup_start: Ruesten Start
    setup_end: Ruesten Ende
    quantity: Gutmenge
  machines: {AP-100: laser-1, AP-200: press-1}
"""

CSV = """\
Auftragsnummer;Materialnummer;Menge;Freigabe;Liefertermin;Vorgang;Arbeitsplatz;Ruesten Start;Ruesten Ende;Bearbeitung Start;Bearbeitung Ende;Gutmenge
1000123;4711-01;240;04.03.2019 06:00;05.03.2019 06:00;0010;AP-100;04.03.2019 07:00;04.03.2019 07:10;04.03.2019 07:10;04.03.2019 09:50;238,5
1000123;4711-01;240;04.03.2019 06:00;05.03.2019 06:00;0020;AP-200;;;04.03.2019 10:00;04.03.2019 10:48;238,5
1000124;4711-02;45;27.10.2019 02:30;28.10.2019 12:00;0010;cnc-1;27.10.2019 01:00;27.10.2019 01:30;27.10.2019 01:30;27.10.2019 03:30;45
"""


def _utc(*a):
    return datetime(*a, tzinfo=UTC)


def test_csv_with_foreign_columns(tmp_path):
    (tmp_path / "m.yaml").write_text(CSV_MAPPING, encoding="utf-8")
    (tmp_path / "auftraege.csv").write_text(CSV, encoding="utf-8")
    got = read_mes(tmp_path / "auftraege.csv", tmp_path / "m.yaml")
    # Berlin: CET (+1) in March, the 02:30 of 27 Oct read as its first instant (CEST, +2)
    assert got.orders == [
        Order("1000123", "bracket", 240.0, _utc(2019, 3, 4, 5), _utc(2019, 3, 5, 5)),
        Order("1000124", "shaft", 45.0, _utc(2019, 10, 27, 0, 30), _utc(2019, 10, 28, 11)),
    ]
    steps = list(got.steps.events())
    assert [(s.order, s.operation, s.asset, s.kind.value) for s in steps] == [
        ("1000123", "0010", "laser-1", "setup"),
        ("1000124", "0010", "cnc-1", "setup"),
        ("1000123", "0010", "laser-1", "processing"),
        ("1000123", "0020", "press-1", "processing"),
        ("1000124", "0010", "cnc-1", "processing"),
    ]
    assert steps[0].start == _utc(2019, 3, 4, 6)
    assert steps[0].end == _utc(2019, 3, 4, 6, 10)
    assert steps[2].quantity == 238.5
    # 01:30 CEST -> 23:30 UTC; 03:30 CET (after the change) -> 02:30 UTC
    assert steps[4].start == _utc(2019, 10, 26, 23, 30)
    assert steps[4].end == _utc(2019, 10, 27, 2, 30)

    out = tmp_path / "events"
    import_mes(tmp_path / "auftraege.csv", tmp_path / "m.yaml", out=out)
    assert read_orders_csv(out) == got.orders
    back = read_events_dir(out)
    assert list(back.events()) == steps


def test_excel_two_sheets(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Aufträge"
    ws.append(["Auftrag", "Artikel", "Stück", "Start frühestens", "Fällig"])
    ws.append([4500001, "BR-7", 120, datetime(2024, 5, 6, 6), datetime(2024, 5, 7, 14)])
    ws.append([4500002, "SH-2", 12.5, datetime(2024, 5, 6, 8), datetime(2024, 5, 8, 14)])
    ws2 = wb.create_sheet("Arbeitsgänge")
    ws2.append(["Auftrag", "AG", "Maschine", "Von", "Bis", "Art"])
    ws2.append([4500001, 10, "Laser 1", datetime(2024, 5, 6, 6), datetime(2024, 5, 6, 6, 15), "R"])
    ws2.append([4500001, 10, "Laser 1", datetime(2024, 5, 6, 6, 15), datetime(2024, 5, 6, 9), "B"])
    ws2.append([4500002, 10, "CNC 1", "06.05.2024 10:00", "06.05.2024 12:30", "b"])
    path = tmp_path / "mes.xlsx"
    wb.save(path)
    (tmp_path / "m.yaml").write_text(
        "time: {format: '%d.%m.%Y %H:%M', timezone: Europe/Vienna}\n"
        "orders:\n"
        "  sheet: Aufträge\n"
        "  columns: {id: Auftrag, product: Artikel, quantity: Stück, release: Start frühestens, due: Fällig}\n"
        "  products: {BR-7: bracket, SH-2: shaft}\n"
        "steps:\n"
        "  sheet: Arbeitsgänge\n"
        "  columns: {order: Auftrag, operation: AG, machine: Maschine, start: Von, end: Bis, kind: Art}\n"
        "  kinds: {R: setup, B: processing}\n"
        "  machines: {Laser 1: laser-1, CNC 1: cnc-1}\n",
        encoding="utf-8",
    )
    got = read_mes(path, tmp_path / "m.yaml")
    # Vienna in May: CEST, UTC+2
    assert got.orders == [
        Order("4500001", "bracket", 120.0, _utc(2024, 5, 6, 4), _utc(2024, 5, 7, 12)),
        Order("4500002", "shaft", 12.5, _utc(2024, 5, 6, 6), _utc(2024, 5, 8, 12)),
    ]
    steps = list(got.steps.events())
    assert [(s.order, s.operation, s.asset, s.kind.value, s.quantity) for s in steps] == [
        ("4500001", "10", "laser-1", "setup", 120.0),
        ("4500001", "10", "laser-1", "processing", 120.0),
        ("4500002", "10", "cnc-1", "processing", 12.5),
    ]
    assert steps[2].start == _utc(2024, 5, 6, 8)
    assert steps[2].end == _utc(2024, 5, 6, 10, 30)


def test_errors_name_the_row_and_column(tmp_path):
    (tmp_path / "m.yaml").write_text(CSV_MAPPING, encoding="utf-8")
    bad = CSV.replace(
        ";240;04.03.2019 06:00;05.03.2019 06:00;0020", ";0;04.03.2019 06:00;05.03.2019 06:00;0020"
    )
    (tmp_path / "a.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(
        ConnectorError, match=r"a\.csv:3:Menge: quantity '0' must be a positive number"
    ):
        read_mes(tmp_path / "a.csv", tmp_path / "m.yaml")
    bad = CSV.replace("04.03.2019 10:48", "04.03.2019 09:48")
    (tmp_path / "a.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(
        ConnectorError, match=r"a\.csv:3:Bearbeitung Ende: the step ends before it starts"
    ):
        read_mes(tmp_path / "a.csv", tmp_path / "m.yaml")
    bad = CSV.replace("1000124;4711-02;45", "1000123;4711-02;45")
    (tmp_path / "a.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"a\.csv:4: order '1000123' differs from its row 2"):
        read_mes(tmp_path / "a.csv", tmp_path / "m.yaml")
    bad = CSV.replace("Gutmenge", "Menge gut")
    (tmp_path / "a.csv").write_text(bad, encoding="utf-8")
    with pytest.raises(
        ConnectorError, match=r"m\.yaml:15: steps\.columns\.quantity: column 'Gutmenge' is not in"
    ):
        read_mes(tmp_path / "a.csv", tmp_path / "m.yaml")


def test_mapping_problems_name_their_lines(tmp_path):
    (tmp_path / "m.yaml").write_text(
        "time: {timezone: Europe/Berlin}\n"
        "steps:\n"
        "  columns: {order: A, operation: B, machine: C, start: D, end: E, setup_start: F}\n"
        "  kinds: {R: rüsten}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConnectorError) as info:
        load_mes_mapping(tmp_path / "m.yaml")
    text = str(info.value)
    assert "m.yaml:3: steps.columns: 'setup_start' and 'setup_end' come as a pair" in text
    assert "m.yaml:4: steps.kinds.R: Input should be 'setup' or 'processing'" in text
