"""carbontwin.connectors: the way in from the shop floor.

OPC UA: :class:`OpcUaConnector` reads a server into the twin store through a
local :class:`Spool`; :class:`DemoLineServer` publishes any stream of twin
events as a line of machines (OPC 40001-1 Machinery, energy per OPC 34100 names).
MQTT: :class:`MqttConnector` reads plain JSON topics and Sparkplug B the same
way. Any connector file: :func:`load_live_config` and :func:`open_live_connector`;
:func:`browse` lists an OPC UA server's nodes.
Files: an events folder (one CSV per kind) with :func:`write_events_dir` /
:func:`read_events_dir`; a plant's historian export (:func:`import_historian`)
and MES order list (:func:`import_mes`) through a mapping file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carbontwin.twin._lazy import lazy_exports

#: name -> the module that defines it, imported on first use (``import
#: carbontwin.api.cli`` does not pay for what one command never touches)
_EXPORTS = {
    "read_events_dir": ".files",
    "read_orders_csv": ".files",
    "write_events_dir": ".files",
    "write_orders_csv": ".files",
    "import_historian": ".historian",
    "load_historian_mapping": ".historian",
    "read_historian": ".historian",
    "load_live_config": ".live",
    "open_live_connector": ".live",
    "import_mes": ".mes",
    "load_mes_mapping": ".mes",
    "read_mes": ".mes",
    "MqttConnector": ".mqtt",
    "MqttConfig": ".mqtt_config",
    "load_mqtt_config": ".mqtt_config",
    "browse": ".opcua_browse",
    "ConnectorStats": ".opcua_client",
    "OpcUaConnector": ".opcua_client",
    "ConnectorConfig": ".opcua_config",
    "load_connector_config": ".opcua_config",
    "DemoLineServer": ".opcua_server",
    "ReplayClock": ".opcua_server",
    "Flusher": ".spool",
    "Spool": ".spool",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .files import read_events_dir, read_orders_csv, write_events_dir, write_orders_csv
    from .historian import import_historian, load_historian_mapping, read_historian
    from .live import load_live_config, open_live_connector
    from .mes import import_mes, load_mes_mapping, read_mes
    from .mqtt import MqttConnector
    from .mqtt_config import MqttConfig, load_mqtt_config
    from .opcua_browse import browse
    from .opcua_client import ConnectorStats, OpcUaConnector
    from .opcua_config import ConnectorConfig, load_connector_config
    from .opcua_server import DemoLineServer, ReplayClock
    from .spool import Flusher, Spool

__all__ = [
    "ConnectorConfig",
    "ConnectorStats",
    "DemoLineServer",
    "Flusher",
    "MqttConfig",
    "MqttConnector",
    "OpcUaConnector",
    "ReplayClock",
    "Spool",
    "browse",
    "import_historian",
    "import_mes",
    "load_connector_config",
    "load_historian_mapping",
    "load_live_config",
    "load_mes_mapping",
    "load_mqtt_config",
    "open_live_connector",
    "read_events_dir",
    "read_historian",
    "read_mes",
    "read_orders_csv",
    "write_events_dir",
    "write_orders_csv",
]
