"""One way to run any live connector file: OPC UA or MQTT (plain JSON, Sparkplug B).

A connector file says which connector it is with ``kind: opcua`` or
``kind: mqtt``; without ``kind``, a file with ``broker`` is MQTT and one with
``endpoint`` is OPC UA. :func:`connector_json_schema` gives the JSON Schema
(2020-12) of each kind, every field described, for editors.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch

from ._config_common import read_config_data
from ._live import SpooledConnector
from .mqtt_config import MqttConfig, load_mqtt_config
from .opcua_config import ConnectorConfig, load_connector_config

__all__ = [
    "KINDS",
    "connector_json_schema",
    "load_live_config",
    "namespace_index_hints",
    "open_live_connector",
]

KINDS = ("opcua", "mqtt")


def _kind(data: Any, path: Path) -> str:
    if not isinstance(data, dict):
        msg = f"{path}: a connector file is a mapping (kind, endpoint or broker, ...)"
        raise ConnectorError(msg)
    kind = data.get("kind")
    if kind is None:
        kind = "mqtt" if "broker" in data else "opcua"
    if kind not in KINDS:
        msg = f"{path}: kind {kind!r} is not one of {', '.join(KINDS)}"
        raise ConnectorError(msg, field="kind")
    return str(kind)


def load_live_config(path: Path | str) -> ConnectorConfig | MqttConfig:
    """Read an OPC UA or MQTT connector file (see the module docstring)."""
    path = Path(path)
    data, _ = read_config_data(path)
    if _kind(data, path) == "mqtt":
        return load_mqtt_config(path)
    return load_connector_config(path)


def open_live_connector(
    config: ConnectorConfig | MqttConfig, *, sink: Callable[[EventBatch], int] | None = None
) -> SpooledConnector:
    """The connector of a loaded file (not started)."""
    if isinstance(config, MqttConfig):
        from .mqtt import MqttConnector

        return MqttConnector(config, sink=sink)
    from .opcua_client import OpcUaConnector

    return OpcUaConnector(config, sink=sink)


def connector_json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema (2020-12) of a connector file of ``kind`` (opcua or mqtt)."""
    if kind not in KINDS:
        msg = f"no connector kind {kind!r}; known: {', '.join(KINDS)}"
        raise ConnectorError(msg)
    model = MqttConfig if kind == "mqtt" else ConnectorConfig
    schema: dict[str, Any] = model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


async def namespace_index_hints(path: Path | str) -> list[str]:
    """For each ``ns=<index>;...`` node of an OPC UA connector file: the same node with
    its namespace URI as the file's server names it (empty when the server is away)."""
    from asyncua.client.client import Client
    from asyncua.ua.uaerrors import UaError

    from .opcua_browse import namespace_hint

    data, _ = read_config_data(path)
    if not isinstance(data, dict) or not isinstance(data.get("endpoint"), str):
        return []
    texts = sorted(
        {
            str(sig[k])
            for sig in data.get("signals") or []
            if isinstance(sig, dict)
            for k in ("node", "mode_node", "power_state_node")
            if str(sig.get(k) or "").startswith("ns=")
        }
    )
    if not texts:
        return []
    client = Client(data["endpoint"], timeout=5)
    try:
        await client.connect()
    except (OSError, TimeoutError, UaError):
        return []
    try:
        return [f"{t}: {await namespace_hint(client, t)}" for t in texts]
    finally:
        with suppress(OSError, TimeoutError, UaError, ConnectionError):
            await client.disconnect()
