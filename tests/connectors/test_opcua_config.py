"""Connector file, state vocabulary and engineering units."""

from __future__ import annotations

import pytest

from carbontwin.connectors._opcua_nodes import eu_information, factor_to_canonical, unit_of
from carbontwin.connectors.opcua_config import (
    CARBONTWIN_URI,
    MACHINERY_URI,
    load_connector_config,
    state_from_names,
)
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.model import State

GOOD = f"""
endpoint: opc.tcp://127.0.0.1:4840/carbontwin/
namespaces: {{mach: "{MACHINERY_URI}", ct: "{CARBONTWIN_URI}"}}
spool: {{path: data/spool.db}}
security: {{policy: Basic256Sha256, mode: Sign, certificate: pki/c.der, private_key: pki/k.pem}}
signals:
  - {{kind: power, meter: M-1, node: "nsu={CARBONTWIN_URI};s=M-1.Electricity.Main.AcActivePowerTotal"}}
  - {{kind: state, asset: press-1, node: "Objects/mach:Machines/ct:press-1/CurrentState"}}
"""


def test_connector_file_resolves_paths_relative_to_itself(tmp_path):
    (tmp_path / "c.yaml").write_text(GOOD)
    cfg = load_connector_config(tmp_path / "c.yaml")
    assert cfg.spool.path == tmp_path.resolve() / "data" / "spool.db"
    assert cfg.security.certificate == tmp_path.resolve() / "pki" / "c.der"
    assert [s.source for s in cfg.signals] == ["M-1", "press-1"]
    assert cfg.signals[0].queue_size == 1000


@pytest.mark.parametrize(
    ("node", "words"),
    [
        ("ns=3;s=M-1.Power", "by index"),
        ("Objects/3:Machines/ct:press-1", "by index"),
        ("Objects/xx:Machines", "alias 'xx'"),
        ("nsu=urn:x;q=1", "not nsu="),
    ],
)
def test_namespace_indexes_and_unknown_aliases_are_refused(tmp_path, node, words):
    text = GOOD.replace("Objects/mach:Machines/ct:press-1/CurrentState", node)
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConnectorError, match=words) as info:
        load_connector_config(tmp_path / "c.yaml")
    assert "c.yaml" in info.value.message


def test_a_power_signal_needs_a_meter(tmp_path):
    (tmp_path / "c.yaml").write_text(GOOD.replace("meter: M-1, ", ""))
    with pytest.raises(ConnectorError, match="needs 'meter'"):
        load_connector_config(tmp_path / "c.yaml")


def test_a_queue_of_one_value_is_refused(tmp_path):
    # a server discarding from a queue of one sets no Overflow bit: the loss would be silent
    (tmp_path / "c.yaml").write_text(GOOD.replace("meter: M-1, ", "meter: M-1, queue_size: 1, "))
    with pytest.raises(ConnectorError, match="queue_size"):
        load_connector_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text(GOOD.replace("meter: M-1, ", "meter: M-1, queue_size: 2, "))
    assert load_connector_config(tmp_path / "c.yaml").signals[0].queue_size == 2


@pytest.mark.parametrize(
    ("item", "mode", "power", "expected"),
    [
        ("Executing", "Processing", None, State.PROCESSING),
        ("Executing", "Setup", None, State.SETUP),
        ("NotExecuting", "Processing", None, State.IDLE),
        ("NotExecuting", "None", None, State.STANDBY),
        ("NotExecuting", None, None, State.IDLE),
        ("OutOfService", "None", None, State.FAULT),
        ("NotAvailable", "None", None, State.OFF),
        ("Execute", None, None, State.PROCESSING),  # PackML, by name
        ("Aborted", None, None, State.FAULT),
        ("Stopped", None, None, State.STANDBY),
        ("NotExecuting", "Processing", "STANDBY", State.STANDBY),  # exact power state wins
        ("Warp", None, None, None),
    ],
)
def test_states_map_by_name_and_combine_with_the_operation_mode(item, mode, power, expected):
    assert state_from_names(item, mode, power) is expected


def test_state_names_can_be_extended():
    assert state_from_names("Stopped", extra={"Stopped": State.OFF}) is State.OFF


@pytest.mark.parametrize(
    ("unit", "kind", "factor"),
    [
        ("W", "power", 1e-3),
        ("kW", "power", 1.0),
        ("MW", "power", 1e3),
        ("Wh", "energy", 1e-3),
        ("kWh", "energy", 1.0),
        ("MWh", "energy", 1e3),
    ],
)
def test_engineering_units_convert_to_kw_and_kwh(unit, kind, factor):
    eu = eu_information(unit)
    assert unit_of(eu) == unit
    assert factor_to_canonical(unit_of(eu), kind, "node x") == pytest.approx(factor)


def test_a_unit_of_the_wrong_dimension_is_an_error():
    with pytest.raises(ConnectorError, match="node x: unit 'Wh' is not a power unit"):
        factor_to_canonical("Wh", "power", "node x")


def test_the_example_connector_file_reads_every_meter_and_asset_of_the_demo_factory():
    from carbontwin.twin.examples import demo_factory, demo_factory_path

    cfg = load_connector_config(demo_factory_path().parent / "demo_connector.yaml")
    factory = demo_factory()
    meters = {s.meter for s in cfg.signals if s.kind in ("power", "energy")}
    assert meters == {m.id for m in factory.meters}
    states = {s.asset for s in cfg.signals if s.kind == "state"}
    assert states == set(factory.asset_ids)
    assert all("ns=" not in s.node for s in cfg.signals)
