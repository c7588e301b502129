"""Package exports imported on first use: a package import pulls in no client library."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return set(out.split())


def test_importing_the_connectors_package_loads_no_opcua_or_mqtt_client():
    mods = _imported_after("import carbontwin.connectors")
    assert "carbontwin.connectors" in mods
    assert not {"asyncua", "aiomqtt", "carbontwin.connectors.opcua_client"} & mods


def test_an_export_is_imported_when_read_and_an_unknown_name_is_an_attribute_error():
    mods = _imported_after(
        "import carbontwin.connectors as c\n"
        "assert 'OpcUaConnector' in dir(c)\n"
        "assert c.OpcUaConnector.__module__ == 'carbontwin.connectors.opcua_client'\n"
        "from carbontwin.api import create_app\n"
        "assert callable(create_app)"
    )
    assert {"asyncua", "fastapi", "carbontwin.connectors.opcua_client"} <= mods
    import carbontwin.api

    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        _ = carbontwin.api.no_such_name


def test_the_command_line_loads_its_libraries_when_a_command_runs():
    """``carbontwin --help`` (building every command) loads no data library; a command
    that attributes loads what it uses."""
    heavy = {"numpy", "pandas", "pint", "sqlalchemy", "fastapi", "asyncua", "pyarrow"}
    mods = _imported_after(
        "from typer.testing import CliRunner\n"
        "from carbontwin.api.cli import app\n"
        "r = CliRunner().invoke(app, ['--help'])\n"
        "assert r.exit_code == 0 and 'attribute' in r.output, r.output\n"
        "r = CliRunner().invoke(app, ['attribute', '--help'])\n"
        "assert r.exit_code == 0 and 'power.csv' in r.output, r.output"
    )
    assert "carbontwin.api.cli.attribute" in mods
    assert not heavy & mods, sorted(heavy & mods)
    mods = _imported_after(
        "from typer.testing import CliRunner\n"
        "from carbontwin.api.cli import app\n"
        "r = CliRunner().invoke(app, ['factory', 'validate', 'examples/demo_factory.yaml'])\n"
        "assert r.exit_code == 0, r.output"
    )
    assert {"pint", "carbontwin.twin.factory_file"} <= mods


def test_the_store_and_issuing_load_no_unit_library():
    """pint (half a second to import) is for parsing units in factory files and forms: the
    store, footprints and issuing, which every command opening a store imports, do not
    need it."""
    mods = _imported_after(
        "import carbontwin.twin.store, carbontwin.twin.footprint, carbontwin.api.issuing\n"
        "from carbontwin.twin.quantities import to_epoch\n"
        "assert to_epoch('2019-03-04T00:00:00Z') == 1551657600.0"
    )
    assert "carbontwin.api.issuing" in mods
    assert "pint" not in mods
    mods = _imported_after(
        "from carbontwin.twin.quantities import parse_quantity\n"
        "assert parse_quantity('2.5 MWh', 'energy') == 2500.0"
    )
    assert "pint" in mods


def test_a_command_opening_a_store_loads_no_web_framework(tmp_path):
    """Issuing and the API's error types, which commands that open a store import, pull in
    neither FastAPI nor Starlette (a fifth of a second here); the app's error handlers
    still answer as before (tests/api)."""
    db = tmp_path / "t.db"
    mods = _imported_after(
        "from typer.testing import CliRunner\n"
        "from carbontwin.api.cli import app\n"
        f"r = CliRunner().invoke(app, ['tenants', 'list', '--database-url', 'sqlite:///{db}'])\n"
        "assert r.exit_code == 0, r.output\n"
        "import carbontwin.api.issuing, carbontwin.api.errors"
    )
    assert {"carbontwin.api.issuing", "carbontwin.api.errors", "sqlalchemy"} <= mods
    assert not {"fastapi", "starlette"} & mods, sorted({"fastapi", "starlette"} & mods)
