"""Reading publish responses fast: data changes as plain tuples.

asyncua decodes every monitored item notification into dataclasses (a
``MonitoredItemNotification`` holding a ``DataValue`` holding a ``Variant``,
each type looked up through an ``Enum``): at tens of thousands of values per
second that is most of a connector's time. :func:`decode_publish_response`
reads a ``PublishResponse`` (OPC 10000-4 5.13.5, binary encoding of OPC
10000-6 5.2) itself and hands each ``DataChangeNotification`` over as
:class:`Changes`, a list of ``(client handle, status code, value, time)``
tuples; the time is the source timestamp (else the server's) in epoch seconds,
computed as asyncua's ``datetime`` would give it. Scalars of the numeric types
and Boolean are read here; any other value (strings, LocalizedText, NodeIds,
arrays), any other notification (status changes, events), the response header
and the diagnostics are decoded by asyncua. Anything unexpected makes the whole
response decoded by asyncua instead, so the fast path never changes what is read.
"""

from __future__ import annotations

import struct
import time
from datetime import UTC
from typing import Any

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.ua_binary import (
    extensionobject_from_binary,
    from_binary,
    nodeid_from_binary,
    struct_from_binary,
    variant_from_binary,
)
from asyncua.ua.uaerrors import UaError, UaStructParsingError

__all__ = ["Change", "Changes", "decode_publish_response", "install"]

#: (client handle, status code (an int; 0 is Good), value, time [epoch s])
Change = tuple[int, int, Any, float]


class Changes(list[Change]):
    """The monitored item notifications of one ``DataChangeNotification``."""


#: Variant type ids (OPC 10000-6 5.1.2) read here: their struct format
_SCALARS = {
    1: struct.Struct("<?"),  # Boolean
    2: struct.Struct("<b"),  # SByte
    3: struct.Struct("<B"),  # Byte
    4: struct.Struct("<h"),  # Int16
    5: struct.Struct("<H"),  # UInt16
    6: struct.Struct("<i"),  # Int32
    7: struct.Struct("<I"),  # UInt32
    8: struct.Struct("<q"),  # Int64
    9: struct.Struct("<Q"),  # UInt64
    10: struct.Struct("<f"),  # Float
    11: struct.Struct("<d"),  # Double
}
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_DATA_CHANGE = ObjectIds.DataChangeNotification_Encoding_DefaultBinary  # 811
#: 1601-01-01 to 1970-01-01 [microseconds]
_EPOCH_US = 11_644_473_600 * 1_000_000


