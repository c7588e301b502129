"""carbontwin.api: the FastAPI app factory and the command line.

>>> from carbontwin.api import Settings, create_app
"""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
