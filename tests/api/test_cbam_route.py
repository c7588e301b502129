"""``GET /cbam`` and ``GET /cbam.xlsx`` on a store with issued footprints."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from api_helpers import get_token, make_settings
from fastapi.testclient import TestClient

from carbontwin.api import create_app
from carbontwin.twin.examples import demo_factory
from carbontwin.twin.footprint import Footprint


def test_cbam_route_json_and_workbook(tmp_path):
    app = create_app(make_settings(tmp_path))
    store = app.state.services.store
    factory = demo_factory()
    store.save_factory(factory)
    store.save_orders(factory.orders)
    t0 = datetime(2019, 3, 4, 6, tzinfo=UTC)
    # housing (CN 7616 99 90, 1.4 kg): 60 pieces = 0.084 t; 4.2 kg scope 1, 21 kg
    # scope 2; 168 kg primary aluminium at 16 kg/kg (a sector value: default)
    # SEE_dir = (0.0042 + 0.168 * 16) / 0.084 = 32.05 t/t; SEE_indir = 0.021 / 0.084 = 0.25
    store.issue_footprint(
        Footprint(
            order="O-1003",
            product="housing",
            quantity=60,
            declared_unit="piece",
            period_start=t0,
            period_end=t0 + timedelta(hours=5),
            energy_kwh=70.0,
            co2e_kg=4.2 + 21.0 + 2688.0,
            co2e_market_kg=4.2 + 10.0 + 2688.0,
            scope1_kg=4.2,
            scope2_location_kg=21.0,
            scope2_market_kg=10.0,
            scope3_kg=2688.0,
            energy_by_carrier_kwh={"electricity": 60.0, "natural_gas": 10.0},
            co2e_by_material_kg={"al-6082-primary": 2688.0},
        )
    )
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/cbam").status_code == 401
        auth = {"Authorization": f"Bearer {get_token(client)}"}
        doc = client.get("/cbam", params={"period": "2019Q1"}, headers=auth).json()
        (good,) = doc["goods"]
        assert good["cn_code"] == "7616 99 90"
        assert good["see_direct"] == pytest.approx(32.05)
        assert good["see_indirect"] == pytest.approx(0.25)
        assert client.get("/cbam", params={"period": "2019Q2"}, headers=auth).json()["goods"] == []
        bad = client.get("/cbam", params={"period": "Q9"}, headers=auth)
        assert bad.status_code == 400
        r = client.get("/cbam.xlsx", headers=auth)
        assert r.status_code == 200
        wb = openpyxl.load_workbook(io.BytesIO(r.content))
        header, row = wb["Summary_Products"].iter_rows(values_only=True)
        assert dict(zip(header, row, strict=True))["Activity level [t]"] == pytest.approx(0.084)
    app.state.services.close()
