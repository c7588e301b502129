"""One place where errors become HTTP responses.

- :class:`~carbontwin.twin.errors.CarbonTwinError` and its tree -> 4xx with the
  offending field: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``
  (the shape of FastAPI's own validation errors), plus ``errors`` for a
  :class:`~carbontwin.twin.errors.FactoryModelError`.
- :class:`PactError` and validation errors on PACT routes (tag ``pact``) -> the
  PACT error body ``{"code": ..., "message": ...}``.

Core code never raises HTTP errors; routes raise :class:`NotFound` or let the
domain error through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carbontwin.twin.errors import (
    AttributionError,
    CarbonTwinError,
    ConnectorError,
    EventConflictError,
    EventError,
    EventRowsError,
    FactoryModelError,
    PluginError,
    SimulationError,
    StoreError,
)
from carbontwin.twin.store import NotFoundError as StoreNotFound

if TYPE_CHECKING:  # FastAPI is imported when an app installs the handlers, not by the CLI
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

__all__ = [
    "Conflict",
    "Forbidden",
    "NotFound",
    "PactError",
    "TooLarge",
    "Unauthorized",
    "install_error_handlers",
]


class NotFound(CarbonTwinError):
    """The named resource (order, footprint, job) does not exist."""


class Conflict(CarbonTwinError):
    """The request conflicts with the current state (e.g. no factory stored yet)."""


class TooLarge(CarbonTwinError):
    """The request holds more than a limit allows (events per batch, ...)."""


class Unauthorized(CarbonTwinError):
    """Missing, invalid or expired bearer token."""


class Forbidden(CarbonTwinError):
    """A valid token without the scope the route needs."""


class PactError(Exception):
    """An error of the PACT API, answered as ``{"code", "message"}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


_STATUS: tuple[tuple[type[CarbonTwinError], int], ...] = (
    (NotFound, 404),
    (StoreNotFound, 404),
    (Unauthorized, 401),
    (Forbidden, 403),
    (TooLarge, 413),
    (Conflict, 409),
    (FactoryModelError, 422),
    (EventConflictError, 409),
    (EventError, 422),
    (AttributionError, 422),
    (SimulationError, 422),
    (PluginError, 400),
    (StoreError, 409),
    (ConnectorError, 502),
)


def status_of(exc: CarbonTwinError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def _is_pact(request: Request) -> bool:
    route = request.scope.get("route")
    return "pact" in (getattr(route, "tags", None) or [])


def _pact_response(exc: PactError) -> JSONResponse:
    from fastapi.responses import JSONResponse

    return JSONResponse(
        {"code": exc.code, "message": exc.message}, status_code=exc.status, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ._limits import BodyTooLarge

    @app.exception_handler(CarbonTwinError)
    async def _carbontwin(request: Request, exc: CarbonTwinError) -> JSONResponse:
        status = status_of(exc)
        if _is_pact(request):
            code = {401: "BadRequest", 403: "AccessDenied", 404: "NotFound"}.get(
                status, "BadRequest"
            )
            return _pact_response(PactError(status, code, exc.message))
        loc: list[Any] = [exc.field] if exc.field else []
        body: dict[str, Any] = {
            "detail": [{"loc": loc, "msg": exc.message, "type": type(exc).__name__}]
        }
        if isinstance(exc, FactoryModelError):
            body["errors"] = exc.errors
        if isinstance(exc, EventRowsError):  # every refused row, by kind and index
            body["rows"] = [{"kind": kind, "row": row, "msg": text} for kind, row, text in exc.rows]
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(PactError)
    async def _pact(request: Request, exc: PactError) -> JSONResponse:
        return _pact_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        if _is_pact(request):
            first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
            where = ".".join(str(p) for p in first["loc"])
            return _pact_response(PactError(400, "BadRequest", f"{where}: {first['msg']}"))
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):  # Settings.max_body_bytes (api/_limits.py)
            if _is_pact(request):
                return _pact_response(PactError(413, "BadRequest", str(exc.detail)))
            detail = [{"loc": ["body"], "msg": exc.detail, "type": "body_too_large"}]
            return JSONResponse({"detail": detail}, status_code=413)
        if _is_pact(request):
            code = {
                401: "BadRequest",
                403: "AccessDenied",
                404: "NotFound",
                501: "NotImplemented",
            }.get(exc.status_code, "BadRequest")
            return _pact_response(PactError(exc.status_code, code, str(exc.detail)))
        return JSONResponse(
            {"detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )
