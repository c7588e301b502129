"""Demo line server: an asyncua server that publishes any stream of twin events.

The address space follows the companion specifications a real machine would
use. The published DI, IA, Machinery and PackML NodeSets (shipped in
:mod:`carbontwin.connectors.nodesets`) are loaded, and under
``Objects/Machines`` (Machinery ``i=1001``) each asset gets an object with

- ``MachineryBuildingBlocks/MachineryItemState`` and ``.../MachineryOperationMode``
  (OPC 40001-1 state machines instantiated from their types; ``CurrentState``
  and ``CurrentState/Id`` written on every state change);
- ``Monitoring/Consumption/Electricity/Main`` with ``AcActivePowerTotal`` [W] and
  ``AcActiveEnergyTotalImportLp`` [Wh] (OPC 40001-4 / OPC 34100 names; no NodeSet
  of those is published, so they are built here), ``NaturalGas`` (``PowerTotal``,
  ``EnergyTotalImport``) for a gas meter; each variable has ``EngineeringUnits``;
- ``OrderId`` (the current order), and in the server's own namespace
  (:data:`~carbontwin.connectors.opcua_config.CARBONTWIN_URI`) ``PowerState``
  (the exact carbontwin state: Machinery cannot tell STANDBY from IDLE) and
  ``ActiveSteps`` (the order steps on the machine, as JSON strings).

A meter that measures exactly one asset sits under that asset; other meters
get an object of their own. Events are replayed in accelerated time
(``speed`` simulated seconds per real second) with their simulated times as
``SourceTimestamp``. Gap and material events are not published (they come
from MES, not from machines).

The replay does not outrun its readers. asyncua's server discards a monitored
item's oldest queued value when the item's queue is full and flags nothing (no
Overflow bit), so a reader that falls behind a fast replay would lose values
without knowing it. Before it writes, the replay waits while a subscription holds
some item's queue half full, and the line's clock stops for as long as it
waits. A subscription that has taken no notifications for ``reader_stall_s``
(its client killed, or gone without deleting it) is no longer waited for, with
a warning.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.instantiate_util import instantiate
from asyncua.common.node import Node
from asyncua.server.server import Server
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError

from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import Carrier, Factory, State

from ._opcua_nodes import eu_information, node_id
from .opcua_config import (
    CARBONTWIN_URI,
    DI_URI,
    ITEM_STATE_IDS,
    MACHINERY_URI,
    OPERATION_MODE_IDS,
    STATE_TO_MACHINERY,
)
from .security import PasswordUserManager, ensure_certificate

__all__ = ["DemoLineServer", "ReplayClock"]

log = logging.getLogger(__name__)

NODESET_FILES = (
    "Opc.Ua.Di.NodeSet2.xml",
    "Opc.Ua.IA.NodeSet2.xml",
    "Opc.Ua.Machinery.NodeSet2.xml",
    "Opc.Ua.PackML.NodeSet2.xml",
)


_CARRIER_FOLDERS = {
    Carrier.ELECTRICITY: ("Electricity", "AcActivePowerTotal", "AcActiveEnergyTotalImportLp"),
    Carrier.NATURAL_GAS: ("NaturalGas", "PowerTotal", "EnergyTotalImport"),
}


def _carrier_names(carrier: Carrier) -> tuple[str, str, str]:
    if carrier in _CARRIER_FOLDERS:
        return _CARRIER_FOLDERS[carrier]
    name = "".join(w.capitalize() for w in carrier.value.split("_"))
    return (name, "PowerTotal", "EnergyTotalImport")


@dataclass(slots=True)
class ReplayClock:
    """Maps wall-clock time to simulated time: ``sim = sim_t0 + (wall - wall_t0) * speed``.

    A restarted server given the same clock resumes where the line would be.
    """

    sim_t0: float
    wall_t0: float
    speed: float

    def sim_now(self) -> float:
        return self.sim_t0 + (time.time() - self.wall_t0) * self.speed

    def wall_of(self, t_sim: float) -> float:
        return self.wall_t0 + (t_sim - self.sim_t0) / self.speed


@dataclass(slots=True)
class _MachineNodes:
    item_state: ua.NodeId
    item_state_id: ua.NodeId
    mode: ua.NodeId
    mode_id: ua.NodeId
    power_state: ua.NodeId
    order_id: ua.NodeId
    active_steps: ua.NodeId


@dataclass(slots=True)
class _MeterNodes:
    obj: str
    carrier: Carrier
    power: ua.NodeId
    energy: ua.NodeId


@dataclass(slots=True)
class _Plan:
    assets: list[str]
    meters: dict[str, tuple[str, Carrier]]  # meter -> (object it sits under, carrier)
    objects: list[str] = field(default_factory=list)


def _plan(events: EventBatch, factory: Factory | None) -> _Plan:
    assets: set[str] = {str(a) for a in events.state_asset} | {str(a) for a in events.step_asset}
    meter_ids = {str(m) for m in events.power_meter} | {str(m) for m in events.counter_meter}
    meters: dict[str, tuple[str, Carrier]] = {}
    by_id = {m.id: m for m in factory.meters} if factory else {}
    if factory:
        assets |= set(factory.asset_ids)
        meter_ids |= set(by_id)
    for mid in sorted(meter_ids):
        fm = by_id.get(mid)
        carrier = fm.carrier if fm else Carrier.ELECTRICITY
        if fm is not None and len(fm.measures) == 1 and fm.measures[0] in assets:
            meters[mid] = (fm.measures[0], carrier)
        else:
            meters[mid] = (mid, carrier)
    objects = sorted(assets | {o for o, _ in meters.values()})
    return _Plan(sorted(assets), meters, objects)


class DemoLineServer:
    """An OPC UA server replaying twin events as a line of machines would show them.

    Parameters
    ----------
    events : EventBatch
        Any stream of twin events (simulated or recorded).
    factory : Factory, optional
        Tells which meter measures which asset and which carrier it meters.
    host, port : str, int
        Where to listen (127.0.0.1 unless told otherwise; port 0 is not
        supported by asyncua, pick a free one).
    speed : float
        Simulated seconds per real second.
    security : sequence of str
        Endpoint policies: ``"None"`` or ``<policy>_<mode>`` with policy
        ``Basic256Sha256``, ``Aes128Sha256RsaOaep`` or ``Aes256Sha256RsaPss`` and mode
        ``Sign`` or ``SignAndEncrypt`` (asyncua's names).
    cert_dir : path, optional
        Where the server certificate lives (created on first run); needed for
        secured endpoints.
    users : dict, optional
        username -> password; when given, anonymous sessions are refused.
    clock : ReplayClock, optional
        Share a clock between a server and its restarted successor.
    reader_stall_s : float
        How long the replay waits for a subscription that takes no notifications
        before it goes on without it [s].
    """

    def __init__(
        self,
        events: EventBatch,
        *,
        factory: Factory | None = None,
        host: str = "127.0.0.1",
        port: int = 4840,
        speed: float = 60.0,
        security: Sequence[str] = ("None",),
        cert_dir: Path | str | None = None,
        users: dict[str, str] | None = None,
        clock: ReplayClock | None = None,
        reader_stall_s: float = 10.0,
    ) -> None:
        self.events = events
        self.factory = factory
        self.host = host
        self.port = port
        self.speed = float(speed)
        self.security = tuple(security)
        self.cert_dir = Path(cert_dir) if cert_dir else None
        self.users = users
        self.clock = clock
        self.reader_stall_s = float(reader_stall_s)
        self.paused_s = 0.0  # replay time spent waiting for readers
        self._readers: dict[int, tuple[int, float]] = {}  # subscription -> (queued, last taken)
        self._stalled: set[int] = set()
        self._check_every = 1  # write batches between two looks at the readers
        self.application_uri = "urn:carbontwin:demo-line-server"
        self._server: Server | None = None
        self._machines: dict[str, _MachineNodes] = {}
        self._meters: dict[str, _MeterNodes] = {}
        self._plan = _plan(events, factory)
        self.idx = 0
        self.writes = 0

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/carbontwin/"

    async def __aenter__(self) -> DemoLineServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ setup
    async def start(self) -> None:
        """Build the address space and listen."""
        user_manager = PasswordUserManager(self.users) if self.users else None
        server = Server(user_manager=user_manager)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("carbontwin demo line")
        await server.set_application_uri(self.application_uri)
        policies = [
            getattr(ua.SecurityPolicyType, "NoSecurity" if p == "None" else p)
            for p in self.security
        ]
        server.set_security_policy(policies)
        if any(p != "None" for p in self.security):
            if self.cert_dir is None:
                msg = "a secured demo server needs cert_dir for its certificate"
                raise ValueError(msg)
            pair = await ensure_certificate(
                self.cert_dir / "server.der",
                self.cert_dir / "server-key.pem",
                self.application_uri,
                server=True,
            )
            await server.load_certificate(str(pair.certificate))
            await server.load_private_key(str(pair.private_key))
        with ExitStack() as stack:
            pkg = importlib.resources.files("carbontwin.connectors.nodesets")
            for i, name in enumerate(NODESET_FILES):
                path = stack.enter_context(importlib.resources.as_file(pkg / name))
                await server.import_xml(str(path), strict_mode=i != 0)
        self.idx = await server.register_namespace(CARBONTWIN_URI)
        self._server = server
        await self._build()
        await server.start()
        log.info(
            "demo line server on %s: %d machines, %d meters",
            self.endpoint,
            len(self._plan.assets),
            len(self._plan.meters),
        )

    async def _build(self) -> None:
        assert self._server is not None
        server = self._server
        mach = await server.get_namespace_index(MACHINERY_URI)
        di = await server.get_namespace_index(DI_URI)
        idx = self.idx
        machines = server.get_node(node_id(1001, mach))
        item_type = server.get_node(node_id(1002, mach))
        mode_type = server.get_node(node_id(1008, mach))
        self._item_ids = {k: node_id(v, mach) for k, v in ITEM_STATE_IDS.items()}
        self._mode_ids = {k: node_id(v, mach) for k, v in OPERATION_MODE_IDS.items()}
        objs: dict[str, Node] = {}
        for oid in self._plan.objects:
            objs[oid] = await machines.add_object(node_id(oid, idx), ua.QualifiedName(oid, idx))
        for asset in self._plan.assets:
            obj = objs[asset]
            blocks = await obj.add_folder(
                node_id(f"{asset}.MachineryBuildingBlocks", idx),
                ua.QualifiedName("MachineryBuildingBlocks", di),
            )
            item = await _state_machine(blocks, item_type, "MachineryItemState", mach, idx)
            mode = await _state_machine(blocks, mode_type, "MachineryOperationMode", mach, idx)
            item_cur = await item.get_child("0:CurrentState")
            mode_cur = await mode.get_child("0:CurrentState")
            item_id = await item_cur.get_child("0:Id")
            mode_id = await mode_cur.get_child("0:Id")
            power_state = await obj.add_variable(
                node_id(f"{asset}.PowerState", idx),
                ua.QualifiedName("PowerState", idx),
                "",
                varianttype=ua.VariantType.String,
            )
            order_id = await obj.add_variable(
                node_id(f"{asset}.OrderId", idx),
                ua.QualifiedName("OrderId", idx),
                "",
                varianttype=ua.VariantType.String,
            )
            steps = await obj.add_variable(
                node_id(f"{asset}.ActiveSteps", idx),
                ua.QualifiedName("ActiveSteps", idx),
                [],
                varianttype=ua.VariantType.String,
            )
            self._machines[asset] = _MachineNodes(
                item_cur.nodeid,
                item_id.nodeid,
                mode_cur.nodeid,
                mode_id.nodeid,
                power_state.nodeid,
                order_id.nodeid,
                steps.nodeid,
            )
        monitoring: dict[str, Node] = {}
        for meter, (oid, carrier) in sorted(self._plan.meters.items()):
            folder_name, p_name, e_name = _carrier_names(carrier)
            if oid not in monitoring:
                mon = await objs[oid].add_object(
                    node_id(f"{oid}.Monitoring", idx), ua.QualifiedName("Monitoring", idx)
                )
                monitoring[oid] = await mon.add_object(
                    node_id(f"{oid}.Consumption", idx), ua.QualifiedName("Consumption", idx)
                )
            cons = monitoring[oid]
            base = f"{oid}.{folder_name}"
            try:
                carrier_obj = await cons.add_object(
                    node_id(base, idx), ua.QualifiedName(folder_name, idx)
                )
            except UaStatusCodeError:
                carrier_obj = server.get_node(node_id(base, idx))
            # a second meter of the same carrier on one object is named after the meter
            leaf = (
                "Main"
                if not any(m.obj == oid and m.carrier == carrier for m in self._meters.values())
                else meter
            )
            main = await carrier_obj.add_object(
                node_id(f"{base}.{leaf}", idx), ua.QualifiedName(leaf, idx)
            )
            p = await main.add_variable(
                node_id(f"{base}.{leaf}.{p_name}", idx),
                ua.QualifiedName(p_name, idx),
                0.0,
                varianttype=ua.VariantType.Double,
            )
            e = await main.add_variable(
                node_id(f"{base}.{leaf}.{e_name}", idx),
                ua.QualifiedName(e_name, idx),
                0.0,
                varianttype=ua.VariantType.Double,
            )
            await p.add_property(
                node_id(f"{base}.{leaf}.{p_name}.EngineeringUnits", idx),
                ua.QualifiedName("EngineeringUnits", 0),
                eu_information("W"),
            )
            await e.add_property(
                node_id(f"{base}.{leaf}.{e_name}.EngineeringUnits", idx),
                ua.QualifiedName("EngineeringUnits", 0),
                eu_information("Wh"),
            )
            self._meters[meter] = _MeterNodes(oid, carrier, p.nodeid, e.nodeid)
        # nothing published yet: every variable waits for its first value
        bad_waiting = ua.StatusCode(StatusCodes.BadWaitingForInitialData)  # type: ignore[arg-type]  # asyncua: ua.UInt32, takes int
        waiting = ua.DataValue(StatusCode=bad_waiting)
        for m in self._machines.values():
            for nodeid in (
                m.item_state,
                m.item_state_id,
                m.mode,
                m.mode_id,
                m.power_state,
                m.order_id,
                m.active_steps,
            ):
                await server.write_attribute_value(nodeid, waiting)
        for mt in self._meters.values():
            for nodeid in (mt.power, mt.energy):
                await server.write_attribute_value(nodeid, waiting)
        self._timeline = self._build_timeline()

    # ------------------------------------------------------------- timeline
    def _state_writes(self, asset: str, state: State) -> list[tuple[ua.NodeId, ua.Variant]]:
        n = self._machines[asset]
        item, mode = STATE_TO_MACHINERY[state]
        return [
            (n.mode, ua.Variant(ua.LocalizedText(mode), ua.VariantType.LocalizedText)),
            (n.mode_id, ua.Variant(self._mode_ids[mode], ua.VariantType.NodeId)),
            (n.item_state, ua.Variant(ua.LocalizedText(item), ua.VariantType.LocalizedText)),
            (n.item_state_id, ua.Variant(self._item_ids[item], ua.VariantType.NodeId)),
            (n.power_state, ua.Variant(state.value, ua.VariantType.String)),
        ]

    def _build_timeline(self) -> list[tuple[float, list[tuple[ua.NodeId, ua.Variant]]]]:
        ev = self.events
        at: dict[float, list[tuple[ua.NodeId, ua.Variant]]] = defaultdict(list)
        order = sorted(range(len(ev.state_t)), key=lambda i: float(ev.state_t[i]))
        for i in order:
            at[float(ev.state_t[i])].extend(
                self._state_writes(str(ev.state_asset[i]), State(ev.state[i]))
            )
        # power samples and the energy counter integrated from them (step-hold)
        for kind in ("power", "counter"):
            src = ev.power_meter if kind == "power" else ev.counter_meter
            ts = ev.power_t if kind == "power" else ev.counter_t
            vals = ev.power_kw if kind == "power" else ev.counter_kwh
            per: dict[str, list[int]] = defaultdict(list)
            for i, m in enumerate(src):
                per[str(m)].append(i)
            for m, idxs in per.items():
                nodes = self._meters[m]
                idxs.sort(key=lambda i: float(ts[i]))
                energy_wh, prev_t, prev_w = 0.0, None, 0.0
                for i in idxs:
                    t = float(ts[i])
                    if kind == "power":
                        w = float(vals[i]) * 1000.0
                        if prev_t is not None:
                            energy_wh += prev_w * (t - prev_t) / 3600.0
                        prev_t, prev_w = t, w
                        at[t].append((nodes.power, ua.Variant(w, ua.VariantType.Double)))
                        at[t].append((nodes.energy, ua.Variant(energy_wh, ua.VariantType.Double)))
                    else:
                        at[t].append(
                            (
                                nodes.energy,
                                ua.Variant(float(vals[i]) * 1000.0, ua.VariantType.Double),
                            )
                        )
        # order steps -> the set of active steps per asset
        changes: dict[str, dict[float, list[tuple[int, str]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for i in range(len(ev.step_start)):
            s0, s1 = float(ev.step_start[i]), float(ev.step_end[i])
            if s1 <= s0:
                continue
            step = json.dumps(
                {
                    "order": str(ev.step_order[i]),
                    "operation": str(ev.step_operation[i]),
                    "kind": str(ev.step_kind[i]),
                    "quantity": float(ev.step_quantity[i]),
                },
                sort_keys=True,
                separators=(",", ":"),
            )
            a = str(ev.step_asset[i])
            changes[a][s0].append((+1, step))
            changes[a][s1].append((-1, step))
        for a, by_t in changes.items():
            n = self._machines[a]
            active: dict[str, int] = {}
            for t in sorted(by_t):
                for sign, step in sorted(by_t[t]):
                    active[step] = active.get(step, 0) + sign
                    if active[step] <= 0:
                        del active[step]
                steps = sorted(active)
                current = json.loads(steps[0])["order"] if steps else ""
                at[t].append(
                    (n.active_steps, ua.Variant(steps, ua.VariantType.String, is_array=True))
                )
                at[t].append((n.order_id, ua.Variant(current, ua.VariantType.String)))
        return sorted(at.items())

    @property
    def t_first(self) -> float:
        return self._timeline[0][0] if self._timeline else 0.0

    @property
    def t_last(self) -> float:
        return self._timeline[-1][0] if self._timeline else 0.0

    # --------------------------------------------------------------- replay
    async def _write(self, t: float, writes: list[tuple[ua.NodeId, ua.Variant]]) -> None:
        assert self._server is not None
        src = datetime.fromtimestamp(t, tz=UTC)
        now = datetime.now(UTC)
        for nodeid, variant in writes:
            value = ua.DataValue(variant, SourceTimestamp=src, ServerTimestamp=now)  # type: ignore[arg-type]  # asyncua: ua.DateTime, takes datetime
            await self._server.write_attribute_value(nodeid, value)
        self.writes += len(writes)

    async def wait_for_subscriber(self, timeout_s: float = 30.0, items: int = 1) -> bool:
        """Wait until some client has subscribed to at least ``items`` monitored items."""
        assert self._server is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            subs = self._server.iserver.subscription_service.subscriptions.values()
            n = sum(len(s.monitored_item_srv._monitored_items) for s in subs)
            if n >= items:
                return True
            await asyncio.sleep(0.02)
        return False

    def _readers_behind(self) -> bool:
        """Whether a subscription still taking notifications holds a queue half full.

        Also sets how many write batches may pass before the next look: a quarter
        of the smallest queue seen, since a batch adds at most one value per item.
        """
        assert self._server is not None
        now = time.monotonic()
        seen: dict[int, tuple[int, float]] = {}
        behind, smallest = False, 0
        subs = self._server.iserver.subscription_service.subscriptions
        for sid, sub in subs.items():
            queues = sub._triggered_datachanges  # asyncua's queued notifications per item
            queued = sum(map(len, queues.values()))
            before, taken = self._readers.get(sid, (0, now))
            if queued == 0 or queued < before:
                taken = now  # it took what was queued
            seen[sid] = (queued, taken)
            items = sub.monitored_item_srv._monitored_items
            full = False
            for mid, q in queues.items():
                size = items[mid].queue_size if mid in items else 0
                if size:
                    smallest = size if not smallest else min(smallest, size)
                    full = full or 2 * len(q) >= size
            if not full:
                continue
            if now - taken <= self.reader_stall_s:
                behind = True
            elif sid not in self._stalled:
                self._stalled.add(sid)
                log.warning(
                    "subscription %d on %s took no notifications for %.0f s; "
                    "the replay goes on without waiting for it",
                    sid,
                    self.endpoint,
                    now - taken,
                )
        self._readers = seen
        self._stalled &= seen.keys()
        self._check_every = max(1, smallest // 4)
        return behind

    async def _wait_for_readers(self) -> float:
        """Yield to the readers, and wait while one is behind; return the seconds waited."""
        await asyncio.sleep(0)
        if not self._readers_behind():
            return 0.0
        start = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            if not self._readers_behind():
                return time.monotonic() - start

    async def replay(self) -> int:
        """Publish the events in (accelerated) time; return the number of writes.

        With a :class:`ReplayClock` already past some events (a restarted
        server), the latest value of each variable up to now is written first,
        with its own timestamp, and the replay continues from there.
        """
        timeline = self._timeline
        if not timeline:
            return 0
        if self.clock is None:
            self.clock = ReplayClock(timeline[0][0], time.time(), self.speed)
        clock = self.clock
        i, now_sim = 0, clock.sim_now()
        latest: dict[ua.NodeId, tuple[float, ua.Variant]] = {}
        while i < len(timeline) and timeline[i][0] < now_sim:
            t, writes = timeline[i]
            for nodeid, variant in writes:
                latest[nodeid] = (t, variant)
            i += 1
        for nodeid, (t, variant) in latest.items():
            await self._write(t, [(nodeid, variant)])
        countdown = 0
        while i < len(timeline):
            t, writes = timeline[i]
            countdown -= 1
            if countdown <= 0:
                waited = await self._wait_for_readers()
                if waited:
                    clock.wall_t0 += waited  # the line stood still meanwhile
                    self.paused_s += waited
                countdown = self._check_every
            delay = clock.wall_of(t) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._write(t, writes)
            i += 1
        return self.writes

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    # ------------------------------------------------------- connector file
    def connector_config(self, **overrides: Any) -> dict[str, Any]:
        """A connector file (dict, YAML-ready) reading every signal this server publishes."""
        aliases = {"mach": MACHINERY_URI, "di": DI_URI, "ct": CARBONTWIN_URI}
        signals: list[dict[str, Any]] = []
        for meter, (_oid, _carrier) in sorted(self._plan.meters.items()):
            mt = self._meters.get(meter)
            if mt is None:
                continue
            # read what the events carry: power samples if any, else the counter
            has_power = any(str(m) == meter for m in self.events.power_meter)
            has_counter = any(str(m) == meter for m in self.events.counter_meter)
            kind = "energy" if has_counter and not has_power else "power"
            node = mt.energy if kind == "energy" else mt.power
            signals.append(
                {
                    "kind": kind,
                    "meter": meter,
                    "node": _own_node(node),
                    "sampling_interval_ms": 0,
                    "queue_size": 1000,
                }
            )
        for asset in self._plan.assets:
            base = f"Objects/mach:Machines/ct:{asset}/di:MachineryBuildingBlocks"
            n = self._machines[asset]
            signals.append(
                {
                    "kind": "state",
                    "asset": asset,
                    "node": f"{base}/mach:MachineryItemState/CurrentState/Id",
                    "mode_node": f"{base}/mach:MachineryOperationMode/CurrentState/Id",
                    "power_state_node": _own_node(n.power_state),
                    "queue_size": 1000,
                }
            )
            signals.append(
                {
                    "kind": "steps",
                    "asset": asset,
                    "node": _own_node(n.active_steps),
                    "queue_size": 1000,
                }
            )
        cfg: dict[str, Any] = {"endpoint": self.endpoint, "namespaces": aliases, "signals": signals}
        cfg.update(overrides)
        return cfg


def _own_node(nodeid: ua.NodeId) -> str:
    """The ``nsu=`` form of a variable this server added (a string NodeId in its namespace)."""
    if not isinstance(nodeid.Identifier, str):
        msg = f"node {nodeid.to_string()} is not a string NodeId the demo server added"
        raise TypeError(msg)
    return f"nsu={CARBONTWIN_URI};s={nodeid.Identifier}"


async def _state_machine(parent: Node, type_node: Node, name: str, ns: int, idx: int) -> Node:
    """Instantiate ``type_node`` as state machine ``name`` (namespace ``ns``) under ``parent``."""
    nodes = await instantiate(
        parent,
        type_node,
        bname=ua.QualifiedName(name, ns),
        dname=ua.LocalizedText(name),
        idx=idx,
        instantiate_optional=False,
    )
    state_machine: Node = nodes[0]
    return state_machine
