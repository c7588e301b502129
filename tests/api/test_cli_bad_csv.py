"""Every bad CSV handed to the command line ends in one line naming the file and line.

Events folders (``attribute --events``), hourly grid factors (``--grid-factors``),
historian and MES exports (``import``): an empty file, UTF-16, Latin-1, a
binary file, 1e308 and inf end the command with exit code 1 and one
``error: FILE:LINE...`` line on stderr, never a traceback. The console-script
entry point (``main``) runs in-process with ``sys.argv`` set, as the installed
``carbontwin`` command runs it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from carbontwin.api.cli import main
from carbontwin.twin.examples import demo_factory_path

EXAMPLES = Path(demo_factory_path()).parent
FACTORY = str(EXAMPLES / "demo_factory.yaml")

# (header, a good row with VAL where the number goes); delimiter as the entry expects
POWER = ("meter,t,power_kw", "M-press,2019-03-04T06:00:00Z,VAL")
GRID = ("hour_start_utc,g_co2e_per_kwh", "2019-03-04T06:00:00Z,VAL")
HIST = (
    "Zeitstempel;CNC1_P_W;CNC1_Status;Presse_E_MWh;Presse_Status;Laser_P_kW;Laser_Status",
    "04.03.2019 06:00:00;0,0;0;61,234000;1;VAL;2",
)
MES = (
    "Auftrag;Material;Menge;Freigabe;Liefertermin;Vorgang;Arbeitsplatz;Ruesten von;"
    "Ruesten bis;Bearbeitung von;Bearbeitung bis;Gutmenge",
    "1000123;MAT-BR-01;VAL;04.03.2019 06:00;05.03.2019 06:00;0010;AP-LASER;04.03.2019 06:05;"
    "04.03.2019 06:15;04.03.2019 06:15;04.03.2019 08:00;240",
)

# kind -> (file bytes from (header, row), line the error names, words the message holds)
BAD = {
    "empty": (lambda h, r: b"", 1, "empty"),
    "utf16": (lambda h, r: f"{h}\n{r.replace('VAL', '5')}\n".encode("utf-16"), 1, "UTF-16"),
    "latin1": (
        lambda h, r: f"{h}\n{r.replace('VAL', '5')}\n# Kühlung\n".encode("latin-1"),
        3,
        "byte 0xfc is not UTF-8",
    ),
    "binary": (lambda h, r: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, "binary file"),
    "huge": (lambda h, r: f"{h}\n{r.replace('VAL', '1e308')}\n".encode(), 2, r"1e\+?308"),
    "inf": (lambda h, r: f"{h}\n{r.replace('VAL', 'inf')}\n".encode(), 2, "inf"),
}


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["carbontwin", *args])
    with pytest.raises(SystemExit) as done:
        main()
    code = done.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def _entry(entry: str, tmp_path: Path, body: bytes) -> tuple[Path, list[str]]:
    if entry == "events":
        folder = tmp_path / "events"
        folder.mkdir()
        path = folder / "power.csv"
        path.write_bytes(body)
        return path, ["attribute", "--factory", FACTORY, "--events", str(folder)]
    if entry == "grid":
        (tmp_path / "events").mkdir()
        path = tmp_path / "grid.csv"
        path.write_bytes(body)
        return path, [
            "attribute",
            "--factory",
            FACTORY,
            "--events",
            str(tmp_path / "events"),
            "--grid-factors",
            str(path),
        ]
    path = tmp_path / f"{entry}.csv"
    path.write_bytes(body)
    mapping = EXAMPLES / ("historian_mapping.yaml" if entry == "historian" else "mes_mapping.yaml")
    return path, [
        "import",
        entry,
        str(path),
        "--mapping",
        str(mapping),
        "--out",
        str(tmp_path / "o"),
    ]


ROWS = {"events": POWER, "grid": GRID, "historian": HIST, "mes": MES}


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("entry", list(ROWS))
def test_bad_csv_is_one_line_naming_file_and_line(entry, kind, tmp_path, monkeypatch, capsys):
    make, line, words = BAD[kind]
    header, row = ROWS[entry]
    path, args = _entry(entry, tmp_path, make(header, row))
    code, err = run_main(monkeypatch, capsys, *args)
    assert code == 1
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}:{line}"), err
    assert re.search(words, lines[0], re.IGNORECASE), err
