"""The command line ends a carbontwin error with its message and exit 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbontwin.api.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_label_of_unknown_order_says_where_to_look(tmp_path):
    db = tmp_path / "empty.db"
    done = run_cli("label", "O-404", "--database-url", f"sqlite:///{db}", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no order 'O-404'")
    assert "--database-url" in done.stderr


def test_missing_footprint_file_is_named(tmp_path):
    done = run_cli("label", "missing.json", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: footprint file missing.json not found"
