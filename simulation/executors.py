"""Where replications run: this process, a local process pool, or a Dask cluster.

Every executor returns the results in task order, so the same tasks give the
same numbers wherever they ran (each task carries its own seed).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from carbontwin.twin.errors import SimulationError

__all__ = ["run_tasks"]

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> list[R]:
    """Apply ``fn`` to every task; results in task order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers).
    executor : str
        ``"local"``: a :class:`~concurrent.futures.ProcessPoolExecutor` with
        ``workers`` processes (default: the CPU count; ``1`` runs here, in
        this process). ``"dask"``: a ``distributed.Client`` connected to
        ``scheduler`` (``tcp://HOST:PORT``).
    on_done : callable, optional
        ``on_done(finished, total)`` after each task, for progress bars.
    """
    total = len(tasks)
    if executor == "local":
        n = workers if workers is not None else (os.cpu_count() or 1)
        n = max(1, min(n, total))
        if n == 1:
            out = []
            for i, t in enumerate(tasks):
                out.append(fn(t))
                if on_done:
                    on_done(i + 1, total)
            return out
        return _pool(fn, tasks, n, on_done)
    if executor == "dask":
        if not scheduler:
            msg = "the dask executor needs --scheduler tcp://HOST:PORT"
            raise SimulationError(msg, field="scheduler")
        return _dask(fn, tasks, scheduler, on_done)
    msg = f"unknown executor {executor!r}; expected 'local' or 'dask'"
    raise SimulationError(msg, field="executor")


def _pool(
    fn: Callable[[T], R], tasks: Sequence[T], n: int, on_done: Callable[[int, int], None] | None
) -> list[R]:
    # spawn, not fork: the parent may run threads (progress bar, dask) and fork copies locks
    ctx = multiprocessing.get_context("spawn")
    out: list[Any] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        for done, fut in enumerate(as_completed(futures), start=1):
            out[futures[fut]] = fut.result()
            if on_done:
                on_done(done, len(tasks))
    return out


def _dask(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    scheduler: str,
    on_done: Callable[[int, int], None] | None,
) -> list[R]:
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask is an optional extra
        msg = "the dask executor needs the 'dask' extra: pip install 'carbontwin[dask]'"
        raise SimulationError(msg, field="executor") from None
    try:
        client = Client(scheduler, timeout=30, set_as_default=False)  # type: ignore[no-untyped-call]  # not annotated in distributed
    except OSError as exc:
        msg = f"cannot reach the Dask scheduler at {scheduler}: {exc}"
        raise SimulationError(msg, field="scheduler") from None
    try:
        futures = client.map(fn, list(tasks), pure=False)
        out: list[Any] = []
        for done, fut in enumerate(futures, start=1):  # in task order; the cluster runs ahead
            out.append(fut.result())
            if on_done:
                on_done(done, len(tasks))
        return out
    finally:
        client.close()  # type: ignore[no-untyped-call]  # not annotated in distributed
