"""What an events folder holds: its files, their columns and the optional ones.

Kept apart from :mod:`carbontwin.connectors.files` (which reads and writes the
folder with numpy and pandas) so that the command line's help can name the
files without loading those libraries.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FILES", "OPTIONAL", "ORDERS_FILE", "describe_events_folder"]

#: file name -> (column -> EventBatch field, time columns)
FILES: Mapping[str, tuple[Mapping[str, str], tuple[str, ...]]] = {
    "states.csv": ({"asset": "state_asset", "t": "state_t", "state": "state"}, ("t",)),
    "power.csv": ({"meter": "power_meter", "t": "power_t", "power_kw": "power_kw"}, ("t",)),
    "counters.csv": (
        {"meter": "counter_meter", "t": "counter_t", "energy_kwh": "counter_kwh"},
        ("t",),
    ),
    "steps.csv": (
        {
            "order": "step_order",
            "operation": "step_operation",
            "asset": "step_asset",
            "start": "step_start",
            "end": "step_end",
            "quantity": "step_quantity",
            "kind": "step_kind",
        },
        ("start", "end"),
    ),
    "materials.csv": (
        {
            "order": "material_order",
            "material": "material_id",
            "quantity": "material_quantity",
            "unit": "material_unit",
            "booking": "material_booking",
        },
        (),
    ),
    "gaps.csv": (
        {"source": "gap_source", "start": "gap_start", "end": "gap_end", "reason": "gap_reason"},
        ("start", "end"),
    ),
}
#: columns a file may leave out, with the value they then take
OPTIONAL: Mapping[str, str] = {"unit": "kg", "reason": "", "booking": "", "correction": ""}
#: The orders file of an events folder and its columns.
ORDERS_FILE = "orders.csv"


def describe_events_folder() -> str:
    """One paragraph per file: its columns (the text ``attribute --help`` shows)."""
    lines = []
    for name, (cols, _) in FILES.items():
        shown = [f"{c} (optional)" if c in OPTIONAL else c for c in cols]
        lines.append(f"{name}: {', '.join(shown)}")
    return "; ".join(lines)
