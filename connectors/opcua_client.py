"""OPC UA connector: machine states, power and energy from a server into the twin store.

One asyncua client subscribes to the nodes of a connector file
(:mod:`carbontwin.connectors.opcua_config`) and turns notifications into twin
events at the edge: units to kW / kWh, states to carbontwin states by NodeId
or name, order steps from the current order / active steps. Nothing is
dropped silently:

- notifications are taken from the publish response as a whole (one spool
  transaction per notification batch), not through asyncua's bounded iterator
  queue; queue sizes are requested per monitored item; a value flagged with the
  OPC UA Overflow bit (the server discarded older values of that item: a gap
  from the last value delivered to it is recorded), a notification sequence
  number skipped, a bad status or an unusable value is counted in
  :class:`ConnectorStats` and logged as an error;
- asyncua's ``auto_reconnect`` re-establishes the session with backoff (capped
  at ``reconnect_max_delay_s``); where the server still holds the session, the
  subscription is kept (TransferSubscriptions) and the notifications sent during
  the cut are fetched again (Republish), so a short cut loses nothing; where it
  does not, the subscription is re-created and each signal source gets a
  :class:`~carbontwin.twin.events.Gap` from its last value before the cut to its
  first new value after it (a re-created subscription first sends each item's
  current value: one not newer than what was stored means the source did not
  change, and it gets no gap);
- on start, each source's last stored time (the spool's cursors) to its first
  new value is recorded as a gap the same way: the connector was not running;
- a value equal in time to the last one seen for the same node (the initial
  values after a reconnect) is dropped, so a reconnect adds no duplicate rows; a
  *different* value at that same source time (a server whose timestamps are
  coarser than its changes) is counted in ``same_time_changes`` and logged as a
  warning, and the first value of that time is kept;
  an older power or energy value (fetched again after a cut, arriving after
  newer ones) is kept (the spool and store drop exact repeats); an older state
  or order value is counted as an error and logged, never applied out of order;
- events go to a local SQLite spool first (:mod:`carbontwin.connectors.spool`) and
  are flushed to the store in idempotent batches.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from asyncua.client.client import Client, _first_cert_from_chain
from asyncua.common.subscription import Subscription
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes, get_name_and_doc
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import State

from ._live import ConnectorStats, Seen, SpooledConnector
from ._opcua_fast import Change, Changes, changes_of, install
from ._opcua_nodes import CHUNK, factor_to_canonical, read_enum_names, read_units, resolve_nodes
from .opcua_config import (
    ITEM_STATE_IDS,
    MACHINERY_URI,
    OPERATION_MODE_IDS,
    ConnectorConfig,
    SignalConfig,
    state_from_names,
)
from .security import POLICY_CLASSES, check_server_certificate, ensure_certificate, thumbprint

__all__ = ["ConnectorStats", "OpcUaConnector"]

log = logging.getLogger(__name__)

_OVERFLOW = 0x0480  # InfoType DataValue | Overflow bit (OPC 10000-4, 7.39)

#: Service results of a refused session (OPC 10000-4): the name and what it means.
_REFUSALS = {
    "BadUserAccessDenied": "wrong user name or password, or the user may not log in",
    "BadIdentityTokenInvalid": "the server does not accept this kind of login",
    "BadIdentityTokenRejected": "wrong user name or password",
    "BadSecurityChecksFailed": "the server refused this client's certificate or signature",
    "BadSecurityPolicyRejected": "the server refused the security policy",
    "BadNoValidCertificates": "no valid certificate",
}


class _Refused(ConnectorError):
    """The server refused the session, or its certificate is not trusted: retrying soon
    changes nothing, so the connector gives up after ``connect_retries``."""


@dataclass(slots=True)
class _Item:
    signal: SignalConfig
    part: str  # "value", "mode" or "power_state"
    text: str  # the node as configured (cursor key)
    nodeid: ua.NodeId | None = None
    factor: float = 1.0
    enum: dict[int, str] | None = None  # names of numeric states, from the server


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class _BatchSubscription(Subscription):
    """A subscription handing each publish response's notifications over as one batch."""

    def __init__(
        self, session: Any, params: ua.CreateSubscriptionParameters, owner: OpcUaConnector
    ) -> None:
        super().__init__(session, params, handler=owner)
        self._owner = owner
        self._held: dict[int, ua.NotificationMessage] = {}  # seq -> message waiting

    #: How long messages after a missing sequence number wait for it (Republish) [s].
    HOLD_S = 3.0

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self.last_publish_at = time.monotonic()
        msg = publish_result.NotificationMessage
        if not msg.NotificationData:
            return
        seq = int(msg.SequenceNumber)
        last = self.last_sequence_number
        if last is not None and seq <= last:
            return  # republished again: already read
        if last is not None and seq > last + 1 and not self._replaying:
            # after a cut, new messages can come before the missing ones are republished:
            # hold them, so that every item's values are read in their order
            self._held[seq] = msg
            if len(self._held) == 1:
                asyncio.get_running_loop().call_later(self.HOLD_S, self._give_up_waiting)
            return
        self._deliver_message(msg)
        self._release()

    def _deliver_message(self, msg: ua.NotificationMessage) -> None:
        self.last_sequence_number = int(msg.SequenceNumber)
        items: list[Change] = []
        for notif in msg.NotificationData:
            if isinstance(notif, Changes):  # read by _opcua_fast
                items.extend(notif)
            elif isinstance(notif, ua.DataChangeNotification):  # republished
                items.extend(changes_of(notif))
            elif isinstance(notif, ua.StatusChangeNotification):
                self._owner._status_change(notif.Status)
        if items:
            self._owner._on_batch(items)

    def _release(self) -> None:
        """Read held messages that now follow in sequence."""
        held = self._held
        while held and self.last_sequence_number is not None:
            nxt = held.pop(self.last_sequence_number + 1, None)
            if nxt is None:
                break
            self._deliver_message(nxt)

    def _give_up_waiting(self) -> None:
        """The missing messages did not come: what was lost is reported, the rest read."""
        held = self._held
        while held:
            seq = min(held)
            last = self.last_sequence_number
            if last is not None and seq > last + 1:
                self._owner._sequence_gap(last, seq)
            self._deliver_message(held.pop(seq))
            self._release()

    async def recreate(self) -> None:
        self.last_sequence_number = None
        self._owner._data_lost()
        await super().recreate()


