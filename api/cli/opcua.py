"""OPC UA commands of ``carbontwin``:

- ``demo-server``: the demo line server publishing a factory's simulated production
  (or an events folder) over OPC UA;
- ``opcua browse``: namespaces, objects and variables of a server, and a connector
  file for what was found.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml

from carbontwin.twin.errors import CarbonTwinError

if TYPE_CHECKING:  # loaded when a command runs, not with --help
    from carbontwin.twin.events import EventBatch
    from carbontwin.twin.model import Factory

log = logging.getLogger("carbontwin.demo")


def quiet_asyncua() -> None:
    # the NodeSet import and the session setup log expected warnings by the dozen
    for name in ("asyncua", "pint"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _read_events(path: Path) -> EventBatch:
    from carbontwin.connectors import files

    reader = getattr(files, "read_events_dir", None)
    if reader is None:
        msg = "reading an events folder needs carbontwin.connectors.files.read_events_dir"
        raise CarbonTwinError(msg)
    batch: EventBatch = reader(path)
    return batch


def _parse_users(users: list[str]) -> dict[str, str]:
    out = {}
    for u in users:
        name, sep, pw = u.partition(":")
        if not sep:
            msg = f"--user {u!r} must be NAME:PASSWORD"
            raise typer.BadParameter(msg)
        out[name] = pw
    return out


async def serve_events(
    events: EventBatch,
    *,
    factory: Factory | None,
    host: str,
    port: int,
    speed: float,
    wait: bool,
    security: list[str],
    cert_dir: Path | None,
    users: dict[str, str],
    write_config: Path | None,
    exit_after: bool,
) -> None:
    """Run the demo line server until interrupted (or the replay ends, with ``exit_after``)."""
    from carbontwin.connectors.opcua_server import DemoLineServer

    server = DemoLineServer(
        events,
        factory=factory,
        host=host,
        port=port,
        speed=speed,
        security=security,
        cert_dir=cert_dir,
        users=users or None,
    )
    stop = stop_event()
    async with server:
        typer.echo(
            f"demo line server on {server.endpoint} ({len(events)} events, speed {speed:g}x)"
        )
        if write_config:
            text = yaml.safe_dump(server.connector_config(), sort_keys=False)
            await asyncio.to_thread(write_config.write_text, text)
            typer.echo(f"connector file: {write_config}")
        if wait:
            typer.echo("waiting for a subscription before replaying")
            while not stop.is_set() and not await server.wait_for_subscriber(timeout_s=1.0):
                pass
        replay = asyncio.create_task(server.replay())
        done, _ = await asyncio.wait(
            [replay, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if replay in done:
            typer.echo(f"replay done: {server.writes} values written")
            if not exit_after:
                await stop.wait()
        else:
            replay.cancel()


def stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    return stop


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    register_opcua_group(app)

    @app.command("demo-server")
    def demo_server(
        factory: Path | None = typer.Option(None, help="Factory file (default: the demo factory)."),
        events: Path | None = typer.Option(
            None, help="Events folder to publish (default: simulate the factory's first day)."
        ),
        speed: float = typer.Option(60.0, help="Simulated seconds per real second."),
        port: int = typer.Option(4840, help="TCP port."),
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        days: float = typer.Option(1.0, help="Days of orders to simulate."),
        seed: int = typer.Option(0, help="Simulation seed."),
        wait: bool = typer.Option(True, help="Start the replay at the first subscription."),
        security: list[str] = typer.Option(
            ["None"],
            help="Endpoint policy: None, or POLICY_MODE with POLICY Basic256Sha256, "
            "Aes128Sha256RsaOaep or Aes256Sha256RsaPss and MODE Sign or SignAndEncrypt "
            "(repeat for several).",
        ),
        cert_dir: Path | None = typer.Option(
            None, help="Folder of the server certificate (created on first run)."
        ),
        user: list[str] = typer.Option([], help="NAME:PASSWORD of an allowed user (repeat)."),
        write_config: Path | None = typer.Option(
            None, help="Write a connector file for this server here."
        ),
        exit_after_replay: bool = typer.Option(False, help="Stop when the replay is done."),
    ) -> None:
        """Publish a factory's production as an OPC UA line (Machinery, energy, orders)."""
        from carbontwin.twin.factory_file import load_factory

        quiet_asyncua()
        try:
            fac = load_factory(factory) if factory else None
            if events is not None:
                batch = _read_events(events)
            else:
                from carbontwin.api.demo import simulate_day

                batch = simulate_day(fac, days=days, seed=seed).events
            if fac is None and events is None:
                from carbontwin.twin.examples import demo_factory

                fac = demo_factory()
            asyncio.run(
                serve_events(
                    batch,
                    factory=fac,
                    host=host,
                    port=port,
                    speed=speed,
                    wait=wait,
                    security=security,
                    cert_dir=cert_dir,
                    users=_parse_users(user),
                    write_config=write_config,
                    exit_after=exit_after_replay,
                )
            )
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None


