"""The FastAPI app factory.

>>> from carbontwin.api import Settings, create_app
>>> app = create_app(Settings(database_url="sqlite:///twin.db"))   # doctest: +SKIP

Nothing is created at import time and ``create_app`` itself does no I/O: the
store, the signing key and the job pool are opened on first use. A host
platform mounts the app as a sub-application::

    host.mount("/carbon", create_app(settings))

and reads ``GET /carbon/plugin/manifest``. Call ``app.state.services.close()``
when the host shuts down (mounted apps get no lifespan events of their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ._cache import keep_out_of_full_collections
from ._limits import BodyLimit
from ._proxy import TrustedProxyHeaders
from .deps import Services
from .errors import install_error_handlers
from .routes import all_routers
from .settings import Settings

__all__ = ["create_app"]

DESCRIPTION = """\
Per-order product carbon footprints from factory machine data.

Authenticate with `POST /auth/token` (OAuth2 client credentials, HTTP Basic) and send
the token as `Authorization: Bearer ...`. The PACT API (`/3`, `/2`) builds to the PACT
Technical Specifications (WBCSD). Footprints and labels are signed with Ed25519; the
public key is at `/.well-known/carbontwin-signing-key`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new carbontwin service app.

    Parameters
    ----------
    settings : Settings, optional
        Configuration; ``Settings.from_env()`` (``CARBONTWIN_*`` variables) when omitted.
    """
    settings = settings if settings is not None else Settings.from_env()
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # everything imported and built so far lives as long as the process: keep it
        # out of the cyclic collector's full passes, which would otherwise pause
        # requests for as long as it takes to scan all of it
        keep_out_of_full_collections()
        yield
        services.close()

    app = FastAPI(
        title="carbontwin",
        version=version("carbontwin"),
        description=DESCRIPTION,
        lifespan=lifespan,
        # self-hosted, offline docs: see routes/pages.py
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.trusted_proxies:
        app.add_middleware(TrustedProxyHeaders, trusted=settings.trusted_proxies)
    for router in all_routers():
        app.include_router(router)
    from .routes.pages import static_dir

    # follow_symlink: an editable install links the package's files into place
    static = StaticFiles(directory=static_dir(), follow_symlink=True)
    app.mount("/static", static, name="static")
    return app
