"""The OPC UA connector's configuration file, and the state vocabulary it maps.

A connector file (YAML or JSON) says where the server is, how to secure the
session, and which nodes feed which twin signals::

    endpoint: opc.tcp://127.0.0.1:4840/carbontwin/
    namespaces:                       # aliases for namespace URIs (never indexes)
      mach: http://opcfoundation.org/UA/Machinery/
      di: http://opcfoundation.org/UA/DI/
      ct: urn:carbontwin:demo-line
    security: {policy: Basic256Sha256, mode: SignAndEncrypt,
               certificate: certs/client.der, private_key: certs/client-key.pem}
    username: operator
    password: secret
    spool: {path: spool.db}
    store: {url: sqlite:///carbontwin.db}
    signals:
      - {kind: power, meter: M-press-1, sampling_interval_ms: 0, queue_size: 1000,
         node: "nsu=urn:carbontwin:demo-line;s=press-1.Electricity.Main.AcActivePowerTotal"}
      - {kind: state, asset: press-1,
         node: "Objects/mach:Machines/ct:press-1/di:MachineryBuildingBlocks/mach:MachineryItemState/CurrentState/Id",
         mode_node: "Objects/mach:Machines/ct:press-1/di:MachineryBuildingBlocks/mach:MachineryOperationMode/CurrentState/Id"}

A node is a NodeId with its namespace URI (``nsu=<URI>;s=...``, ``nsu=<URI>;i=5``;
``i=2253`` alone is namespace 0) or a browse path from the Objects folder whose
segments are ``alias:Name`` (no alias: namespace 0). Bare namespace indexes
(``ns=3;...``, ``3:Name``) are refused: they change between servers and restarts.

Signal kinds: ``power`` [W, kW, ... -> kW] and ``energy`` (cumulative counter
[Wh, kWh, ... -> kWh]) of a meter; ``state`` of an asset, from a state node
with an optional operation mode (``mode_node``) and an optional exact power
state (``power_state_node``). A state may be published in any shape: the NodeId
of a Machinery state, a name (String, LocalizedText), or an integer code; a
code takes its name from the server (``EnumStrings`` of a MultiStateDiscrete,
``EnumValues`` of a MultiStateValueDiscrete, or the enumeration data type's
EnumStrings/EnumValues/definition), else it stays the number as text. Names
map to carbontwin states through ``state_names`` (``{"Running": PROCESSING,
"3": FAULT}``), then the built-in Machinery and PackML names;
``steps`` (the demo server's ``ActiveSteps``: JSON order steps) and
``order`` (a plain current order id) of an asset. Units come from the
variable's ``EngineeringUnits`` unless ``unit`` is given.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carbontwin.twin.model import State

from ._config_common import SpoolConfig, StoreConfig, load_config_file

__all__ = [
    "CARBONTWIN_URI",
    "DI_URI",
    "IA_URI",
    "ITEM_STATE_IDS",
    "MACHINERY_URI",
    "OPERATION_MODE_IDS",
    "PACKML_URI",
    "ConnectorConfig",
    "SignalConfig",
    "load_connector_config",
    "state_from_names",
]

UA_URI = "http://opcfoundation.org/UA/"
DI_URI = "http://opcfoundation.org/UA/DI/"
IA_URI = "http://opcfoundation.org/UA/IA/"
MACHINERY_URI = "http://opcfoundation.org/UA/Machinery/"
PACKML_URI = "http://opcfoundation.org/UA/PackML/"
#: Namespace of the demo line server's own nodes (machines, energy, orders).
CARBONTWIN_URI = "urn:carbontwin:demo-line"

#: OPC 40001-1 MachineryItemState_StateMachineType states: name -> numeric id (Machinery ns).
ITEM_STATE_IDS: dict[str, int] = {
    "NotAvailable": 5005,
    "OutOfService": 5004,
    "NotExecuting": 5007,
    "Executing": 5006,
}
#: OPC 40001-1 MachineryOperationModeStateMachineType states: name -> numeric id.
OPERATION_MODE_IDS: dict[str, int] = {
    "None": 5024,
    "Maintenance": 5025,
    "Processing": 5026,
    "Setup": 5027,
}

#: carbontwin state -> (MachineryItemState, MachineryOperationMode) the demo server shows.
#: STANDBY and IDLE are both NotExecuting; the demo server tells them apart by the
#: operation mode (None for STANDBY) and exactly by its own ``PowerState`` variable.
STATE_TO_MACHINERY: dict[State, tuple[str, str]] = {
    State.PROCESSING: ("Executing", "Processing"),
    State.SETUP: ("Executing", "Setup"),
    State.IDLE: ("NotExecuting", "Processing"),
    State.STANDBY: ("NotExecuting", "None"),
    State.FAULT: ("OutOfService", "None"),
    State.OFF: ("NotAvailable", "None"),
}

#: State names (Machinery item states, PackML OPC 30050 states, carbontwin states)
#: -> carbontwin state. Numbers are mapped through their server-declared names or a
#: connector file's ``state_names``, never by a built-in numbering.
STATE_NAMES: dict[str, State] = {
    # OPC 40001-1 MachineryItemState
    "Executing": State.PROCESSING,
    "NotExecuting": State.IDLE,
    "OutOfService": State.FAULT,
    "NotAvailable": State.OFF,
    # PackML (OPC 30050 / ISA-TR88.00.02) states
    "Execute": State.PROCESSING,
    "Idle": State.IDLE,
    "Starting": State.IDLE,
    "Completing": State.IDLE,
    "Complete": State.IDLE,
    "Resetting": State.IDLE,
    "Holding": State.IDLE,
    "Held": State.IDLE,
    "Unholding": State.IDLE,
    "Suspending": State.IDLE,
    "Suspended": State.IDLE,
    "Unsuspending": State.IDLE,
    "Stopping": State.STANDBY,
    "Stopped": State.STANDBY,
    "Aborting": State.FAULT,
    "Aborted": State.FAULT,
    "Clearing": State.FAULT,
    # carbontwin's own names (the demo server's PowerState)
    **{s.value: s for s in State},
}


def state_from_names(
    item: str | None,
    mode: str | None = None,
    power_state: str | None = None,
    extra: dict[str, State] | None = None,
) -> State | None:
    """Combine a state machine's current state, operation mode and power state.

    ``power_state`` (a carbontwin state name) wins when known. Otherwise the
    item state (Machinery or PackML name) gives the state; an executing machine
    in operation mode ``Setup`` is in SETUP; a not-executing machine in mode
    ``None`` is in STANDBY (the demo server's convention; a real machine that
    does not report modes reads as IDLE). None when the name is unknown.
    """
    names = STATE_NAMES if not extra else {**STATE_NAMES, **extra}
    if power_state and power_state in names:
        return names[power_state]
    if not item or item not in names:
        return None
    state = names[item]
    if state is State.PROCESSING and mode == "Setup":
        return State.SETUP
    if item == "NotExecuting" and mode == "None":
        return State.STANDBY
    return state


_NSU = re.compile(r"^nsu=([^;]+);((?:i|s|g|b)=.+)$")
_BARE_NS = re.compile(r"(^|;)ns=\d+;")


class SignalConfig(BaseModel):
    """One twin signal and the node(s) it is read from."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["power", "energy", "state", "steps", "order"] = Field(
        ...,
        description="power [-> kW]; energy, a cumulative counter [-> kWh]; state of an asset; "
        "steps (JSON order steps, the demo server's ActiveSteps); order (a current order id).",
    )
    meter: str | None = Field(None, description="Twin meter id (power, energy).")
    asset: str | None = Field(None, description="Twin asset id (state, steps, order).")
    node: str = Field(
        ...,
        description="nsu=<namespace URI>;s=|i=|g=|b=<id>, i=<id> (namespace 0), or a browse "
        "path Objects/alias:Name/... with aliases from `namespaces`; never ns=<index>.",
    )
    mode_node: str | None = Field(
        None, description="State signals: the Machinery operation mode node (Setup, Processing)."
    )
    power_state_node: str | None = Field(
        None, description="State signals: a node holding the exact carbontwin state name."
    )
    unit: str | None = Field(
        None,
        description="Unit of power/energy values (W, kW, Wh, ...); read from the node's "
        "EngineeringUnits when absent.",
    )
    sampling_interval_ms: float = Field(
        0.0, ge=0, description="Requested sampling interval [ms]; 0 = every change."
    )
    queue_size: int = Field(
        1000,
        ge=2,
        description="Server-side queue per monitored item (values kept between publishes); "
        "at least 2: a server discarding from a queue of one sets no Overflow bit "
        "(OPC 10000-4, MonitoredItem queue parameters), so the loss could not be recorded "
        "as a gap.",
    )
    trigger: Literal["status_value", "status_value_timestamp"] = Field(
        "status_value_timestamp",
        description="Data change trigger; with timestamps, a repeated equal value is reported too.",
    )
    quantity: float = Field(1.0, gt=0, description="Quantity of an order step (kind order).")

    @model_validator(mode="after")
    def _source(self) -> SignalConfig:
        if self.kind in ("power", "energy"):
            if not self.meter:
                msg = f"a {self.kind} signal needs 'meter' (the twin meter id)"
                raise ValueError(msg)
        elif not self.asset:
            msg = f"a {self.kind} signal needs 'asset' (the twin asset id)"
            raise ValueError(msg)
        for name in ("node", "mode_node", "power_state_node"):
            value = getattr(self, name)
            if value is not None:
                _check_node_text(value, name)
        return self

    @property
    def source(self) -> str:
        """Twin meter or asset id."""
        return str(self.meter or self.asset)