async def _browse(
    url: str, path: str | None, depth: int, username: str | None, password: str | None
) -> Any:
    from asyncua.client.client import Client
    from asyncua.ua.uaerrors import UaError

    from carbontwin.connectors.opcua_browse import browse

    client = Client(url, timeout=10)
    if username:
        client.set_user(username)
        client.set_password(password or "")
    try:
        await client.connect()
    except (OSError, TimeoutError, UaError) as exc:
        msg = f"cannot connect to {url}: {exc!r}"
        raise CarbonTwinError(msg) from None
    try:
        return await browse(client, url, path=path, depth=depth)
    finally:
        with contextlib.suppress(OSError, TimeoutError, UaError, ConnectionError):
            await client.disconnect()


def _print_browse(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ns = Table(title=f"namespaces of {result.endpoint}")
    for col in ("index", "alias", "URI"):
        ns.add_column(col)
    for i, uri, alias in result.namespaces:
        ns.add_row(str(i), alias, uri)
    console.print(ns)
    nodes = Table(title="objects and variables")
    for col in ("browse path", "class", "data type", "unit", "access", "node"):
        nodes.add_column(col, overflow="fold")
    for n in result.nodes:
        nodes.add_row(n.path, n.node_class, n.data_type, n.unit, n.access, n.nodeid)
    console.print(nodes)


def register_opcua_group(app: typer.Typer) -> None:
    """Add ``opcua browse`` to ``app``."""
    group = typer.Typer(help="OPC UA tools: browse a server.", no_args_is_help=True)
    app.add_typer(group, name="opcua")

    @group.command("browse")
    def browse_cmd(
        url: str = typer.Argument(..., help="Server endpoint, opc.tcp://host:port/path."),
        path: str | None = typer.Option(
            None,
            help="Start here: a path of browse names under Objects (Machines/press-1) or a "
            "NodeId (nsu=URI;s=..., i=...). Default: the Objects folder.",
        ),
        depth: int = typer.Option(3, min=1, help="Levels to walk down."),
        suggest_config: Path | None = typer.Option(
            None, help="Write a connector file for the meters and Machinery states found."
        ),
        username: str | None = typer.Option(None, help="User name (anonymous when absent)."),
        password: str | None = typer.Option(None, help="Password of --username."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """List the namespaces (index, URI, alias), objects and variables (data type,
        EngineeringUnits, access level, NodeId with its namespace URI) of a server."""
        quiet_asyncua()
        try:
            result = asyncio.run(_browse(url, path, depth, username, password))
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps(result.to_dict(), indent=2))
        else:
            _print_browse(result)
        if suggest_config is not None:
            from carbontwin.connectors.opcua_browse import suggest_config as suggest

            cfg = suggest(result)
            suggest_config.write_text(yaml.safe_dump(cfg, sort_keys=False))
            typer.echo(
                f"connector file with {len(cfg['signals'])} signals: {suggest_config} "
                "(check the meter and asset ids against your factory file)",
                err=as_json,
            )
