"""``carbontwin connect``: any live connector file (OPC UA, MQTT, Sparkplug B) into the store.

On a terminal it shows live progress (values per second, values stored, the
spool's backlog, the time of the latest value, gaps recorded and open, errors);
with ``--json`` it stays quiet and prints one JSON object at the end. Every gap
recorded in the run (the time the connector was not running before it started,
lost connections, dead edge nodes) is reported with its source, start, end and
reason. ``--rejected`` lists the values the store refused as conflicting with
stored ones (set aside in the spool), ``--correct-rejected`` sends them to the store
as corrections. ``connector-schema opcua|mqtt`` prints a connector file's JSON Schema.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from carbontwin.twin.errors import CarbonTwinError

from .opcua import quiet_asyncua, stop_event


def _iso(t: float) -> str:
    if t == float("-inf"):
        return "-"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _progress_table(connector: Any, rate: float) -> Any:
    from rich.table import Table

    s = connector.stats
    table = Table(title=f"carbontwin connect: {connector.endpoint}", show_header=False)
    table.add_column(justify="right", style="bold")
    table.add_column()
    table.add_row("status", "reading" if connector.ready.is_set() else "connecting")
    table.add_row("rate", f"{rate:,.0f} values/s")
    aside = connector.rejected()
    table.add_row(
        "values",
        f"{s.events:,} spooled, {connector.flushed():,} stored"
        + (f", {aside:,} refused by the store (set aside in the spool)" if aside else ""),
    )
    table.add_row("backlog", f"{connector.backlog():,} in the spool")
    table.add_row("last value", _iso(connector.t_max))
    table.add_row("gaps", f"{s.gaps} recorded, {len(connector.gaps)} open")
    table.add_row(
        "errors",
        f"{s.errors} (reconnects {s.reconnects})"
        + (f", {s.spool_full:,} readings not spooled: spool full" if s.spool_full else ""),
    )
    return table


async def run_connect(
    config_path: Path, duration_s: float | None, *, live: bool
) -> tuple[Any, dict[str, Any]]:
    """Run the connector of ``config_path`` until SIGINT/SIGTERM (or ``duration_s``)."""
    from carbontwin.connectors.live import load_live_config, open_live_connector

    cfg = load_live_config(config_path)
    connector = open_live_connector(cfg)
    stop = stop_event()
    if duration_s is not None:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    task = asyncio.create_task(connector.run(stop))
    if live:
        from rich.console import Console
        from rich.live import Live

        last_n, last_t, rate = 0, time.monotonic(), 0.0
        with Live(
            _progress_table(connector, 0.0), console=Console(stderr=True), refresh_per_second=4
        ) as view:
            while not task.done():
                await asyncio.wait([task], timeout=0.5)
                now = time.monotonic()
                rate = (connector.stats.events - last_n) / max(now - last_t, 1e-9)
                last_n, last_t = connector.stats.events, now
                view.update(_progress_table(connector, rate))
    stats = await task
    report = {
        "endpoint": connector.endpoint,
        "stats": {k: int(v) for k, v in asdict(stats).items()},
        "rejected": connector.rejected(),
        "gaps": [
            {
                "source": g.source,
                "start": _iso(g.start),
                "end": _iso(g.end),
                "seconds": round(g.end - g.start, 3),
                "reason": g.reason,
            }
            for g in connector.recorded
        ],  # fmt: skip
    }
    return connector, report


def _print_rejected(config: Path, as_json: bool) -> None:
    """The events set aside in the spool of connector file ``config``."""
    from carbontwin.connectors.live import load_live_config
    from carbontwin.connectors.spool import Spool

    path = _spool_of(config, load_live_config(config))
    spool = Spool(path)
    try:
        rows = spool.rejected()
    finally:
        spool.close()
    names = ("kind", "source", "t", "t_end", "value", "a", "b", "c", "reason")
    events = [dict(zip(names, r, strict=True)) for r in rows]
    for e in events:
        e["time"] = _iso(float(e["t"]))
    if as_json:
        typer.echo(json.dumps({"spool": str(path), "rejected": events}))
        return
    typer.echo(f"{len(events)} event(s) set aside in {path}")
    for e in events:
        value = e["value"] if e["value"] is not None else e["a"]
        typer.echo(f"{e['kind']} {e['source']} {e['time']} {value}: {e['reason']}")
    if events:
        typer.echo(
            f"to replace the stored values with these: carbontwin connect {config} "
            "--correct-rejected [--source SOURCE]"
        )


def _spool_of(config: Path, cfg: Any) -> Path:
    """The spool file of connector file ``config`` (loaded: ``cfg``); it must exist."""
    path = Path(cfg.spool.path)
    if not path.is_file():
        msg = f"no spool at {path} (the connector of {config} has not run yet)"
        raise typer.BadParameter(msg, param_hint="CONFIG")
    return path


def _correct_rejected(config: Path, source: str | None, as_json: bool) -> None:
    """Send the events set aside in the spool of ``config`` to its store as corrections."""
    from carbontwin.connectors.live import load_live_config
    from carbontwin.connectors.spool import Spool
    from carbontwin.twin.store import Store

    cfg = load_live_config(config)
    path = _spool_of(config, cfg)
    spool = Spool(path)
    store = None
    try:
        store = Store.open(cfg.store.url, tenant=cfg.store.tenant)
        n, settled = spool.correct_rejected(store.ingest, source=source)
    finally:
        spool.close()
        if store is not None:
            store.close()
    out = {
        "spool": str(path),
        "source": source,
        "sent": n,
        "corrected": settled.corrected if settled is not None else 0,
        "unchanged": settled.unchanged if settled is not None else 0,
        "new": settled.new if settled is not None else 0,
    }
    if as_json:
        typer.echo(json.dumps(out))
        return
    if not n:
        which = f" of {source!r}" if source is not None else ""
        typer.echo(f"no events{which} set aside in {path}")
        return
    typer.echo(
        f"{n} event(s) set aside in {path} sent to the store as corrections: "
        f"{out['corrected']} replaced a stored value (kept in the store's event history), "
        f"{out['unchanged']} were already stored as sent, {out['new']} were new; "
        "moved to the spool's 'resent' table"
    )


def register(app: typer.Typer) -> None:
    """Add ``connect`` to ``app``."""

    @app.command("connect")
    def connect(
        config: Path = typer.Argument(
            ..., help="Connector file (YAML or JSON): kind opcua or mqtt."
        ),
        duration: float | None = typer.Option(None, help="Stop after this many seconds."),
        as_json: bool = typer.Option(
            False, "--json", help="No live progress; print one JSON object at the end."
        ),
        rejected: bool = typer.Option(
            False,
            "--rejected",
            help="Do not connect: list the events the store refused as conflicting with "
            "stored ones, set aside in this connector's spool, and exit.",
        ),
        correct_rejected: bool = typer.Option(
            False,
            "--correct-rejected",
            help="Do not connect: send the events set aside in this connector's spool to "
            "its store as corrections (each replaces the stored value, which the store "
            "keeps in its event history; of several under one key the latest), and exit.",
        ),
        source: str | None = typer.Option(
            None,
            "--source",
            help="With --correct-rejected: only the events of this asset, meter or order.",
        ),
    ) -> None:
        """Read an OPC UA server or an MQTT broker into the twin store until Ctrl-C.

        Values go through a local spool (store-and-forward). Gaps the connector
        knows it has (the time it was not running, lost connections, dead
        Sparkplug edge nodes, readings not spooled while the spool held its
        spool.max_events) are recorded as gap events and listed at the end.
        Events the store refuses for good (another value under a stored key) are
        set aside in the spool (``--rejected`` lists them, ``--correct-rejected``
        sends them as corrections). A refused login or certificate ends the command
        with exit code 1.
        """
        if rejected and correct_rejected:
            msg = "--rejected lists the set-aside events, --correct-rejected sends them: one"
            raise typer.BadParameter(msg, param_hint="--correct-rejected")
        if source is not None and not correct_rejected:
            msg = "--source picks the events --correct-rejected sends; give that too"
            raise typer.BadParameter(msg, param_hint="--source")
        if rejected:
            _print_rejected(config, as_json)
            return
        if correct_rejected:
            _correct_rejected(config, source, as_json)
            return
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("carbontwin").setLevel(logging.WARNING if as_json else logging.INFO)
        quiet_asyncua()
        # the connector reports lost connections and reconnects itself
        logging.getLogger("asyncua").setLevel(logging.CRITICAL)
        live = not as_json and sys.stderr.isatty()
        try:
            _, report = asyncio.run(run_connect(config, duration, live=live))
        except CarbonTwinError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            if "namespace by index" in exc.message:
                from carbontwin.connectors.live import namespace_index_hints

                for hint in asyncio.run(namespace_index_hints(config)):
                    typer.echo(f"hint: {hint}", err=True)
            raise typer.Exit(1) from None
        if as_json:
            typer.echo(json.dumps(report))
            return
        s = report["stats"]
        typer.echo(
            f"{report['endpoint']}: {s['events']} values, {s['duplicates']} repeats dropped, "
            f"{s['gaps']} gaps, "
            f"{s['overflows'] + s['sequence_gaps'] + s['bad_values'] + s['spool_full']} errors"
            + (
                f", {s['spool_full']} readings not spooled because the spool was full (their "
                "meters have gaps, reason 'spool full')"
                if s["spool_full"]
                else ""
            )
            + (
                f", {report['rejected']} refused by the store as conflicting with stored "
                "events (set aside in the spool's 'rejected' table)"
                if report.get("rejected")
                else ""
            )
            + (
                f", {s['same_time_changes']} changes at an already-stored source time not kept "
                "(the server's timestamps are coarser than its changes; see the log)"
                if s.get("same_time_changes")
                else ""
            )
        )
        for g in report["gaps"]:
            typer.echo(
                f"gap {g['source']}: {g['start']} .. {g['end']} ({g['seconds']} s, {g['reason']})"
            )

    @app.command("connector-schema")
    def connector_schema(
        kind: str = typer.Argument("opcua", help="Connector kind: opcua or mqtt."),
    ) -> None:
        """Print the JSON Schema of a connector file (every field described)."""
        from carbontwin.connectors.live import connector_json_schema

        typer.echo(json.dumps(connector_json_schema(kind), indent=2))
