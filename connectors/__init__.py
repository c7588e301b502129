"""carbontwin.connectors: the way in from the shop floor.

OPC UA: :class:`OpcUaConnector` reads a server into the twin store through a
local :class:`Spool`; :class:`DemoLineServer` publishes any stream of twin
events as a line of machines (OPC 40001-1 Machinery, energy per OPC 34100 names).
Files: an events folder (one CSV per kind) with :func:`write_events_dir` /
:func:`read_events_dir`.
"""

from .files import read_events_dir, write_events_dir
from .opcua_client import ConnectorStats, OpcUaConnector
from .opcua_config import ConnectorConfig, load_connector_config
from .opcua_server import DemoLineServer, ReplayClock
from .spool import Flusher, Spool

__all__ = [
    "ConnectorConfig",
    "ConnectorStats",
    "DemoLineServer",
    "Flusher",
    "OpcUaConnector",
    "ReplayClock",
    "Spool",
    "load_connector_config",
    "read_events_dir",
    "write_events_dir",
]
