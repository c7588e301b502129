"""The MQTT connector's file: broker, plain JSON topics and Sparkplug B metrics.

::

    kind: mqtt
    broker:
      host: broker.plant.local
      port: 8883
      client_id: carbontwin-hall-2       # stable: the broker keeps this session's queue
      username: carbontwin
      password: secret
      tls: {ca_certs: pki/plant-ca.pem}  # the broker's certificate is checked against it
    spool: {path: mqtt-spool.db}
    store: {url: sqlite:///carbontwin.db}
    state_names: {RUN: PROCESSING, "3": FAULT}
    topics:                              # plain JSON
      - topic: "hall2/{machine}/power"   # {name}: one topic level, usable in meter/asset
        kind: power
        meter: "M-{machine}"
        value: "$.p"                     # JSONPath into the message
        time: "$.ts"                     # ISO 8601, epoch s or epoch ms
        unit: W                          # or unit_path: "$.unit"
      - {topic: "hall2/{machine}/state", kind: state, asset: "{machine}", value: "$.state", time: "$.ts"}
    sparkplug:                           # Sparkplug B 3.0 (spBv1.0)
      group_id: Plant1
      metrics:
        - {edge_node: "Edge-*", device: "{device}", metric: "Energy/ActivePower",
           kind: power, meter: "M-{device}", unit: kW}

Messages are received with QoS 1 (by default) in a persistent session
(``clean_session: false``): the broker keeps what arrives while the connector
is down, and a message is acknowledged only once it is in the spool.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carbontwin.twin.model import State

from ._config_common import SpoolConfig, StoreConfig, load_config_file

__all__ = [
    "BrokerConfig",
    "MqttConfig",
    "SparkplugConfig",
    "SparkplugMetric",
    "TopicMapping",
    "load_mqtt_config",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TlsConfig(BaseModel):
    """TLS to the broker; its certificate is always checked."""

    model_config = ConfigDict(extra="forbid")

    ca_certs: Path | None = Field(
        None,
        description="CA certificate(s) (PEM) the broker's certificate must chain to; "
        "the system's trust store when absent.",
    )
    certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    keyfile: Path | None = Field(None, description="Private key (PEM) of the client certificate.")
    check_hostname: bool = Field(
        True, description="Check that the certificate names the broker's host."
    )


class BrokerConfig(BaseModel):
    """Where the broker is and how to log in."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 for TLS, usually).")
    client_id: str = Field(
        ...,
        min_length=1,
        description="MQTT client id; keep it stable so the broker keeps the persistent session.",
    )
    clean_session: bool = Field(
        False,
        description="False (default): a persistent session, the broker queues QoS 1 messages "
        "while the connector is away.",
    )
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive interval [s].")
    username: str | None = Field(None, description="User name, if the broker asks for one.")
    password: str | None = Field(None, description="Password of `username`.")
    tls: TlsConfig | None = Field(None, description="TLS settings; plain TCP when absent.")
    reconnect_max_delay_s: float = Field(
        5.0, gt=0, description="Longest wait between reconnection attempts [s]."
    )
    connect_retries: int = Field(
        0,
        ge=0,
        description="Attempts before a refused login (bad user name, password or "
        "certificate) ends the connector with an error; 0 = stop at the first refusal.",
    )


def _placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


class TopicMapping(BaseModel):
    """One topic pattern of plain JSON messages and the twin signal it feeds."""

    model_config = ConfigDict(extra="forbid")

    topic: str = Field(
        ...,
        description="Topic with `{name}` for one whole level (a named wildcard) and `#` at the "
        "end for any rest, e.g. `hall2/{machine}/power`.",
    )
    kind: Literal["power", "energy", "state"] = Field(
        ..., description="power [-> kW], energy (a cumulative counter) [-> kWh], or state."
    )
    meter: str | None = Field(None, description="Twin meter id (power, energy); may use `{name}`.")
    asset: str | None = Field(None, description="Twin asset id (state); may use `{name}`.")
    value: str = Field("$", description="JSONPath of the value in the message (`$`: the whole).")
    time: str | None = Field(
        None,
        description="JSONPath of the time; without it the receipt time is used "
        "(the broker adds no time of its own).",
    )
    time_format: Literal["auto", "iso8601", "epoch_s", "epoch_ms"] = Field(
        "auto",
        description="auto: a string is ISO 8601, a number above 1e11 is epoch milliseconds, "
        "else epoch seconds.",
    )
    unit: str | None = Field(None, description="Unit of power/energy values, e.g. W, kW, Wh.")
    unit_path: str | None = Field(None, description="JSONPath of the unit in the message.")
    qos: Literal[0, 1, 2] = Field(1, description="Subscription QoS.")

    @model_validator(mode="after")
    def _check(self) -> TopicMapping:
        levels = self.topic.split("/")
        for k, level in enumerate(levels):
            if level == "#" and k != len(levels) - 1:
                msg = f"topic {self.topic!r}: '#' must be the last level"
                raise ValueError(msg)
            if ("{" in level or "+" in level) and not (
                _PLACEHOLDER.fullmatch(level) or level == "+"
            ):
                msg = f"topic {self.topic!r}: a wildcard must be a whole level ({{name}} or +)"
                raise ValueError(msg)
        target = self.meter if self.kind in ("power", "energy") else self.asset
        need = "meter" if self.kind in ("power", "energy") else "asset"
        if not target:
            msg = f"a {self.kind} topic needs '{need}' (the twin {need} id)"
            raise ValueError(msg)
        unknown = _placeholders(target) - _placeholders(self.topic)
        if unknown:
            msg = f"{need} {target!r} uses {sorted(unknown)}, which topic {self.topic!r} lacks"
            raise ValueError(msg)
        if self.kind in ("power", "energy") and not (self.unit or self.unit_path):
            msg = f"a {self.kind} topic needs 'unit' or 'unit_path'"
            raise ValueError(msg)
        return self

    @property
    def filter(self) -> str:
        """The MQTT subscription filter (named wildcards as ``+``)."""
        return _PLACEHOLDER.sub("+", self.topic)

    @property
    def target(self) -> str:
        return str(self.meter if self.kind in ("power", "energy") else self.asset)


