"""``carbontwin --help`` and each group's ``--help``: the command list gives each command
its summary on one line."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import typer
from typer.testing import CliRunner

from carbontwin.api.cli import app

runner = CliRunner()


def _help(*args: str) -> list[str]:
    # wide enough that no summary needs to wrap: a line break in the list is the source's
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _groups(
    group: typer.Typer, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], typer.Typer]]:
    yield path, group
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        assert sub.name
        yield from _groups(sub.typer_instance, (*path, sub.name))


def test_command_list_keeps_a_summary_on_one_line():
    out = "\n".join(_help())
    # written here as a reader sees it; its docstring breaks the line after "when"
    assert (
        "Check the Ed25519 signature of a file, or of a footprint in the store; "
        "exit 1 when it was altered or cannot be verified." in out
    )
    assert "overtime after working days where the scenario has an overtime section" in out


def test_every_command_summary_is_its_docstrings_first_paragraph():
    checked = 0
    for path, group in _groups(app):
        lines = _help(*path)
        for info in group.registered_commands:
            assert info.callback is not None
            name = info.name or info.callback.__name__.replace("_", "-")
            doc = info.help or inspect.getdoc(info.callback) or ""
            first = " ".join(doc.split("\n\n", 1)[0].split())
            row = [ln for ln in lines if ln.lstrip("│ ").startswith(name + " ")]
            assert row, f"{' '.join(path)} {name}: not in the command list"
            assert first in row[0], f"{' '.join(path)} {name}: {row[0]!r}"
            checked += 1
    assert checked >= 30
