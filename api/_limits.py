"""Request limits: body size, events per batch, and the bounds of paging and version parameters.

:class:`BodyLimit` refuses a request body above ``Settings.max_body_bytes``
with 413 before the app parses it: at once when ``Content-Length`` says so,
else as soon as the streamed body passes the limit. The answer names the
setting: ``{"detail": [{"loc": ["body"], "msg": ..., "type": "body_too_large"}]}``,
or the PACT error body under ``/2/`` and ``/3/``. (Starlette's own
``RequestBodyLimitMiddleware`` answers a declared-too-long body with a fixed
plain-text "Content Too Large" that the app cannot replace, so it would not
say which limit was hit.)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_OFFSET", "MAX_VERSION", "BodyLimit", "BodyTooLarge", "too_large_message"]

MAX_OFFSET = 2**31 - 1
"""Largest ``offset`` of a paged route (no store holds more rows)."""
MAX_VERSION = 2**31 - 1
"""Largest ``version`` a route accepts (versions count up from 1)."""


def too_large_message(limit: int) -> str:
    """The 413's message: the limit and the setting that raises it."""
    return (
        f"request body is larger than {limit:,} bytes (setting max_body_bytes, "
        "CARBONTWIN_MAX_BODY_BYTES); send smaller batches"
    )


def is_pact_path(scope: Scope) -> bool:
    """Is the request for the PACT API (``/2/...``, ``/3/...`` under the mount prefix)?"""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.startswith(("/2/", "/3/"))


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the streamed body passes the limit.

    An ``HTTPException``, so FastAPI's body parsing passes it on to the app's
    handler (``api/errors.py``) instead of turning it into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=too_large_message(limit))


class BodyLimit:
    """ASGI middleware: 413 for a request body above ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        msg = too_large_message(self.max_bytes)
        doc: dict[str, Any]
        if is_pact_path(scope):
            doc = {"code": "BadRequest", "message": msg}
        else:
            doc = {"detail": [{"loc": ["body"], "msg": msg, "type": "body_too_large"}]}
        body = json.dumps(doc).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
