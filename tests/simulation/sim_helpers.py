"""Helpers for simulator tests: a small factory with three machines, a shared meter, a counter
and compressed air."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from carbontwin.twin.model import (
    Carrier,
    Factory,
    Line,
    Machine,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Utility,
)

MONDAY = datetime(2019, 3, 4, tzinfo=UTC)


def power(off: float, idle: float, setup: float, proc: float, **kw: float) -> PowerModel:
    return PowerModel(
        {
            State.OFF: off,
            State.STANDBY: off,
            State.IDLE: idle,
            State.SETUP: setup,
            State.PROCESSING: proc,
            State.FAULT: off,
        },
        **kw,
    )


def small_factory(*, shifts: bool = True, mtbf_s: float | None = 4 * 3600.0) -> Factory:
    a = Machine(
        "A",
        "mill",
        "L",
        "cnc",
        power(0.0, 5.0, 6.0, 20.0, warmup_s=900.0, warmup_energy_kwh=3.0),
        setup_matrix_s={("p1", "p2"): 1800.0, ("p2", "p1"): 600.0},
    )
    b = Machine(
        "B",
        "press",
        "L",
        "press",
        power(0.5, 8.0, 4.0, 30.0, warmup_s=300.0, warmup_energy_kwh=1.0),
        mtbf_s=mtbf_s,
        mttr_s=900.0 if mtbf_s else None,
    )
    c = Machine(
        "C",
        "furnace",
        "L",
        "furnace",
        power(
            2.0,
            40.0,
            40.0,
            90.0,
            warmup_s=3600.0,
            warmup_energy_kwh=80.0,
            carrier=Carrier.NATURAL_GAS,
        ),
        capacity=2,
    )
    air = Utility(
        "air",
        "compressor",
        "compressed_air",
        power(0.0, 3.0, 3.0, 12.0),
        (ServesLink("A", 1.0), ServesLink("B", 2.0)),
    )
    meters = (
        Meter("M-AB", "A and B", ("A", "B")),
        Meter("M-C", "furnace gas", ("C",), Carrier.NATURAL_GAS, "energy", 50_000.0),
        Meter("M-air", "air", ("air",)),
    )
    p1 = Product(
        "p1",
        "part 1",
        (
            Operation("o10", "A", 1200.0, 60.0),
            Operation("o20", "B", 600.0, 20.0),
            Operation("o30", "C", 300.0, 30.0),
        ),
    )
    p2 = Product(
        "p2", "part 2", (Operation("o10", "B", 900.0, 40.0), Operation("o20", "A", 300.0, 45.0))
    )
    orders = tuple(
        Order(
            f"O{i:02d}",
            "p1" if i % 3 else "p2",
            20.0 + 5 * (i % 4),
            MONDAY + timedelta(hours=5 + 2.5 * i),
            MONDAY + timedelta(hours=30 + 3 * i),
        )
        for i in range(12)
    )
    return Factory(
        "small",
        "small plant",
        Site("S", "site", "DE", "Europe/Berlin", "DE"),
        lines=(Line("L", "line", "S"),),
        machines=(a, b, c),
        meters=meters,
        utilities=(air,),
        products=(p1, p2),
        shifts=(Shift("early", "06:00", "14:00"), Shift("late", "14:00", "22:00"))
        if shifts
        else (),
        orders=orders,
    )


def one_line_plant(
    machines: tuple[Machine, ...],
    products: tuple[Product, ...],
    orders: tuple[Order, ...],
    *,
    shifts: tuple[Shift, ...] = (),
    utilities: tuple[Utility, ...] = (),
) -> Factory:
    """A plant of one line in UTC with one meter over every machine and utility."""
    assets = tuple(m.id for m in machines) + tuple(u.id for u in utilities)
    return Factory(
        "plant",
        "test plant",
        Site("S", "site", "DE", "UTC", "DE"),
        lines=(Line("L", "line", "S"),),
        machines=machines,
        meters=(Meter("M", "all", assets),),
        utilities=utilities,
        products=products,
        shifts=shifts,
        orders=orders,
    )
