"""OPC UA commands of ``carbontwin``:

- ``demo-server``: the demo line server publishing a factory's simulated production
  (or an events folder) over OPC UA;
- ``connect``: the OPC UA connector of a connector file, until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from pathlib import Path

import typer
import yaml

from carbontwin.twin.errors import CarbonTwinError
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
    stop = _stop_event()
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


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_connector(config_path: Path, duration_s: float | None) -> dict[str, int]:
    """Run the connector of a connector file until SIGINT/SIGTERM (or ``duration_s``)."""
    from carbontwin.connectors.opcua_client import OpcUaConnector
    from carbontwin.connectors.opcua_config import load_connector_config

    cfg = load_connector_config(config_path)
    connector = OpcUaConnector(cfg)
    stop = _stop_event()
    if duration_s is not None:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    stats = await connector.run(stop)
    from dataclasses import asdict

    return {k: int(v) for k, v in asdict(stats).items()}


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

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
            help="Endpoint policy: None, Basic256Sha256_Sign, Basic256Sha256_SignAndEncrypt "
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

    @app.command("connect")
    def connect(
        config: Path = typer.Argument(..., help="Connector file (YAML or JSON)."),
        duration: float | None = typer.Option(None, help="Stop after this many seconds."),
    ) -> None:
        """Read an OPC UA server into the twin store (through a local spool) until Ctrl-C."""
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("carbontwin").setLevel(logging.INFO)
        quiet_asyncua()
        # the connector reports lost connections and reconnects itself
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)
        try:
            stats = asyncio.run(run_connector(config, duration))
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(stats))
