"""The connector against the demo line server, on real sockets (127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest
from asyncua import Client, ua
from opcua_lines import line_events, read_all

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import (
    CARBONTWIN_URI,
    ITEM_STATE_IDS,
    MACHINERY_URI,
    ConnectorConfig,
)
from carbontwin.connectors.opcua_server import DemoLineServer, ReplayClock
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.events import EventBatch

pytestmark = pytest.mark.opcua


def _set(b: EventBatch, kind: str) -> set:
    if kind == "power":
        return set(zip(b.power_meter, np.round(b.power_t, 3), np.round(b.power_kw, 9), strict=True))
    if kind == "state":
        return set(zip(b.state_asset, np.round(b.state_t, 3), b.state, strict=True))
    return set(
        zip(
            b.step_order,
            b.step_operation,
            b.step_asset,
            np.round(b.step_start, 3),
            np.round(b.step_end, 3),
            b.step_quantity,
            b.step_kind,
            strict=True,
        )
    )


def _config(server: DemoLineServer, tmp_path, **kw) -> ConnectorConfig:
    return ConnectorConfig.model_validate(
        server.connector_config(spool={"path": str(tmp_path / "spool.db")}, **kw)
    )


def test_the_connector_reads_every_event_exactly_once(tmp_path, port, events):
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        async with DemoLineServer(events, port=port, speed=1800) as server:
            connector = await read_all(server, _config(server, tmp_path), sink)
            # the address space is the companion specifications' one
            async with Client(server.endpoint) as client:
                mach = await client.get_namespace_index(MACHINERY_URI)
                ct = await client.get_namespace_index(CARBONTWIN_URI)
                machine = await client.nodes.objects.get_child(
                    [f"{mach}:Machines", f"{ct}:press-1"]
                )
                di = await client.get_namespace_index("http://opcfoundation.org/UA/DI/")
                state_id = await machine.get_child(
                    [
                        f"{di}:MachineryBuildingBlocks",
                        f"{mach}:MachineryItemState",
                        "0:CurrentState",
                        "0:Id",
                    ]
                )
                power = client.get_node(ua.NodeId("M-0.Electricity.Main.AcActivePowerTotal", ct))
                eu = await (await power.get_child("0:EngineeringUnits")).read_value()
                return connector, await state_id.read_value(), eu

    connector, state_id, eu = asyncio.run(go())
    assert state_id.Identifier == ITEM_STATE_IDS["NotAvailable"]  # the press ends OFF
    assert eu.DisplayName.Text == "W"
    stored = EventBatch.concat(got)
    for kind in ("power", "state", "step"):
        assert _set(stored, kind) == _set(events, kind), kind
    assert len(stored) == len(events)
    assert connector.stats.duplicates == 0
    assert connector.stats.errors == 0


def test_restart_mid_stream_resumes_records_the_gap_and_adds_no_duplicates(tmp_path, port):
    events = line_events(minutes=240, period_s=10.0)  # more than the test replays
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    async def go():
        speed = 600.0  # 10 simulated minutes per second
        first = DemoLineServer(events, port=port, speed=speed)
        await first.start()
        cfg = _config(first, tmp_path, publishing_interval_ms=50, reconnect_max_delay_s=0.5)
        connector = OpcUaConnector(cfg, sink=sink)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        await asyncio.wait_for(connector.ready.wait(), 20)
        # one line clock for both servers: the second resumes where the line is by then
        clock = first.clock = ReplayClock(float(events.power_t.min()), time.time(), speed)
        replay = asyncio.create_task(first.replay())
        await asyncio.sleep(2.0)
        replay.cancel()
        await first.stop()
        t_before = connector.t_max
        await asyncio.sleep(1.5)
        second = DemoLineServer(events, port=port, speed=speed, clock=clock)
        await second.start()
        back = time.monotonic()
        replay = asyncio.create_task(second.replay())
        while connector.t_max <= t_before and time.monotonic() - back < 10:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        resumed_s = time.monotonic() - back
        await asyncio.sleep(1.0)
        replay.cancel()
        await connector.wait_idle(quiet_s=0.5, timeout_s=20)
        stop.set()
        await task
        await second.stop()
        return connector, t_before, resumed_s, connector.t_max

    connector, t_before, resumed_s, t_last = asyncio.run(go())
    stored = EventBatch.concat(got)
    assert resumed_s < 2.0, f"data resumed {resumed_s:.2f} s after the server came back"
    # the outage: one gap per source that changed meanwhile, from its last value before the
    # cut to its first value after it (the press's state gets one only if it changed)
    assert {"M-0", "M-1"} <= set(stored.gap_source) <= {"M-0", "M-1", "press-1"}
    assert len(stored.gap_source) == len(set(stored.gap_source)) == connector.stats.gaps
    assert connector.stats.reconnects >= 1
    for source, g0, g1 in zip(stored.gap_source, stored.gap_start, stored.gap_end, strict=True):
        if source == "press-1":
            t = stored.state_t[stored.state_asset == source]
        else:
            t = stored.power_t[stored.power_meter == source]
            assert g0 == t_before
            assert g1 > t_before + 60  # 1.5 s of outage at 600x is 15 simulated minutes
        assert g0 == t[t < g1].max()
        assert g1 == t[t > g0].min()
    # no duplicates, nothing invented, nothing lost outside the gaps
    keys = list(zip(stored.power_meter, stored.power_t, strict=True))
    assert len(keys) == len(set(keys))
    assert _set(stored, "power") <= _set(events, "power")
    gap_end = dict(zip(stored.gap_source, stored.gap_end, strict=True))
    t = events.power_t
    ends = np.array([gap_end[m] for m in events.power_meter])
    outside = (t <= t_before) | ((t >= ends) & (t <= t_last))
    expected = set(
        zip(
            events.power_meter[outside],
            np.round(events.power_t[outside], 3),
            np.round(events.power_kw[outside], 9),
            strict=True,
        )
    )
    missing = expected - _set(stored, "power")
    assert not missing, (sorted(missing)[:5], t_before, gap_end, t_last)
    assert _set(stored, "state") <= _set(events, "state")


def test_overflow_bits_bad_values_and_stale_values_are_counted(tmp_path, caplog):
    from carbontwin.connectors.opcua_client import _Item

    cfg = ConnectorConfig.model_validate(
        {
            "endpoint": "opc.tcp://127.0.0.1:1/",
            "spool": {"path": str(tmp_path / "s.db")},
            "signals": [{"kind": "power", "meter": "M-1", "node": "i=2258", "unit": "W"}],
        }
    )
    connector = OpcUaConnector(cfg, sink=lambda b: len(b))
    from carbontwin.connectors.spool import Spool

    connector.spool = Spool(tmp_path / "s.db")
    connector._items = {1: _Item(cfg.signals[0], "value", "i=2258", factor=1e-3)}

    def notif(value, t, status=0):
        from datetime import UTC, datetime

        dv = ua.DataValue(
            ua.Variant(value, ua.VariantType.Double),
            StatusCode=ua.StatusCode(status),
            SourceTimestamp=datetime.fromtimestamp(t, UTC),
        )
        return ua.MonitoredItemNotification(ClientHandle=1, Value=dv)

    def batch(*items):  # as the subscription hands a decoded notification over
        from carbontwin.connectors._opcua_fast import changes_of

        return changes_of(ua.DataChangeNotification(MonitoredItems=list(items)))

    with caplog.at_level(logging.ERROR, logger="carbontwin.connectors.opcua_client"):
        connector._on_batch(batch(notif(1000.0, 100.0), notif(2000.0, 110.0, status=0x0480)))
        connector._on_batch(batch(notif(1000.0, 100.0), notif(-5.0, 120.0), notif(3000.0, 130.0)))
        connector._on_batch(batch(notif(0.0, 140.0, status=ua.StatusCodes.BadSensorFailure)))
    s = connector.stats
    # the value at 100 s again, after the one at 110 s: late, kept (the spool holds it once)
    assert (s.overflows, s.duplicates, s.late, s.bad_values) == (1, 0, 1, 2)
    assert "queue overflow on node 'i=2258'" in caplog.text
    taken = connector.spool.take(100)
    np.testing.assert_allclose(np.sort(taken.events.power_kw), [1.0, 2.0, 3.0])
    assert connector.spool.metrics()["overflows"] == 1
    # the overflow says values before 110 s were discarded: a gap from the last one delivered
    ev = taken.events
    assert list(zip(ev.gap_source, ev.gap_start, ev.gap_end, strict=True)) == [
        ("M-1", 100.0, 110.0)
    ]


@pytest.mark.parametrize(
    ("policy", "mode"),
    [
        ("Basic256Sha256", "SignAndEncrypt"),
        ("Aes128_Sha256_RsaOaep", "Sign"),
    ],  # Aes256_Sha256_RsaPss: test_opcua_security.py
)
def test_secured_policies_with_a_username(tmp_path, port, events, policy, mode):
    got: list[EventBatch] = []

    def sink(batch):
        got.append(batch)
        return len(batch)

    sec = {
        "policy": policy,
        "mode": mode,
        "certificate": str(tmp_path / "pki" / "client.der"),
        "private_key": str(tmp_path / "pki" / "client-key.pem"),
        "trust_dir": str(tmp_path / "pki" / "trusted"),
        "trust_on_first_use": True,
    }

    async def go():
        server = DemoLineServer(
            events,
            port=port,
            speed=3600,
            security=[f"{policy.replace('_', '')}_{mode}"],
            cert_dir=tmp_path / "server-pki",
            users={"operator": "s3cret"},
        )
        async with server:
            for name, extra in (("bad", {"password": "wrong"}), ("anonymous", {})):
                cfg = _config(
                    server,
                    tmp_path / name,
                    security=sec,
                    connect_retries=0,
                    **extra,
                    **({"username": "operator"} if extra else {}),
                )
                with pytest.raises(ConnectorError, match="refused"):
                    await OpcUaConnector(cfg, sink=sink).start()
            cfg = _config(server, tmp_path, security=sec, username="operator", password="s3cret")
            await read_all(server, cfg, sink)

    asyncio.run(go())
    assert (tmp_path / "pki" / "client.der").is_file()  # generated on first run
    assert (tmp_path / "pki" / "client-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "server-pki" / "server-key.pem").stat().st_mode & 0o777 == 0o600
    assert len(list((tmp_path / "pki" / "trusted").glob("tofu-*.der"))) == 1
    stored = EventBatch.concat(got)
    assert _set(stored, "power") == _set(events, "power")
    assert _set(stored, "state") == _set(events, "state")
