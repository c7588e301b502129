"""The ``carbontwin`` command line.

Each area registers its commands from its own module of this package, so this
file is only the wiring:

- ``factory validate|show|schema``        (:mod:`.factory`)
- ``attribute``                           (:mod:`.attribute`)
- ``simulate``                            (:mod:`.simulate`)
- ``optimize``                            (:mod:`.optimize`)
- ``calibrate``                           (:mod:`.calibrate`)
- ``demo``                                (:mod:`.demo`)
- ``demo-server``, ``opcua browse``       (:mod:`.opcua`)
- ``connect``, ``connector-schema``       (:mod:`.connect`)
- ``serve``, ``verify``, ``plugins list``, ``label`` (:mod:`.service`)
- ``audit check``, ``pack``, ``recompute`` (:mod:`.audit`)
- ``cbam``                                (:mod:`.cbam`)
- ``suppliers import|pull``              (:mod:`.suppliers`)
- ``import historian|mes|schema``         (:mod:`.importers`)
- ``report``                              (:mod:`.report`)
- ``publish``                             (:mod:`.publish`)
- ``issue``, ``archive``                  (:mod:`.issue`)
- ``events retract|retractions``          (:mod:`.events`)
- ``tenants add|list``, ``clients add|list|remove`` (:mod:`.tenants`)
"""

from __future__ import annotations

import inspect
import sys

import typer

from carbontwin.twin.errors import CarbonTwinError

from . import (
    attribute,
    audit,
    calibrate,
    cbam,
    connect,
    demo,
    events,
    factory,
    importers,
    issue,
    opcua,
    optimize,
    publish,
    report,
    service,
    simulate,
    suppliers,
    tenants,
)

app = typer.Typer(
    name="carbontwin",
    help=(
        "Factory carbon twin: per-order energy and CO2e from machine data, "
        "product carbon labels, and schedule simulation."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (
    factory,
    attribute,
    simulate,
    optimize,
    calibrate,
    demo,
    opcua,
    connect,
    service,
    audit,
    cbam,
    suppliers,
    importers,
    report,
    publish,
    issue,
    events,
    tenants,
):
    _module.register(app)


def _one_line_summaries(group: typer.Typer) -> None:
    """Give each command of ``group`` (and of its sub-groups) a one-line summary for
    the command list of ``--help``: its docstring's first paragraph with the source's
    line breaks taken out (the list would keep them, breaking lines mid-sentence)."""
    for info in group.registered_commands:
        doc = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(doc.split("\n\n", 1)[0].split())
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _one_line_summaries(sub.typer_instance)


_one_line_summaries(app)


def main() -> None:
    """Console-script entry point.

    A :class:`CarbonTwinError` that a command does not handle itself ends the
    command with its message on stderr and exit code 1, never a traceback.
    """
    try:
        app()
    except CarbonTwinError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
