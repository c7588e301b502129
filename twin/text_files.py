"""Text files as people hand them over: decoded, or refused with file and line.

CSV inputs (events folders, hourly factor series, historian and MES exports)
come from spreadsheets and historians that save in many encodings. A file
that is not text in the expected encoding is refused with one line that names
the file, the line and what to do, never a codec traceback:

>>> decode_text(b"a,b\\n1,\\xe9\\n", "power.csv", ValueError)
Traceback (most recent call last):
ValueError: power.csv:2: byte 0xe9 is not UTF-8; save the file as UTF-8 (in Excel: CSV UTF-8)
"""

from __future__ import annotations

import codecs
import math

from .errors import CarbonTwinError

__all__ = ["MAX_ABS_VALUE", "decode_text", "first_bad_line", "number_problem"]

MAX_ABS_VALUE = 1e15
"""Largest magnitude of a number read from a data file; beyond it no meter,
counter or quantity of a factory is plausible and sums would overflow."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _line_of(raw: bytes, pos: int) -> int:
    return raw.count(b"\n", 0, pos) + 1


def first_bad_line(raw: bytes, where: str, encoding: str = "utf-8") -> str | None:
    """One-line description of why ``raw`` is not text in ``encoding``; None if it is."""
    try:
        utf8 = codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return f"{where}: unknown text encoding {encoding!r}"
    if utf8:
        for bom, name in _BOMS:
            if raw.startswith(bom):
                return (
                    f"{where}:1: the file is {name} encoded; save it as UTF-8 (in Excel: CSV UTF-8)"
                )
    nul = raw.find(b"\x00")
    if nul >= 0:
        return (
            f"{where}:{_line_of(raw, nul)}: a NUL byte: this is a binary file, not CSV text; "
            "export the data as CSV"
        )
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        byte = raw[exc.start : exc.start + 1].hex()
        name = "UTF-8" if utf8 else encoding
        return (
            f"{where}:{_line_of(raw, exc.start)}: byte 0x{byte} is not {name}; "
            f"save the file as {name}" + (" (in Excel: CSV UTF-8)" if utf8 else "")
        )
    return None


def decode_text(
    raw: bytes, where: str, error: type[Exception] = CarbonTwinError, encoding: str = "utf-8"
) -> str:
    """``raw`` decoded (a UTF-8 BOM dropped), or ``error`` naming ``where`` and the line."""
    problem = first_bad_line(raw, where, encoding)
    if problem is not None:
        raise error(problem)
    text = raw.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def number_problem(value: float) -> str | None:
    """Why ``value`` cannot be a reading or quantity (infinite, too large); None if fine."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "is infinite"
    if abs(value) > MAX_ABS_VALUE:
        return f"is beyond ±{MAX_ABS_VALUE:.0e}; check the unit and the decimal separator"
    return None