class SparkplugMetric(BaseModel):
    """A Sparkplug B metric (of an edge node or a device) and the twin signal it feeds."""

    model_config = ConfigDict(extra="forbid")

    edge_node: str = Field(
        "*", description="Edge node id; `*` and `?` match (shell style), `{edge_node}` in targets."
    )
    device: str | None = Field(
        None,
        description="Device id (shell-style pattern); absent: a metric of the edge node itself.",
    )
    metric: str = Field(..., description="Metric name as in the birth certificate.")
    kind: Literal["power", "energy", "state"] = Field(
        ..., description="power [-> kW], energy (a cumulative counter) [-> kWh], or state."
    )
    meter: str | None = Field(
        None, description="Twin meter id; may use `{edge_node}` and `{device}`."
    )
    asset: str | None = Field(
        None, description="Twin asset id; may use `{edge_node}` and `{device}`."
    )
    unit: str | None = Field(None, description="Unit of power/energy values, e.g. W, kW, kWh.")

    @model_validator(mode="after")
    def _check(self) -> SparkplugMetric:
        target = self.meter if self.kind in ("power", "energy") else self.asset
        if not target:
            need = "meter" if self.kind in ("power", "energy") else "asset"
            msg = f"a {self.kind} metric needs '{need}'"
            raise ValueError(msg)
        if self.kind in ("power", "energy") and not self.unit:
            msg = f"a {self.kind} metric needs 'unit'"
            raise ValueError(msg)
        unknown = _placeholders(target) - {"edge_node", "device"}
        if unknown:
            msg = f"{target!r} uses {sorted(unknown)}; only {{edge_node}} and {{device}} exist"
            raise ValueError(msg)
        return self

    @property
    def target(self) -> str:
        return str(self.meter if self.kind in ("power", "energy") else self.asset)


class SparkplugConfig(BaseModel):
    """Sparkplug B (spBv1.0) edge nodes of one group."""

    model_config = ConfigDict(extra="forbid")

    group_id: str = Field(..., description="Sparkplug group id.")
    request_rebirth: bool = Field(
        True,
        description="Ask an edge node for a rebirth (NCMD Node Control/Rebirth) when its "
        "sequence numbers skip or it sends data before its birth.",
    )
    metrics: list[SparkplugMetric] = Field(
        ..., min_length=1, description="The metrics to read and the signals they feed."
    )

    @field_validator("group_id")
    @classmethod
    def _group(cls, v: str) -> str:
        if not v or any(c in v for c in "/+#"):
            msg = f"group_id {v!r} must be non-empty without '/', '+' or '#'"
            raise ValueError(msg)
        return v


class MqttConfig(BaseModel):
    """A connector file for an MQTT broker (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mqtt"] = Field("mqtt", description="This file's connector: mqtt.")
    broker: BrokerConfig
    spool: SpoolConfig = Field(default_factory=SpoolConfig)  # type: ignore[arg-type]
    store: StoreConfig = Field(default_factory=StoreConfig)  # type: ignore[arg-type]
    state_names: dict[str, State] = Field(
        default_factory=dict,
        description="Published state (name, number or code, as text) -> carbontwin state; adds "
        "to the built-in Machinery and PackML names.",
    )
    topics: list[TopicMapping] = Field(
        default_factory=list, description="Plain JSON topics and the signals they feed."
    )
    sparkplug: SparkplugConfig | None = Field(
        None, description="Sparkplug B edge nodes of one group and the metrics to read."
    )

    @model_validator(mode="after")
    def _something(self) -> MqttConfig:
        if not self.topics and self.sparkplug is None:
            msg = "an MQTT connector file needs 'topics' or 'sparkplug'"
            raise ValueError(msg)
        return self

    def resolve_paths(self, base: Path) -> MqttConfig:
        """Copy with relative file paths taken relative to ``base`` (the file's folder)."""

        def fix(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else base / p

        broker = self.broker
        if broker.tls is not None:
            tls = broker.tls.model_copy(
                update={k: fix(getattr(broker.tls, k)) for k in ("ca_certs", "certfile", "keyfile")}
            )
            broker = broker.model_copy(update={"tls": tls})
        spool = self.spool.model_copy(update={"path": fix(self.spool.path)})
        return self.model_copy(update={"broker": broker, "spool": spool})


def load_mqtt_config(path: Path | str, data: Any = None) -> MqttConfig:
    """Read an MQTT connector file; relative paths are relative to it.

    Raises
    ------
    ConnectorError
        Naming the file, the line where it can, and each invalid field.
    """
    cfg = load_config_file(path, MqttConfig, data)
    return cfg.resolve_paths(Path(path).parent.resolve())
