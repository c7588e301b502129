"""Connector files: the MQTT file, one loader for every kind, JSON Schemas with every field described."""

from __future__ import annotations

import pytest

from carbontwin.connectors.live import connector_json_schema, load_live_config
from carbontwin.connectors.mqtt_config import MqttConfig
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.examples import demo_factory_path

EXAMPLES = demo_factory_path().parent


def _properties(schema: dict):
    """Every (where, property schema) in a JSON Schema, through $defs."""
    for name, sub in schema.get("properties", {}).items():
        yield name, sub
    for dname, d in schema.get("$defs", {}).items():
        for name, sub in d.get("properties", {}).items():
            yield f"{dname}.{name}", sub


@pytest.mark.parametrize("kind", ["opcua", "mqtt"])
def test_every_connector_file_field_is_described_in_its_json_schema(kind):
    import jsonschema

    schema = connector_json_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    undocumented = [
        where
        for where, sub in _properties(schema)
        if not sub.get("description") and "$ref" not in sub and "allOf" not in sub
    ]
    assert undocumented == []


def test_the_example_files_load_by_kind_and_validate_against_their_schemas():
    import jsonschema
    import yaml

    mqtt = load_live_config(EXAMPLES / "mqtt_connector.yaml")
    opcua = load_live_config(EXAMPLES / "demo_connector.yaml")
    assert isinstance(mqtt, MqttConfig)
    assert isinstance(opcua, ConnectorConfig)
    assert [t.filter for t in mqtt.topics] == ["hall2/+/power", "hall2/+/energy", "hall2/+/state"]
    assert mqtt.spool.path == (EXAMPLES / "mqtt-spool.db").resolve()
    for kind, name in (("mqtt", "mqtt_connector.yaml"), ("opcua", "demo_connector.yaml")):
        data = yaml.safe_load((EXAMPLES / name).read_text())
        errors = list(
            jsonschema.Draft202012Validator(connector_json_schema(kind)).iter_errors(data)
        )
        assert errors == [], (name, errors[:3])


BAD = """\
kind: mqtt
broker:
  client_id: c1
topics:
  - topic: plant/{machine}/power
    kind: power
    meter: M-{line}
    unit: W
  - topic: plant/{machine}/state
    kind: state
    asset: "{machine}"
    qos: 5
"""


def test_an_invalid_mqtt_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(ConnectorError) as info:
        load_live_config(path)
    message = info.value.message
    assert f"{path}:5: topics.0: " in message  # the placeholder {line} is not in the topic
    assert "['line']" in message
    assert f"{path}:12: topics.1.qos: " in message


def test_an_unknown_kind_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kind: modbus\n")
    with pytest.raises(ConnectorError, match="kind 'modbus' is not one of opcua, mqtt"):
        load_live_config(path)
