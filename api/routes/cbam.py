"""CBAM: ``GET /cbam`` (JSON) and ``GET /cbam.xlsx`` (the communication template).

Specific embedded emissions per good (CN code) and reporting period of the
installation, as Implementing Regulation (EU) 2023/1773 Annexes III and IV
define them (:mod:`carbontwin.plugins.cbam`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from carbontwin.api.deps import ReadDep, TenantServices
from carbontwin.api.errors import Conflict
from carbontwin.plugins.cbam import cbam_report, write_workbook
from carbontwin.twin.store import NotFoundError

router = APIRouter(tags=["cbam"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PeriodQuery = Query(None, description="Quarters like 2026Q3 (repeatable); default: all")


def _report(services: TenantServices, period: list[str] | None) -> Any:
    store = services.store
    try:
        factory = store.load_factory()
    except NotFoundError:
        msg = "no factory in the store: POST /factory first"
        raise Conflict(msg, field="factory") from None
    return cbam_report(store.list_footprints(), factory, period or None)


@router.get("/cbam", operation_id="cbam_report")
def cbam_json(services: ReadDep, period: list[str] | None = PeriodQuery) -> Any:
    """Embedded emissions per good and period (JSON)."""
    return _report(services, period).to_dict()


@router.get(
    "/cbam.xlsx",
    operation_id="cbam_workbook",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def cbam_xlsx(services: ReadDep, period: list[str] | None = PeriodQuery) -> Response:
    """The same as an .xlsx in the structure of the EU communication template."""
    report = _report(services, period)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_workbook(report, Path(tmp) / "cbam.xlsx")
        body = path.read_bytes()
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="cbam.xlsx"'},
    )
