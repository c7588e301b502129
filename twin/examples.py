"""The canonical example factory shared by tests, README and docstrings.

>>> from carbontwin.twin.examples import demo_factory
>>> factory = demo_factory()
>>> factory.site.grid_zone, len(factory.machines)
('DE', 8)
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from .factory_file import load_factory
from .model import Factory

__all__ = ["demo_factory", "demo_factory_path", "example_path"]


def example_path(name: str) -> Path:
    """Path of a file bundled in the ``carbontwin.examples`` package.

    Raises
    ------
    FileNotFoundError
        If no example of that name is bundled.
    """
    path = Path(str(files("carbontwin.examples").joinpath(name)))
    if Path(name).name != name or not path.is_file():
        msg = f"no bundled example named {name!r} in {path.parent}"
        raise FileNotFoundError(msg)
    return path


def demo_factory_path() -> Path:
    """Path of the bundled ``examples/demo_factory.yaml``."""
    return example_path("demo_factory.yaml")


@cache
def _demo() -> Factory:
    return load_factory(demo_factory_path())


def demo_factory() -> Factory:
    """The demo plant: one German site, two lines, eight machines, four products.

    Read from ``examples/demo_factory.yaml`` (validated once per process; the
    :class:`~carbontwin.twin.model.Factory` is immutable, so it is shared).
    Its orders fall in the week starting Monday 2019-03-04 00:00 UTC.
    """
    return _demo()
