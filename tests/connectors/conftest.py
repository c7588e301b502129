"""Fixtures of the connector tests: a free port, a synthetic line's events."""

from __future__ import annotations

from pathlib import Path

import pytest
from opcua_lines import line_events

from carbontwin.twin.events import EventBatch


@pytest.fixture
def port(request):
    """A free TCP port on 127.0.0.1 (tests/conftest.py's free_port)."""
    root = Path(__file__).parents[1] / "conftest.py"
    for plugin in request.config.pluginmanager.get_plugins():
        f = getattr(plugin, "__file__", None)
        if f and Path(f).resolve() == root.resolve():
            return plugin.free_port()
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture
def events() -> EventBatch:
    return line_events()
