"""Read and write factory files (``factory.yaml`` / ``factory.json``).

A factory file describes one plant: ``site``, ``lines``, ``machines``,
``meters``, ``utilities``, ``materials``, ``suppliers``, ``products`` (with
``routing`` and ``bom``), ``shifts``, ``contracts``, ``factors`` and ``orders``. See
``examples/demo_factory.yaml`` for a complete, commented example.

Loading validates everything and collects *all* problems before raising one
:class:`~carbontwin.twin.errors.FactoryModelError`; each entry of its
``errors`` reads ``file:line: item: field: what is wrong``, e.g.
``factory.yaml:41: meter 'M7': measures: unknown asset 'press-9'``.

Rules checked beyond each item's own fields:

- ids are unique across the site, lines, machines, meters, utilities,
  materials, suppliers and products (they are all nodes of one graph); order
  ids among orders; operation ids within a routing;
- a machine's line, a meter's and a utility's assets, an operation's machine,
  a BOM's material and supplier, a supply's material, a setup matrix's products
  and an order's product exist;
- a meter measures at least one asset; a product has a routing;
- every BOM material has a supplier PCF: the named supplier supplies that
  material, or (with no supplier named) some supplier does;
- a routing has no cycle: each operation follows the operations in its
  ``after`` list (by default the one listed just before it). The precedence
  graph must be acyclic; the core receives the operations in a topological
  order (ties broken by file order). Visiting the same machine twice is fine.
- a meter's carrier is the carrier of every asset behind it; a utility
  serves at least one asset, never itself; contract shares add up to <= 1;
  an order is due no earlier than it is released; the site's time zone is an
  IANA name;
- the site's grid zone (``grid_zone``, else ``country``) has an emission
  factor, in the ``factors:`` section or the built-in library, and so does
  every fuel or heat carrier a machine, utility or meter uses (see
  :mod:`carbontwin.twin.factors`).

Values: quantities are numbers in the canonical unit or strings with a unit
(``"15 kW"``, ``"0.62 MWh"``, ``"90 s"``, ``"20 min"``, ``"1.2 t"``), read
once with :func:`~carbontwin.twin.quantities.parse_quantity`; a BOM
``quantity`` is in its material's ``unit``. Power per state: ``off`` defaults
to 0, ``standby`` to ``off``, ``setup`` to ``idle``, ``fault`` to ``standby``.
Times of orders are ISO 8601 with a zone; shift times are local ``"HH:MM"``.
YAML is read with YAML 1.2 scalars (``off`` is a string, ``06:00`` is not
base 60). Unknown fields are errors (a typo should not be silently ignored).
:func:`factory_json_schema` gives the JSON Schema of the format.

Writing (:func:`factory_to_dict`, :func:`dump_factory`) gives plain numbers in
canonical units (kW, kWh, s, kg, kg CO2e per unit) and ISO 8601 UTC times, so
``load -> dump -> load`` gives an equal :class:`~carbontwin.twin.model.Factory`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path as FilePath
from typing import Any

from ._factory_build import build_factory
from ._factory_schema import FactoryDocument
from ._yaml_lines import SourceError, dump_yaml, read_with_lines
from .errors import FactoryModelError
from .model import STATES, Factory, Order

__all__ = [
    "dump_factory",
    "factory_json_schema",
    "dumps_factory",
    "factory_from_dict",
    "factory_to_dict",
    "load_factory",
    "loads_factory",
    "order_to_dict",
]


def _format_of(filename: str) -> str:
    return "json" if filename.lower().endswith(".json") else "yaml"


def loads_factory(
    text: str, filename: str = "factory.yaml", *, check_factors: bool = True
) -> Factory:
    """Validate factory text and return the :class:`Factory`.

    Parameters
    ----------
    text : str
        YAML or JSON document.
    filename : str
        Name used in error messages; a ``.json`` suffix selects JSON.

    Raises
    ------
    FactoryModelError
        With ``.errors`` listing every problem as ``file:line: item: message``.
    """
    try:
        data, lines, dups = read_with_lines(text, _format_of(filename))
    except SourceError as exc:
        where = f"{filename}:{exc.line}" if exc.line is not None else filename
        message = f"{where}: {exc.message}"
        raise FactoryModelError(message, errors=[message]) from None
    return build_factory(data, filename, lines, dups, check_factors=check_factors)


def load_factory(path: str | FilePath, *, check_factors: bool = True) -> Factory:
    """Read a factory file (YAML, or JSON by a ``.json`` suffix).

    Raises
    ------
    FactoryModelError
        If the file is missing, unreadable or invalid; ``.errors`` lists every
        problem with its line.
    """
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8-sig")  # a BOM from a Windows editor is fine
    except OSError as exc:
        message = f"{file}: cannot read factory file: {exc.strerror or exc}"
        raise FactoryModelError(message) from None
    except UnicodeDecodeError as exc:
        message = f"{file}: not a UTF-8 text file (byte {exc.start}); save it as UTF-8"
        raise FactoryModelError(message) from None
    return loads_factory(text, filename=str(file), check_factors=check_factors)


def factory_from_dict(
    data: Mapping[str, Any], filename: str = "<dict>", *, check_factors: bool = True
) -> Factory:
    """Validate an already parsed factory document (no line numbers)."""
    return build_factory(data, filename, {}, [], check_factors=check_factors)


def factory_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a factory file, for editors and API clients.

    It checks the shape of each item (fields, types, enums); the cross-reference
    rules (unknown assets, duplicate ids, cycles, units) are the loader's.
    """
    schema: dict[str, Any] = FactoryDocument.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --------------------------------------------------------------------- writing


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _power(power: Any) -> dict[str, float]:
    return {s.value.lower(): float(power.power_kw[s]) for s in STATES}