class OpcUaConnector(SpooledConnector):
    """Reads an OPC UA server into the twin store through a local spool.

    Parameters
    ----------
    config : ConnectorConfig
        The connector file (see :func:`~carbontwin.connectors.opcua_config.load_connector_config`).
    sink : callable, optional
        ``sink(EventBatch) -> int`` receiving flushed batches; by default
        ``Store.open(config.store.url).write_events``.
    """

    def __init__(
        self, config: ConnectorConfig, *, sink: Callable[[EventBatch], int] | None = None
    ) -> None:
        super().__init__(config.spool, config.store.url, sink, config.store.tenant)
        self.config = config
        self._items: dict[int, _Item] = {}
        self._names: dict[str, dict[str, str]] = {}  # asset -> part -> state name
        self._open: dict[str, dict[str, float]] = {}  # asset -> step key -> start
        self._state_ids: dict[tuple[int, Any], str] = {}
        self._client: Client | None = None
        self._sub: _BatchSubscription | None = None

    @property
    def endpoint(self) -> str:
        return self.config.endpoint

    # asyncua handler protocol (unused: batches arrive through _BatchSubscription)
    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:  # pragma: no cover
        pass

    # ------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> ConnectorStats:
        """Connect, read until ``stop`` is set, then flush and close."""
        try:
            await self.start(stop)
            await stop.wait()
        finally:
            await self.close()
        return self.stats

    async def start(self, stop: asyncio.Event | None = None) -> None:
        """Open the spool, start the flusher, connect (retrying with backoff) and subscribe."""
        self._open_spool()
        assert self.spool is not None
        self._open = {a: dict(v) for a, v in (self.spool.get_state("open_steps") or {}).items()}
        try:
            if await self._connect_with_retry(stop):
                await self._subscribe()
                self.ready.set()
        except BaseException:
            await self.close()
            raise

    async def _connect_with_retry(self, stop: asyncio.Event | None) -> bool:
        """Connect; without ``stop`` once, else retry with backoff until ``stop`` (False).

        A refused login or certificate is tried ``connect_retries`` more times, then
        ends the connector with its error; an unreachable server is retried until stopped.
        """
        delay, refusals = 0.5, 0
        while True:
            try:
                await self._connect()
                return True
            except _Refused as exc:
                refusals += 1
                if stop is None or stop.is_set() or refusals > self.config.connect_retries:
                    msg = f"{exc.message} (refused {refusals} time(s); giving up)"
                    raise ConnectorError(msg) from None
                log.error("%s; retrying in %.1f s", exc.message, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return False
                except TimeoutError:
                    delay = min(delay * 2, self.config.reconnect_max_delay_s * 4)
            except ConnectorError as exc:
                if stop is None or stop.is_set():
                    raise
                log.warning("%s; retrying in %.1f s", exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return False
                except TimeoutError:
                    delay = min(delay * 2, self.config.reconnect_max_delay_s * 4)

    async def _connect(self) -> None:
        cfg = self.config
        client = Client(
            cfg.endpoint,
            timeout=cfg.timeout_s,
            watchdog_intervall=cfg.watchdog_s,
            auto_reconnect=True,
            reconnect_max_delay=cfg.reconnect_max_delay_s,
        )
        client.name = client.description = "carbontwin connector"
        if cfg.security.policy != "None":
            await self._secure(client)
        if cfg.username:
            client.set_user(cfg.username)
            client.set_password(cfg.password or "")
        client.connection_lost_callback = self._connection_lost
        try:
            await client.connect()
        except UaStatusCodeError as exc:
            name, _ = get_name_and_doc(exc.code)
            if name in _REFUSALS or name.startswith("BadCertificate"):
                who = f"user {cfg.username!r}" if cfg.username else "an anonymous session"
                msg = f"{cfg.endpoint} refused {who}: {name} ({_REFUSALS.get(name, 'certificate')})"
                raise _Refused(msg) from None
            msg = f"cannot connect to {cfg.endpoint}: {exc!r}"
            raise ConnectorError(msg) from exc
        except (OSError, TimeoutError, UaError) as exc:
            msg = f"cannot connect to {cfg.endpoint}: {exc!r}"
            raise ConnectorError(msg) from exc
        self._client = client
        install(client.uaclient.session)  # publish responses read by _opcua_fast
        mach = await self._ns_index(MACHINERY_URI, required=False)
        if mach is not None:
            for name, num in {**ITEM_STATE_IDS, **OPERATION_MODE_IDS}.items():
                self._state_ids[(mach, num)] = name

    async def _secure(self, client: Client) -> None:
        """Client certificate (created on first run), the server's certificate checked
        against the trust list (or the pinned one), then the security policy."""
        cfg, sec = self.config, self.config.security
        assert sec.certificate is not None
        assert sec.private_key is not None
        client.application_uri = sec.application_uri
        pair = await ensure_certificate(sec.certificate, sec.private_key, sec.application_uri)
        policy = POLICY_CLASSES[sec.policy]
        mode = getattr(ua.MessageSecurityMode, sec.mode)
        try:
            endpoints = await client.connect_and_get_server_endpoints()
        except (OSError, TimeoutError, UaError) as exc:
            msg = f"cannot connect to {cfg.endpoint}: {exc!r}"
            raise ConnectorError(msg) from exc
        try:
            ep = Client.find_endpoint(endpoints, mode, policy.URI)
        except UaError:
            offered = sorted(
                {
                    f"{e.SecurityPolicyUri.rsplit('#', 1)[-1]} {e.SecurityMode.name}"
                    for e in endpoints
                }
            )
            msg = f"{cfg.endpoint} offers no {sec.policy} {sec.mode} endpoint (it offers {offered})"
            raise _Refused(msg) from None
        # the server's own certificate, without the chain some servers append
        der = _first_cert_from_chain(bytes(ep.ServerCertificate or b""))
        if sec.server_certificate is not None:
            try:
                pinned = sec.server_certificate.read_bytes()
            except OSError as exc:
                msg = f"cannot read the server certificate {sec.server_certificate}: {exc}"
                raise ConnectorError(msg) from exc
            if not der.startswith(pinned):
                msg = (
                    f"{cfg.endpoint} presents a certificate other than the pinned "
                    f"{sec.server_certificate} (SHA-256 {thumbprint(der)})"
                )
                raise _Refused(msg)
        else:
            try:
                await check_server_certificate(
                    der,
                    cfg.endpoint,
                    sec.trust_dir,
                    trust_on_first_use=sec.trust_on_first_use,
                )
            except ConnectorError as exc:
                raise _Refused(exc.message) from None
        try:
            await client.set_security(
                policy,
                str(pair.certificate),
                str(pair.private_key),
                server_certificate=der,
                mode=mode,
            )
        except (OSError, TimeoutError, UaError, ValueError) as exc:
            msg = f"cannot set up {sec.policy} {sec.mode} with {cfg.endpoint}: {exc!r}"
            raise ConnectorError(msg) from exc

    async def close(self) -> None:
        """Unsubscribe, disconnect, flush what the spool holds, close it."""
        self.ready.clear()
        if self._client is not None:
            try:
                await self._client.disconnect()
            except (OSError, TimeoutError, UaError, ConnectionError) as exc:
                log.info("disconnect from %s: %r", self.config.endpoint, exc)
            self._client = None
        await self._close_spool()

    # ---------------------------------------------------------- resolution
    async def _ns_index(self, uri: str, *, required: bool = True) -> int | None:
        assert self._client is not None
        ns = await self._client.get_namespace_array()
        if uri in ns:
            return ns.index(uri)
        if required:
            msg = f"server {self.config.endpoint} has no namespace {uri!r} (it has {ns})"
            raise ConnectorError(msg)
        return None

    async def _unit_factors(self, items: list[_Item]) -> None:
        """Set each power/energy item's factor to kW / kWh from its unit."""
        assert self._client is not None
        need = [it for it in items if it.part == "value" and it.signal.kind in ("power", "energy")]
        units = {it.text: str(it.signal.unit) for it in need if it.signal.unit}
        ask = {it.text: it.nodeid for it in need if not it.signal.unit and it.nodeid is not None}
        units.update(await read_units(self._client, ask, self.config.endpoint))
        for it in need:
            kind = "power" if it.signal.kind == "power" else "energy"
            where = f"node {it.text!r} ({it.signal.kind} of {it.signal.source})"
            it.factor = factor_to_canonical(units[it.text], kind, where)

    async def _subscribe(self) -> None:
        cfg = self.config
        assert self._client is not None
        items: list[_Item] = []
        for s in cfg.signals:
            items.append(_Item(s, "value", s.node))
            if s.mode_node:
                items.append(_Item(s, "mode", s.mode_node))
            if s.power_state_node:
                items.append(_Item(s, "power_state", s.power_state_node))
        ids = await resolve_nodes(
            self._client, sorted({it.text for it in items}), cfg.namespaces, cfg.endpoint
        )
        for it in items:
            it.nodeid = ids[it.text]
        await self._unit_factors(items)
        states = {it.text: it.nodeid for it in items if it.signal.kind == "state" and it.nodeid}
        enums = await read_enum_names(self._client, states)
        for it in items:
            it.enum = enums.get(it.text)
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=cfg.publishing_interval_ms,
            RequestedLifetimeCount=10000,
            RequestedMaxKeepAliveCount=self._client.get_keepalive_count(cfg.publishing_interval_ms),
            MaxNotificationsPerPublish=0,
            PublishingEnabled=True,
            Priority=0,
        )
        sub = _BatchSubscription(self._client.uaclient.session, params, self)
        await sub.init()
        # registered like Client.create_subscription does, so auto_reconnect restores it
        self._client._subscriptions.append(sub)
        self._sub = sub
        self._items = {}
        for k in range(0, len(items), CHUNK):
            chunk = items[k : k + CHUNK]
            mirs = []
            for j, it in enumerate(chunk):
                handle = k + j + 1
                self._items[handle] = it
                trigger = (
                    ua.DataChangeTrigger.StatusValueTimestamp
                    if it.signal.trigger == "status_value_timestamp"
                    else ua.DataChangeTrigger.StatusValue
                )
                mparams = ua.MonitoringParameters(
                    ClientHandle=handle,
                    SamplingInterval=it.signal.sampling_interval_ms,
                    QueueSize=it.signal.queue_size,
                    DiscardOldest=True,
                    Filter=ua.DataChangeFilter(Trigger=trigger),
                )
                mirs.append(
                    ua.MonitoredItemCreateRequest(
                        ItemToMonitor=ua.ReadValueId(
                            NodeId=it.nodeid, AttributeId=AttributeIds.Value
                        ),
                        MonitoringMode=ua.MonitoringMode.Reporting,
                        RequestedParameters=mparams,
                    )
                )
            try:
                results = await sub.create_monitored_items(mirs)
            except UaStatusCodeError as exc:
                msg = f"cannot subscribe to {len(mirs)} nodes from {chunk[0].text!r} on: {exc}"
                raise ConnectorError(msg) from exc
            for it, res in zip(chunk, results, strict=True):
                if isinstance(res, ua.StatusCode):
                    msg = f"cannot subscribe to node {it.text!r} ({it.nodeid}): {res.name}"
                    raise ConnectorError(msg)

    # ---------------------------------------------------------- callbacks
    async def _connection_lost(self, exc: Exception) -> None:
        self.stats.reconnects += 1
        log.warning("connection to %s lost (%r); reconnecting", self.config.endpoint, exc)

    def _data_lost(self) -> None:
        """The subscription is being re-created: notifications of the outage are gone."""
        self._open_gaps(None, f"connection to {self.config.endpoint} lost")

    def _sequence_gap(self, last: int, seq: int) -> None:
        self.stats.sequence_gaps += seq - last - 1
        log.error(
            "notification messages %d..%d from %s never arrived",
            last + 1,
            seq - 1,
            self.config.endpoint,
        )
        # their values are gone: every source has a hole up to its next value
        self._open_gaps(None, f"notifications from {self.config.endpoint} lost")

    def _status_change(self, status: ua.StatusCode) -> None:
        self.stats.status_changes += 1
        log.warning("subscription status change from %s: %s", self.config.endpoint, status)

    def _state_name(self, value: Any, it: _Item) -> str | None:
        if isinstance(value, ua.LocalizedText):
            return value.Text
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not float(value).is_integer():
                return None
            # a code: its name from the server (EnumStrings/EnumValues), else the number
            # itself, which ``state_names`` may map ("3": FAULT)
            n = int(value)
            return (it.enum or {}).get(n, str(n))
        if isinstance(value, str):
            return value
        if isinstance(value, ua.NodeId):
            name = self._state_ids.get((value.NamespaceIndex, value.Identifier))
            if name is None and isinstance(value.Identifier, str):
                name = value.Identifier.rsplit(".", 1)[-1]
            return name
        return None

    def _on_batch(self, notifications: list[Change]) -> None:
        rows: list[tuple[Any, ...]] = []
        # a batch holds each item's values in turn: state parts are merged by time below
        updates: list[tuple[str, float, str, str]] = []
        seen: Seen = {}  # source -> signal -> its first new value here
        stats = self.stats
        stats.notifications += len(notifications)
        items = self._items
        for handle, status, value, t in notifications:
            it = items.get(handle)
            if it is None:
                continue
            overflow = False
            if status:
                if (status & _OVERFLOW) == _OVERFLOW:
                    overflow = True
                    stats.overflows += 1
                    log.error(
                        "queue overflow on node %r (%s): values were discarded by the server",
                        it.text,
                        it.signal.source,
                    )
                if status == StatusCodes.BadWaitingForInitialData:
                    continue
                if status & 0xC0000000:  # severity not Good
                    stats.bad_values += 1
                    status_name, _ = get_name_and_doc(status)
                    log.error("node %r (%s) reports %s", it.text, it.signal.source, status_name)
                    continue
            if value is None:
                continue
            s = it.signal
            if overflow and it.text in self._cursor:
                # the values between the last one delivered and this one were discarded:
                # a gap up to this value, recorded with this batch
                self.gaps.open(
                    {s.source: self._cursor[it.text]},
                    f"server queue of node {it.text} overflowed",
                )
            age = self._fresh(it.text, t, value)
            if age == "changed":
                # two values at one source time: the server stamps coarser than its values
                # change; the first is what the twin holds for that instant
                log.warning(
                    "node %r (%s) sent %r at %s, the source time of its last value; the "
                    "first value of that time is kept (the server's timestamps are coarser "
                    "than its changes)",
                    it.text,
                    s.source,
                    value,
                    _iso(t),
                )
            if age in ("same", "changed"):
                self._seen(s.source, it.text, None, seen)
                continue
            if age == "late" and s.kind not in ("power", "energy"):
                # a state part or order older than the latest one: applying it now would
                # mix times; it is counted and logged, never applied silently
                stats.bad_values += 1
                log.error(
                    "node %r (%s): a value of %s arrived after a newer one; not applied",
                    it.text,
                    s.source,
                    _iso(t),
                )
                continue
            if age == "new":
                self._seen(s.source, it.text, t, seen)
            if s.kind in ("power", "energy"):
                try:
                    x = float(value) * it.factor
                except (TypeError, ValueError):
                    x = math.nan
                if not math.isfinite(x) or x < 0:
                    stats.bad_values += 1
                    log.error(
                        "node %r (%s) sent an unusable %s value %r",
                        it.text,
                        s.source,
                        s.kind,
                        value,
                    )
                    continue
                rows.append(
                    ("power" if s.kind == "power" else "counter", s.source, t, None, x, "", "", "")
                )
            elif s.kind == "state":
                name = self._state_name(value, it)
                if name is None:
                    stats.bad_values += 1
                    log.error(
                        "node %r (%s): cannot read a state from %r (states map by NodeId, name, "
                        "or integer code through the server's EnumStrings/EnumValues or state_names)",
                        it.text,
                        s.source,
                        value,
                    )
                    continue
                updates.append((s.source, t, it.part, name))
            elif s.kind == "steps":
                keys = value if isinstance(value, list) else [value]
                self._set_steps(s.source, {str(k) for k in keys if k}, t, rows)
            else:  # order
                order = str(value)
                kind = "setup" if self._current_state(s.source) is State.SETUP else "processing"
                key = json.dumps(
                    {"order": order, "operation": "", "kind": kind, "quantity": s.quantity},
                    sort_keys=True,
                    separators=(",", ":"),
                )
                self._set_steps(s.source, {key} if order else set(), t, rows)
        updates.sort(key=lambda u: (u[0], u[1]))
        for (asset, t), group in itertools.groupby(updates, key=lambda u: (u[0], u[1])):
            names = self._names.setdefault(asset, {})
            for _, _, part, name in group:
                names[part] = name
            state = self._current_state(asset)
            if state is None:
                stats.bad_values += 1
                log.error(
                    "asset %s: state names %s map to no carbontwin state",
                    asset,
                    self._names.get(asset),
                )
                continue
            rows.append(("state", asset, t, None, None, state.value, "", ""))
        self._commit(rows, seen, state={"open_steps": self._open})

    def _current_state(self, asset: str) -> State | None:
        names = self._names.get(asset, {})
        return state_from_names(
            names.get("value"), names.get("mode"), names.get("power_state"), self.config.state_names
        )

    def _set_steps(self, asset: str, keys: set[str], t: float, rows: list[tuple[Any, ...]]) -> None:
        open_ = self._open.setdefault(asset, {})
        for key in [k for k in open_ if k not in keys]:
            start = open_.pop(key)
            if t <= start:
                continue
            try:
                step = json.loads(key)
                rows.append(
                    (
                        "step",
                        str(step["order"]),
                        start,
                        t,
                        float(step.get("quantity", 1.0)),
                        str(step.get("operation", "")),
                        asset,
                        str(step.get("kind", "processing")),
                    )
                )
            except (ValueError, KeyError, TypeError):
                self.stats.bad_values += 1
                log.error("asset %s: cannot read order step %r", asset, key)
        for key in keys:
            open_.setdefault(key, t)
