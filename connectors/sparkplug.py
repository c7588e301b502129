"""Sparkplug B (spBv1.0) host side: births, aliases, sequence numbers, deaths.

:class:`SparkplugHost` reads the messages of one group (decoded with
pysparkplug) and keeps what the Sparkplug B 3.0 specification asks a host
application to keep per edge node:

- the birth certificates (NBIRTH, DBIRTH): metric names, aliases and data
  types, so that NDATA/DDATA carrying only aliases can be read; a birth's
  metric values are current values and are read like data;
- the message sequence number ``seq`` (0 in NBIRTH, then +1 per message of the
  node, modulo 256): a skipped number means lost messages; the node's sources
  get a gap up to their next value and a rebirth is requested (NCMD
  ``Node Control/Rebirth``);
- the birth/death sequence number ``bdSeq``: an NDEATH (the broker's will for a
  node that went away) ends the node's data only when its bdSeq is the one of
  the current NBIRTH (an older will is stale); DDEATH ends a device's data.
  Both leave gaps from each source's last value to its first value after the
  rebirth.

Metric timestamps (ms since the epoch) are the values' times; a metric without
one takes its payload's timestamp.
"""

from __future__ import annotations

import fnmatch
import logging
from dataclasses import dataclass, field
from typing import Any

import pysparkplug as spb

from .mqtt_config import SparkplugConfig, SparkplugMetric