def _epoch(ticks: int) -> float:
    """A DateTime (100 ns ticks since 1601) as epoch seconds, as
    ``ua.win_epoch_to_datetime(ticks).timestamp()`` gives it (whole microseconds)."""
    if 0 <= ticks < ua.uatypes.MAX_OPC_FILETIME:
        return (ticks // 10 - _EPOCH_US) / 1_000_000
    return ua.win_epoch_to_datetime(ticks).timestamp()


def _data_changes(raw: bytes, pos: int, end: int) -> Changes:
    """The MonitoredItems of a DataChangeNotification body ``raw[pos:end]``."""
    out = Changes()
    (count,) = _I32.unpack_from(raw, pos)
    pos += 4
    for _ in range(max(count, 0)):
        handle, mask = struct.unpack_from("<IB", raw, pos)
        pos += 5
        value: Any = None
        status = 0
        source = server = None
        if mask & 0x01:  # Value: a Variant
            vt = raw[pos]
            fmt = _SCALARS.get(vt)
            if fmt is not None:
                (value,) = fmt.unpack_from(raw, pos + 1)
                pos += 1 + fmt.size
            elif vt == 0:
                pos += 1
            else:
                buf = Buffer(raw, pos, end - pos)
                value = variant_from_binary(buf).Value
                pos = buf.cur_pos
        if mask & 0x02:
            (status,) = _U32.unpack_from(raw, pos)
            pos += 4
        # OPC 10000-6 5.2.2.17: source time, source picoseconds, server time, server ps
        if mask & 0x04:
            (source,) = _I64.unpack_from(raw, pos)
            pos += 8
        if mask & 0x10:
            pos += 2
        if mask & 0x08:
            (server,) = _I64.unpack_from(raw, pos)
            pos += 8
        if mask & 0x20:
            pos += 2
        ticks = source if source is not None else server
        t = _epoch(ticks) if ticks is not None else time.time()
        out.append((handle, status, value, t))
    if pos > end:
        msg = "a DataChangeNotification longer than its ExtensionObject"
        raise ValueError(msg)
    return out


def _fast(raw: bytes) -> ua.PublishResponse:
    buf = Buffer(raw)
    type_id = nodeid_from_binary(buf)
    header = struct_from_binary(ua.ResponseHeader, buf)
    pos = buf.cur_pos
    sub_id, n_avail = struct.unpack_from("<Ii", raw, pos)
    pos += 8
    avail = list(struct.unpack_from(f"<{max(n_avail, 0)}I", raw, pos))
    pos += 4 * max(n_avail, 0)
    more, seq, publish_ticks, n_data = struct.unpack_from("<?Iqi", raw, pos)
    pos += 17
    data: list[Any] = []
    for _ in range(max(n_data, 0)):
        # an ExtensionObject: its type's NodeId, an encoding byte, the body's length
        start = pos
        kind = raw[pos]
        if kind == 0x01 and raw[pos + 1] == 0:  # four-byte NodeId in namespace 0
            (ident,) = _U16.unpack_from(raw, pos + 2)
            pos += 4
        else:
            ident = -1
        if ident == _DATA_CHANGE and raw[pos] == 0x01:
            (length,) = _I32.unpack_from(raw, pos + 1)
            body = pos + 5
            pos = body + length
            data.append(_data_changes(raw, body, pos))
            # the body's DiagnosticInfos (after the items) are not needed
        else:
            eo = Buffer(raw, start, len(raw) - start)
            data.append(extensionobject_from_binary(eo))
            pos = eo.cur_pos
    rest = Buffer(raw, pos, len(raw) - pos)
    results = from_binary(list[ua.StatusCode], rest)
    diagnostics = from_binary(list[ua.DiagnosticInfo], rest)
    message = ua.NotificationMessage(
        SequenceNumber=seq,
        PublishTime=ua.win_epoch_to_datetime(publish_ticks),
        NotificationData=data,
    )
    response = ua.PublishResponse(
        ResponseHeader=header,
        Parameters=ua.PublishResult(
            SubscriptionId=sub_id,
            AvailableSequenceNumbers=avail,
            MoreNotifications=more,
            NotificationMessage=message,
            Results=results,
            DiagnosticInfos=diagnostics,
        ),
    )
    response.TypeId = type_id
    return response


def decode_publish_response(data: Buffer | bytes) -> ua.PublishResponse:
    """A PublishResponse with its data changes as :class:`Changes`; what this module
    does not read, or cannot, is decoded by asyncua (the whole response, if need be)."""
    raw = bytes(data)
    try:
        return _fast(raw)
    except (struct.error, IndexError, ValueError, UaError):
        try:
            return struct_from_binary(ua.PublishResponse, Buffer(raw))
        except Exception as exc:
            raise UaStructParsingError from exc


def install(session: Any) -> None:
    """Make ``session`` (an asyncua ``UaSession``) read its publish responses with
    :func:`decode_publish_response`; its publish loop is otherwise asyncua's."""

    async def publish(acks: list[ua.SubscriptionAcknowledgement]) -> ua.PublishResponse:
        request = ua.PublishRequest()
        request.Parameters.SubscriptionAcknowledgements = acks if acks else []
        data = await session._send_request(request, timeout=0)
        return decode_publish_response(data)

    session.publish = publish


def changes_of(notification: ua.DataChangeNotification) -> Changes:
    """:class:`Changes` of a notification asyncua decoded (republished, or not read here)."""
    out = Changes()
    for item in notification.MonitoredItems:
        dv = item.Value
        if dv is None:
            out.append((item.ClientHandle, 0, None, time.time()))
            continue
        status = dv.StatusCode.value if dv.StatusCode is not None else 0
        value = dv.Value.Value if dv.Value is not None else None
        ts = dv.SourceTimestamp or dv.ServerTimestamp
        if ts is None:
            t = time.time()
        else:
            t = (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()
        out.append((item.ClientHandle, status, value, t))
    return out
