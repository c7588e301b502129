"""A progress bar of windows for the commands that work window by window."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["window_progress"]


@contextmanager
def window_progress(what: str, *, transient: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A bar ``what  ━━━  done/total  elapsed`` on stderr, shown on a terminal only;
    yields the ``on_window(done, total)`` that moves it. ``transient``: removed at the
    end (kept otherwise, as a record of the run)."""
    err = Console(stderr=True)
    with Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=transient,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("windows", total=None)

        def on_window(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield on_window
