"""Tables for a terminal: numbers are never cut, columns that do not fit are left out.

A number cut to ``1,12…`` is worse than no number. These tables keep every
numeric column at the width of its widest cell (no wrapping, no ellipsis) and
choose columns by priority until the terminal is full; the caption names what
was left out and ``--wide`` shows everything (wider than the terminal if need be).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from carbontwin.twin.footprint import Footprint

__all__ = [
    "Column",
    "breakdown_table",
    "fit_table",
    "fits",
    "footprint_table",
    "keep_words",
    "print_table",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: header, cells, and whether it is text (may wrap) or a number (never cut)."""

    header: str
    cells: Sequence[str]
    numeric: bool = True
    left: bool = False  # a label (order id, machine): left-aligned, never wrapped


def _table(columns: Sequence[Column], title: str | None) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD)
    for c in columns:
        t.add_column(
            c.header,
            justify="left" if c.left or not c.numeric else "right",
            no_wrap=c.numeric,
            min_width=max((len(s) for s in c.cells), default=0) if c.numeric else _TEXT_MIN,
        )
    n = max((len(c.cells) for c in columns), default=0)
    for i in range(n):
        t.add_row(*(c.cells[i] for c in columns))
    return t


_TEXT_MIN = 8  # text columns wrap, but not narrower than this
_MEASURE = Console(width=10_000)


def min_width(table: Table) -> int:
    """Terminal columns ``table`` needs with nothing cut or wrapped.

    (Rich's own minimum lets headers and text wrap, and at exactly that width
    it may leave the last column out, so the full width is the safe measure.)
    """
    return Measurement.get(_MEASURE, _MEASURE.options, table).maximum


def fit_table(
    columns: Sequence[Column],
    width: int,
    *,
    title: str | None = None,
    wide: bool = False,
    always: int = 1,
    order: Sequence[str] | None = None,
) -> tuple[Table, list[str]]:
    """A table of the columns that fit in ``width``, taken in priority order.

    The first ``always`` columns are always shown; with ``wide`` all are. The
    chosen columns are shown in ``order`` (their headers) or in priority order.
    Returns the table and the headers left out, which its caption names.
    """
    chosen: list[Column] = []
    left_out: list[str] = []
    for k, c in enumerate(columns):
        if not left_out and (wide or k < always or min_width(_table([*chosen, c], title)) <= width):
            chosen.append(c)
        else:
            left_out.append(c.header)
    if order is not None:
        chosen.sort(key=lambda c: list(order).index(c.header))
    t = _table(chosen, title)
    if left_out:
        t.caption = f"not shown at this width: {', '.join(left_out)} (--wide shows them)"
    return t, left_out


def keep_words(table: Table) -> Table:
    """Let ``table``'s cells wrap between words but never inside one (a number).

    Each column gets the width of its longest word (header and cells) as its minimum.
    """
    for col in table.columns:
        words = [
            w for cell in (col.header, *col.cells) if isinstance(cell, str) for w in cell.split()
        ]
        col.min_width = max([col.min_width or 0, *(len(w) for w in words)])
    return table


def fits(table: Table, width: int) -> bool:
    """Whether ``table`` renders in ``width`` columns with no word cut."""
    return bool(Measurement.get(_MEASURE, _MEASURE.options, table).minimum < width)


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` on ``console``, wider than the console if the table needs it."""
    if not fits(table, console.width):
        need = Measurement.get(_MEASURE, _MEASURE.options, table).minimum + 1
        console = Console(file=console.file, width=need, stderr=console.stderr)
    console.print(table)


def _columns(footprints: list[Footprint]) -> list[Column]:
    """Footprint columns in the order they give way: order and kg CO2e last to go."""

    def col(header: str, fmt: Callable[[Footprint], str], numeric: bool = True) -> Column:
        return Column(header, [fmt(fp) for fp in footprints], numeric)

    return [
        Column("order", [fp.order for fp in footprints], left=True),
        col("product", lambda fp: fp.product, numeric=False),
        col("kg CO2e", lambda fp: f"{fp.co2e_kg:,.2f}"),
        col("kg CO2e /unit", lambda fp: f"{fp.co2e_per_unit_kg:,.4f}"),
        col("quantity", lambda fp: f"{fp.quantity:g} {fp.declared_unit}"),
        col("kWh", lambda fp: f"{fp.energy_kwh:,.2f}"),
        col("scope 3", lambda fp: f"{fp.scope3_kg:,.2f}"),
        col("scope 2", lambda fp: f"{fp.scope2_location_kg:,.2f}"),
        col("scope 1", lambda fp: f"{fp.scope1_kg:,.2f}"),
        col("primary", lambda fp: f"{fp.primary_data_share:.0%}"),
        col("flags", lambda fp: str(len(fp.flags))),
    ]


# the order the chosen columns are shown in (priority decides which, not where)
_SHOWN = (
    "order",
    "product",
    "quantity",
    "kWh",
    "kg CO2e",
    "kg CO2e /unit",
    "scope 1",
    "scope 2",
    "scope 3",
    "primary",
    "flags",
)


def footprint_table(
    footprints: Iterable[Footprint],
    title: str = "Per-order footprints (location-based scope 2)",
    *,
    width: int | None = None,
    wide: bool = False,
) -> Table:
    """Per-order footprints fitted to ``width`` (the terminal's when omitted).

    Columns, as wide as needed: order, product, quantity, kWh, kg CO2e, kg CO2e
    per unit, scope 1, scope 2 (location-based), scope 3 [kg CO2e], primary data
    share and the number of data-quality flags.
    """
    cols = _columns(list(footprints))
    width = width if width is not None else Console().width
    table, _ = fit_table(cols, width, title=title, wide=wide, order=_SHOWN)
    return table


def breakdown_table(
    summary: pd.DataFrame, by: str, *, width: int | None = None, wide: bool = False
) -> Table:
    """A breakdown summary (:func:`carbontwin.api.breakdowns.summary`) fitted to ``width``."""
    key = {"hour": "hour_start_utc"}.get(by, by)
    cols: list[Column] = []
    if by == "hour":
        cols.append(Column("hour (UTC)", [f"{t:%Y-%m-%d %H:%M}" for t in summary[key]], left=True))
    else:
        cols.append(Column(by, [str(x) for x in summary[key]], left=True))
    cols.append(Column("kg CO2e", [f"{x:,.2f}" for x in summary["orders_co2e_kg"]]))
    cols.append(Column("share", [f"{x:.1%}" for x in summary["share"]]))
    if "orders_kwh" in summary:
        cols.append(Column("kWh", [f"{x:,.2f}" for x in summary["orders_kwh"]]))
    if "quantity" in summary:
        cols.append(
            Column(
                "quantity",
                [
                    f"{q:,.6g} {u}"
                    for q, u in zip(summary["quantity"], summary["unit"], strict=True)
                ],
            )
        )
    if "overhead_kwh" in summary:
        cols.append(Column("overhead kWh", [f"{x:,.2f}" for x in summary["overhead_kwh"]]))
    if "overhead_co2e_kg" in summary:
        cols.append(Column("overhead kg CO2e", [f"{x:,.2f}" for x in summary["overhead_co2e_kg"]]))
    width = width if width is not None else Console().width
    title = f"By {by}: the orders' part (kg CO2e, share of it) and plant overhead"
    table, _ = fit_table(cols, width, title=title, wide=wide)
    return table
