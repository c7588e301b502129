"""The demo composition: one simulated day of a factory published as an OPC UA line,
read back by the connector into a store, attributed and issued.

This is where simulation and connectors meet (neither imports the other; see
``docs/architecture.md``). The ``demo`` and ``demo-server`` commands
(:mod:`carbontwin.api.cli.demo`, :mod:`carbontwin.api.cli.opcua`) call it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import Factory
from carbontwin.twin.quantities import to_epoch

DAY_S = 86400.0


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


#: The demo's signing key, in its output folder beside its store.
KEY_FILE = "signing-key.pem"


def write_label(fp: Any, path: Path) -> None:
    """The printable label (SVG) of a footprint, when the label exporter is installed.

    Its QR code points to the footprint's public page under
    CARBONTWIN_PUBLIC_BASE_URL when that is set (it answers once published).
    """
    try:
        from carbontwin.plugins.label import label_data, render_svg
    except ImportError:
        return
    from carbontwin.api.settings import Settings

    base = Settings.from_env().public_base_url.rstrip("/")
    url = f"{base}/public/footprints/{fp.id}" if base else ""
    path.write_text(render_svg(label_data(fp, pact_url=url)))


def serve_api(folder: Path, port: int, rules: Mapping[str, Any] | None = None) -> None:
    import uvicorn

    from carbontwin.api import create_app
    from carbontwin.api.settings import Settings

    from .cli.service import write_secret_file

    settings = Settings(
        database_url=f"sqlite:///{folder / 'carbontwin.db'}",
        key_path=folder / KEY_FILE,
        require_https=False,
        rules=dict(rules or {}),
    )
    secret_file = write_secret_file(folder / "client-secret.txt", settings.client_secret)
    print(
        f"dashboard on http://127.0.0.1:{port}/ and API docs on http://127.0.0.1:{port}/docs "
        f"(Ctrl-C to stop); log in (or POST /auth/token) with "
        f"client_id={settings.client_id} and the client secret in {secret_file}",
        file=sys.stderr,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    sys.stdout.flush()


async def through_opcua(day: DemoDay, folder: Path, seconds: float, store: Any) -> dict[str, int]:
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
        # the line runs in this process: an answer held up by a busy machine is not a
        # lost connection, so the request timeout is long
        cfg = ConnectorConfig.model_validate(
            server.connector_config(spool={"path": str(folder / "spool.db")}, timeout_s=30.0)
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


def run_demo(
    folder: Path,
    *,
    seconds: float = 30.0,
    seed: int = 0,
    as_json: bool = False,
    rules: Mapping[str, Any] | None = None,
    grid_factor: str | None = None,
    grid_factors: Path | None = None,
    wide: bool = False,
) -> int:
    """The whole flow on the demo factory's first day; returns a process exit code.

    ``rules`` are the allocation rules of the issue (default: the defaults).
    ``grid_factor`` (``"0.35 kg/kWh"``) or ``grid_factors`` (an hourly CSV) replace the
    demo plant's grid factors in the attribution (the simulated day itself is unchanged).
    """
    from rich.console import Console

    from carbontwin.plugins.factors import command_line_factors
    from carbontwin.plugins.registry import allocation_rules
    from carbontwin.plugins.signing import Signer, load_or_create_key
    from carbontwin.twin.attribution import attribute
    from carbontwin.twin.store import Store

    from .cli.attribute import print_quality
    from .cli.tables import footprint_table, print_table
    from .issuing import attribute_inputs, issue_footprints, read_inputs

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
    store.write_events(day.events.materials())
    t = time.monotonic()
    stats = asyncio.run(through_opcua(day, folder, seconds, store))
    took = time.monotonic() - t
    factors = command_line_factors(day.factory, grid_factor=grid_factor, grid_factors=grid_factors)
    inputs = read_inputs(store, rules, factors=factors)
    result = attribute_inputs(inputs)
    direct = attribute(
        day.factory, day.events, inputs.factors, inputs.rules, allocation=allocation_rules()
    )
    signer = Signer(load_or_create_key(folder / KEY_FILE))
    fps = {fp.order: fp for fp in issue_footprints(store, inputs, result, signer)}
    out = folder / "footprints"
    out.mkdir(exist_ok=True)
    for order, fp in fps.items():
        signed = store.stored_footprint(fp.id).document  # signed at issuance
        (out / f"{order}.json").write_text(json.dumps(signed, indent=2) + "\n")
        write_label(fp, out / f"{order}.svg")
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
        print(json.dumps([fp.to_dict() for fp in fps.values()], indent=2))
    else:
        table = footprint_table(
            fps.values(),
            title=f"Per-order footprints, {day.factory.name} (through OPC UA; "
            "location-based scope 2)",
            width=console.width,
            wide=wide,
        )
        print_table(console, table)
    console.print(
        f"balance: orders {orders_kwh:,.3f} kWh + overhead {result.overhead_kwh:,.3f} kWh = "
        f"{orders_kwh + result.overhead_kwh:,.3f} kWh; metered {metered:,.3f} kWh"
        + (f" + filled {filled:,.3f} kWh" if filled else "")
        + f" (difference {abs(orders_kwh + result.overhead_kwh - metered - filled):.2e} kWh)"
    )
    errors = sum(stats[k] for k in ("overflows", "sequence_gaps", "bad_values", "spool_full"))
    console.print(
        f"OPC UA: {stats['events']} events in {took:.1f} s, {stats['duplicates']} duplicates dropped, "
        f"{stats['same_time_changes']} changes at a stored source time, "
        f"{errors} errors; per-order energy "
        f"vs the simulator's events directly: max difference {diff * 100:.3f} %"
    )
    print_quality(console, result)
    chosen = ", ".join(
        f"{k}={v}" for k, v in inputs.rules.names().items() if k in ("idle", "utility_key")
    )
    console.print(f"footprints: {out} (signed at issuance; rules: {chosen})")
    first = next(iter(fps), None)
    if first is not None:
        url = f"sqlite:///{db.resolve()}"
        console.print(
            f"printable label: carbontwin label {first} --database-url {url} --out {first}.pdf"
        )
        console.print(
            f"verifier's pack: carbontwin pack {first} --database-url {url} --out {first}.zip, "
            f"then carbontwin recompute {first}.zip"
        )
    return 0
