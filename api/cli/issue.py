"""Commands ``carbontwin issue`` (windowed issuing from the store), ``carbontwin withdraw``
(withdraw an order's footprint) and ``carbontwin archive`` (raw events of attributed
windows to Parquet).

Attributes the closed windows (days or allocation periods) not attributed yet,
each from its own events and the state carried in, and issues a signed footprint
version for every order whose last step's window has closed
(:func:`carbontwin.api.issuing.issue_windows`; ``docs/architecture.md``,
"Issuing"; ``docs/scaling.md``). Run it after each delivery of events (a cron
job, the connector's schedule): its work grows with the new windows, not with
the stored history. Windows whose orders a stopped run did not issue are issued by
the next. ``--stage attribute`` and ``--stage issue`` split the work between two
processes (on two cores, beside the connector that stores the events).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from ._progress import window_progress
from .service import DbOpt, KeyOpt, TenantOpt, _settings

__all__ = ["register"]


def _epoch(text: str | None, option: str = "--until") -> float | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-11-30T06:00:00Z)"
        raise typer.BadParameter(msg) from None
    if t.tzinfo is None:
        msg = f"{option} {text!r} has no time zone; add Z or an offset such as +01:00"
        raise typer.BadParameter(msg)
    return t.timestamp()


def issue(
    database_url: DbOpt = None,
    key_path: KeyOpt = None,
    tenant: TenantOpt = "default",
    window: Annotated[
        str,
        typer.Option(
            "--window",
            help="Window length: day (from the first period bound after local midnight) "
            "or period (each shift and the time between).",
        ),
    ] = "day",
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Close windows ending up to this ISO 8601 time (default: the latest stored event).",
        ),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="Where windows are attributed: local or dask.")
    ] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:PORT.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Local processes attributing windows.")
    ] = 1,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Footprints issued per transaction.")
    ] = 1000,
    stage: Annotated[
        str,
        typer.Option(
            "--stage",
            help="all: attribute and issue; attribute: only attribute and store windows; "
            "issue: only issue the orders of attributed windows not issued yet (run an "
            "attribute and an issue process side by side).",
        ),
    ] = "all",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Attribute the closed windows not attributed yet and issue the orders they complete."""
    from carbontwin.api.deps import Services
    from carbontwin.api.issuing import STAGES, issue_windows

    if stage not in STAGES:
        msg = f"--stage {stage!r} is not one of {', '.join(STAGES)}"
        raise typer.BadParameter(msg)
    t_until = _epoch(until)
    settings = _settings(database_url, key_path)
    services = Services(settings)
    scoped = services.for_tenant(tenant)
    try:
        with window_progress("attributing windows", transient=as_json) as on_window:
            run = issue_windows(
                scoped.store,
                scoped.signer,
                settings.rules,
                window=window,
                until=t_until,
                executor=executor,
                scheduler=scheduler,
                workers=workers,
                batch=batch,
                on_window=on_window,
                stage=stage,
            )
    finally:
        services.close()
    closed = (
        datetime.fromtimestamp(run.closed_until).astimezone().isoformat()
        if run.closed_until is not None
        else None
    )
    summary = {
        "windows_attributed": len(run.windows),
        "footprints_issued": len(run.issued),
        "orders_waiting": len(run.waiting),
        "closed_until": closed,
        "issued": [
            {"order": fp.order, "version": fp.version, "id": fp.id, "co2e_kg": fp.co2e_kg}
            for fp in run.issued
        ],
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    out = Console()
    if closed is None:
        out.print("no closed window yet: nothing to issue", highlight=False)
        return
    out.print(
        f"{len(run.windows)} window(s) attributed, {len(run.issued)} footprint version(s) "
        f"issued, {len(run.waiting)} order(s) waiting for their last window; "
        f"closed until {closed}",
        highlight=False,
    )


def withdraw(
    order: Annotated[str, typer.Argument(help="The order whose footprint is withdrawn.")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why (order cancelled, wrong data, ...); recorded among the withdrawal's "
            "flags as 'withdrawn: <reason>'.",
        ),
    ],
    database_url: DbOpt = None,
    key_path: KeyOpt = None,
    tenant: TenantOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", "-y", help="Do not ask for confirmation at a terminal."),
    ] = False,
    undo: Annotated[
        bool,
        typer.Option(
            "--undo",
            help="Reinstate a withdrawn footprint: a new Active version with its figures "
            "and flags, the reason in its lineage.",
        ),
    ] = False,
) -> None:
    """Withdraw an order's footprint: a new signed version with status Deprecated.

    It carries the figures of the version it replaces and the reason among its
    flags; nothing stored changes. PACT partners then see every version of the
    order as Deprecated, and its label says it is withdrawn; issuing leaves the
    order alone until something its footprint was computed from changes. With
    --undo, a withdrawn footprint is reinstated (a new Active version with its
    figures and flags; the withdrawal stays on record).
    """
    from carbontwin.api.deps import Services

    text = reason.strip()
    if not text:
        msg = "--reason is empty; say why the footprint is withdrawn"
        raise typer.BadParameter(msg)
    if len(text) > 500 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        msg = "--reason must be one line of at most 500 characters"
        raise typer.BadParameter(msg)
    settings = _settings(database_url, key_path)
    services = Services(settings)
    try:
        scoped = services.for_tenant(tenant)
        # at a terminal, ask first (the store is read for that only)
        latest = None if yes or not sys.stdin.isatty() else scoped.store.latest_footprint(order)
        if latest is not None:
            act = "Reinstate" if undo else "Withdraw"
            typer.confirm(
                f"{act} the footprint of order {order!r} (version {latest.version}, "
                f"{latest.co2e_kg:,.2f} kg CO2e) because {text!r}? It stays on record",
                abort=True,
            )
        act_on = scoped.store.reinstate_footprint if undo else scoped.store.withdraw_footprint
        fp = act_on(order, scoped.signer, text)
    finally:
        services.close()
    summary = {
        "order": fp.order,
        "version": fp.version,
        "id": fp.id,
        "replaces": fp.replaces,
        "status": fp.status,
        "reason": text,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    Console().print(
        f"footprint of order {fp.order!r} {'reinstated' if undo else 'withdrawn'}: version "
        f"{fp.version} ({fp.id}), status {fp.status}, replaces {fp.replaces}",
        highlight=False,
    )


def archive(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Archive states, power samples and counter readings before this ISO 8601 "
            "time (it must not pass the last attributed window).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder of the Parquet files (one per table and month)."),
    ],
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Move raw events of attributed windows out of the store into Parquet files.

    Each file is recorded in the store with its SHA-256; attributing an archived
    window again (late data, a new factory version) reads the rows back from it.
    """
    from carbontwin.twin.store import Store

    t_before = _epoch(before, "--before")
    assert t_before is not None
    settings = _settings(database_url, None)
    store = Store.open(settings.database_url, tenant=tenant)
    err = Console(stderr=True)
    try:
        with Progress(
            TextColumn("[bold]archiving {task.description}"),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("", total=None)

            def on_rows(table: str, month: float, rows: int) -> None:
                when = datetime.fromtimestamp(month, UTC).strftime("%Y-%m")
                progress.update(task, description=f"{table} {when}", completed=rows)

            files = store.archive(t_before, out, on_rows=on_rows)
    finally:
        store.close()
    rows = [{"table": f.table, "rows": f.rows, "file": f.path, "sha256": f.sha256} for f in files]
    if as_json:
        typer.echo(json.dumps({"archived_rows": sum(f.rows for f in files), "files": rows}))
        return
    con = Console()
    if not files:
        con.print(f"nothing stored before {before}: nothing archived", highlight=False)
    for f in files:
        con.print(
            f"{f.table}: {f.rows:,} rows -> {f.path} (sha256 {f.sha256[:16]}…)", highlight=False
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("issue")(issue)
    app.command("withdraw")(withdraw)
    app.command("archive")(archive)
