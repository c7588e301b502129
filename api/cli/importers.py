"""``carbontwin import historian|mes|schema``: a plant's own exports into events and orders.

::

    carbontwin import historian export.csv --mapping historian.yaml --out events/
    carbontwin import historian export.csv --mapping historian.yaml --database-url URL
    carbontwin import mes orders.xlsx --mapping mes.yaml --out events/
    carbontwin import mes orders.csv --mapping mes.yaml          # into the store
    carbontwin import schema historian                           # JSON Schema of the mapping

The mapping formats are described in :mod:`carbontwin.connectors.historian`
and :mod:`carbontwin.connectors.mes` and in ``docs/imports.md``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from carbontwin.twin.errors import CarbonTwinError

from .service import TenantOpt

if TYPE_CHECKING:  # loaded when a command runs, not with --help
    from carbontwin.connectors._mapping import Chunk
    from carbontwin.connectors.historian import ImportStats
    from carbontwin.twin.events import EventBatch

__all__ = ["register"]

MappingOpt = Annotated[
    Path, typer.Option("--mapping", help="Mapping file (YAML or JSON): which column is what.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Events folder to write (CSV per kind); else the store."),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Store URL when no --out is given (default: CARBONTWIN_DATABASE_URL, "
        "else sqlite:///carbontwin.db).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print what was imported as JSON.")]


class _CheckedStore:
    """The store, with every batch checked against the stored factory's meters and assets."""

    def __init__(self, store: Any) -> None:
        from carbontwin.twin.store import NotFoundError

        self.store = store
        try:
            factory = store.load_factory()
        except NotFoundError:
            factory = None
        self.assets = list(factory.asset_ids) if factory is not None else None
        self.meters = [m.id for m in factory.meters] if factory is not None else None

    def write_events(self, batch: EventBatch) -> int:
        batch.validate(assets=self.assets, meters=self.meters)
        return int(self.store.write_events(batch))

    def save_orders(self, orders: Any) -> int:
        return int(self.store.save_orders(orders))


def _open_store(url: str | None, tenant: str) -> Any:
    from carbontwin.twin.store import Store

    return Store.open(url, tenant=tenant)


def _where(out: Path | None, store: _CheckedStore | None) -> str:
    """The events folder, or the store's URL without its password."""
    if out is not None or store is None:
        return str(out)
    return str(store.store.engine.url.render_as_string(hide_password=True))


def _fail(err: Console, exc: CarbonTwinError) -> typer.Exit:
    err.print(f"error: {escape(exc.message)}", soft_wrap=True, highlight=False)
    return typer.Exit(1)


def _stats_json(stats: ImportStats, seconds: float, target: str) -> dict[str, Any]:
    from carbontwin.twin.quantities import from_epoch

    span = stats.first_t <= stats.last_t
    return {
        "rows": stats.rows,
        "power_samples": stats.power_samples,
        "energy_counters": stats.energy_counters,
        "state_changes": stats.state_changes,
        "stored": stats.stored,
        "first": from_epoch(stats.first_t).isoformat() if span else None,
        "last": from_epoch(stats.last_t).isoformat() if span else None,
        "seconds": round(seconds, 3),
        "into": target,
    }


def historian(
    file: Annotated[Path, typer.Argument(help="Historian export: CSV, Excel (.xlsx) or Parquet.")],
    mapping: MappingOpt,
    out: OutOpt = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    append: Annotated[
        bool,
        typer.Option(
            "--append", help="Add to the events folder's files instead of replacing them."
        ),
    ] = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option("--chunk-rows", min=1, help="Rows per chunk (default: ~1 M cells)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a historian export (wide or long) into an events folder or the store.

    The file is read in chunks, so its size does not matter. Power and counter
    readings become power samples (kW) and energy counters (kWh) of the mapped
    meters; state codes become state changes of the mapped assets; local times
    become UTC by the mapping's time zone and its clock-change rules.
    """
    from carbontwin.connectors.historian import import_historian, load_historian_mapping

    err = Console(stderr=True)
    try:
        loaded = load_historian_mapping(mapping)
        store = _CheckedStore(_open_store(database_url, tenant)) if out is None else None
        target = _where(out, store)
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]importing[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal or as_json,
            transient=True,
        ) as bar:
            task = bar.add_task(escape(file.name), total=None)

            def progress(chunk: Chunk) -> None:
                bar.update(task, completed=chunk.done, total=chunk.total)

            stats = import_historian(
                file,
                loaded,
                out=out,
                store=store,
                append=append,
                chunk_rows=chunk_rows,
                progress=progress,
            )
        seconds = time.perf_counter() - started
    except CarbonTwinError as exc:
        raise _fail(err, exc) from None
    doc = _stats_json(stats, seconds, target)
    if as_json:
        typer.echo(json.dumps(doc))
        return
    rate = stats.rows / seconds if seconds > 0 else float("inf")
    err.print(
        f"{stats.rows:,} rows -> {stats.power_samples:,} power samples, "
        f"{stats.energy_counters:,} counter readings, {stats.state_changes:,} state changes "
        f"({doc['first']} .. {doc['last']}) in {seconds:.1f} s ({rate:,.0f} rows/s)",
        highlight=False,
    )
    where = f"events folder {out}" if out is not None else f"store {target} ({stats.stored:,} new)"
    err.print(f"written to {escape(where)}", highlight=False)


def mes(
    file: Annotated[Path, typer.Argument(help="MES export: CSV or Excel (.xlsx).")],
    mapping: MappingOpt,
    out: OutOpt = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Import production orders and order steps from an MES export.

    Into an events folder: steps replace its steps.csv, orders are merged by id
    into its orders.csv. Into the store: orders replace stored orders of the
    same id (attribution uses them, as it uses PUT /orders), steps are stored.
    """
    from carbontwin.connectors.mes import import_mes, load_mes_mapping

    err = Console(stderr=True)
    try:
        loaded = load_mes_mapping(mapping)
        store = _CheckedStore(_open_store(database_url, tenant)) if out is None else None
        got = import_mes(file, loaded, out=out, store=store)
    except CarbonTwinError as exc:
        raise _fail(err, exc) from None
    target = _where(out, store)
    if as_json:
        typer.echo(json.dumps({"orders": len(got.orders), "steps": len(got.steps), "into": target}))
        return
    err.print(
        f"{len(got.orders):,} orders and {len(got.steps):,} order steps written to "
        f"{'events folder' if out is not None else 'store'} {escape(target)}",
        highlight=False,
    )


def schema(
    kind: Annotated[str, typer.Argument(help="historian or mes")],
) -> None:
    """Print the JSON Schema of a historian or MES mapping file (for editors)."""
    from carbontwin.connectors.historian import historian_mapping_schema
    from carbontwin.connectors.mes import mes_mapping_schema

    schemas = {"historian": historian_mapping_schema, "mes": mes_mapping_schema}
    if kind not in schemas:
        Console(stderr=True).print(f"error: no mapping kind {kind!r}; use historian or mes")
        raise typer.Exit(1)
    typer.echo(json.dumps(schemas[kind](), indent=2))


def register(app: typer.Typer) -> None:
    """Add ``import historian|mes|schema`` to ``app``."""
    group = typer.Typer(
        help="Import a plant's own historian and MES exports through a mapping file.",
        no_args_is_help=True,
    )
    group.command("historian")(historian)
    group.command("mes")(mes)
    group.command("schema")(schema)
    app.add_typer(group, name="import")
