"""Windowed issuing gives the footprints of attributing the whole history.

Random plants over three days (shifts, a shared meter, a utility, power and counter
meters, sparse readings that leave gaps across window bounds, order steps that span
windows, idle stretches that cross them) are stored, issued window by window
(``issue_windows``), and compared with one attribution of the whole stored history
— a second method over the same events, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from carbontwin.api.issuing import attribute_inputs, issue_windows, read_inputs
from carbontwin.plugins.signing import Signer
from carbontwin.twin.events import (
    EnergyCounter,
    EventBatch,
    Gap,
    OrderStep,
    PowerSample,
    StateChange,
    StepKind,
)
from carbontwin.twin.model import (
    STATES,
    BomItem,
    Factory,
    Line,
    Machine,
    Material,
    Meter,
    Operation,
    Order,
    PowerModel,
    Product,
    ServesLink,
    Shift,
    Site,
    State,
    Supplier,
    SupplyLink,
    Utility,
)
from carbontwin.twin.store import Store

BASE = datetime(2019, 3, 4, 0, 0, tzinfo=UTC)  # a Monday
SPAN_S = 3 * 86400
REL = 1e-9

FIGURES = (
    "energy_kwh",
    "co2e_kg",
    "co2e_market_kg",
    "scope1_kg",
    "scope2_location_kg",
    "scope2_market_kg",
    "scope3_kg",
    "primary_data_share",
    "factor_fallback_share",
)
BREAKDOWNS = (
    "energy_by_carrier_kwh",
    "energy_by_asset_kwh",
    "energy_by_state_kwh",
    "co2e_by_asset_kg",
    "co2e_by_material_kg",
)


def t_at(s: float) -> datetime:
    return BASE + timedelta(seconds=float(s))


def plant(seed: int) -> tuple[Factory, list]:
    """A random three-day plant and its events (clean: the store takes them as they are)."""
    rng = random.Random(seed)
    n_m = rng.randint(1, 3)
    machines = [f"m{k}" for k in range(n_m)]
    with_util = rng.random() < 0.6
    shared = n_m > 1 and rng.random() < 0.4
    meter_sets = [tuple(machines)] if shared else [(m,) for m in machines]
    air_metered = with_util and rng.random() < 0.6
    if air_metered:
        meter_sets.append(("air",))
    signals = [rng.choice(["power", "power", "energy"]) for _ in meter_sets]
    # a main meter over per-machine sub-meters, its rest the compressed-air plant
    main = not shared and with_util and not air_metered and rng.random() < 0.6
    meters = tuple(
        Meter(f"M{k}", f"M{k}", ms, signal=sig, parent="MAIN" if main and k < n_m else None)
        for k, (ms, sig) in enumerate(zip(meter_sets, signals, strict=True))
    )
    if main:
        meters += (
            Meter("MAIN", "MAIN", (*machines, "air"), signal=rng.choice(["power", "energy"])),
        )

    def pm() -> PowerModel:
        kw = {s: round(rng.uniform(0.0, 40.0), 3) for s in STATES}
        kw[State.OFF] = 0.0
        return PowerModel(kw, warmup_s=rng.choice([0.0, 900.0]), warmup_energy_kwh=2.0)

    utilities = ()
    if with_util:
        served = tuple(ServesLink(m, rng.uniform(0.2, 2.0)) for m in machines)
        key = rng.choice(["machine_hours", "declared"])
        utilities = (Utility("air", "air", "compressed_air", pm(), served, key),)
    orders = tuple(Order(f"O{k}", "P", 10.0, BASE, BASE + timedelta(days=3)) for k in range(6))
    factory = Factory(
        id="p",
        name="p",
        site=Site("s", "s", "DE", "Europe/Berlin", "DE"),
        lines=(Line("L", "L", "s"),),
        machines=tuple(Machine(m, m, "L", "cnc", pm(), capacity=2) for m in machines),
        meters=meters,
        utilities=utilities,
        materials=(Material("steel", "steel"),),
        suppliers=(Supplier("sup", "sup", (SupplyLink("steel", 1.9, primary=False),)),),
        products=(
            Product("P", "P", (Operation("op", machines[0], 60, 30),), (BomItem("steel", 0.7),)),
        ),
        shifts=(
            Shift("early", "06:00", "14:00", (0, 1, 2, 3, 4)),
            Shift("late", "14:00", "22:00", (0, 1, 2, 3, 4)),
        ),
        orders=orders,
    )
    events: list = []
    for a in [*machines, *(["air"] if with_util else [])]:
        times = sorted(set(rng.sample(range(0, SPAN_S, 60), rng.randint(2, 30))))
        events += [StateChange(a, t_at(t), rng.choice(list(State))) for t in times]
    for m in machines:
        for k in range(rng.randint(1, 6)):
            s = rng.randrange(0, SPAN_S - 3600, 60)
            e = min(SPAN_S, s + rng.choice([600, 3600, 5 * 3600, 20 * 3600]))  # some span windows
            kind = rng.choice(list(StepKind))
            events.append(
                OrderStep(
                    rng.choice([o.id for o in orders]), f"op{k}", m, t_at(s), t_at(e), 5.0, kind
                )
            )
    for meter in meters:
        # sparse in places: intervals longer than the sample limit are gaps across bounds
        times = sorted(set(rng.sample(range(0, SPAN_S, 30), rng.randint(20, 400))))
        if meter.signal == "power":
            events += [PowerSample(meter.id, t_at(t), round(rng.uniform(0, 50), 3)) for t in times]
        else:
            value = rng.uniform(0, 100)
            for t in times:
                value += rng.uniform(0, 20)
                events.append(EnergyCounter(meter.id, t_at(t), value))
    if rng.random() < 0.5:
        g0 = rng.randrange(0, SPAN_S - 7200, 60)
        events.append(Gap(meters[0].id, t_at(g0), t_at(g0 + rng.choice([1800, 30000])), "cut"))
    return factory, events


def _compare(windowed: dict, whole: dict) -> None:
    assert set(windowed) == set(whole)
    for o, fp in whole.items():
        got = windowed[o]
        for f in FIGURES:
            assert getattr(got, f) == pytest.approx(getattr(fp, f), rel=REL, abs=1e-9), (o, f)
        for f in BREAKDOWNS:
            a, b = getattr(got, f), getattr(fp, f)
            assert set(a) == set(b), (o, f)
            for k in b:
                assert a[k] == pytest.approx(b[k], rel=REL, abs=1e-9), (o, f, k)
        assert got.period_start == fp.period_start
        assert got.period_end == fp.period_end
        assert got.quantity == fp.quantity


def _run(
    url: str,
    seed: int,
    window: str,
    *,
    executor: str = "local",
    scheduler=None,
    late: bool = False,
    crash: bool = False,
    split: bool = False,
) -> int:
    """Store the plant's events in three deliveries, issuing after each, and compare.

    ``late``: the deliveries are random thirds of the events, not consecutive
    stretches of time, so every delivery after the first brings late data into
    windows already attributed and issued. ``crash``: after each delivery a first
    run stops (raises) once its windows are stored, before it issues; a second run
    follows. ``split``: each delivery is issued by a run that only attributes, then
    one that only issues (two processes side by side).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from carbontwin.twin.factors import FactorSet

    factory, events = plant(seed)
    store = Store(url)
    store.upgrade()
    store.save_factory(factory)
    batch = EventBatch.from_events(events)
    rules = {
        "max_sample_interval_s": 900.0,
        "idle_period": random.Random(seed + 1).choice(["shift", "day"]),
        "utility_key": random.Random(seed + 2).choice(["", "", "processing_hours"]),
    }
    # stored in three deliveries, issuing after each: windows close as data comes in
    cuts = [0, SPAN_S // 3, 2 * SPAN_S // 3, SPAN_S + 1]
    signer = Signer(Ed25519PrivateKey.generate())
    factors = FactorSet.default(factory)
    shuffled = random.Random(seed).sample(events, len(events))
    for k, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        if late:
            part = sorted(shuffled[k * len(events) // 3 : (k + 1) * len(events) // 3], key=_t)
        else:
            part = [e for e in events if lo <= _t(e) < hi]
        store.write_events(EventBatch.from_events(part))
        if crash:
            # the issue part starts by reading the windows of the orders it may issue
            real = store.order_windows
            store.order_windows = _stopped  # type: ignore[method-assign]
            with pytest.raises(RuntimeError, match="stopped"):
                issue_windows(store, signer, rules, factors=factors, window=window)
            store.order_windows = real  # type: ignore[method-assign]
        for stage in ("attribute", "issue") if split else ("all",):
            run = issue_windows(
                store,
                signer,
                rules,
                factors=factors,
                window=window,
                executor=executor,
                scheduler=scheduler,
                stage=stage,
            )
    assert run.closed_until is not None
    # the whole history, attributed once: every order whose last step lies in the closed
    # windows has, as its latest version, the whole-history footprint
    whole_all = attribute_inputs(read_inputs(store, rules, factors=factors))
    last = {}
    for o, e in zip(batch.step_order, batch.step_end, strict=True):
        last[o] = max(last.get(o, 0.0), float(e))
    done = sorted(o for o in whole_all.footprints if last.get(o, 0.0) <= run.closed_until)
    assert not set(run.waiting) & set(done)
    windowed = {o: store.latest_footprint(o) for o in done}
    assert all(fp is not None for fp in windowed.values()), windowed
    _compare(windowed, {o: whole_all.footprints[o] for o in done})
    store.close()
    return len(done)


def _stopped(*args, **kwargs):
    raise RuntimeError("stopped before issuing")


def _t(e) -> float:
    return (getattr(e, "t", None) or e.start).timestamp() - BASE.timestamp()


SEEDS = range(8)


@pytest.mark.parametrize("window", ["day", "period"])
@pytest.mark.parametrize("seed", SEEDS)
def test_windowed_issue_equals_whole_history_sqlite(sqlite_url, seed, window):
    _run(sqlite_url, seed, window)


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_a_run_stopped_before_issuing_loses_no_order(sqlite_url, seed):
    """Windows stored by a run that stopped before issuing: the next run issues their
    orders (every closed order has the whole history's footprint)."""
    assert _run(sqlite_url, seed, "day", crash=True) > 0


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_attributing_and_issuing_in_two_runs_gives_the_same_footprints(sqlite_url, seed):
    assert _run(sqlite_url, seed, "period", split=True) > 0


def test_an_unknown_stage_is_refused(sqlite_url, signer):
    with pytest.raises(ValueError, match="stage 'both' is not one of all, attribute, issue"):
        issue_windows(Store.open(sqlite_url), signer, stage="both")


def test_the_seeds_issue_orders_across_window_bounds():
    """The random plants are not trivial: orders are issued, some spanning windows."""
    issued = sum(_run("sqlite://", seed, "day") for seed in SEEDS)
    assert issued >= 8


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [0, 2, 6])
def test_windowed_issue_equals_whole_history_postgres(postgres_url, seed):
    from db_helpers import postgres_schema

    with postgres_schema(postgres_url) as url:
        _run(url, seed, "day")


def test_windows_on_dask_give_the_same_footprints(tmp_path):
    """Windows attributed in parallel on a dask.distributed LocalCluster: identical."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        _run(
            f"sqlite:///{tmp_path / 'dask.db'}",
            6,
            "period",
            executor="dask",
            scheduler=cluster.scheduler_address,
        )


@pytest.mark.parametrize("seed", [2, 6])
def test_a_retraction_reissues_what_it_changes_as_the_whole_history_does(sqlite_url, signer, seed):
    """Events retracted after their windows were issued: the windows are attributed again
    without them (the edges of the carried readings too), and the orders' latest versions
    equal the whole-history attribution of the store without the retracted events."""
    from carbontwin.twin.factors import FactorSet

    factory, events = plant(seed)
    store = Store(sqlite_url)
    store.upgrade()
    store.save_factory(factory)
    store.write_events(EventBatch.from_events(events))
    rules = {"max_sample_interval_s": 900.0}
    factors = FactorSet.default(factory)
    first = issue_windows(store, signer, rules, factors=factors, window="day")
    meter = factory.meters[0].id
    t0 = BASE.timestamp() + 20 * 3600
    store.retract_events(meter, t0, t0 + 8 * 3600, "meter clock was wrong")
    again = issue_windows(store, signer, rules, factors=factors, window="day")
    assert again.windows, "the retraction attributed no window again"
    whole = attribute_inputs(read_inputs(store, rules, factors=factors)).footprints
    done = [fp.order for fp in first.issued]
    assert done
    _compare({o: store.latest_footprint(o) for o in done}, {o: whole[o] for o in done})
    store.close()


@pytest.mark.postgres
def test_two_tenants_issue_their_own_windows(postgres_url, signer):
    """Two plants with the same meter and order ids in one PostgreSQL store (row-level
    security on the window tables): each tenant's windowed footprints equal its own
    whole-history attribution, and neither sees the other's windows."""
    from db_helpers import postgres_schema

    from carbontwin.twin.factors import FactorSet

    rules = {"max_sample_interval_s": 900.0}
    with postgres_schema(postgres_url) as url:
        base = Store(url)
        base.upgrade()
        runs = {}
        for tenant, seed in (("plant-a", 2), ("plant-b", 6)):
            base.admin.add_tenant(tenant)
            store = base.for_tenant(tenant)
            factory, events = plant(seed)
            store.save_factory(factory)
            store.write_events(EventBatch.from_events(events))
            runs[tenant] = (store, FactorSet.default(factory))
        for tenant, (store, factors) in runs.items():
            run = issue_windows(store, signer, rules, factors=factors, window="day")
            assert run.issued, tenant
            whole = attribute_inputs(read_inputs(store, rules, factors=factors)).footprints
            done = [fp.order for fp in run.issued]
            _compare({o: store.latest_footprint(o) for o in done}, {o: whole[o] for o in done})
        a, b = runs["plant-a"][0], runs["plant-b"][0]
        assert {w.slice_sha256 for w in a.attributed_windows()}.isdisjoint(
            w.slice_sha256 for w in b.attributed_windows()
        )
        base.close()
