"""Commands ``carbontwin suppliers import|pull``: supplier product footprints (PACT) in.

A supplier's PACT v2/v3 ProductFootprint becomes the supply link of one
material in the stored factory (a new factory version): its value converted
to the material's unit, its validity checked, its primary data share and DQRs
carried into the footprints of the orders that use the material, its id and
version named in their factor versions (see
:mod:`carbontwin.connectors.pact_suppliers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from .service import DbOpt, TenantOpt, _settings

__all__ = ["register"]

SupplierOpt = Annotated[
    str, typer.Option("--supplier", help="Supplier id in the factory (added if new)")
]
MaterialOpt = Annotated[str, typer.Option("--material", help="Material id the footprint is for")]
ProductOpt = Annotated[
    str | None,
    typer.Option("--product-id", help="The supplier's product id (URN) to take; default: any"),
]


def _apply(
    database_url: str | None,
    tenant: str,
    supplier: str,
    material: str,
    found: list[Any],
    product: str | None,
) -> None:
    from carbontwin.connectors.pact_suppliers import apply_supplier_footprint, pick
    from carbontwin.twin.store import Store

    sfp = pick(found, product)
    settings = _settings(database_url, None)
    store = Store.open(settings.database_url, tenant=tenant)
    try:
        factory = apply_supplier_footprint(store.load_factory(), supplier, material, sfp)
        version = store.save_factory(factory)
    finally:
        store.close()
    link = next(
        x
        for s in factory.suppliers
        if s.id == supplier
        for x in s.supplies
        if x.material == material
    )
    share = "" if sfp.primary_data_share is None else f", primary data {sfp.primary_data_share:.0%}"
    Console().print(
        f"{material} from {supplier}: {link.pcf_kg_per_unit:.6g} kg CO2e per unit "
        f"({sfp.label}, {sfp.company_name}, valid to {sfp.valid_to:%Y-%m-%d}{share}); "
        f"factory version {version}",
        highlight=False,
    )


def import_files(
    files: Annotated[
        list[Path],
        typer.Argument(help="PACT ProductFootprint JSON files (one, a list, or {'data': [...]})"),
    ],
    supplier: SupplierOpt,
    material: MaterialOpt,
    product_id: ProductOpt = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Take a supplier's product footprint from PACT v2/v3 JSON files."""
    from carbontwin.connectors.pact_suppliers import read_footprint_file

    found = [f for path in files for f in read_footprint_file(path)]
    _apply(database_url, tenant, supplier, material, found, product_id)


def pull(
    url: Annotated[str, typer.Option("--url", help="The supplier's PACT host (base URL)")],
    client_id: Annotated[str, typer.Option("--client-id", help="OAuth2 client id it gave you")],
    client_secret: Annotated[
        str,
        typer.Option(
            "--client-secret",
            envvar="CARBONTWIN_SUPPLIER_CLIENT_SECRET",
            help="OAuth2 client secret (or CARBONTWIN_SUPPLIER_CLIENT_SECRET)",
        ),
    ],
    supplier: SupplierOpt,
    material: MaterialOpt,
    product_id: ProductOpt = None,
    spec: Annotated[int, typer.Option("--spec", help="PACT API version: 3 or 2")] = 3,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="CA certificate (PEM) to trust for the supplier's TLS"),
    ] = None,
    database_url: DbOpt = None,
    tenant: TenantOpt = "default",
) -> None:
    """Pull a supplier's product footprint from its PACT host (OAuth2 client credentials)."""
    from carbontwin.connectors.pact_suppliers import pull_footprints

    if spec not in (2, 3):
        msg = f"--spec {spec}: use 3 or 2"
        raise typer.BadParameter(msg)
    verify: Any = True
    if ca_file is not None:
        import ssl

        verify = ssl.create_default_context(cafile=str(ca_file))
    found = pull_footprints(
        url,
        client_id,
        client_secret,
        product_ids=[product_id] if product_id else [],
        spec=spec,
        verify=verify,
    )
    _apply(database_url, tenant, supplier, material, found, product_id)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    group = typer.Typer(
        help="Supplier product footprints (PACT) into the factory's materials.",
        no_args_is_help=True,
    )
    group.command("import")(import_files)
    group.command("pull")(pull)
    app.add_typer(group, name="suppliers")
