"""Supplier footprints in: pulled over PACT from a second carbontwin instance on
127.0.0.1, and from PACT v2/v3 JSON files."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from carbontwin.api import Settings, create_app
from carbontwin.api.cli import app as cli
from carbontwin.api.deps import Services
from carbontwin.api.issuing import attribute_and_issue
from carbontwin.connectors.pact_suppliers import (
    parse_product_footprint,
    pcf_per_material_unit,
    read_footprint_file,
)
from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.footprint import Footprint

SUPPLIER_ID, SUPPLIER_SECRET = "buyer-at-supplier", "supplier-secret-42"
NOW = datetime.now(UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def supplier_host(tmp_path_factory):
    """A second carbontwin instance (the steel supplier) serving PACT on 127.0.0.1.

    Development mode: plain HTTP, which it accepts from loopback peers only. It has
    issued one footprint: 1000 kg of sheet, 1850 kg CO2e (1.85 kg/kg), 80 % primary.
    """
    tmp = tmp_path_factory.mktemp("supplier")
    settings = Settings(
        database_url=f"sqlite:///{tmp / 'supplier.db'}",
        client_id=SUPPLIER_ID,
        client_secret=SUPPLIER_SECRET,
        key_path=tmp / "key.pem",
        require_https=False,
        pact_domain="rheinstahl.example",
    )
    app = create_app(settings)
    end = NOW - timedelta(days=30)
    fp = app.state.services.store.issue_footprint(
        Footprint(
            order="H-77",
            product="sheet-s235",
            quantity=1000.0,
            declared_unit="kg",
            period_start=end - timedelta(days=1),
            period_end=end,
            energy_kwh=900.0,
            co2e_kg=1850.0,
            co2e_market_kg=1800.0,
            scope1_kg=1500.0,
            scope2_location_kg=350.0,
            scope2_market_kg=300.0,
            scope3_kg=0.0,
            energy_by_carrier_kwh={"electricity": 900.0},
            primary_data_share=0.8,
            factor_versions={"electricity_location": f"DE_{end.year}_annual"},
        ),
        app.state.services.signer,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "supplier host did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", fp
    server.should_exit = True
    thread.join(10)
    app.state.services.close()


def test_pulled_footprint_ends_up_in_the_orders_scope_3(supplier_host, tmp_path):
    base, supplier_fp = supplier_host
    doc = httpx.get(
        f"{base}/3/footprints/{supplier_fp.id}",
        headers={"Authorization": "Bearer " + _token(base)},
    ).json()["data"]
    product_id = doc["productIds"][0]
    # the buyer: demo plant, simulated events of O-1001 (240 brackets, 2.6 kg sheet each)
    from carbontwin.simulation import simulate

    factory = demo_factory()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'buyer.db'}", key_path=tmp_path / "k")
    services = Services(settings)
    store = services.store
    store.save_factory(factory)
    store.save_orders(factory.orders)
    store.write_events(simulate(factory, factory.orders[:1], "fifo", 0, sample_period_s=300).events)
    (before,) = [f for f in attribute_and_issue(services) if f.order == "O-1001"]
    assert before.co2e_by_material_kg["steel-sheet-s235"] == pytest.approx(240 * 2.6 * 2.3)

    r = CliRunner().invoke(
        cli,
        [
            *("suppliers", "pull", "--url", base, "--client-id", SUPPLIER_ID),
            *("--client-secret", SUPPLIER_SECRET, "--product-id", product_id),
            *("--supplier", "sup-nordstahl", "--material", "steel-sheet-s235"),
            *("--database-url", settings.database_url),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "1.85 kg CO2e per unit" in r.output
    link = next(
        x
        for s in store.load_factory().suppliers
        if s.id == "sup-nordstahl"
        for x in s.supplies
        if x.material == "steel-sheet-s235"
    )
    assert link.pact_id == supplier_fp.id
    assert link.primary_data_share == pytest.approx(0.8)
    dqi = doc["pcf"]["dqi"]
    assert link.dqr == tuple(
        float(dqi[k]) for k in ("technologicalDQR", "geographicalDQR", "temporalDQR")
    )

    (after,) = [f for f in attribute_and_issue(services) if f.order == "O-1001"]
    assert after.version == before.version + 1
    assert after.co2e_by_material_kg["steel-sheet-s235"] == pytest.approx(240 * 2.6 * 1.85)
    assert after.scope3_kg == pytest.approx(240 * 2.6 * 1.85)
    # its id in the lineage: the factor versions that produced the footprint
    assert after.factor_versions["supplier:sup-nordstahl:steel-sheet-s235"] == (
        f"PACT {supplier_fp.id}"
    )
    # the supplier's primary data share counts into the order's (energy part unchanged)
    s3_old, s3_new = before.scope3_kg, after.scope3_kg
    energy_co2e = before.co2e_kg - s3_old
    primary_energy = before.primary_data_share * before.co2e_kg  # the old sheet was secondary
    expected = (primary_energy + 0.8 * s3_new) / (energy_co2e + s3_new)
    assert after.primary_data_share == pytest.approx(expected, rel=1e-9)
    services.close()


def _token(base: str) -> str:
    r = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(SUPPLIER_ID, SUPPLIER_SECRET),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def test_pull_with_wrong_credentials_names_the_problem(supplier_host, tmp_path):
    base, _ = supplier_host
    r = CliRunner().invoke(
        cli,
        [
            *("suppliers", "pull", "--url", base, "--client-id", SUPPLIER_ID),
            *("--client-secret", "wrong", "--supplier", "s", "--material", "m"),
            *("--database-url", f"sqlite:///{tmp_path / 'x.db'}"),
        ],
    )
    assert r.exit_code != 0
    assert "token request answered 401" in str(r.exception) + r.output


V3_DOC = {
    "id": "3a6c14a7-4deb-498a-b5ea-16ce2535b576",
    "specVersion": "3.0.0",
    "status": "Active",
    "companyName": "Rheinstahl",
    "companyIds": ["urn:pact:rheinstahl.example:company-id:1"],
    "productIds": ["urn:pact:rheinstahl.example:product-id:bar"],
    "pcf": {
        "declaredUnitOfMeasurement": "kilogram",
        "declaredUnitAmount": "1000",
        "productMassPerDeclaredUnit": "1000",
        "referencePeriodStart": "2026-01-01T00:00:00Z",
        "referencePeriodEnd": "2026-06-30T00:00:00Z",
        "pcfExcludingBiogenicUptake": "700",
        "primaryDataShare": "55",
        "dqi": {"technologicalDQR": "1.5", "geographicalDQR": "1", "temporalDQR": "1.2"},
    },
}
V2_DOC = {
    "id": "5b0c8d2e-1111-4b3b-9c05-bc3568f81111",
    "specVersion": "2.2.0",
    "version": 3,
    "status": "Active",
    "validityPeriodStart": "2026-01-01T00:00:00Z",
    "validityPeriodEnd": "2027-12-31T00:00:00Z",
    "companyName": "Alu Trader",
    "productIds": ["urn:pact:alu.example:product-id:6082"],
    "pcf": {
        "declaredUnit": "kilogram",
        "unitaryProductAmount": "2.5",
        "pCfExcludingBiogenic": "8.4",
        "referencePeriodStart": "2025-01-01T00:00:00Z",
        "referencePeriodEnd": "2025-12-31T00:00:00Z",
        "primaryDataShare": 20,
    },
}


def test_v3_file_import_converts_the_declared_unit(tmp_path):
    path = tmp_path / "bar.json"
    path.write_text(json.dumps({"data": [V3_DOC]}))
    (sfp,) = read_footprint_file(path)
    # 700 kg CO2e per 1000 kg: 0.7 per kg, 700 per tonne
    assert pcf_per_material_unit(sfp, "kg") == pytest.approx(0.7)
    assert pcf_per_material_unit(sfp, "t") == pytest.approx(700.0)
    # no validity given: 3 years from the reference period end
    assert sfp.valid_to == datetime(2029, 6, 30, tzinfo=UTC)
    with pytest.raises(ConnectorError, match="does not convert"):
        pcf_per_material_unit(sfp, "kWh")
    url = f"sqlite:///{tmp_path / 'buyer.db'}"
    from carbontwin.twin.store import Store

    store = Store.open(url)
    store.save_factory(demo_factory())
    store.close()
    r = CliRunner().invoke(
        cli,
        [
            *("suppliers", "import", str(path), "--supplier", "sup-rheinstahl"),
            *("--material", "steel-bar-42crmo4", "--database-url", url),
        ],
    )
    assert r.exit_code == 0, r.output
    store = Store.open(url)
    link = next(
        x
        for s in store.load_factory().suppliers
        if s.id == "sup-rheinstahl"
        for x in s.supplies
        if x.material == "steel-bar-42crmo4"
    )
    store.close()
    assert link.pcf_kg_per_unit == pytest.approx(0.7)
    assert link.primary_data_share == pytest.approx(0.55)
    assert link.dqr == (1.5, 1.0, 1.2)
    assert link.pact_id == V3_DOC["id"]


def test_import_into_the_named_tenant(tmp_path):
    from carbontwin.twin.store import Store

    path = tmp_path / "bar.json"
    path.write_text(json.dumps(V3_DOC))
    url = f"sqlite:///{tmp_path / 'buyer.db'}"
    with Store.open(url) as store:
        store.admin.add_tenant("plant-a")
        store.save_factory(demo_factory())
        before = store.load_factory()
    with Store.open(url, tenant="plant-a") as store:
        store.save_factory(demo_factory())
    r = CliRunner().invoke(
        cli,
        [
            *("suppliers", "import", str(path), "--supplier", "sup-rheinstahl"),
            *("--material", "steel-bar-42crmo4", "--database-url", url, "--tenant", "plant-a"),
        ],
    )
    assert r.exit_code == 0, r.output

    def link(factory):
        s = next(s for s in factory.suppliers if s.id == "sup-rheinstahl")
        return next(x for x in s.supplies if x.material == "steel-bar-42crmo4")

    with Store(url, tenant="plant-a") as store:
        got = link(store.load_factory())
    assert got.pcf_kg_per_unit == pytest.approx(0.7)  # 700 kg CO2e per 1000 kg
    assert got.pact_id == V3_DOC["id"]
    with Store(url) as store:  # the default tenant's factory as it was
        assert link(store.load_factory()) == link(before)
    assert link(before).pact_id != V3_DOC["id"]


def test_v2_file_values_per_declared_unit_and_version(tmp_path):
    sfp = parse_product_footprint(V2_DOC, "v2.json")
    assert sfp.version == "3"
    assert sfp.label == f"PACT {V2_DOC['id']} v3"
    assert pcf_per_material_unit(sfp, "kg") == pytest.approx(8.4)  # v2: per declared unit
    assert sfp.primary_data_share == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "Deprecated"}, "status 'Deprecated'"),
        (
            {
                "validityPeriodStart": "2020-01-01T00:00:00Z",
                "validityPeriodEnd": "2021-01-01T00:00:00Z",
            },
            "valid from 2020-01-01 to 2021-01-01",
        ),
    ],
)
def test_unusable_footprints_are_refused(change, message):
    from carbontwin.connectors.pact_suppliers import apply_supplier_footprint

    sfp = parse_product_footprint({**V2_DOC, **change}, "v2.json")
    with pytest.raises(ConnectorError, match=message):
        apply_supplier_footprint(demo_factory(), "sup-alu-primary", "al-6082-primary", sfp)


def test_bad_file_names_file_line_and_field(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "id": "x",\n  "pcf": [\n')
    with pytest.raises(ConnectorError, match=r"broken.json:4:1"):
        read_footprint_file(path)
    path.write_text(json.dumps({**V3_DOC, "pcf": {**V3_DOC["pcf"], "declaredUnitAmount": "x"}}))
    with pytest.raises(ConnectorError, match="pcf.declaredUnitAmount"):
        read_footprint_file(path)


def test_factory_round_trip_keeps_the_pact_link():
    from carbontwin.connectors.pact_suppliers import apply_supplier_footprint
    from carbontwin.twin.factory_file import factory_from_dict, factory_to_dict

    sfp = replace(parse_product_footprint(V3_DOC, "bar.json"))
    f = apply_supplier_footprint(
        demo_factory(),
        "sup-rheinstahl",
        "steel-bar-42crmo4",
        sfp,
        at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert factory_to_dict(factory_from_dict(factory_to_dict(f))) == factory_to_dict(f)