def _check_node_text(text: str, where: str) -> None:
    if _BARE_NS.search(text) or text.startswith("ns="):
        msg = f"{where} {text!r} names a namespace by index; use nsu=<namespace URI>;..."
        raise ValueError(msg)
    if text.startswith("nsu=") and not _NSU.match(text):
        msg = f"{where} {text!r} is not nsu=<URI>;i=|s=|g=|b=<identifier>"
        raise ValueError(msg)
    if not text.startswith(("nsu=", "i=", "s=", "g=", "b=")):
        for seg in text.strip("/").split("/"):
            prefix = seg.split(":", 1)[0] if ":" in seg else ""
            if prefix.isdigit():
                msg = f"{where} {text!r}: browse path segment {seg!r} names a namespace by index; use an alias"
                raise ValueError(msg)


class SecurityConfig(BaseModel):
    """How the session is secured."""

    model_config = ConfigDict(extra="forbid")

    policy: Literal["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"] = (
        Field("None", description="Security policy.")
    )
    mode: Literal["None", "Sign", "SignAndEncrypt"] = Field(
        "None", description="Message security mode."
    )
    certificate: Path | None = Field(
        None, description="This client's certificate (DER); created on first run when absent."
    )
    private_key: Path | None = Field(
        None, description="This client's private key (PEM); created on first run when absent."
    )
    server_certificate: Path | None = Field(
        None,
        description="The server's certificate (DER), pinned: the session is refused when the "
        "server presents another one. Without it, the trust list decides.",
    )
    trust_dir: Path = Field(
        Path("pki/trusted"),
        description="Trust list: a folder of certificates (DER or PEM); the server's "
        "certificate must be in it or be issued by a CA certificate in it.",
    )
    trust_on_first_use: bool = Field(
        False,
        description="Store the first certificate the server presents in the trust list and "
        "refuse any other afterwards; only where the network is trusted at set-up.",
    )
    application_uri: str = Field(
        "urn:carbontwin:connector", description="Application URI in the client certificate."
    )

    @model_validator(mode="after")
    def _pair(self) -> SecurityConfig:
        if (self.policy == "None") != (self.mode == "None"):
            msg = f"security policy {self.policy!r} and mode {self.mode!r} do not fit; both None or neither"
            raise ValueError(msg)
        if self.policy != "None" and (self.certificate is None or self.private_key is None):
            msg = "a secured connection needs 'certificate' and 'private_key' paths (created if absent)"
            raise ValueError(msg)
        return self


