"""``carbontwin factory validate|show|schema``: check and look at a factory file.

``FILE`` may name a bundled example (``examples/demo_factory.yaml``): when no
such file exists where the command runs, the copy shipped in the
``carbontwin.examples`` package is used, and a note on stderr says so. That is
how ``carbontwin factory show examples/demo_factory.yaml`` works right after
``pip install carbontwin``, from any directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from carbontwin.twin.errors import CarbonTwinError, FactoryModelError
from carbontwin.twin.model import STATES, Factory, PowerModel

__all__ = ["register", "resolve_factory_path"]

FileArg = Annotated[
    Path,
    typer.Argument(
        help="Factory file (YAML, or JSON by its .json suffix); a bundled example "
        "such as examples/demo_factory.yaml also works outside the repository.",
        show_default=False,
    ),
]


def resolve_factory_path(file: Path, err: Console | None = None) -> Path:
    """``file`` if it exists, else the bundled example of that name (noted on stderr).

    Only names such as ``demo_factory.yaml`` or ``examples/demo_factory.yaml``
    fall back to the bundled copy; any other missing path is returned as is (and
    the loader reports it missing).
    """
    if file.exists():
        return file
    parts = file.parts
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == "examples"):
        from carbontwin.twin.examples import example_path

        try:
            bundled = example_path(file.name)
        except FileNotFoundError:
            return file
        (err or Console(stderr=True)).print(
            f"{escape(str(file))} not found here; using the copy bundled with carbontwin: "
            f"{escape(str(bundled))}",
            soft_wrap=True,
            highlight=False,
        )
        return bundled
    return file


def _load(file: Path) -> tuple[Factory | None, Path]:
    from carbontwin.twin.factory_file import load_factory

    err = Console(stderr=True)
    path = resolve_factory_path(file, err)
    try:
        return load_factory(path), path
    except FactoryModelError as exc:
        for line in exc.errors:
            err.print(escape(line), soft_wrap=True, highlight=False)
        err.print(
            f"{escape(str(path))}: {len(exc.errors)} problem(s); the factory is not valid",
            soft_wrap=True,
            highlight=False,
        )
        return None, path


def _summary(f: Factory) -> str:
    counts = [
        ("line", len(f.lines)),
        ("machine", len(f.machines)),
        ("meter", len(f.meters)),
        ("utility", len(f.utilities)),
        ("material", len(f.materials)),
        ("supplier", len(f.suppliers)),
        ("product", len(f.products)),
        ("shift", len(f.shifts)),
        ("order", len(f.orders)),
    ]
    parts = ", ".join(
        f"{n} {word if n == 1 else ('utilities' if word == 'utility' else word + 's')}"
        for word, n in counts
    )
    return f"factory '{f.id}' ({f.name}), site '{f.site.id}' in {f.site.country}: {parts}"


def validate(file: FileArg) -> None:
    """Check a factory file; print a summary, or every problem with its line (exit 1)."""
    from carbontwin.twin.factors import factory_series

    factory, path = _load(file)
    if factory is None:
        raise typer.Exit(code=1)
    try:  # the hourly grid series files the factors: section names must read too
        factory_series(factory, path.parent)
    except CarbonTwinError as exc:
        Console(stderr=True).print(
            f"{escape(str(path))}: factors: {escape(exc.message)}", soft_wrap=True, highlight=False
        )
        raise typer.Exit(code=1) from None
    Console().print(
        f"OK {escape(str(path))}: {escape(_summary(factory))}", soft_wrap=True, highlight=False
    )


def _kw(value: float) -> str:
    return f"{value:.4g}"


def _power(power: PowerModel) -> str:
    states = " | ".join(f"{s.value.lower()} {_kw(power.power_kw[s])}" for s in STATES)
    text = f"{states} kW"
    if power.carrier.value != "electricity":
        text += f" ({power.carrier.value})"
    if power.warmup_s:
        text += f"; warm-up {power.warmup_s / 60:.4g} min, {power.warmup_energy_kwh:.4g} kWh"
    return text


def _tree(f: Factory) -> Tree:
    root = Tree(
        f"[bold]{escape(f.name)}[/] (factory '{escape(f.id)}'"
        + (f", company {escape(f.company_id)})" if f.company_id else ")")
    )
    site = root.add(
        f"[bold]site[/] {escape(f.site.id)}: {escape(f.site.name)} "
        f"({f.site.country}, {escape(f.site.timezone)}, grid zone "
        f"{escape(f.site.grid_zone or '-')})"
    )
    for line in f.lines:
        branch = site.add(f"[bold]line[/] {escape(line.id)}: {escape(line.name)}")
        for m in (m for m in f.machines if m.line == line.id):
            extra = f", capacity {m.capacity}" if m.capacity > 1 else ""
            if m.mtbf_s and m.mttr_s:
                extra += f", MTBF {m.mtbf_s / 3600:.4g} h / MTTR {m.mttr_s / 3600:.4g} h"
            node = branch.add(
                f"[cyan]{escape(m.id)}[/] {escape(f'[{m.type}]')} {escape(m.name)}{extra}"
            )
            node.add(_power(m.power))
            if m.setup_matrix_s:
                node.add(
                    "setup matrix: "
                    + ", ".join(
                        f"{a} -> {b} {s / 60:.4g} min" for (a, b), s in m.setup_matrix_s.items()
                    )
                )
    if f.utilities:
        utils = site.add("[bold]utilities[/]")
        for u in f.utilities:
            node = utils.add(
                f"[cyan]{escape(u.id)}[/] {escape(f'[{u.kind}]')} {escape(u.name)}, "
                f"key {u.allocation_key}"
            )
            node.add(_power(u.power))
            node.add("serves " + ", ".join(f"{s.asset} ({s.weight:g})" for s in u.serves))
    if f.meters:
        meters = site.add("[bold]meters[/]")
        for mt in f.meters:
            meters.add(
                f"[cyan]{escape(mt.id)}[/] {mt.signal} ({mt.carrier.value}) -> "
                + ", ".join(mt.measures)
            )
    pcf = {(s.id, x.material): x.pcf_kg_per_unit for s in f.suppliers for x in s.supplies}
    units = {m.id: m.unit for m in f.materials}
    if f.products:
        products = root.add("[bold]products[/]")
        for p in f.products:
            node = products.add(
                f"[cyan]{escape(p.id)}[/] {escape(p.name)} ({p.mass_kg:g} kg per {p.declared_unit})"
            )
            node.add("routing: " + " -> ".join(f"{op.id}@{op.machine}" for op in p.routing))
            for b in p.bom:
                who = b.supplier or next((s for s, m in pcf if m == b.material), "?")
                factor = pcf.get((who, b.material))
                shown = (
                    f", {factor:g} kg CO2e/{units.get(b.material, 'unit')}"
                    if factor is not None
                    else ""
                )
                node.add(
                    f"bom: {escape(b.material)} {b.quantity_per_unit:g} "
                    f"{units.get(b.material, '')} from {escape(who)}{shown}"
                )
    if f.shifts:
        root.add(
            "[bold]shifts[/]: "
            + ", ".join(f"{escape(s.name)} {s.start}-{s.end}" for s in f.shifts)
            + f" ({escape(f.site.timezone)})"
        )
    for c in f.contracts:
        root.add(
            f"[bold]contract[/] {escape(c.name)}: {c.share:.0%} at {c.factor_kg_per_kwh:g} kg CO2e/kWh"
        )
    for z in f.factors.grid:
        parts = [f"hourly {', '.join(z.hourly)}"] if z.hourly else []
        parts += [f"{y.year}: {y.factor_kg_per_kwh:.4g} kg/kWh" for y in z.annual]
        parts += [f"residual mix {y.year}: {y.factor_kg_per_kwh:.4g}" for y in z.residual_mix]
        root.add(f"[bold]grid factors[/] {escape(z.zone)}: {escape('; '.join(parts) or '-')}")
    for fuel in f.factors.fuels:
        root.add(
            f"[bold]factor[/] {fuel.carrier.value}: {fuel.factor_kg_per_kwh:.4g} kg CO2e/kWh"
            + (f" ({escape(fuel.source)})" if fuel.source else "")
        )
    if f.orders:
        first = min(o.release for o in f.orders)
        last = max(o.due for o in f.orders)
        root.add(
            f"[bold]orders[/]: {len(f.orders)}, released from {first:%Y-%m-%d %H:%M}, "
            f"due by {last:%Y-%m-%d %H:%M} UTC"
        )
    else:
        root.add("[bold]orders[/]: 0")
    return root


def show(file: FileArg) -> None:
    """Print the plant as a tree: site, lines, machines with power per state, meters, products."""
    factory, _ = _load(file)
    if factory is None:
        raise typer.Exit(code=1)
    Console().print(_tree(factory))


def schema() -> None:
    """Print the JSON Schema of factory files (for editors such as VS Code's YAML extension)."""
    from carbontwin.twin.factory_file import factory_json_schema

    typer.echo(json.dumps(factory_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the ``factory`` command group to ``app``."""
    group = typer.Typer(help="Check and look at factory files.", no_args_is_help=True)
    group.command("validate")(validate)
    group.command("show")(show)
    group.command("schema")(schema)
    app.add_typer(group, name="factory")
