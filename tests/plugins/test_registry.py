"""Plugin registry: entry points of the built-ins, run-time registration."""

from __future__ import annotations

import pytest

from carbontwin.plugins import registry
from carbontwin.plugins.pact import render_pact_v3
from carbontwin.twin.errors import PluginError


def test_builtin_exporters_come_from_entry_points():
    eps = registry.entry_points_of("carbontwin.exporters")
    assert {"pact-v3", "pact-v2", "label-svg", "label-html", "label-pdf"} <= set(eps)
    assert registry.get_exporter("pact-v3") is render_pact_v3
    assert registry.entry_points_of("exporters") is eps  # cached, short group name works
    infos = [p for p in registry.list_plugins("exporters") if p.name == "pact-v3"]
    assert infos[0].distribution == "carbontwin"
    assert infos[0].target == "carbontwin.plugins.pact:render_pact_v3"


def test_builtin_factor_provider_registered():
    assert "default" in registry.entry_points_of("carbontwin.factors")


def test_register_and_unregister_at_run_time():
    def exporter(fp):
        return {"id": fp}

    registry.register_exporter("test-json", exporter)
    try:
        assert registry.get_exporter("test-json") is exporter
        assert any(
            p.name == "test-json" and p.distribution == "registered"
            for p in registry.list_plugins()
        )
        with pytest.raises(PluginError, match="already registered"):
            registry.register_exporter("test-json", lambda fp: fp)
        registry.register_exporter("test-json", render_pact_v3, replace=True)
        assert registry.get_exporter("test-json") is render_pact_v3
    finally:
        registry.unregister("carbontwin.exporters", "test-json")
    with pytest.raises(PluginError, match="no plugin 'test-json'"):
        registry.get_exporter("test-json")


@pytest.mark.parametrize(
    "register",
    [
        registry.register_policy,
        registry.register_connector,
        registry.register_allocation,
        registry.register_factor_provider,
    ],
)
def test_every_group_accepts_registrations(register):
    obj = object()
    register("test-obj", obj)
    group = {
        registry.register_policy: "policies",
        registry.register_connector: "connectors",
        registry.register_allocation: "allocation",
        registry.register_factor_provider: "factors",
    }[register]
    try:
        assert registry.get_plugin(group, "test-obj") is obj
    finally:
        registry.unregister(group, "test-obj")


def test_unknown_group_is_a_plugin_error():
    with pytest.raises(PluginError) as err:
        registry.entry_points_of("carbontwin.nope")
    assert err.value.field == "group"
