"""The ``carbontwin`` command line.

Each area registers its commands from its own module, so the command line
stays one file of wiring:

- ``factory validate|show``  (:mod:`.cli_factory`)
- ``attribute``              (:mod:`.cli_attribute`)
- ``simulate``               (:mod:`.cli_simulate`)
- ``demo``, ``demo-server``, ``connect`` (:mod:`.cli_opcua`)
- ``serve``, ``verify``, ``plugins list``, ``label`` (:mod:`.cli_service`)
"""

from __future__ import annotations

import sys

import typer

from carbontwin.twin.errors import CarbonTwinError

from . import cli_attribute, cli_factory, cli_opcua, cli_service, cli_simulate

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

for _module in (cli_factory, cli_attribute, cli_simulate, cli_opcua, cli_service):
    _module.register(app)


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
