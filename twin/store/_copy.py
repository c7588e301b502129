"""Rows of event columns as PostgreSQL ``COPY ... (FORMAT BINARY)`` data, built with numpy.

A day of a plant's power samples is tens of thousands of rows; writing them to
``COPY`` one row at a time costs the storing process more than the server
spends inserting them. Here the whole chunk is laid out at once: every row is
(int16 field count, then per field an int32 byte length and the bytes); text
fields are their UTF-8 bytes, ``DOUBLE PRECISION`` fields the big-endian IEEE 754
value (the file format of PostgreSQL's ``COPY``: the manual's "COPY", section
"Binary Format").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: the binary format's signature, flags field and header extension length
HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
#: the file trailer: a field count of -1
TRAILER = b"\xff\xff"

IntArray = npt.NDArray[np.int64]


def binary_rows(columns: Sequence[np.ndarray[Any, Any]], floats: Sequence[bool]) -> bytes:
    """The binary ``COPY`` data (header, rows, trailer) of the rows of ``columns``.

    ``floats[i]`` says column ``i`` is ``DOUBLE PRECISION`` (any real value, NaN
    included); otherwise it is text and its values are strings (encoded as UTF-8;
    a lone surrogate raises ``UnicodeEncodeError``) or None, written as NULL.
    """
    n = len(columns[0]) if columns else 0
    # per field: the byte length of each row's value, the bytes (a float column's values,
    # or the pool of a text column's distinct values and each row's start in it), and
    # the length written (-1 for NULL)
    fields: list[tuple[IntArray, npt.NDArray[np.uint8], IntArray | None, IntArray]] = []
    row_len = np.full(n, 2, dtype=np.int64)  # the field count
    for col, is_float in zip(columns, floats, strict=True):
        if is_float:
            data = np.ascontiguousarray(col, dtype=">f8").view(np.uint8)
            eight = np.full(n, 8, dtype=np.int64)
            fields.append((eight, data, None, eight))
        else:  # None (and NaN) are NULL: pandas codes them -1
            codes, uniques = pd.factorize(np.asarray(col, dtype=object))
            encoded = [str(u).encode("utf-8") for u in uniques]
            sizes = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
            starts = np.zeros(len(encoded), dtype=np.int64)
            np.cumsum(sizes[:-1], out=starts[1:])
            pool = np.frombuffer(b"".join(encoded), dtype=np.uint8)
            null = codes < 0
            size = np.where(null, 0, sizes[codes] if sizes.size else 0)
            first = np.where(null, 0, starts[codes] if starts.size else 0)
            fields.append((size, pool, first, np.where(null, -1, size)))
        row_len += 4 + fields[-1][0]
    body = int(row_len.sum())
    buf = np.empty(len(HEADER) + body + len(TRAILER), dtype=np.uint8)
    buf[: len(HEADER)] = np.frombuffer(HEADER, dtype=np.uint8)
    buf[len(HEADER) + body :] = np.frombuffer(TRAILER, dtype=np.uint8)
    pos = np.empty(n, dtype=np.int64)  # where each row's next field starts
    pos[0:1] = len(HEADER)
    np.cumsum(row_len[:-1], out=pos[1:])
    pos[1:] += len(HEADER)
    _scatter(buf, pos, np.full(n, len(columns), dtype=">i2").view(np.uint8), 2)
    pos += 2
    for size, data, start, length in fields:
        _scatter(buf, pos, length.astype(">i4").view(np.uint8), 4)
        pos += 4
        if start is None:  # eight bytes per row, in row order
            _scatter(buf, pos, data, 8)
        else:  # each row's string from the pool: a ragged gather
            total = int(size.sum())
            offset = np.repeat(pos - np.cumsum(size) + size, size)
            src = np.repeat(start - np.cumsum(size) + size, size)
            step = np.arange(total, dtype=np.int64)
            buf[offset + step] = data[src + step]
        pos += size
    return buf.tobytes()


def _scatter(
    buf: npt.NDArray[np.uint8], pos: IntArray, data: npt.NDArray[np.uint8], k: int
) -> None:
    """Write ``k`` bytes per row (``data``, row after row) at each row's ``pos``."""
    buf[(pos[:, None] + np.arange(k)).ravel()] = data
