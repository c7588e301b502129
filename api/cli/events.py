"""Commands ``carbontwin events retract`` and ``carbontwin events retractions``.

A retraction takes stored events out of attribution with a reason kept on
record; the events stay stored (``carbontwin.twin.retractions``). The next
issue gives the orders whose figures change new footprint versions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from carbontwin.twin.errors import EventError

from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]


def _time(text: str, option: str) -> float:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        msg = f"{option} {text!r} is not an ISO 8601 time such as 2019-03-04T06:00:00Z"
        raise EventError(msg, field=option) from None
    if t.tzinfo is None:
        msg = f"{option} {text!r} has no time zone; write times in UTC, e.g. 2019-03-04T06:00:00Z"
        raise EventError(msg, field=option)
    return t.astimezone(UTC).timestamp()


def retract(
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="A meter (its power samples, counter readings), or an asset (its state "
            "changes, the order steps on it), or a gap's source",
        ),
    ],
    start: Annotated[
        str, typer.Option("--from", help="First time covered, ISO 8601 with zone (inclusive)")
    ],
    end: Annotated[
        str, typer.Option("--to", help="End of the range, ISO 8601 with zone (exclusive)")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="Why; kept on record with the retraction")
    ],
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the retraction as JSON")] = False,
) -> None:
    """Take stored events of SOURCE in [FROM, TO) out of attribution, on record.

    Nothing is deleted: the events stay stored and the retraction is kept with
    its reason. The next issue (POST /footprints/attribute, serve, demo) gives
    the orders whose figures change new footprint versions.
    """
    from carbontwin.twin.store import Store

    t0, t1 = _time(start, "--from"), _time(end, "--to")
    store = Store.open(_settings(database_url, None).database_url, tenant=tenant)
    try:
        r, counts = store.retract_events(source, t0, t1, reason)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({**r.to_dict(), "events": counts}))
        return
    what = ", ".join(f"{n} {k}" for k, n in counts.items()) or "no stored events (yet)"
    Console().print(
        f"retraction {r.id}: {source} from {r.to_dict()['start']} to {r.to_dict()['end']} "
        f"takes {what} out of attribution; reason on record: {r.reason}",
        highlight=False,
    )


def retractions(
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print them as JSON")] = False,
) -> None:
    """List every retraction, oldest first."""
    from carbontwin.twin.store import Store

    store = Store.open(_settings(database_url, None).database_url, tenant=tenant)
    try:
        rows = [r.to_dict() for r in store.retractions()]
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['id']}\t{r['source']}\t{r['start']}\t{r['end']}\t{r['reason']}")


def register(app: typer.Typer) -> None:
    """Add ``events retract|retractions`` to ``app``."""
    group = typer.Typer(
        help="Stored events: take wrong ones out of attribution, on record.", no_args_is_help=True
    )
    group.command("retract")(retract)
    group.command("retractions")(retractions)
    app.add_typer(group, name="events")
