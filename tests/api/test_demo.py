"""`carbontwin demo`: simulator -> demo line server -> OPC UA -> connector -> store -> footprints."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from carbontwin.api.cli import app
from carbontwin.api.demo import simulate_day
from carbontwin.twin.attribution import attribute
from carbontwin.twin.factors import FactorSet


@pytest.mark.opcua
@pytest.mark.slow
def test_demo_footprints_through_opcua_match_the_simulator_events(tmp_path):
    result = CliRunner().invoke(
        app, ["demo", "--json", "--seconds", "5", "--out", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    through_opcua = {fp["order"]: fp for fp in json.loads(result.stdout)}

    # the same day, attributed from the simulator's events directly (same seed)
    day = simulate_day(seed=0)
    direct = attribute(day.factory, day.events, FactorSet.default(day.factory)).footprints
    assert set(through_opcua) == set(direct)
    assert len(direct) >= 5
    for order, fp in direct.items():
        assert through_opcua[order]["energy_kwh"] == pytest.approx(fp.energy_kwh, rel=0.005), order
        assert (tmp_path / "footprints" / f"{order}.json").is_file()

    # every order has a footprint, and orders + overhead add up to the metered total
    balance = re.search(
        r"orders ([\d,.]+) kWh \+ overhead ([\d,.]+) kWh = [\d,.]+ kWh; metered ([\d,.]+) kWh",
        " ".join(result.stderr.split()),
    )
    assert balance, result.stderr
    orders_kwh, overhead_kwh, metered_kwh = (float(g.replace(",", "")) for g in balance.groups())
    assert orders_kwh == pytest.approx(
        sum(fp["energy_kwh"] for fp in through_opcua.values()), abs=0.01
    )
    assert orders_kwh + overhead_kwh == pytest.approx(metered_kwh, abs=0.005)
    assert "0 errors" in " ".join(result.stderr.split())
