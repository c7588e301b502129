"""Publish responses read by _opcua_fast give what asyncua's own decoder gives."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import struct_from_binary, struct_to_binary
from asyncua.ua.uaerrors import UaStructParsingError

from carbontwin.connectors._opcua_fast import Changes, changes_of, decode_publish_response

T0 = datetime(2026, 11, 30, 8, 0, 0, 123457, tzinfo=UTC)


def _items() -> list[ua.MonitoredItemNotification]:
    values = [
        ua.Variant(1.5, ua.VariantType.Double),
        ua.Variant(3, ua.VariantType.Int32),
        ua.Variant(True, ua.VariantType.Boolean),
        ua.Variant("RUN", ua.VariantType.String),
        ua.Variant(ua.LocalizedText("Idle"), ua.VariantType.LocalizedText),
        ua.Variant([1.0, 2.0], ua.VariantType.Double),
        ua.Variant(None, ua.VariantType.Null),
        ua.Variant(2.5, ua.VariantType.Float),
        ua.Variant(ua.NodeId(5003, 2), ua.VariantType.NodeId),
        ua.Variant(2**63 + 7, ua.VariantType.UInt64),
    ]
    out = []
    for i, v in enumerate(values):
        dv = ua.DataValue(
            v,
            StatusCode=ua.StatusCode(0x0480 if i == 1 else 0),  # Overflow infobits
            SourceTimestamp=T0 + timedelta(microseconds=7 * i),
            ServerTimestamp=T0 if i % 2 else None,
        )
        out.append(ua.MonitoredItemNotification(ClientHandle=i + 1, Value=dv))
    # no source time: the server's
    dv = ua.DataValue(ua.Variant(4.0, ua.VariantType.Double), ServerTimestamp=T0)
    out.append(ua.MonitoredItemNotification(ClientHandle=99, Value=dv))
    return out


def test_data_changes_are_read_as_asyncua_reads_them_and_the_rest_by_asyncua():
    items = _items()
    message = ua.NotificationMessage(
        SequenceNumber=42,
        PublishTime=T0,
        NotificationData=[
            ua.DataChangeNotification(MonitoredItems=items),
            ua.StatusChangeNotification(Status=ua.StatusCode(ua.StatusCodes.BadTimeout)),
            ua.DataChangeNotification(MonitoredItems=items[:2]),
        ],
    )
    result = ua.PublishResult(
        SubscriptionId=7,
        AvailableSequenceNumbers=[40, 41, 42],
        MoreNotifications=True,
        NotificationMessage=message,
        Results=[ua.StatusCode(ua.StatusCodes.BadSequenceNumberUnknown)],
    )
    raw = struct_to_binary(ua.PublishResponse(Parameters=result))
    ref = struct_from_binary(ua.PublishResponse, Buffer(raw)).Parameters
    got = decode_publish_response(Buffer(raw)).Parameters
    assert (got.SubscriptionId, got.AvailableSequenceNumbers, got.MoreNotifications) == (
        7,
        [40, 41, 42],
        True,
    )
    assert got.NotificationMessage.SequenceNumber == 42
    assert got.NotificationMessage.PublishTime == T0
    assert got.Results == ref.Results
    data = got.NotificationMessage.NotificationData
    assert [type(d) for d in data] == [Changes, ua.StatusChangeNotification, Changes]
    assert data[1] == ref.NotificationMessage.NotificationData[1]
    want = changes_of(ref.NotificationMessage.NotificationData[0])
    assert data[0] == want
    assert data[2] == want[:2]
    # hand-checked: handle, status, value, source time in epoch seconds
    assert data[0][0] == (1, 0, 1.5, T0.timestamp())
    assert data[0][1][:3] == (2, 0x0480, 3)
    assert data[0][-1] == (99, 0, 4.0, T0.timestamp())
    assert data[0][9][2] == 2**63 + 7


def test_picoseconds_follow_each_timestamp_as_the_specification_orders_them():
    # OPC 10000-6 5.2.2.17: value, status, source time, source ps, server time, server ps
    ticks = 116_444_736_000_000_000 + 10_000_000 * 1_800_000_000  # 2027-01-15T08:00:00Z
    body = struct.pack("<i", 1)  # one MonitoredItemNotification
    body += struct.pack("<IB", 5, 0x3D)  # handle; value, source + server time and ps
    body += struct.pack("<Bd", 11, 7.25)  # Double 7.25
    body += struct.pack("<qHqH", ticks, 123, ticks + 50_000_000, 456)
    body += struct.pack("<i", -1)  # no DiagnosticInfos
    eo = struct.pack("<BBH", 1, 0, 811) + struct.pack("<Bi", 1, len(body)) + body
    result = struct.pack("<Ii", 3, 0) + struct.pack("<?Iqi", False, 9, ticks, 1) + eo
    result += struct.pack("<ii", 0, -1)  # Results, DiagnosticInfos
    empty = struct_to_binary(ua.PublishResponse())  # type id, header, an empty result
    header = empty[: len(empty) - len(struct_to_binary(ua.PublishResult()))]
    got = decode_publish_response(header + result).Parameters
    [changes] = got.NotificationMessage.NotificationData
    assert list(changes) == [(5, 0, 7.25, 1_800_000_000.0)]
    assert got.NotificationMessage.SequenceNumber == 9


def _one_change_response() -> bytearray:
    message = ua.NotificationMessage(
        SequenceNumber=1, NotificationData=[ua.DataChangeNotification(MonitoredItems=_items()[:1])]
    )
    result = ua.PublishResult(NotificationMessage=message)
    return bytearray(struct_to_binary(ua.PublishResponse(Parameters=result)))


def test_a_notification_encoded_otherwise_is_decoded_by_asyncua():
    raw = _one_change_response()
    # the DataChangeNotification's type as a numeric NodeId (not the four-byte form)
    i = raw.index(struct.pack("<BBH", 1, 0, 811))
    raw[i : i + 4] = struct.pack("<BHI", 2, 0, 811)
    got = decode_publish_response(bytes(raw)).Parameters.NotificationMessage.NotificationData
    assert isinstance(got[0], ua.DataChangeNotification)
    assert changes_of(got[0]) == [(1, 0, 1.5, T0.timestamp())]


def test_a_cut_response_is_refused_as_asyncua_refuses_it():
    raw = _one_change_response()
    # the DataChangeNotification claims a shorter body than its items
    i = raw.index(struct.pack("<BBH", 1, 0, 811)) + 5
    (n,) = struct.unpack_from("<i", raw, i)
    struct.pack_into("<i", raw, i, n - 8)
    with pytest.raises(UaStructParsingError):
        decode_publish_response(bytes(raw))
