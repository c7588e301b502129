"""Hostile factory documents get a clear error fast, within a few MB.

A 342-byte "billion laughs" YAML (nine aliases of nine aliases, nine levels:
9**9 = 387 M strings once expanded), and bodies nested 20,000 deep, through the
loader, the command line and ``PUT /factory``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc

import pytest
from hostile_inputs import BOMB, DEEP_JSON

from carbontwin.twin.errors import FactoryModelError
from carbontwin.twin.factory_file import loads_factory

DEEP_YAML_BLOCK = "".join(" " * i + "a:\n" for i in range(200)) + " " * 200 + "b: 1\n"


def _bounded(text: str, name: str) -> tuple[str, float, float]:
    """(error message, CPU seconds, peak traced MB) of loading ``text``."""
    tracemalloc.start()
    c0 = time.process_time()
    try:
        with pytest.raises(FactoryModelError) as info:
            loads_factory(text, name)
        cpu = time.process_time() - c0
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return str(info.value), cpu, peak_mb


def test_the_bomb_is_small():
    assert len(BOMB) < 400
    assert BOMB.count("*") == 8 * 9


def test_alias_bomb_is_refused_fast_and_small():
    msg, cpu, peak = _bounded(BOMB, "bomb.yaml")
    assert "bomb.yaml:" in msg
    assert "aliases (*name) repeat more than 20,000 values" in msg
    assert cpu < 1.0
    assert peak < 20.0


@pytest.mark.parametrize(
    ("text", "name", "line"),
    [
        (DEEP_JSON, "deep.json", 1),
        ('{"a":\n' * 70 + "1" + "}" * 70, "deep.json", 65),
        (DEEP_YAML_BLOCK, "deep.yaml", 65),
    ],
)
def test_deep_nesting_is_refused_with_its_line(text, name, line):
    msg, cpu, peak = _bounded(text, name)
    assert f"{name}:{line}: the document nests deeper than 64 levels" in msg
    assert cpu < 1.0
    assert peak < 20.0


def test_deep_flow_yaml_is_a_clear_error():
    msg, cpu, _ = _bounded(DEEP_JSON, "deep.yaml")
    assert "deep.yaml:" in msg
    assert "nest" in msg  # libyaml's own depth limit, or ours
    assert cpu < 1.0


def test_aliases_of_ordinary_size_still_work():
    from carbontwin.twin._yaml_lines import read_with_lines

    # 500 machines merging one anchored block of defaults: ordinary YAML reuse
    text = "defaults: &d {kind: cnc, power: {idle: 2 kW, processing: 15 kW}}\nmachines:\n"
    text += "".join(f"  - {{<<: *d, id: m{i}}}\n" for i in range(500))
    data, lines, _ = read_with_lines(text, "yaml")
    assert len(data["machines"]) == 500
    assert data["machines"][499] == {
        "kind": "cnc",
        "power": {"idle": "2 kW", "processing": "15 kW"},
        "id": "m499",
    }
    assert lines[("machines", 499, "id")] == 502


def test_cli_validate_refuses_the_bomb_within_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    code = (
        "import resource, sys\n"
        "from carbontwin.api.cli import main\n"
        "sys.argv = ['carbontwin', 'factory', 'validate', sys.argv[1]]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        # the child's own peak (VmHWM): ru_maxrss would carry the pytest parent's peak,
        # which Linux hands on through fork and exec
        "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
        "print('maxrss_kb', hwm[0], 'rc', rc)\n"
    )
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert "aliases (*name) repeat more than" in out.stdout + out.stderr
    last = out.stdout.strip().splitlines()[-1].split()
    assert last[3] == "1"  # exit code 1
    # the interpreter with carbontwin imported is ~150 MB; the bomb adds next to nothing
    assert int(last[1]) / 1024 < 400
    assert time.monotonic() - t0 < 30
