"""Notifications to twin events: states by name, order ids to order steps (no server)."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncua import ua

from carbontwin.connectors.opcua_client import OpcUaConnector, _Item
from carbontwin.connectors.opcua_config import ConnectorConfig
from carbontwin.connectors.spool import Spool


def _connector(tmp_path, signals):
    cfg = ConnectorConfig.model_validate(
        {
            "endpoint": "opc.tcp://127.0.0.1:1/",
            "spool": {"path": str(tmp_path / "s.db")},
            "signals": signals,
        }
    )
    c = OpcUaConnector(cfg, sink=len)
    c.spool = Spool(tmp_path / "s.db")
    items = {}
    for i, s in enumerate(cfg.signals):
        items[2 * i + 1] = _Item(s, "value", s.node)
        if s.mode_node:
            items[2 * i + 2] = _Item(s, "mode", s.mode_node)
    c._items = items
    return c


def _n(handle, value, t, vtype):
    """One change as the subscription hands it to the connector (decoded by asyncua)."""
    from carbontwin.connectors._opcua_fast import changes_of

    dv = ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=datetime.fromtimestamp(t, UTC))
    item = ua.MonitoredItemNotification(ClientHandle=handle, Value=dv)
    return changes_of(ua.DataChangeNotification(MonitoredItems=[item]))[0]


def test_packml_state_names_and_plain_order_ids_become_states_and_steps(tmp_path):
    c = _connector(
        tmp_path,
        [
            {"kind": "state", "asset": "filler", "node": "s=Filler.State.CurrentState"},
            {"kind": "order", "asset": "filler", "node": "s=Filler.OrderId", "quantity": 500},
        ],
    )
    lt, st = ua.VariantType.LocalizedText, ua.VariantType.String
    c._on_batch([_n(1, ua.LocalizedText("Idle"), 100.0, lt), _n(3, "", 100.0, st)])
    c._on_batch([_n(1, ua.LocalizedText("Execute"), 200.0, lt), _n(3, "A-17", 200.0, st)])
    c._on_batch([_n(3, "A-18", 900.0, st), _n(1, ua.LocalizedText("Aborted"), 950.0, lt)])
    c._on_batch([_n(3, "", 1000.0, st), _n(1, ua.LocalizedText("Stopped"), 1000.0, lt)])
    events = c.spool.take(100).events
    states = sorted(zip(events.state_t, events.state, strict=True))
    assert states == [(100.0, "IDLE"), (200.0, "PROCESSING"), (950.0, "FAULT"), (1000.0, "STANDBY")]
    steps = sorted(
        zip(
            events.step_order, events.step_start, events.step_end, events.step_quantity, strict=True
        )
    )
    assert steps == [("A-17", 200.0, 900.0, 500.0), ("A-18", 900.0, 1000.0, 500.0)]
    assert c.stats.errors == 0


def test_a_state_given_as_a_number_is_refused_and_counted(tmp_path):
    c = _connector(tmp_path, [{"kind": "state", "asset": "filler", "node": "s=Filler.StateNumber"}])
    c._on_batch([_n(1, 6, 100.0, ua.VariantType.Int32)])
    assert c.stats.bad_values == 1
    assert c.spool.pending() == 0


def test_machinery_state_ids_combine_with_the_operation_mode(tmp_path):
    c = _connector(
        tmp_path,
        [
            {
                "kind": "state",
                "asset": "press",
                "node": "s=Press.Item.Id",
                "mode_node": "s=Press.Mode.Id",
            }
        ],
    )
    c._state_ids = {
        (4, 5006): "Executing",
        (4, 5007): "NotExecuting",
        (4, 5027): "Setup",
        (4, 5026): "Processing",
    }
    nid = ua.VariantType.NodeId
    # one publish carries each item's queue in turn: merged by time, not by arrival
    c._on_batch(
        [
            _n(1, ua.NodeId(5006, 4), 10.0, nid),
            _n(1, ua.NodeId(5006, 4), 20.0, nid),
            _n(1, ua.NodeId(5007, 4), 30.0, nid),
            _n(2, ua.NodeId(5027, 4), 10.0, nid),
            _n(2, ua.NodeId(5026, 4), 20.0, nid),
        ]
    )
    events = c.spool.take(100).events
    assert sorted(zip(events.state_t, events.state, strict=True)) == [
        (10.0, "SETUP"),
        (20.0, "PROCESSING"),
        (30.0, "IDLE"),
    ]


def test_skipped_notification_messages_are_counted_as_sequence_gaps(tmp_path, caplog):
    import asyncio
    import logging

    from carbontwin.connectors.opcua_client import _BatchSubscription

    c = _connector(tmp_path, [{"kind": "power", "meter": "M-1", "node": "s=P", "unit": "kW"}])

    class Session:  # what Subscription.__init__ keeps; no request is made here
        pass

    sub = _BatchSubscription(Session(), ua.CreateSubscriptionParameters(), c)

    def message(seq, t):
        from carbontwin.connectors._opcua_fast import Changes

        data = Changes([_n(1, 2.5, t, ua.VariantType.Double)])  # as _opcua_fast reads it
        return ua.PublishResult(
            NotificationMessage=ua.NotificationMessage(SequenceNumber=seq, NotificationData=[data])
        )

    async def go():
        sub.HOLD_S = 0.05  # how long a message after a missing one waits for it
        for seq, t in ((1, 10.0), (2, 20.0), (5, 50.0)):
            await sub.publish_callback(message(seq, t))
        await asyncio.sleep(0.3)
        # after a cut, message 7 comes before the republished 6: read in their order
        for seq, t in ((7, 70.0), (6, 60.0), (6, 60.0)):
            await sub.publish_callback(message(seq, t))

    with caplog.at_level(logging.ERROR, logger="carbontwin.connectors.opcua_client"):
        asyncio.run(go())
    assert c.stats.sequence_gaps == 2
    assert "notification messages 3..4" in caplog.text
    assert (c.stats.late, c.stats.duplicates) == (0, 0)
    taken = c.spool.take(100)
    ev = taken.events
    assert list(ev.power_t) == [10.0, 20.0, 50.0, 60.0, 70.0]
    # the lost messages leave a gap from the last value before them to the first after
    assert list(zip(ev.gap_source, ev.gap_start, ev.gap_end, strict=True)) == [("M-1", 20.0, 50.0)]
