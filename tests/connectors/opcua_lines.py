"""A small synthetic line's events for the OPC UA tests (no simulator needed), and a
connector reading a whole replay."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from carbontwin.connectors.opcua_client import OpcUaConnector
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.opcua_server import DemoLineServer
from carbontwin.twin.events import EventBatch, OrderStep, PowerSample, StateChange, StepKind
from carbontwin.twin.model import State

T0 = datetime(2019, 3, 4, 6, 0, tzinfo=UTC)


def line_events(minutes: int = 60, period_s: float = 10.0, meters: int = 2) -> EventBatch:
    """A small line: ``meters`` power meters sampled every ``period_s``, one press with orders.

    The press idles, sets up, processes order O-1, goes to standby, processes O-2,
    faults, and is switched off; power varies with each sample.
    """
    events: list = []
    n = int(minutes * 60 / period_s)
    for k in range(n):
        t = T0 + timedelta(seconds=k * period_s)
        for j in range(meters):
            events.append(PowerSample(f"M-{j}", t, 5.0 + j + (k % 7) * 0.25))
    m = timedelta(minutes=1)
    plan = [
        (0, State.IDLE),
        (5, State.SETUP),
        (10, State.PROCESSING),
        (25, State.STANDBY),
        (30, State.PROCESSING),
        (45, State.FAULT),
        (50, State.IDLE),
        (55, State.OFF),
    ]
    events += [StateChange("press-1", T0 + k * m, s) for k, s in plan if k < minutes]
    events += [
        OrderStep("O-1", "op10", "press-1", T0 + 5 * m, T0 + 10 * m, 20, StepKind.SETUP),
        OrderStep("O-1", "op10", "press-1", T0 + 10 * m, T0 + 25 * m, 20, StepKind.PROCESSING),
        OrderStep("O-2", "op10", "press-1", T0 + 30 * m, T0 + 45 * m, 5, StepKind.PROCESSING),
    ]
    return EventBatch.from_events(events)


async def read_all(
    server: DemoLineServer, cfg: ConnectorConfig, sink: Callable[[EventBatch], int]
) -> OpcUaConnector:
    """Connect, replay the server's events, wait until all are flushed to ``sink``, stop."""
    connector = OpcUaConnector(cfg, sink=sink)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    await asyncio.wait_for(connector.ready.wait(), 20)
    await server.replay()
    assert await connector.wait_idle(quiet_s=0.5, timeout_s=20)
    stop.set()
    await task
    return connector


def check_holes(events: EventBatch, stored: EventBatch, meter: str) -> list[tuple[float, float]]:
    """Each gap of ``meter`` runs from its last stored value to its next one, and every
    value the server published outside the gaps is stored; returns the gaps."""
    t = np.sort(stored.power_t[stored.power_meter == meter])
    gaps = sorted(
        (float(a), float(b))
        for s, a, b in zip(stored.gap_source, stored.gap_start, stored.gap_end, strict=True)
        if s == meter
    )
    for g0, g1 in gaps:
        assert g0 == t[t < g1].max(), (meter, g0, g1)
        assert g1 == t[t > g0].min(), (meter, g0, g1)
    sent = events.power_t[events.power_meter == meter]
    sent = sent[(sent >= t.min()) & (sent <= t.max())]
    inside = np.zeros(len(sent), dtype=bool)
    for g0, g1 in gaps:
        inside |= (sent > g0) & (sent < g1)
    assert set(sent[~inside]) <= set(t), f"{meter}: values lost outside any gap"
    assert not (set(sent[inside]) & set(t)), f"{meter}: a gap covers stored values"
    return gaps
