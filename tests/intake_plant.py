"""A small hand-checkable plant for the intake tests (events in, nothing dropped).

One machine ``m1`` on one power meter ``M1``; product ``p1`` needs 1 kg of
``steel`` per piece, whose supplier PCF is 2.0 kg CO2e/kg. Order ``O1``:
10 pieces. On 2019-03-04 ``m1`` processes ``O1`` from 06:00 to 07:00 while
``M1`` reads 10 kW every 10 minutes from 06:00 to 06:50 (and 0 kW at 07:00):
10 kWh to ``O1``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from carbontwin.twin.events import EventBatch, OrderStep, PowerSample, StateChange
from carbontwin.twin.factory_file import factory_from_dict
from carbontwin.twin.model import Factory, State

T0 = datetime(2019, 3, 4, 6, tzinfo=UTC)
PCF_STEEL = 2.0  # kg CO2e per kg, from the document below


def plant_document() -> dict[str, Any]:
    return {
        "id": "tiny",
        "name": "Tiny plant",
        "site": {"id": "s1", "country": "DE", "timezone": "UTC", "grid_zone": "DE"},
        "lines": [{"id": "l1"}],
        "machines": [
            {"id": "m1", "line": "l1", "type": "cnc", "power": {"idle": 1, "processing": 10}}
        ],
        "meters": [{"id": "M1", "measures": ["m1"]}],
        "materials": [{"id": "steel", "unit": "kg"}],
        "suppliers": [
            {"id": "sup", "supplies": [{"material": "steel", "pcf_kg_per_unit": PCF_STEEL}]}
        ],
        "products": [
            {
                "id": "p1",
                "routing": [{"id": "op10", "machine": "m1", "processing": "60 s"}],
                "bom": [{"material": "steel", "quantity": "1 kg"}],
            }
        ],
        "orders": [
            {
                "id": "O1",
                "product": "p1",
                "quantity": 10,
                "release": "2019-03-04T05:00:00Z",
                "due": "2019-03-04T12:00:00Z",
            },
            {
                "id": "O2",
                "product": "p1",
                "quantity": 5,
                "release": "2019-03-04T05:00:00Z",
                "due": "2019-03-04T12:00:00Z",
            },
        ],
    }


def plant() -> Factory:
    return factory_from_dict(plant_document())


def hour_of_work() -> EventBatch:
    """``O1`` on ``m1`` 06:00-07:00 at 10 kW: 10 kWh."""
    return EventBatch.from_events(
        [
            StateChange("m1", T0, State.PROCESSING),
            StateChange("m1", T0 + timedelta(hours=1), State.IDLE),
            *(PowerSample("M1", T0 + timedelta(minutes=m), 10.0) for m in range(0, 60, 10)),
            PowerSample("M1", T0 + timedelta(hours=1), 0.0),
            OrderStep("O1", "op10", "m1", T0, T0 + timedelta(hours=1), 10.0),
        ]
    )