__all__ = ["Reading", "SparkplugHost", "SparkplugUpdate", "rebirth_request"]

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BD_SEQ = "bdSeq"


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric value for a twin source."""

    mapping: SparkplugMetric
    source: str
    t: float  # [epoch s]
    value: Any


@dataclass(slots=True)
class SparkplugUpdate:
    """What one message means to the connector."""

    readings: list[Reading] = field(default_factory=list)
    gaps: dict[str, list[str]] = field(default_factory=dict)  # reason -> sources to open
    continuous: list[str] = field(default_factory=list)  # sources proven to have lost nothing
    rebirth: str | None = None  # edge node to ask for a rebirth
    sequence_gaps: int = 0
    bad: int = 0


@dataclass(slots=True)
class _Node:
    bd_seq: int | None = None
    seq: int | None = None  # last sequence number seen
    online: bool = False
    births: dict[str | None, Any] = field(default_factory=dict)  # device (None: node) -> birth
    sources: dict[str | None, set[str]] = field(default_factory=dict)
    rebirth_asked: bool = False
    cut: bool = False  # the broker connection dropped since this node's last message


def rebirth_request(group_id: str, edge_node: str) -> tuple[str, bytes]:
    """Topic and payload of an NCMD asking ``edge_node`` to send its births again."""
    topic = spb.Topic(group_id=group_id, message_type=spb.MessageType.NCMD, edge_node_id=edge_node)
    now = spb.get_current_timestamp()
    metric = spb.Metric(now, REBIRTH, spb.DataType.BOOLEAN, value=True)
    return str(topic), spb.NCmd(now, (metric,)).encode(include_dtypes=True)


class SparkplugHost:
    """Sparkplug B state of the edge nodes of one group (see the module docstring)."""

    def __init__(self, config: SparkplugConfig) -> None:
        self.config = config
        self._nodes: dict[str, _Node] = {}

    @property
    def filter(self) -> str:
        """Subscription filter of the group."""
        return f"{NAMESPACE}/{self.config.group_id}/#"

    def _mappings(
        self, edge: str, device: str | None, metric: str
    ) -> list[tuple[SparkplugMetric, str]]:
        out = []
        for m in self.config.metrics:
            if m.metric != metric or not fnmatch.fnmatchcase(edge, m.edge_node):
                continue
            if (m.device is None) != (device is None):
                continue
            if device is not None and m.device is not None:
                pattern = "*" if m.device == "{device}" else m.device
                if not fnmatch.fnmatchcase(device, pattern):
                    continue
            target = m.target.replace("{edge_node}", edge).replace("{device}", device or "")
            out.append((m, target))
        return out

    def _node_sources(self, node: _Node, device: str | None = None) -> list[str]:
        if device is not None:
            return sorted(node.sources.get(device, set()))
        return sorted(set().union(*node.sources.values())) if node.sources else []

    def handle(self, topic_text: str, raw: bytes) -> SparkplugUpdate:
        """Read one message of the group."""
        up = SparkplugUpdate()
        try:
            topic = spb.Topic.from_str(topic_text)
        except (ValueError, IndexError):
            up.bad += 1
            log.error("Sparkplug topic %r is not spBv1.0/group/type/node[/device]", topic_text)
            return up
        kind = topic.message_type
        edge, device = topic.edge_node_id, topic.device_id
        if kind in (spb.MessageType.NCMD, spb.MessageType.DCMD, spb.MessageType.STATE):
            return up
        if edge is None or kind is None:
            up.bad += 1
            return up
        node = self._nodes.setdefault(edge, _Node())
        if kind == spb.MessageType.NDEATH:
            self._death(node, edge, raw, up)
            return up
        birth = node.births.get(device) if kind == spb.MessageType.DDATA else node.births.get(None)
        if birth is None and kind in (spb.MessageType.NDATA, spb.MessageType.DDATA):
            up.bad += 1
            log.error(
                "Sparkplug %s from %s/%s before its birth; asking for a rebirth", kind, edge, device
            )
            self._ask_rebirth(node, edge, up)
            return up
        try:
            payload = kind.payload.decode(raw, birth=None if kind.name.endswith("BIRTH") else birth)  # type: ignore[union-attr]
        except (KeyError, ValueError) as exc:
            # data of a node or device whose birth this host has not seen: ask for it
            up.bad += 1
            log.error(
                "Sparkplug %s from %s/%s cannot be read (%r); no birth seen",
                kind,
                edge,
                device,
                exc,
            )
            self._ask_rebirth(node, edge, up)
            return up
        seq = getattr(payload, "seq", None)
        if kind == spb.MessageType.NBIRTH:
            self._nbirth(node, edge, payload, up)
        elif node.seq is None or not node.online:
            # data of a node whose birth this host has not seen (or that died)
            up.bad += 1
            log.error("Sparkplug %s from %s before its NBIRTH; asking for a rebirth", kind, edge)
            self._ask_rebirth(node, edge, up)
            return up
        else:
            expected = (node.seq + 1) % 256
            if seq != expected:
                up.sequence_gaps += 1
                log.error(
                    "Sparkplug edge node %s: seq %s after %s (expected %s): messages were lost",
                    edge,
                    seq,
                    node.seq,
                    expected,
                )
                up.gaps.setdefault(f"Sparkplug sequence gap on {edge}", []).extend(
                    self._node_sources(node)
                )
                self._ask_rebirth(node, edge, up)
            elif node.cut:
                # the first message after a lost broker connection follows the last one
                # before it: nothing of this node was lost meanwhile
                up.continuous.extend(self._node_sources(node))
            node.seq = seq
        node.cut = False
        if kind == spb.MessageType.DBIRTH:
            node.births[device] = payload
            node.sources[device] = set()
        if kind == spb.MessageType.DDEATH:
            up.gaps.setdefault(f"device {edge}/{device} died (DDEATH)", []).extend(
                self._node_sources(node, device)
            )
            node.births.pop(device, None)
            return up
        t0 = float(payload.timestamp) / 1000.0
        for metric in payload.metrics:
            name = metric.name
            if name is None or name == BD_SEQ or metric.is_null or metric.value is None:
                continue
            for mapping, source in self._mappings(edge, device, name):
                node.sources.setdefault(device, set()).add(source)
                t = float(metric.timestamp) / 1000.0 if metric.timestamp is not None else t0
                up.readings.append(Reading(mapping, source, t, metric.value))
        return up

    def connection_lost(self) -> None:
        """The broker connection dropped: each node's next sequence number tells what was lost."""
        for node in self._nodes.values():
            node.cut = node.online

    def _nbirth(self, node: _Node, edge: str, payload: Any, up: SparkplugUpdate) -> None:
        if node.online and not node.rebirth_asked:
            # a new birth without a death seen: the node restarted and its will was lost
            up.gaps.setdefault(f"edge node {edge} restarted", []).extend(self._node_sources(node))
        bd = next((m.value for m in payload.metrics if m.name == BD_SEQ), None)
        node.bd_seq = int(bd) if bd is not None else None
        node.seq = int(payload.seq)
        node.online = True
        node.rebirth_asked = False
        node.births = {None: payload}
        node.sources = {None: set()} | {d: s for d, s in node.sources.items() if d is not None}

    def _death(self, node: _Node, edge: str, raw: bytes, up: SparkplugUpdate) -> None:
        try:
            value = spb.NDeath.decode(raw).bd_seq_metric.value
            bd = int(value) if isinstance(value, int | float | str) else None
        except (ValueError, IndexError, KeyError):
            bd = None
        if node.bd_seq is not None and bd is not None and bd != node.bd_seq:
            log.info(
                "stale NDEATH of %s (bdSeq %s, current birth %s) ignored", edge, bd, node.bd_seq
            )
            return
        log.warning("Sparkplug edge node %s died (NDEATH)", edge)
        up.gaps.setdefault(f"edge node {edge} died (NDEATH)", []).extend(self._node_sources(node))
        node.online = False
        node.seq = None

    def _ask_rebirth(self, node: _Node, edge: str, up: SparkplugUpdate) -> None:
        if self.config.request_rebirth and not node.rebirth_asked:
            node.rebirth_asked = True
            up.rebirth = edge
