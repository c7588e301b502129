"""Checks of the meter tree of a factory file (private to :mod:`._factory_build`).

Meters may form a hierarchy (docs/architecture.md, "Attribution"): a sub-meter names its
main meter in ``parent`` and measures some of the main meter's assets; the
main meter's rest (main minus its sub-meters) goes to its assets behind no
sub-meter. Outside a hierarchy an asset is behind one meter only: two meters
over one asset would count its energy twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._factory_errors import Problems
from ._factory_schema import MeterIn
from ._yaml_lines import line_of

__all__ = ["check_meter_tree"]


def _ancestors(meter: str, parent: dict[str, str | None]) -> list[str]:
    """Main meters above ``meter``, nearest first (stops at a loop)."""
    out: list[str] = []
    cur = parent.get(meter)
    while cur is not None and cur not in out and cur != meter:
        out.append(cur)
        cur = parent.get(cur)
    return out


def check_meter_tree(meters: Sequence[tuple[int, MeterIn]], errs: Problems) -> None:
    """Add a problem for every fault of the meter hierarchy and for assets on two meters."""
    by_id = {m.id: (index, m) for index, m in meters}
    parent: dict[str, str | None] = {m.id: m.parent for _, m in meters}
    for index, m in meters:
        base = ("meters", index)
        if m.parent is None:
            continue
        if m.parent == m.id:
            errs.add((*base, "parent"), "parent", "a meter cannot be its own main meter")
            continue
        if m.parent not in by_id:
            errs.add((*base, "parent"), "parent", f"unknown main meter '{m.parent}'")
            continue
        chain = [m.id, *_ancestors(m.id, parent)]
        if parent.get(chain[-1]) is not None and parent[chain[-1]] in chain:
            loop = " -> ".join(
                [*chain[chain.index(str(parent[chain[-1]])) :], str(parent[chain[-1]])]
            )
            errs.add((*base, "parent"), "parent", f"main meters form a loop: {loop}")
            continue
        _, main = by_id[m.parent]
        if main.carrier != m.carrier:
            errs.add(
                (*base, "carrier"),
                "carrier",
                f"meters {m.carrier.value} but its main meter '{main.id}' meters "
                f"{main.carrier.value}",
            )
        for j, asset in enumerate(m.measures):
            if asset not in main.measures:
                errs.add(
                    (*base, "measures", j),
                    "measures",
                    f"'{asset}' is not behind its main meter '{main.id}'; a sub-meter measures "
                    f"some of its main meter's assets (add '{asset}' to '{main.id}' measures)",
                )
    for index, m in meters:
        subs = [s for _, s in meters if s.parent == m.id]
        if subs and set(m.measures) <= {a for s in subs for a in s.measures}:
            errs.add(
                ("meters", index, "measures"),
                "measures",
                f"every asset of main meter '{m.id}' is behind a sub-meter; its rest "
                "(main minus sub-meters: losses, unmetered loads) needs an asset of its "
                "own: add one, e.g. a lighting utility, to its measures",
            )
    # an asset on two meters is counted twice unless one meter is below the other
    first: dict[str, tuple[str, int]] = {}
    for index, m in meters:
        for j, asset in enumerate(m.measures):
            if asset not in first:
                first[asset] = (m.id, index)
                continue
            other, other_index = first[asset]
            related = other in _ancestors(m.id, parent) or m.id in _ancestors(other, parent)
            if related:
                continue
            line = line_of(errs.lines, ("meters", other_index)) if errs.lines else None
            at = f" (line {line})" if line is not None else ""
            errs.add(
                ("meters", index, "measures", j),
                "measures",
                f"asset '{asset}' is also measured by meter '{other}'{at}; an asset is behind "
                "one meter only, unless one is a sub-meter of the other (then give the "
                f"sub-meter 'parent: {other}', or this one's id as parent of '{other}')",
            )
