"""MQTT connector: plain JSON topics and Sparkplug B into the twin store.

One aiomqtt client subscribes to the topics of an MQTT connector file
(:mod:`carbontwin.connectors.mqtt_config`) with QoS 1 in a persistent session.
Each message is read the moment it arrives and written to the spool before the
client acknowledges it (the PUBACK goes out after the message callback
returns), so a crash never loses an acknowledged message: the broker sends
what was not acknowledged again.

Plain topics map by pattern (``hall2/{machine}/power``) to a meter or asset;
the value and the time are read by JSONPath (jsonpath-ng), units converted to
kW / kWh with pint, states through the ``state_names`` map and the built-in
Machinery/PackML names. Sparkplug B messages go through
:class:`~carbontwin.connectors.sparkplug.SparkplugHost`.

Gaps (:mod:`carbontwin.connectors._live`): on start, from each source's last
stored value; after a lost broker connection, for every source (the broker may
have restarted and lost the session), closed by each source's first value
afterwards; a Sparkplug node whose sequence numbers continue across the cut has
provably lost nothing, and its gaps are withdrawn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiomqtt
from aiomqtt.error import MqttConnectError
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.parser import parse as jsonpath

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch

from ._live import ConnectorStats, Seen, SpooledConnector
from ._opcua_nodes import factor_to_canonical
from .mqtt_config import MqttConfig, TopicMapping
from .opcua_config import state_from_names
from .sparkplug import SparkplugHost, rebirth_request

__all__ = ["MqttConnector"]

log = logging.getLogger(__name__)

#: CONNACK return codes of a refused login (MQTT 3.1.1, 3.2.2.3).
_REFUSED = {4: "bad user name or password", 5: "not authorized"}


def _topic_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for level in pattern.split("/"):
        if level == "#":
            parts.append(".*")
        elif level == "+":
            parts.append("[^/]+")
        elif level.startswith("{") and level.endswith("}"):
            parts.append(f"(?P<{level[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(level))
    return re.compile("/".join(parts) + "$")


class _Topic:
    """A compiled :class:`TopicMapping`."""

    def __init__(self, m: TopicMapping) -> None:
        self.m = m
        self.regex = _topic_regex(m.topic)
        try:
            self.value = jsonpath(m.value)
            self.time = jsonpath(m.time) if m.time else None
            self.unit = jsonpath(m.unit_path) if m.unit_path else None
        except (JsonPathParserError, Exception) as exc:  # jsonpath-ng raises plain Exception too
            msg = f"topic {m.topic!r}: bad JSONPath: {exc}"
            raise ConnectorError(msg) from exc


def _first(path: Any, doc: Any) -> Any:
    found = path.find(doc)
    return found[0].value if found else None


def _parse_time(value: Any, fmt: str) -> float:
    """Epoch seconds of a time read from a message; ValueError if unusable."""
    if isinstance(value, bool) or value is None:
        msg = f"no usable time ({value!r})"
        raise ValueError(msg)
    if isinstance(value, str) and fmt in ("auto", "iso8601"):
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            msg = f"time {value!r} has no UTC offset"
            raise ValueError(msg)
        return dt.timestamp()
    x = float(value)
    if fmt == "epoch_ms" or (fmt == "auto" and abs(x) > 1e11):
        x /= 1000.0
    if not math.isfinite(x):
        msg = f"time {value!r} is not finite"
        raise ValueError(msg)
    return x


class MqttConnector(SpooledConnector):
    """Reads an MQTT broker (plain JSON topics, Sparkplug B) into the twin store.

    Parameters
    ----------
    config : MqttConfig
    sink : callable, optional
        ``sink(EventBatch) -> int`` receiving flushed batches; by default the
        store of ``config.store.url``.
    """

    def __init__(
        self, config: MqttConfig, *, sink: Callable[[EventBatch], int] | None = None
    ) -> None:
        super().__init__(config.spool, config.store.url, sink, config.store.tenant)
        self.config = config
        self._topics = [_Topic(m) for m in config.topics]
        self.sparkplug = SparkplugHost(config.sparkplug) if config.sparkplug else None
        self._factors: dict[tuple[str, str], float] = {}
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()

    @property
    def _cut_reason(self) -> str:
        return f"connection to broker {self.endpoint} lost"

    @property
    def endpoint(self) -> str:
        b = self.config.broker
        return f"{'mqtts' if b.tls else 'mqtt'}://{b.host}:{b.port}"

    # ------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> ConnectorStats:
        """Connect, read until ``stop`` is set, then flush and close."""
        try:
            await self.start(stop)
            assert self._task is not None
            done, _ = await asyncio.wait(
                [self._task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            if self._task in done:
                self._task.result()  # a refused login ends the run with its error
        finally:
            await self.close()
        return self.stats

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Open the spool and start reading; ``ready`` is set once subscribed."""
        self._open_spool()
        self._stop = stop or asyncio.Event()
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        """Stop reading, flush what the spool holds, close it."""
        self.ready.clear()
        self._stop.set()
        if self._task is not None:
            if not self._task.done():
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectorError):
                await self._task
            self._task = None
        await self._close_spool()

    def _tls(self) -> ssl.SSLContext | None:
        tls = self.config.broker.tls
        if tls is None:
            return None
        ctx = ssl.create_default_context(cafile=str(tls.ca_certs) if tls.ca_certs else None)
        ctx.check_hostname = tls.check_hostname
        if tls.certfile:
            ctx.load_cert_chain(str(tls.certfile), str(tls.keyfile) if tls.keyfile else None)
        return ctx

    async def _loop(self) -> None:
        b = self.config.broker
        delay, refusals, first = 0.2, 0, True
        while not self._stop.is_set():
            try:
                await self._session()
                delay = 0.2
            except aiomqtt.MqttCodeError as exc:
                rc = getattr(exc, "rc", None)
                if isinstance(exc, MqttConnectError) and rc in _REFUSED:
                    refusals += 1
                    if refusals > b.connect_retries:
                        msg = (
                            f"broker {self.endpoint} refused the login of user "
                            f"{b.username!r}: {_REFUSED[rc]} (after {refusals} attempt(s))"
                        )
                        raise ConnectorError(msg) from None
                log.warning("broker %s: %s; reconnecting in %.1f s", self.endpoint, exc, delay)
            except ssl.SSLError as exc:
                refusals += 1
                if refusals > b.connect_retries:
                    msg = f"TLS with broker {self.endpoint} failed: {exc}"
                    raise ConnectorError(msg) from None
                log.warning(
                    "TLS with %s failed (%s); retrying in %.1f s", self.endpoint, exc, delay
                )
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning("broker %s: %s; reconnecting in %.1f s", self.endpoint, exc, delay)
            self.ready.clear()
            self.connected.clear()
            if self._stop.is_set():
                return
            if not first or self.spool is not None:
                self.stats.reconnects += 1
            first = False
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
                return
            except TimeoutError:
                delay = min(delay * 2, b.reconnect_max_delay_s)

    async def _session(self) -> None:
        b = self.config.broker
        client = aiomqtt.Client(
            b.host,
            b.port,
            client_id=b.client_id,
            clean_session=b.clean_session,
            username=b.username,
            password=b.password,
            keepalive=b.keepalive_s,
            tls_context=self._tls(),
            timeout=10,
        )
        # aiomqtt 1.x calls these synchronously from paho's on_message, before paho sends
        # the PUBACK of a QoS 1 message: what is acknowledged is already in the spool
        client._on_message_callbacks.append(self._on_message)
        async with client:
            self._client = client
            self.connected.set()
            filters = [(t.m.filter, t.m.qos) for t in self._topics]
            if self.sparkplug is not None:
                filters.append((self.sparkplug.filter, 1))
            await client.subscribe(filters)
            log.info("subscribed to %d topic filters on %s", len(filters), self.endpoint)
            self.ready.set()
            try:
                stop = asyncio.create_task(self._stop.wait())
                ends: list[asyncio.Future[Any]] = [stop, client._disconnected]
                await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if client._disconnected.done():
                    client._disconnected.result()  # raises the reason of the drop
            finally:
                self._client = None
                if not self._stop.is_set():
                    # the broker may have lost the session (restart): every source has a
                    # hole up to its next value, unless proven otherwise
                    self._open_gaps(None, self._cut_reason)
                    if self.sparkplug is not None:
                        self.sparkplug.connection_lost()

    # ------------------------------------------------------------ messages
    def _factor(self, unit: str, kind: str, where: str) -> float:
        key = (unit, kind)
        if key not in self._factors:
            self._factors[key] = factor_to_canonical(unit, kind, where)
        return self._factors[key]

    def _on_message(self, message: aiomqtt.Message) -> None:
        self.stats.notifications += 1
        topic = message.topic.value
        raw = (
            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        )
        rows: list[tuple[Any, ...]] = []
        seen: Seen = {}
        if self.sparkplug is not None and topic.startswith("spBv1.0/"):
            self._on_sparkplug(topic, raw, rows, seen)
        else:
            self._on_json(topic, raw, rows, seen)
        try:
            self._commit(rows, seen)
        except ConnectorError:
            log.exception("message on %s could not be spooled", topic)
            raise

    def _on_json(self, topic: str, raw: bytes, rows: list[tuple[Any, ...]], seen: Seen) -> None:
        doc: Any = None
        parsed = False
        for tp in self._topics:
            match = tp.regex.match(topic)
            if match is None:
                continue
            m = tp.m
            where = f"message on {topic!r} ({m.kind} of {m.topic!r})"
            if not parsed:
                try:
                    doc = _json(raw)
                except ValueError as exc:
                    self.stats.bad_values += 1
                    log.error("%s is not JSON: %s", where, exc)
                    return
                parsed = True
            source = m.target.format(**match.groupdict())
            try:
                t = _parse_time(_first(tp.time, doc), m.time_format) if tp.time else time.time()
            except (ValueError, TypeError) as exc:
                self.stats.bad_values += 1
                log.error("%s: time at %s unusable: %s", where, m.time, exc)
                continue
            value = _first(tp.value, doc)
            unit = m.unit
            if tp.unit is not None:
                unit = str(_first(tp.unit, doc) or m.unit or "")
            self._reading(m.kind, source, t, value, unit, where, rows, seen)

    def _on_sparkplug(
        self, topic: str, raw: bytes, rows: list[tuple[Any, ...]], seen: Seen
    ) -> None:
        assert self.sparkplug is not None
        try:
            up = self.sparkplug.handle(topic, raw)
        except Exception as exc:  # a malformed payload never stops the connector
            self.stats.bad_values += 1
            log.error("Sparkplug message on %r cannot be read: %r", topic, exc)
            return
        self.stats.bad_values += up.bad
        self.stats.sequence_gaps += up.sequence_gaps
        if up.continuous:
            self.gaps.withdraw(up.continuous, self._cut_reason)
        for reason, sources in up.gaps.items():
            self._open_gaps(sources, reason)
        for r in up.readings:
            where = f"Sparkplug metric {r.mapping.metric!r} on {topic!r}"
            self._reading(r.mapping.kind, r.source, r.t, r.value, r.mapping.unit, where, rows, seen)
        if up.rebirth is not None and self._client is not None:
            self.stats.rebirths += 1
            req_topic, payload = rebirth_request(self.sparkplug.config.group_id, up.rebirth)
            log.warning("asking Sparkplug edge node %s for a rebirth", up.rebirth)
            asyncio.get_running_loop().create_task(self._publish(req_topic, payload))

    async def _publish(self, topic: str, payload: bytes) -> None:
        if self._client is None:
            return
        try:
            await self._client.publish(topic, payload, qos=0)
        except aiomqtt.MqttError as exc:
            log.error("cannot publish to %s: %s", topic, exc)

    def _reading(
        self,
        kind: str,
        source: str,
        t: float,
        value: Any,
        unit: str | None,
        where: str,
        rows: list[tuple[Any, ...]],
        seen: Seen,
    ) -> None:
        if kind in ("power", "energy"):
            try:
                x = float(value) * self._factor(str(unit), kind, where)
            except (TypeError, ValueError, ConnectorError) as exc:
                self.stats.bad_values += 1
                log.error("%s: unusable %s value %r [%s]: %s", where, kind, value, unit, exc)
                return
            if not math.isfinite(x) or x < 0:
                self.stats.bad_values += 1
                log.error("%s: unusable %s value %r", where, kind, value)
                return
            row: tuple[Any, ...] = (
                "power" if kind == "power" else "counter",
                source,
                t,
                None,
                x,
                "",
                "",
                "",
            )
        else:
            name = _state_text(value)
            state = state_from_names(name, extra=self.config.state_names) if name else None
            if state is None:
                self.stats.bad_values += 1
                log.error(
                    "%s: state %r of %s is neither a Machinery/PackML name nor in state_names",
                    where,
                    value,
                    source,
                )
                return
            row = ("state", source, t, None, None, state.value, "", "")
        key = f"{row[0]}:{source}"
        age = self._fresh(key, t)
        if age != "late":
            self._seen(source, key, t if age == "new" else None, seen)
        # an older value (redelivered, or out of order) is kept too: the spool and the
        # store drop exact repeats by their natural key
        rows.append(row)


def _json(raw: bytes) -> Any:
    import json

    return json.loads(raw.decode("utf-8"))


def _state_text(value: Any) -> str | None:
    """A state as text: names as they are, integral numbers without a decimal point."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