def factory_to_dict(factory: Factory) -> dict[str, Any]:
    """The factory as plain data (canonical units as numbers, ISO UTC times).

    The result is ready for :func:`json.dumps` / :func:`yaml.safe_dump` and
    reads back with :func:`factory_from_dict` to an equal factory.
    """
    f = factory
    return {
        "id": f.id,
        "name": f.name,
        "company_id": f.company_id,
        "site": {
            "id": f.site.id,
            "name": f.site.name,
            "country": f.site.country,
            "timezone": f.site.timezone,
            "grid_zone": f.site.grid_zone,
        },
        "lines": [{"id": ln.id, "name": ln.name, "site": ln.site} for ln in f.lines],
        "machines": [
            {
                "id": m.id,
                "name": m.name,
                "line": m.line,
                "type": m.type,
                "power": _power(m.power),
                "warmup": m.power.warmup_s,
                "warmup_energy": m.power.warmup_energy_kwh,
                "carrier": m.power.carrier.value,
                "capacity": m.capacity,
                "mtbf": m.mtbf_s,
                "mttr": m.mttr_s,
                "setup_matrix": [
                    {"from": a, "to": b, "time": s} for (a, b), s in m.setup_matrix_s.items()
                ],
                "off_shift": m.off_shift.value.lower(),
            }
            for m in f.machines
        ],
        "meters": [
            {
                "id": mt.id,
                "name": mt.name,
                "measures": list(mt.measures),
                "carrier": mt.carrier.value,
                "signal": mt.signal,
                "rollover": mt.rollover_kwh,
                **({"parent": mt.parent} if mt.parent else {}),
            }
            for mt in f.meters
        ],
        "utilities": [
            {
                "id": u.id,
                "name": u.name,
                "kind": u.kind,
                "power": _power(u.power),
                "warmup": u.power.warmup_s,
                "warmup_energy": u.power.warmup_energy_kwh,
                "carrier": u.power.carrier.value,
                "allocation_key": u.allocation_key,
                "serves": [{"asset": s.asset, "weight": s.weight} for s in u.serves],
            }
            for u in f.utilities
        ],
        "materials": [
            {
                "id": m.id,
                "name": m.name,
                "unit": m.unit,
                **({"cn_code": m.cn_code} if m.cn_code else {}),
                **{
                    k: getattr(m, k)
                    for k in ("fossil_carbon_kg_per_unit", "biogenic_carbon_kg_per_unit")
                    if getattr(m, k) is not None
                },
            }
            for m in f.materials
        ],
        "suppliers": [
            {
                "id": s.id,
                "name": s.name,
                "supplies": [
                    {
                        "material": x.material,
                        "pcf_kg_per_unit": x.pcf_kg_per_unit,
                        "source": x.source,
                        "primary": x.primary,
                        **({"pact_id": x.pact_id} if x.pact_id else {}),
                        **({"pact_version": x.pact_version} if x.pact_version else {}),
                        **(
                            {"primary_data_share": x.primary_data_share}
                            if x.primary_data_share is not None
                            else {}
                        ),
                        **({"dqr": list(x.dqr)} if x.dqr is not None else {}),
                    }
                    for x in s.supplies
                ],
            }
            for s in f.suppliers
        ],
        "products": [
            {
                "id": p.id,
                "name": p.name,
                "declared_unit": p.declared_unit,
                "mass": p.mass_kg,
                **({"cn_code": p.cn_code} if p.cn_code else {}),
                "routing": [
                    {
                        "id": op.id,
                        "machine": op.machine,
                        "setup": op.setup_s,
                        "processing": op.processing_s_per_unit,
                        **({"alternatives": list(op.alternatives)} if op.alternatives else {}),
                    }
                    for op in p.routing
                ],
                "bom": [
                    {
                        "material": b.material,
                        "quantity": b.quantity_per_unit,
                        "supplier": b.supplier,
                    }
                    for b in p.bom
                ],
            }
            for p in f.products
        ],
        "shifts": [
            {"name": s.name, "start": s.start, "end": s.end, "weekdays": list(s.weekdays)}
            for s in f.shifts
        ],
        "contracts": [
            {
                "name": c.name,
                "share": c.share,
                "factor_kg_per_kwh": c.factor_kg_per_kwh,
                "source": c.source,
            }
            for c in f.contracts
        ],
        "factors": _factors_dict(f),
        "orders": [order_to_dict(o) for o in f.orders],
    }


