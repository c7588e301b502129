"""Time-of-use tariff in local time, hourly signals, grid series lookup."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from carbontwin.simulation import (
    CarbonAwareRelease,
    Job,
    ReleaseContext,
    TariffPeriod,
    TimeOfUseTariff,
)
from carbontwin.simulation.plan import Calendar
from carbontwin.simulation.tariffs import HourlySignal, grid_intensity_fn
from carbontwin.twin.errors import SimulationError


def _t(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_tariff_periods_are_local_time_across_daylight_saving():
    tou = TimeOfUseTariff(
        0.10,
        (
            TariffPeriod(0.30, "07:00", "20:00", (0, 1, 2, 3, 4)),
            TariffPeriod(0.05, "22:00", "02:00", (4,)),
        ),
        "EUR",
        "Europe/Berlin",
    )
    t = np.array(
        [
            _t(2019, 3, 4, 6, 30),  # Mon 07:30 CET -> peak
            _t(2019, 7, 1, 5, 30),  # Mon 07:30 CEST -> peak
            _t(2019, 3, 4, 19, 30),  # Mon 20:30 CET -> default
            _t(2019, 3, 9, 10, 0),  # Saturday -> default
            _t(2019, 3, 8, 22, 30),  # Fri 23:30 CET -> night period
            _t(2019, 3, 9, 0, 30),  # Sat 01:30 CET: Friday's period runs past midnight
        ]
    )
    assert list(tou.price_per_kwh(t)) == [0.30, 0.30, 0.10, 0.10, 0.05, 0.05]


def test_tariff_refuses_a_half_hour():
    with pytest.raises(SimulationError, match="whole hour"):
        TimeOfUseTariff(0.1, (TariffPeriod(0.2, "07:30", "20:00"),))


def test_hourly_signal_window_means():
    sig = HourlySignal(0.0, np.array([1.0, 3.0, 5.0]))
    assert sig.at(3599.0) == 1.0
    assert sig.at(1e9) == 5.0  # held at the end
    assert sig.window_means(np.array([1800.0]), 3600.0)[0] == pytest.approx(2.0)


def test_bundled_grid_series_is_in_kg_per_kwh():
    fn = grid_intensity_fn("DE_2019")
    v = fn(np.array([_t(2019, 3, 4, 12), _t(2030, 1, 1)]))
    assert 0.05 < v[0] < 1.0
    assert v[1] > 0  # outside the series: its last value is held
    with pytest.raises(SimulationError, match="grid series"):
        grid_intensity_fn("XX_1999")


def test_price_signal_release_waits_for_the_cheap_hours():
    price = np.full(72, 0.3)
    price[30:40] = 0.1
    ctx = ReleaseContext(None, HourlySignal(0.0, price), Calendar.build((), "UTC", 0.0, 1e6))
    job = Job(0, "O", "p", 1.0, 0.0, 70 * 3600.0, (0,), ("op",), (0.0,), [7200.0], 7200.0)
    pol = CarbonAwareRelease(signal="price", safety_h=1.0)
    assert pol.release_time(job, 0.0, ctx) == 30 * 3600.0
    assert CarbonAwareRelease(signal="carbon").release_time(job, 0.0, ctx) == 0.0  # no grid
