"""Commands of `carbontwin` for auditors (see :mod:`carbontwin.api.pack`).

- ``audit check``: the issuance log's hash chain and every stored footprint
  against it and its signature; names what was removed, changed or reordered
- ``pack ORDER --out ORDER.zip``: the verifier's pack of an order's footprint
- ``recompute PACK.zip``: recompute a pack with nothing else, figure by figure
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ._progress import window_progress
from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]


def audit_check(database_url: DbOpt = None, tenant: TenantOpt = "default") -> None:
    """Check a tenant's issuance log and every footprint it issued; exit 1 naming what is
    wrong."""
    from carbontwin.plugins.signing import verify_pem
    from carbontwin.twin.store import Store

    out = Console()
    store = Store.open(_settings(database_url, None).database_url, tenant=tenant)
    try:
        report = store.audit(verify_pem)
    finally:
        store.close()
    if report.ok:
        out.print(
            f"[green]OK[/] {report.entries} issuance log entries, {report.footprints} footprints: "
            f"chain intact, every footprint as issued and validly signed "
            f"(head {report.head_sha256[:16]}…)",
            highlight=False,
        )
        return
    out.print(
        f"[red]FAILED[/] {len(report.problems)} problem(s) in {report.entries} log entries and "
        f"{report.footprints} footprints:",
        highlight=False,
    )
    for p in report.problems:
        out.print(f"  - {p}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def pack(
    order: Annotated[str, typer.Argument(help="Order id (its newest footprint) or a footprint id")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Zip file to write")] = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Write the verifier's pack of an order's footprint (events, factory version, factors,
    rules, result, signature, public key; issued window by window: each window's events,
    read one window at a time)."""
    import os
    import tempfile

    from carbontwin.api.pack import write_pack
    from carbontwin.twin.store import NotFoundError, Store

    store = Store.open(_settings(database_url, None).database_url, tenant=tenant)
    try:
        fp = store.latest_footprint(order)
        if fp is None:
            try:
                fp = store.get_footprint(order)
            except NotFoundError:
                msg = (
                    f"no footprint of order {order!r} (nor a footprint with that id) in "
                    "the store; give the store that holds it with --database-url"
                )
                raise NotFoundError(msg, field="order") from None
        target = out or Path(f"{fp.order}.zip")
        if not target.parent.is_dir():
            msg = f"folder {str(target.parent)!r} does not exist; create it or write elsewhere"
            raise typer.BadParameter(msg, param_hint="'--out'")
        # written beside the target, renamed when whole: a crash leaves no half pack
        fd, part = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f, window_progress("reading windows") as on_window:
                size = write_pack(store, fp.id, f, on_window=on_window, workdir=target.parent)
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(part, 0o666 & ~mask)  # as a file written plainly, not mkstemp's 0600
            os.replace(part, target)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
    finally:
        store.close()
    Console().print(
        f"pack of order {fp.order} (footprint {fp.id}, v{fp.version}) -> {target} "
        f"({size / 1024:.0f} KiB); check it with: carbontwin recompute {target}",
        highlight=False,
    )


def recompute(
    file: Annotated[
        Path, typer.Argument(help="A verifier's pack (zip)", exists=True, dir_okay=False)
    ],
) -> None:
    """Recompute a pack with nothing else; exit 1 on any mismatch."""
    from carbontwin.api.pack import recompute as run

    with window_progress("attributing windows again") as on_window:
        report = run(file, on_window=on_window)  # read member by member
    table = Table(title=f"recompute {file} (order {report.order or '?'})")
    for col in ("check", "result", "detail"):
        table.add_column(col)
    for c in report.checks:
        table.add_row(c.what, "[green]match[/]" if c.ok else "[red]MISMATCH[/]", c.detail)
    out = Console(width=200)
    out.print(table)
    bad = [c for c in report.checks if not c.ok]
    versions = (
        f"made by carbontwin {report.made_by}, recomputed by carbontwin {report.recomputed_by}"
    )
    if report.ok:
        out.print(
            f"[green]OK[/] {len(report.checks)} checks match bit for bit"
            + (f" ({versions})" if report.other_version else ""),
            highlight=False,
        )
        return
    out.print(f"[red]FAILED[/] {len(bad)} of {len(report.checks)} checks", highlight=False)
    if report.other_version:
        out.print(
            f"note: the pack was {versions}; figures are bit for bit the same within one "
            "version and may differ in their last digits between versions: recompute with "
            f"carbontwin {report.made_by} (pip install carbontwin=={report.made_by}) to tell "
            "a changed input from a changed method",
            highlight=False,
        )
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    audit = typer.Typer(help="Audit the store's issued footprints.", no_args_is_help=True)
    audit.command("check")(audit_check)
    app.add_typer(audit, name="audit")
    app.command("pack")(pack)
    app.command("recompute")(recompute)
