"""Commands of `carbontwin` registered by this module (see api/cli.py).

- ``demo-server``: the demo line server publishing a factory's simulated production
  (or an events folder) over OPC UA;
- ``connect``: the OPC UA connector of a connector file, until Ctrl-C;
- ``demo``: server, connector, SQLite store and attribution in one command.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml

from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import Factory
from carbontwin.twin.quantities import to_epoch

log = logging.getLogger("carbontwin.demo")

DAY_S = 86400.0


def _quiet_asyncua() -> None:
    # the NodeSet import and the session setup log expected warnings by the dozen
    for name in ("asyncua", "pint"):
        logging.getLogger(name).setLevel(logging.ERROR)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(slots=True)
class DemoDay:
    """One simulated production day of a factory: the factory, its orders and events."""

    factory: Factory
    events: EventBatch
    start: float
    end: float
    orders: list[Any]


def simulate_day(factory: Factory | None = None, *, days: float = 1.0, seed: int = 0) -> DemoDay:
    """Simulate the orders released in the first ``days`` of a factory's plan.

    The default factory is :func:`carbontwin.twin.examples.demo_factory`.
    """
    from carbontwin.simulation import simulate
    from carbontwin.twin.examples import demo_factory

    factory = factory if factory is not None else demo_factory()
    releases = [to_epoch(o.release) for o in factory.orders]
    if not releases:
        msg = f"factory {factory.id!r} has no orders to simulate"
        raise CarbonTwinError(msg)
    start = min(releases)
    end = start + days * DAY_S
    plan = [o for o in factory.orders if to_epoch(o.release) < end]
    result = simulate(factory, plan, seed=seed, start=start, end=end, signal="meter")
    return DemoDay(factory, result.events, result.t0, result.t_end, plan)


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

        _quiet_asyncua()
        try:
            fac = load_factory(factory) if factory else None
            if events is not None:
                batch = _read_events(events)
            else:
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
        _quiet_asyncua()
        # the connector reports lost connections and reconnects itself
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)
        try:
            stats = asyncio.run(run_connector(config, duration))
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(stats))

    @app.command("demo")
    def demo(
        out: Path | None = typer.Option(
            None, help="Output folder (default: a temporary folder; ./carbontwin-out is common)."
        ),
        seconds: float = typer.Option(30.0, help="Real seconds for the simulated day."),
        seed: int = typer.Option(0, help="Simulation seed."),
        as_json: bool = typer.Option(False, "--json", help="Print the footprints as JSON."),
        serve: bool = typer.Option(False, help="Keep the API running on the demo store."),
        api_port: int = typer.Option(8000, help="Port of the API with --serve."),
    ) -> None:
        """Demo line -> OPC UA -> connector -> store -> per-order footprints, in one command."""
        _quiet_asyncua()
        folder = out or Path(tempfile.mkdtemp(prefix="carbontwin-demo-"))
        t = time.monotonic()
        try:
            code = run_demo(folder, seconds=seconds, seed=seed, as_json=as_json)
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        if not as_json:
            typer.echo(f"done in {time.monotonic() - t:.1f} s; output in {folder}")
        if serve:
            _serve_api(folder, api_port)
        if code:
            raise typer.Exit(code)


def _write_label(fp: Any, path: Path) -> None:
    """The printable label (SVG) of a footprint, when the label exporter is installed."""
    try:
        from carbontwin.plugins.label import label_data, render_svg
    except ImportError:
        return
    path.write_text(render_svg(label_data(fp)))


def _serve_api(folder: Path, port: int) -> None:
    import uvicorn

    from carbontwin.api import create_app
    from carbontwin.api.settings import Settings

    settings = Settings(database_url=f"sqlite:///{folder / 'carbontwin.db'}", require_https=False)
    typer.echo(
        f"API on http://127.0.0.1:{port}/docs (Ctrl-C to stop); token: POST /auth/token with "
        f"client_id={settings.client_id} client_secret={settings.client_secret.get_secret_value()}",
        err=True,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    sys.stdout.flush()


async def _through_opcua(day: DemoDay, folder: Path, seconds: float, store: Any) -> dict[str, int]:
    """Replay ``day`` on a demo line server read by a connector into ``store``."""
    from dataclasses import asdict

    from rich.console import Console
    from rich.progress import Progress

    from carbontwin.connectors.opcua_client import OpcUaConnector
    from carbontwin.connectors.opcua_config import ConnectorConfig
    from carbontwin.connectors.opcua_server import DemoLineServer

    span = max(day.end - day.start, 1.0)
    server = DemoLineServer(day.events, factory=day.factory, port=free_port(), speed=span / seconds)
    async with server:
        span = max(server.t_last - server.t_first, 1.0)
        server.speed = span / seconds
        cfg = ConnectorConfig.model_validate(
            server.connector_config(spool={"path": str(folder / "spool.db")})
        )
        connector = OpcUaConnector(cfg, sink=store.write_events)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        ready = asyncio.create_task(connector.ready.wait())
        await asyncio.wait([task, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not connector.ready.is_set():
            stop.set()
            await task  # raises the connector's error, if any
            msg = f"the connector did not subscribe to {server.endpoint} within 60 s"
            raise CarbonTwinError(msg)
        replay = asyncio.create_task(server.replay())
        with Progress(console=Console(stderr=True), transient=True) as progress:
            bar = progress.add_task(f"OPC UA line at {server.speed:.0f}x", total=span)
            while not replay.done():
                now = server.clock.sim_now() - server.t_first if server.clock else 0.0
                progress.update(bar, completed=min(now, span))
                await asyncio.sleep(0.1)
        await replay
        await connector.wait_idle(quiet_s=3 * cfg.publishing_interval_ms / 1000 + 0.3, timeout_s=60)
        stop.set()
        await task
    return {k: int(v) for k, v in asdict(connector.stats).items()}


def run_demo(folder: Path, *, seconds: float = 30.0, seed: int = 0, as_json: bool = False) -> int:
    """The whole flow on the demo factory's first day; returns a process exit code."""
    from rich.console import Console

    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.factors import FactorSet
    from carbontwin.twin.store import Store

    from .cli_attribute import footprint_table

    console = Console(stderr=as_json)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spool.db").unlink(missing_ok=True)
    db = folder / "carbontwin.db"
    db.unlink(missing_ok=True)
    day = simulate_day(seed=seed)
    store = Store.open(f"sqlite:///{db}")
    store.save_factory(day.factory)
    store.save_orders(day.orders)
    # material issues come from MES, not from machines: straight into the store
    ev = day.events
    store.write_events(
        EventBatch(
            material_order=ev.material_order,
            material_id=ev.material_id,
            material_quantity=ev.material_quantity,
            material_unit=ev.material_unit,
            material_booking=ev.material_booking,
        )
    )
    t = time.monotonic()
    stats = asyncio.run(_through_opcua(day, folder, seconds, store))
    took = time.monotonic() - t
    events = store.read_events()
    factors = FactorSet.default(day.factory)
    result = attribute(day.factory, events, factors)
    direct = attribute(day.factory, day.events, factors)
    fps = dict(sorted(result.footprints.items()))
    out = folder / "footprints"
    out.mkdir(exist_ok=True)
    for order, fp in fps.items():
        issued = store.issue_footprint(fp)
        (out / f"{order}.json").write_text(json.dumps(issued.to_dict(), indent=2) + "\n")
        _write_label(issued, out / f"{order}.svg")
    orders_kwh = sum(fp.energy_kwh for fp in fps.values())
    metered = float(sum(result.metered_kwh.values()))
    filled = float(sum(result.filled_kwh.values()))
    diff = max(
        (
            abs(fp.energy_kwh - direct.footprints[o].energy_kwh)
            / max(direct.footprints[o].energy_kwh, 1e-9)
            for o, fp in fps.items()
            if o in direct.footprints
        ),
        default=0.0,
    )
    if as_json:
        typer.echo(json.dumps([fp.to_dict() for fp in fps.values()], indent=2))
    else:
        table = footprint_table(
            fps.values(),
            title=f"Per-order footprints, {day.factory.name} (through OPC UA; "
            "location-based scope 2)",
        )
        console.print(table)
    console.print(
        f"balance: orders {orders_kwh:,.3f} kWh + overhead {result.overhead_kwh:,.3f} kWh = "
        f"{orders_kwh + result.overhead_kwh:,.3f} kWh; metered {metered:,.3f} kWh"
        + (f" + filled {filled:,.3f} kWh" if filled else "")
        + f" (difference {abs(orders_kwh + result.overhead_kwh - metered - filled):.2e} kWh)"
    )
    console.print(
        f"OPC UA: {stats['events']} events in {took:.1f} s, {stats['duplicates']} duplicates dropped, "
        f"{stats['overflows'] + stats['sequence_gaps'] + stats['bad_values']} errors; per-order energy "
        f"vs the simulator's events directly: max difference {diff * 100:.3f} %"
    )
    console.print(f"footprints: {out}")
    first = next(iter(fps), None)
    if first is not None:
        console.print(
            f"printable label: carbontwin label {first} --database-url "
            f"sqlite:///{db.resolve()} --out {first}.pdf"
        )
    return 0
