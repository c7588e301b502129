"""Pages for people, served by the app itself: the dashboard at ``/``, the API docs at
``/docs`` (Swagger UI) and ``/redoc`` (ReDoc).

Every script, style sheet and icon is shipped in the wheel (``api/static/``,
served at ``static/``) and linked by a relative URL, so the pages work with no
internet and under any mount prefix (``host.mount("/carbon", create_app())``
serves the dashboard at ``/carbon/``). The vendored libraries and their
licences are listed in NOTICE.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, RedirectResponse

router = APIRouter(include_in_schema=False)

VENDOR = "static/vendor"


def static_dir() -> str:
    """Folder of the static files inside the installed package."""
    return str(files("carbontwin.api") / "static")


@router.get("/", response_class=HTMLResponse)
def dashboard() -> Any:
    """The dashboard (one page; its views load their data from the API)."""
    page = files("carbontwin.api") / "static" / "dashboard" / "index.html"
    return HTMLResponse(page.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> Any:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url="openapi.json",
        title=f"{request.app.title} — API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        # no badge from the public validator service: the page must work offline
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs/", response_class=HTMLResponse)
def swagger_ui_slash() -> Any:
    # relative asset URLs resolve against the folder: send /docs/ to /docs
    return RedirectResponse("../docs")


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
def swagger_ui_redirect() -> Any:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> Any:
    return get_redoc_html(
        openapi_url="openapi.json",
        title=f"{request.app.title} — API reference",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
