"""The wheel ships every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import carbontwin.twin

ROOT = Path(carbontwin.twin.__file__).resolve().parent.parent


def source_packages(root: Path) -> set[str]:
    found = set()
    for init in root.rglob("__init__.py"):
        rel = init.parent.relative_to(root)
        if rel.parts and rel.parts[0] in {"tests", "benchmarks", "build", ".git"}:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        found.add(".".join(("carbontwin", *rel.parts)))
    return found


def test_every_source_package_is_listed_in_pyproject():
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("installed from a wheel: no source tree to compare with")
    listed = set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])
    missing = source_packages(ROOT) - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert "carbontwin.twin.store" in listed
