"""Collecting factory-file problems with their file, line, item and field.

Private to :mod:`carbontwin.twin.factory_file`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ._yaml_lines import Path, line_of
from .errors import FactoryModelError

__all__ = ["ITEM_NAMES", "Problems", "field_name", "get_path"]

#: collection key -> singular name used in messages
ITEM_NAMES = {
    "lines": "line",
    "machines": "machine",
    "meters": "meter",
    "utilities": "utility",
    "materials": "material",
    "suppliers": "supplier",
    "products": "product",
    "shifts": "shift",
    "contracts": "contract",
    "orders": "order",
}
#: pydantic ``loc`` parts that name a union member, not a field
_UNION_TAG = re.compile(r"^(str|float|int|bool|none|function-.*|.*\[.*\].*)$")


class Problems:
    """Collects ``file:line: item: field: message`` strings."""

    def __init__(self, filename: str, lines: Mapping[Path, int], data: Any) -> None:
        self.filename = filename
        self.lines = lines
        self.data = data
        self._found: list[tuple[int, int, str]] = []

    def item(self, path: Path) -> str:
        """``machine 'cnc-1'`` for a path inside the second machine, and so on."""
        if not path:
            return "factory"
        head = path[0]
        if head == "site":
            site = self.data.get("site") if isinstance(self.data, Mapping) else None
            sid = site.get("id") if isinstance(site, Mapping) else None
            return f"site '{sid}'" if isinstance(sid, str) else "site"
        if head in ITEM_NAMES and len(path) > 1 and isinstance(path[1], int):
            kind = ITEM_NAMES[str(head)]
            raw = get_path(self.data, path[:2])
            key = "name" if head in ("shifts", "contracts") else "id"
            name = raw.get(key) if isinstance(raw, Mapping) else None
            return f"{kind} '{name}'" if isinstance(name, str) else f"{head}[{path[1]}]"
        return "factory"

    def add(self, path: Path, field: str, message: str, line: int | None = None) -> None:
        """Record a problem at ``path`` (its line looked up unless given)."""
        if line is None and self.lines:
            line = line_of(self.lines, path)
        where = f"{self.filename}:{line}" if line is not None else self.filename
        parts = [where, self.item(path)]
        if field:
            parts.append(field)
        parts.append(message)
        self._found.append((line or 0, len(self._found), ": ".join(parts)))

    def pydantic(self, base: Path, exc: ValidationError) -> None:
        skip = 2 if len(base) == 2 else len(base)  # field names are relative to the item
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _UNION_TAG.match(p)))
            path: Path = (*base, *loc)
            kind = err["type"]
            if kind == "value_error" and "error" in err.get("ctx", {}):
                message = str(err["ctx"]["error"])
            elif kind == "missing":
                message = "is required"
            elif kind == "extra_forbidden":
                message = "unknown field (a typo?)"
            else:
                message = str(err["msg"])
            self.add(path, field_name(path[skip:]), message)

    def raise_if_any(self) -> None:
        if not self._found:
            return
        found = [text for _, _, text in sorted(self._found)]
        head = f"{len(found)} problem(s) in {self.filename}:\n  " + "\n  ".join(found)
        raise FactoryModelError(head, errors=found)


def field_name(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def get_path(data: Any, path: Path) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data
