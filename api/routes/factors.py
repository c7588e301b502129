"""``/factors``: hourly grid-factor series uploaded to the store, versioned by content hash.

A factory file names a zone's hourly series (``factors.grid.<ZONE>.hourly:
[AT_2024_hourly.csv]``); over HTTP the series is uploaded under the file's stem
(``PUT /factors/series/AT_2024_hourly`` with the CSV as body). Each upload of
other values is a new version (``<name>@sha256:<12 hex>`` of the CSV bytes);
issuing uses the newest version, and each footprint records which.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from carbontwin.api.deps import ReadDep, WriteDep
from carbontwin.twin.factors import parse_hourly
from carbontwin.twin.quantities import from_epoch

router = APIRouter(prefix="/factors", tags=["factors"])

SeriesName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$",
        description="Series name: the stem of the file the factory file names",
    ),
]


class SeriesPublic(BaseModel):
    name: str
    version: str
    source: str


class SeriesSaved(SeriesPublic):
    hours: int
    filled_hours: int
    start: str
    end: str


@router.put(
    "/series/{name}",
    operation_id="put_factor_series",
    response_model=SeriesSaved,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def put_factor_series(
    name: SeriesName,
    request: Request,
    services: WriteDep,
    source: Annotated[str, Query(max_length=500, description="Where the series comes from")] = (
        "uploaded"
    ),
    unit: Annotated[
        Literal["g_co2e_per_kwh", "kg_co2e_per_kwh"], Query(description="Value column")
    ] = "g_co2e_per_kwh",
) -> Any:
    """Store an hourly series (CSV ``hour_start_utc,g_co2e_per_kwh``); the same bytes
    again are a no-op, other values a new version."""
    raw = await request.body()
    series = parse_hourly(
        raw, name=name, version=None, source=source, unit=unit, where=f"series {name!r}"
    )
    services.store.save_factor_series(series)
    return {
        "name": series.name,
        "version": series.version,
        "source": series.source,
        "hours": int(series.values.size),
        "filled_hours": int(series.filled.sum()),
        "start": from_epoch(series.start).isoformat().replace("+00:00", "Z"),
        "end": from_epoch(series.end).isoformat().replace("+00:00", "Z"),
    }


@router.get("/series", operation_id="list_factor_series", response_model=list[SeriesPublic])
def list_factor_series(services: ReadDep) -> Any:
    """Every stored series version, by name then age."""
    return [{"name": n, "version": v, "source": s} for n, v, s in services.store.factor_series()]
