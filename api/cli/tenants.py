"""Commands of `carbontwin` for the operator: tenants and their API clients.

- ``tenants add NAME``, ``tenants list``
- ``clients add --tenant T --scopes read,write``: prints the new client's id and
  secret once, on standard output (the store keeps only the secret's argon2 hash;
  nothing else ever prints or logs it)
- ``clients list [--tenant T]``, ``clients remove CLIENT_ID``
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .service import DbOpt, _settings

__all__ = ["register"]


def _store(database_url: str | None) -> Any:
    from carbontwin.twin.store import Store

    return Store.open(_settings(database_url, None).database_url)


def tenants_add(
    name: Annotated[
        str, typer.Argument(help="Tenant name: lower-case letters, digits, '-' and '_'")
    ],
    database_url: DbOpt = None,
) -> None:
    """Add a tenant: a plant or company whose data no other tenant's clients see."""
    store = _store(database_url)
    try:
        store.admin.add_tenant(name)
    finally:
        store.close()
    Console().print(
        f"tenant {name} added; give it clients with "
        f"'carbontwin clients add --tenant {name} --scopes read'",
        highlight=False,
    )


def tenants_list(database_url: DbOpt = None) -> None:
    """List the tenants with their number of API clients."""
    store = _store(database_url)
    try:
        rows = store.admin.tenants()
    finally:
        store.close()
    table = Table("tenant", "created", "clients")
    for name, created, clients in rows:
        table.add_row(name, created.isoformat(timespec="seconds"), str(clients))
    Console().print(table)


def clients_add(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant the client belongs to")],
    scopes: Annotated[
        str,
        typer.Option(
            "--scopes",
            help="Comma-separated scopes: read (GET routes, PACT), write (routes that change "
            "data), admin (the tenant's clients)",
        ),
    ] = "read",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {client_id, client_secret, ...} as JSON")
    ] = False,
    database_url: DbOpt = None,
) -> None:
    """Add an API client of a tenant and print its id and secret, this once.

    The secret goes to standard output only, here, and is never shown again:
    the store keeps its argon2 hash. Exchange both at POST /auth/token.
    """
    from carbontwin.api.clients import create_client
    from carbontwin.twin.store import check_scopes

    granted = check_scopes(scopes)
    store = _store(database_url)
    try:
        client_id, secret = create_client(store, tenant, granted)
    finally:
        store.close()
    if as_json:
        doc = {
            "client_id": client_id,
            "client_secret": secret,
            "tenant": tenant,
            "scopes": list(granted),
        }
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"client_id: {client_id}")
    typer.echo(f"client_secret: {secret}")
    Console(stderr=True).print(
        f"client of tenant {tenant} with scopes {','.join(granted)}; the secret is shown "
        "this once (only its hash is stored)",
        highlight=False,
    )


def clients_list(
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Only this tenant's clients")
    ] = None,
    database_url: DbOpt = None,
) -> None:
    """List API clients (ids, tenants, scopes; never secrets)."""
    store = _store(database_url)
    try:
        rows = store.admin.clients(tenant)
    finally:
        store.close()
    table = Table("client id", "tenant", "scopes", "created")
    for c in rows:
        table.add_row(
            c.client_id, c.tenant, ",".join(c.scopes), c.created_at.isoformat(timespec="seconds")
        )
    Console().print(table)


def clients_remove(
    client_id: Annotated[str, typer.Argument(help="The client id to remove")],
    database_url: DbOpt = None,
) -> None:
    """Remove an API client; its tokens stop working at once."""
    store = _store(database_url)
    try:
        store.admin.remove_client(client_id)
    finally:
        store.close()
    Console().print(f"client {client_id} removed", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    tenants = typer.Typer(help="Tenants: plants or companies kept apart.", no_args_is_help=True)
    tenants.command("add")(tenants_add)
    tenants.command("list")(tenants_list)
    app.add_typer(tenants, name="tenants")
    clients = typer.Typer(
        help="API clients of tenants (POST /auth/token credentials).", no_args_is_help=True
    )
    clients.command("add")(clients_add)
    clients.command("list")(clients_list)
    clients.command("remove")(clients_remove)
    app.add_typer(clients, name="clients")
