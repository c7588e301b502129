"""carbontwin.api: the FastAPI app factory and the command line.

>>> from carbontwin.api import Settings, create_app
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carbontwin.twin._lazy import lazy_exports

#: name -> the module that defines it, imported on first use (``import
#: carbontwin.api.cli`` does not pay for what one command never touches)
_EXPORTS = {
    "create_app": ".app",
    "Settings": ".settings",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]