def order_to_dict(o: Order) -> dict[str, Any]:
    """An order as the factory file writes it."""
    return {
        "id": o.id,
        "product": o.product,
        "quantity": o.quantity,
        "release": _iso(o.release),
        "due": _iso(o.due),
    }


def _factors_dict(f: Factory) -> dict[str, Any]:
    def years(items: Any) -> list[dict[str, Any]]:
        return [{"year": y.year, "factor": y.factor_kg_per_kwh, "source": y.source} for y in items]

    return {
        "grid": {
            z.zone: {
                "hourly": list(z.hourly),
                "annual": years(z.annual),
                "residual_mix": years(z.residual_mix),
            }
            for z in f.factors.grid
        },
        "fuels": {
            c.carrier.value: {"factor": c.factor_kg_per_kwh, "source": c.source}
            for c in f.factors.fuels
        },
    }


_HEADER = (
    "# carbontwin factory file, written by carbontwin.\n"
    "# Plain numbers are in canonical units: power kW, energy kWh, times s, mass kg,\n"
    "# pcf_kg_per_unit kg CO2e per material unit, factor_kg_per_kwh kg CO2e/kWh; times UTC.\n"
)


def dumps_factory(factory: Factory, fmt: str = "yaml") -> str:
    """The factory as YAML (``fmt="yaml"``) or JSON (``fmt="json"``) text."""
    data = factory_to_dict(factory)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return _HEADER + dump_yaml(data)


def dump_factory(factory: Factory, path: str | FilePath) -> None:
    """Write the factory to ``path`` (JSON for a ``.json`` suffix, else YAML)."""
    file = FilePath(path)
    file.write_text(dumps_factory(factory, _format_of(file.name)), encoding="utf-8")
