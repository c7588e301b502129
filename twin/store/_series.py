"""Saving and loading hourly factor series (helpers of :class:`Store`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from carbontwin.twin.errors import StoreError
from carbontwin.twin.store.models import FactorPointRow, FactorSeriesRow

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CHUNK_ROWS = 20_000


class SeriesLike(Protocol):
    """What :meth:`Store.save_factor_series` needs of an hourly factor series.

    :class:`carbontwin.twin.factors.HourlySeries` is one; an optional
    ``filled`` bool array (hours filled by interpolation) is kept too.
    """

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def t_start(self) -> FloatArray: ...
    @property
    def values(self) -> FloatArray: ...


def _arrays(series: SeriesLike, where: str) -> tuple[FloatArray, FloatArray, BoolArray]:
    t = np.asarray(series.t_start, dtype=np.float64)
    v = np.asarray(series.values, dtype=np.float64)
    filled_attr: Any = getattr(series, "filled", None)
    f = (
        np.zeros(t.shape, dtype=bool)
        if filled_attr is None or np.size(filled_attr) == 0
        else np.asarray(filled_attr, dtype=bool)
    )
    if t.ndim != 1 or t.shape != v.shape or t.shape != f.shape or t.size == 0:
        msg = f"{where}: needs equally long, non-empty times and values ({t.size} and {v.size})"
        raise StoreError(msg, field="values")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        msg = f"{where} holds non-finite times or values"
        raise StoreError(msg, field="values")
    if t.size > 1 and not (np.diff(t) > 0).all():
        msg = f"{where}: start times must increase strictly"
        raise StoreError(msg, field="t_start")
    return t, v, f


def points(
    conn: sa.Connection, series_id: int, tenant: str
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Times, values and filled flags of a stored series, in time order."""
    rows = conn.execute(
        sa.select(FactorPointRow.t, FactorPointRow.value, FactorPointRow.filled)
        .where(FactorPointRow.tenant == tenant, FactorPointRow.series_id == series_id)
        .order_by(FactorPointRow.t)
    ).all()
    t_col, v_col, f_col = zip(*rows, strict=True) if rows else ((), (), ())
    t = np.asarray(t_col, dtype=np.float64)
    v = np.asarray(v_col, dtype=np.float64)
    f = np.asarray([bool(x) for x in f_col], dtype=bool)
    return t, v, f


def save(conn: sa.Connection, series: SeriesLike, tenant: str) -> int:
    """Insert ``series`` for ``tenant`` unless the same (name, version) is stored; return
    its row id."""
    where = f"factor series {series.name!r} version {series.version!r}"
    t, v, f = _arrays(series, where)
    old = conn.execute(
        sa.select(FactorSeriesRow.id, FactorSeriesRow.source).where(
            FactorSeriesRow.tenant == tenant,
            FactorSeriesRow.name == series.name,
            FactorSeriesRow.version == series.version,
        )
    ).first()
    if old is not None:
        ot, ov, of = points(conn, int(old.id), tenant)
        same = (
            old.source == series.source
            and np.array_equal(ot, t)
            and np.array_equal(ov, v)
            and np.array_equal(of, f)
        )
        if same:
            return int(old.id)
        msg = f"{where} is already stored with other values; save them as a new version"
        raise StoreError(msg, field="version")
    sid = int(
        conn.execute(
            sa.insert(FactorSeriesRow)
            .values(
                tenant=tenant,
                name=series.name,
                version=series.version,
                source=series.source,
                created_at=datetime.now(UTC),
            )
            .returning(FactorSeriesRow.id)
        ).scalar_one()
    )
    rows = [
        {"tenant": tenant, "series_id": sid, "t": a, "value": b, "filled": c}
        for a, b, c in zip(t.tolist(), v.tolist(), f.tolist(), strict=True)
    ]
    for lo in range(0, len(rows), CHUNK_ROWS):
        conn.execute(sa.insert(FactorPointRow), rows[lo : lo + CHUNK_ROWS])
    return sid


def find(conn: sa.Connection, name: str, version: str | None, tenant: str) -> Any:
    """``tenant``'s stored series row of ``name`` at ``version`` (newest when ``None``),
    or ``None``."""
    row = FactorSeriesRow
    stmt = sa.select(row.id, row.name, row.version, row.source).where(
        row.tenant == tenant, row.name == name
    )
    if version is None:
        stmt = stmt.order_by(FactorSeriesRow.created_at.desc(), FactorSeriesRow.id.desc())
    else:
        stmt = stmt.where(FactorSeriesRow.version == version)
    return conn.execute(stmt.limit(1)).first()
