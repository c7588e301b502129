"""carbontwin.api: the FastAPI app factory and the command line.

>>> from carbontwin.api import Settings, create_app
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: name -> the module that defines it, imported on first use (``import
#: carbontwin.api.cli`` does not pay for what one command never touches)
_EXPORTS = {
    "create_app": ".app",
    "Settings": ".settings",
}


def __getattr__(name: str) -> Any:
    where = _EXPORTS.get(name)
    if where is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]
