"""Binary COPY data of event columns: read back by a reference reader and by PostgreSQL."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import sqlalchemy as sa

from carbontwin.twin.store._copy import binary_rows

TEXTS = ["M-1", "", "tab\there", "line\nbreak", "back\\slash", "Ölpumpe ‑ Halle 3", "日本", "M-1"]
FLOATS = [1.5, -0.0, float("nan"), 1e-300, 1.7976931348623157e308, float("inf"), 0.1, 3.0]


def _obj(values: list[str]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _read(data: bytes, floats: list[bool]) -> list[tuple[object, ...]]:
    """The rows of binary COPY data, field by field with ``struct`` (``floats[k]``: field
    ``k`` is a big-endian double, else UTF-8 text), as the manual's "Binary Format" lays
    them out."""
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00"
    flags, ext = struct.unpack(">ii", data[11:19])
    assert (flags, ext) == (0, 0)
    at, rows = 19, []
    while True:
        (count,) = struct.unpack(">h", data[at : at + 2])
        at += 2
        if count == -1:
            break
        row: list[object] = []
        for k in range(count):
            (size,) = struct.unpack(">i", data[at : at + 4])
            at += 4
            if size == -1:
                row.append(None)
                continue
            raw = data[at : at + size]
            at += size
            row.append(struct.unpack(">d", raw)[0] if floats[k] else raw.decode("utf-8"))
        rows.append(tuple(row))
    assert at == len(data)  # nothing after the trailer
    return rows


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


def test_rows_read_back_field_by_field():
    n = len(TEXTS)
    tenants = _obj(["plant-a"] * n)
    data = binary_rows(
        [tenants, _obj(TEXTS), np.array(FLOATS), np.arange(n, dtype=np.float64) * 0.25],
        [False, False, True, True],
    )
    rows = _read(data, [False, False, True, True])
    assert [r[:2] for r in rows] == [("plant-a", t) for t in TEXTS]
    assert all(_same(r[2], f) for r, f in zip(rows, FLOATS, strict=True))
    assert [r[3] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]


def test_no_rows_is_header_and_trailer_only():
    data = binary_rows([_obj([]), np.empty(0)], [False, True])
    assert _read(data, [False, True]) == []
    assert len(data) == 19 + 2


def test_none_is_null():
    data = binary_rows([_obj(["M-1", None, "M-2"]), np.array([1.0, 2.0, 3.0])], [False, True])
    assert _read(data, [False, True]) == [("M-1", 1.0), (None, 2.0), ("M-2", 3.0)]
    assert binary_rows([_obj([None])], [False]).endswith(b"\x00\x01\xff\xff\xff\xff\xff\xff")


def test_a_lone_surrogate_is_refused():
    with pytest.raises(UnicodeEncodeError):
        binary_rows([_obj(["M\ud800"])], [False])


@pytest.mark.postgres
def test_postgresql_reads_the_rows_as_written(postgres_url, pg_schema):
    n = len(TEXTS)
    data = binary_rows(
        [_obj(TEXTS), np.array(FLOATS), np.arange(n, dtype=np.float64)], [False, True, True]
    )
    with pg_schema(postgres_url) as url:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "CREATE TABLE copied (name VARCHAR(200), v DOUBLE PRECISION, k DOUBLE PRECISION)"
                )
                raw = conn.connection.dbapi_connection
                with (
                    raw.cursor() as cur,
                    cur.copy("COPY copied (name, v, k) FROM STDIN (FORMAT BINARY)") as copy,
                ):
                    copy.write(data)
                got = conn.exec_driver_sql("SELECT name, v FROM copied ORDER BY k").all()
        finally:
            engine.dispose()
    assert [g[0] for g in got] == TEXTS
    assert all(_same(g[1], f) for g, f in zip(got, FLOATS, strict=True))
