"""Command ``carbontwin publish``: make a footprint public, an explicit act.

A published footprint's page (``/public/footprints/{id}``, where the label's QR
code points) and JSON answer without a token; an unpublished one answers 404.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]


def publish(
    what: Annotated[
        str, typer.Argument(help="Order id (its newest footprint version) or a footprint id")
    ],
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Public URL of the service (default: CARBONTWIN_PUBLIC_BASE_URL)",
        ),
    ] = None,
) -> None:
    """Publish a footprint: its public page and JSON answer without a token."""
    from carbontwin.twin.store import NotFoundError, Store

    settings = _settings(database_url, None)
    store = Store.open(settings.database_url, tenant=tenant)
    try:
        try:
            fp = store.get_footprint(what)
        except NotFoundError:
            store.get_order(what)  # names the order when it is not there either
            latest = store.latest_footprint(what)
            if latest is None:
                msg = f"order {what!r} has no issued footprint yet"
                raise NotFoundError(msg, field="what") from None
            fp = latest
        published = store.publish_footprint(fp.id)
    finally:
        store.close()
    base = (base_url or settings.public_base_url or "").rstrip("/")
    page = f"{base}/public/footprints/{fp.id}" if base else f"/public/footprints/{fp.id}"
    Console().print(
        f"published footprint {fp.id} (order {fp.order}, version {fp.version}) at "
        f"{published:%Y-%m-%d %H:%M:%S} UTC; public page {page}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("publish")(publish)
