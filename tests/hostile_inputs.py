"""Hostile documents shared by the loader, command-line and HTTP limit tests.

``BOMB`` is a 342-byte "billion laughs" YAML: nine aliases of nine aliases,
nine levels deep, 9**9 = 387 M strings once expanded.
"""

from __future__ import annotations


def _bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(8):
        prev, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BOMB = _bomb()
DEEP_JSON = "[" * 20_000 + "]" * 20_000
