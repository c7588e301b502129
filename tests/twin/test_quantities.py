from datetime import UTC, datetime, timedelta, timezone

import pytest

from carbontwin.twin.quantities import QuantityError, from_epoch, parse_quantity, to_epoch, utc


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("15 kW", "power", 15.0),
        ("1.5 MW", "power", 1500.0),
        ("750 W", "power", 0.75),
        ("2.5 MWh", "energy", 2500.0),
        ("3.6 MJ", "energy", 1.0),
        ("90 s", "duration", 90.0),
        ("1.5 h", "duration", 5400.0),
        ("2 min", "duration", 120.0),
        ("1.2 t", "mass", 1200.0),
        ("500 g", "mass", 0.5),
        (42, "power", 42.0),
        ("7.5", "energy", 7.5),
    ],
)
def test_parse_quantity_converts_to_canonical_unit(text, kind, expected):
    assert parse_quantity(text, kind) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "kind", "fragment"),
    [
        ("15 kWW", "power", "kWW"),
        ("15 kg", "power", "is not a power"),
        ("12 kW", "energy", "is not an energy"),
        ("fast", "duration", "fast"),
        ("", "power", "empty"),
        (float("nan"), "power", "finite"),
        (True, "power", "boolean"),
    ],
)
def test_parse_quantity_names_the_problem(text, kind, fragment):
    with pytest.raises(QuantityError) as info:
        parse_quantity(text, kind)
    assert fragment in str(info.value)


def test_utc_refuses_naive_and_converts_offsets():
    with pytest.raises(QuantityError, match="no timezone"):
        utc(datetime(2019, 3, 4, 8, 0))
    cet = timezone(timedelta(hours=1))
    assert utc(datetime(2019, 3, 4, 9, 0, tzinfo=cet)) == datetime(2019, 3, 4, 8, 0, tzinfo=UTC)
    assert utc("2019-03-04T08:00:00Z") == datetime(2019, 3, 4, 8, 0, tzinfo=UTC)


def test_epoch_round_trip():
    t = datetime(2019, 3, 4, 8, 0, 30, tzinfo=UTC)
    assert to_epoch(t) == 1551686430.0
    assert from_epoch(to_epoch(t)) == t
