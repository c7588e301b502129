"""JSON text that is stored as it is.

The store's engines serialise JSON columns with :func:`dumps`, which writes a
:class:`JSONText` unchanged: issuing stores each footprint's payload as the RFC 8785
bytes it signed, made once, instead of serialising the payload a second time.
"""

from __future__ import annotations

import json
from typing import Any


class JSONText(str):
    """A JSON document already serialised (the caller vouches that it is valid JSON)."""

    __slots__ = ()


def dumps(value: Any) -> str:
    """The JSON text of a JSON column's value: a :class:`JSONText` as it is, anything else
    through :func:`json.dumps` (what SQLAlchemy does by default)."""
    if type(value) is JSONText:
        return str.__str__(value)
    return json.dumps(value)