class ConnectorConfig(BaseModel):
    """A connector file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["opcua"] = Field("opcua", description="This file's connector: opcua.")
    endpoint: str = Field(..., description="Server endpoint, opc.tcp://host:port/path.")
    namespaces: dict[str, str] = Field(
        default_factory=dict, description="Alias -> namespace URI, for browse paths."
    )
    security: SecurityConfig = Field(default_factory=SecurityConfig)  # type: ignore[arg-type]
    username: str | None = Field(None, description="User name; anonymous when absent.")
    password: str | None = Field(None, description="Password of `username`.")
    publishing_interval_ms: float = Field(
        100.0, gt=0, description="Subscription publishing interval [ms]."
    )
    timeout_s: float = Field(4.0, gt=0, description="Request timeout [s].")
    watchdog_s: float = Field(1.0, gt=0, description="Connection check interval [s].")
    reconnect_max_delay_s: float = Field(
        1.0, gt=0, description="Longest wait between reconnection attempts [s]."
    )
    connect_retries: int = Field(
        2,
        ge=0,
        description="Further attempts after the server refused the login or a certificate "
        "(or its certificate is not trusted) before the connector stops with an error; "
        "an unreachable server is retried until stopped.",
    )
    spool: SpoolConfig = Field(default_factory=SpoolConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    state_names: dict[str, State] = Field(
        default_factory=dict,
        description="Published state (a name, or a number as text: '3') -> carbontwin state "
        "(OFF, STANDBY, IDLE, SETUP, PROCESSING, FAULT); adds to the built-in Machinery and "
        "PackML names and to the server's EnumStrings/EnumValues.",
    )
    signals: list[SignalConfig] = Field(..., description="The signals to read.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        if not v.startswith("opc.tcp://"):
            msg = f"endpoint {v!r} must start with opc.tcp://"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _aliases(self) -> ConnectorConfig:
        for s in self.signals:
            for text in (s.node, s.mode_node, s.power_state_node):
                if text is None or text.startswith(("nsu=", "i=", "s=", "g=", "b=")):
                    continue
                for seg in text.strip("/").split("/"):
                    if ":" in seg:
                        alias = seg.split(":", 1)[0]
                        if alias not in self.namespaces:
                            msg = (
                                f"browse path {text!r} uses alias {alias!r}, which 'namespaces' "
                                f"does not define (known: {sorted(self.namespaces)})"
                            )
                            raise ValueError(msg)
        return self

    def resolve_paths(self, base: Path) -> ConnectorConfig:
        """Copy with relative file paths taken relative to ``base`` (the config's folder)."""

        def fix(p: Path | None) -> Path | None:
            return None if p is None or p.is_absolute() else base / p

        sec = self.security.model_copy(
            update={
                "certificate": fix(self.security.certificate) or self.security.certificate,
                "private_key": fix(self.security.private_key) or self.security.private_key,
                "server_certificate": fix(self.security.server_certificate)
                or self.security.server_certificate,
                "trust_dir": fix(self.security.trust_dir) or self.security.trust_dir,
            }
        )
        spool = self.spool.model_copy(update={"path": fix(self.spool.path) or self.spool.path})
        return self.model_copy(update={"security": sec, "spool": spool})


def load_connector_config(path: Path | str) -> ConnectorConfig:
    """Read a connector file (YAML, or JSON by suffix); relative paths are relative to it.

    Raises
    ------
    ConnectorError
        Naming the file, the line, and each invalid field.
    """
    cfg = load_config_file(path, ConnectorConfig)
    return cfg.resolve_paths(Path(path).parent.resolve())
