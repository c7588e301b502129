"""Allocated energy -> emissions, the balance check, per-order sums and frames
(private helper of :mod:`.attribution`); the footprint records are made from the sums
in :mod:`._attribution_records`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import VIA_NAMES
from ._attribution_inputs import Inputs
from ._attribution_materials import material_rows
from ._attribution_records import LazyFootprints, OrderRecords, OrderSums
from .errors import AttributionError
from .factors import FactorSet
from .footprint import Footprint
from .model import STATES, Carrier

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Relative tolerance of the energy balance.
BALANCE_RTOL = 1e-9
OVERHEAD = "overhead"

#: Data-quality checks counted in every run (``Attribution.quality``): key -> what it counts.
QUALITY: Mapping[str, str] = {
    "orders_not_in_plan": "order(s) with steps that are not in the production plan",
    "meters_without_readings": "meter(s) without readings (their assets modelled)",
    "meters_partly_filled": "meter(s) with gaps over part of their range (filled from the model)",
    "main_below_sub_meters": "main meter(s) reading less than their sub-meters",
}


@dataclass(slots=True)
class PieceTable:
    """All allocated energy pieces as columns."""

    order: IntArray
    energy_kwh: FloatArray
    state: IntArray
    via: IntArray
    t: FloatArray
    primary: BoolArray
    origin: IntArray
    target: IntArray
    source: IntArray
    carrier: IntArray

    @classmethod
    def concat(cls, parts: Sequence[Mapping[str, Any]]) -> PieceTable:
        names = [f.name for f in fields(cls)]
        if not parts:
            return cls(
                *(
                    np.empty(
                        0,
                        dtype=bool
                        if n == "primary"
                        else np.float64
                        if n in ("energy_kwh", "t")
                        else np.int64,
                    )
                    for n in names
                )
            )
        return cls(*(np.concatenate([p[n] for p in parts]) for n in names))

    def within(self, t0: float, t1: float) -> PieceTable:
        """The pieces whose segment starts in ``[t0, t1)``."""
        keep = (self.t >= t0) & (self.t < t1)
        return PieceTable(*(getattr(self, f.name)[keep] for f in fields(self)))

    def take(self, rows: IntArray) -> PieceTable:
        """The pieces at ``rows``."""
        return PieceTable(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass(frozen=True, slots=True, eq=False)
class Attribution:
    """Result of :func:`~carbontwin.twin.attribution.attribute`.

    Attributes
    ----------
    footprints : Mapping[str, Footprint]
        Order id -> footprint (not yet issued: ``issued_at`` is None).
    overhead_kwh, overhead_co2e_kg, overhead_co2e_market_kg : float
        Energy [kWh] and emissions [kg CO2e] no order carries (plant overhead).
    metered_kwh : Mapping[str, float]
        Meter id -> energy its readings measured [kWh].
    filled_kwh : Mapping[str, float]
        Source (meter, or ``model:<asset>`` for an asset on no meter) -> energy
        filled from the power-state model [kWh].
    pieces : pandas.DataFrame
        Every allocated piece (order, asset, served asset, state, via, source,
        carrier, primary, t, energy_kwh, co2e_kg, co2e_market_kg, scope).
    materials : pandas.DataFrame
        Scope 3 rows (order, material, quantity, unit, supplier, pcf, co2e_kg, primary, basis).
    quality : Mapping[str, tuple[str, ...]]
        Data-quality findings of the run, per check of :data:`QUALITY` (orders not
        in the plan, meters without readings, meters partly filled, main meters
        below their sub-meters): the items found, each named.
    """

    footprints: Mapping[str, Footprint]
    overhead_kwh: float
    overhead_co2e_kg: float
    overhead_co2e_market_kg: float
    metered_kwh: Mapping[str, float]
    filled_kwh: Mapping[str, float]
    rules: Mapping[str, str]
    method: tuple[str, ...]
    factor_versions: Mapping[str, str]
    flags: tuple[str, ...]
    materials: pd.DataFrame
    _pieces: Callable[[], pd.DataFrame]
    _cache: dict[str, pd.DataFrame] = field(default_factory=dict)
    quality: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: source -> the flags its readings raised (an order carries those of its sources)
    source_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    _gaps: Callable[[str], list[dict[str, Any]]] | None = None

    def filled_gaps(self, order: str) -> list[dict[str, Any]]:
        """The ``filled_gaps`` lineage of ``order``'s footprint (``[]`` for an order without
        one), without building the footprint."""
        if self._gaps is not None:
            return self._gaps(order)
        fp = self.footprints.get(order)
        return [] if fp is None else list(fp.lineage.get("filled_gaps", []))

    def quality_summary(self) -> list[str]:
        """One line per data-quality check that found something, with its count and items."""
        return [
            f"{len(items)} {QUALITY[k]}: {', '.join(items)}"
            for k, items in self.quality.items()
            if items
        ]

    @property
    def pieces(self) -> pd.DataFrame:
        """Every allocated piece of energy, one row each (built on first use)."""
        if "pieces" not in self._cache:
            self._cache["pieces"] = self._pieces()
        return self._cache["pieces"]

    @property
    def total_kwh(self) -> float:
        """All energy attributed (orders + overhead) [kWh] == metered + filled."""
        return float(sum(self.metered_kwh.values()) + sum(self.filled_kwh.values()))

    @property
    def total_co2e_kg(self) -> float:
        """Orders (cradle-to-gate, location-based) + overhead [kg CO2e]."""
        return float(sum(fp.co2e_kg for fp in self.footprints.values()) + self.overhead_co2e_kg)

    def orders_frame(self) -> pd.DataFrame:
        """One row per order: product, quantity, kWh, kgCO2e (total, per unit, scopes)."""
        rows = [
            {
                "order": fp.order,
                "product": fp.product,
                "quantity": fp.quantity,
                "declared_unit": fp.declared_unit,
                "energy_kwh": fp.energy_kwh,
                "co2e_kg": fp.co2e_kg,
                "co2e_per_unit_kg": fp.co2e_per_unit_kg,
                "co2e_market_kg": fp.co2e_market_kg,
                "scope1_kg": fp.scope1_kg,
                "scope2_location_kg": fp.scope2_location_kg,
                "scope2_market_kg": fp.scope2_market_kg,
                "scope3_kg": fp.scope3_kg,
                "primary_data_share": fp.primary_data_share,
                "period_start": fp.period_start,
                "period_end": fp.period_end,
            }
            for fp in self.footprints.values()
        ]
        return pd.DataFrame(rows).set_index("order") if rows else pd.DataFrame()

    def asset_state_frame(self) -> pd.DataFrame:
        """Energy and emissions per (order, asset, served asset, state); overhead included."""
        g = self.pieces.groupby(["order", "asset", "served_asset", "state"], observed=True)
        return g[["energy_kwh", "co2e_kg", "co2e_market_kg"]].sum().reset_index()

    def hourly_frame(self) -> pd.DataFrame:
        """Energy and emissions per hour (tz-aware UTC index), orders and overhead together."""
        p = self.pieces
        hour = pd.to_datetime(np.floor(p["t"].to_numpy() / 3600.0) * 3600.0, unit="s", utc=True)
        df = p[["energy_kwh", "co2e_kg", "co2e_market_kg"]].copy()
        df["overhead_kwh"] = np.where(p["order"].astype(str) == OVERHEAD, p["energy_kwh"], 0.0)
        df.index = pd.DatetimeIndex(hour, name="hour_start_utc")
        return df.groupby(level=0).sum()

    def balance_frame(self) -> pd.DataFrame:
        """Per source: metered, filled, to orders, to overhead [kWh]."""
        p = self.pieces
        to_o = (
            p[p["order"].astype(str) != OVERHEAD]
            .groupby("source", observed=True)["energy_kwh"]
            .sum()
        )
        to_h = (
            p[p["order"].astype(str) == OVERHEAD]
            .groupby("source", observed=True)["energy_kwh"]
            .sum()
        )
        names = sorted(set(self.metered_kwh) | set(self.filled_kwh))
        return pd.DataFrame(
            {
                "metered_kwh": [self.metered_kwh.get(n, 0.0) for n in names],
                "filled_kwh": [self.filled_kwh.get(n, 0.0) for n in names],
                "orders_kwh": [float(to_o.get(n, 0.0)) for n in names],
                "overhead_kwh": [float(to_h.get(n, 0.0)) for n in names],
            },
            index=pd.Index(names, name="source"),
        )


def _emissions(
    t: PieceTable, factors: FactorSet, carriers: list[str]
) -> tuple[FloatArray, FloatArray, IntArray, list[str], BoolArray, BoolArray, IntArray, list[str]]:
    """Emissions per piece, flags, which pieces used a fallback / a filled hour, and per piece
    the index of the fallback note that gave its factor (-1: none)."""
    loc = np.zeros(t.t.size)
    mkt = np.zeros(t.t.size)
    scope = np.full(t.t.size, 2, dtype=np.int64)
    fb_all = np.zeros(t.t.size, dtype=bool)
    filled_all = np.zeros(t.t.size, dtype=bool)
    note_all = np.full(t.t.size, -1, dtype=np.int64)
    notes: list[str] = []
    flags: list[str] = []
    for c in np.flatnonzero(np.bincount(t.carrier)).tolist():
        sel = t.carrier == c
        name = carriers[c]
        if name == Carrier.ELECTRICITY.value:
            e = t.energy_kwh[sel]
            look = factors.electricity(t.t[sel])
            loc[sel] = e * look.location_kg_per_kwh
            mkt[sel] = e * look.market_kg_per_kwh
            fb_all[sel] = look.fallback
            filled_all[sel] = look.filled
            note_all[sel] = np.where(look.note >= 0, look.note + len(notes), -1)
            notes += look.notes
            for k, text in enumerate(look.notes):
                flags.append(f"{int((look.note == k).sum())} piece(s): {text}")
            if filled_all[sel].any():
                flags.append(
                    "some hours of the grid series were missing in its source and "
                    "filled by interpolation"
                )
        else:
            fuel = factors.fuel(name)
            loc[sel] = t.energy_kwh[sel] * fuel.factor_kg_per_kwh
            mkt[sel] = loc[sel]
            scope[sel] = fuel.scope
    return loc, mkt, scope, flags, fb_all, filled_all, note_all, notes


def _elec_code(carriers: list[str]) -> int:
    """Code of electricity among the piece carriers (-1 when no piece is electric)."""
    return (
        carriers.index(Carrier.ELECTRICITY.value) if Carrier.ELECTRICITY.value in carriers else -1
    )


def _per_slot(slot: IntArray, w: FloatArray, size: int) -> FloatArray:
    """Sum of ``w`` per order slot (0: overhead), added in row order."""
    return np.bincount(slot, weights=w, minlength=size).astype(np.float64, copy=False)


def assemble(
    inp: Inputs,
    t: PieceTable,
    factors: FactorSet,
    rules: Mapping[str, str],
    *,
    method: tuple[str, ...],
    sources: list[str],
    metered: list[float],
    filled: list[float],
    source_flags: list[list[str]],
    fills: Sequence[tuple[FloatArray, FloatArray]],
    carriers: list[str],
    quality: Mapping[str, tuple[str, ...]] | None = None,
) -> Attribution:
    """Emissions, the balance check, footprints and frames."""
    f = inp.factory
    n_o = len(inp.orders)
    # --- balance ---------------------------------------------------------------------
    got = np.bincount(t.source, weights=t.energy_kwh, minlength=len(sources))
    want = np.asarray(metered) + np.asarray(filled)
    scale = max(float(np.abs(want).sum()), 1e-300)
    bad = np.flatnonzero(
        np.abs(got - want) > BALANCE_RTOL * np.maximum(np.abs(want), 1e-12) + 1e-15 * scale
    )
    if bad.size:
        i = int(bad[0])
        msg = (
            f"energy balance broken for {sources[i]!r}: {got[i]!r} kWh attributed, "
            f"{want[i]!r} kWh metered + filled"
        )
        raise AttributionError(msg)
    loc, mkt, scope, e_flags, fb_piece, filled_piece, note_piece, notes = _emissions(
        t, factors, carriers
    )
    mats, from_bom = material_rows(inp)
    # --- per order aggregates -----------------------------------------------------------
    o1 = t.order + 1  # 0 = overhead
    size = n_o + 1
    mo = np.asarray(pd.Index(inp.orders).get_indexer(mats["order"].tolist()), dtype=np.int64)
    if (mo < 0).any():  # material rows only name orders of the run
        msg = f"material row of unknown order {mats['order'].iloc[int(np.argmin(mo))]!r}"
        raise AttributionError(msg)
    mat_kg = mats["co2e_kg"].to_numpy(dtype=float)
    fb_kg = _per_slot(o1, np.where(fb_piece, loc, 0.0), size)
    elec_kg = _per_slot(o1, np.where(t.carrier == _elec_code(carriers), loc, 0.0), size)
    sums = OrderSums(
        energy_kwh=_per_slot(o1, t.energy_kwh, size),
        scope1_kg=_per_slot(o1, np.where(scope == 1, loc, 0.0), size),
        scope2_location_kg=_per_slot(o1, np.where(scope == 2, loc, 0.0), size),
        scope2_market_kg=_per_slot(o1, np.where(scope == 2, mkt, 0.0), size),
        scope3_kg=_per_slot(mo + 1, mat_kg, size),
        primary_kg=_per_slot(o1, np.where(t.primary, loc, 0.0), size),
        scope3_primary_kg=_per_slot(
            mo + 1, mat_kg * mats["primary_share"].to_numpy(dtype=float), size
        ),
        secondary_kwh=_per_slot(o1, np.where(t.primary, 0.0, t.energy_kwh), size),
        fallback_share=np.divide(fb_kg, elec_kg, out=np.zeros(size), where=elec_kg > 0),
        fallback=np.bincount(o1, weights=fb_piece, minlength=size) > 0,
        interpolated=np.bincount(o1, weights=filled_piece, minlength=size) > 0,
    )
    asset_ids = sorted(f.asset_ids)
    versions = factors.versions
    records = OrderRecords(
        inp,
        t,
        o1,
        sums,
        loc=loc,
        note_piece=note_piece,
        notes=notes,
        mats=mats,
        mat_slot=mo + 1,
        from_bom=from_bom,
        sources=sources,
        source_flags=source_flags,
        fills=fills,
        carriers=carriers,
        asset_ids=asset_ids,
        rules=rules,
        versions=versions,
        method=method,
    )
    order_names = [OVERHEAD, *inp.orders]

    def pieces() -> pd.DataFrame:
        return pd.DataFrame(
            {
                "order": pd.Categorical.from_codes(o1, order_names),
                "asset": pd.Categorical.from_codes(t.origin, asset_ids),
                "served_asset": pd.Categorical.from_codes(t.target, asset_ids),
                "state": pd.Categorical.from_codes(t.state, [s.value for s in STATES]),
                "via": pd.Categorical.from_codes(t.via, list(VIA_NAMES)),
                "source": pd.Categorical.from_codes(t.source, sources),
                "carrier": pd.Categorical.from_codes(t.carrier, carriers),
                "primary": t.primary,
                "t": t.t,
                "energy_kwh": t.energy_kwh,
                "co2e_kg": loc,
                "co2e_market_kg": mkt,
                "scope": scope,
            }
        )

    all_flags = list(inp.flags) + [x for fl in source_flags for x in fl] + e_flags
    if from_bom:
        all_flags.append(
            f"{len(from_bom)} order(s) without material use: their materials "
            "come from the product BOM x order quantity"
        )
    return Attribution(
        footprints=LazyFootprints(inp.orders, records.build),
        overhead_kwh=float(sums.energy_kwh[0]),
        overhead_co2e_kg=float(sums.scope1_kg[0] + sums.scope2_location_kg[0]),
        overhead_co2e_market_kg=float(sums.scope1_kg[0] + sums.scope2_market_kg[0]),
        metered_kwh={
            s: m for s, m in zip(sources, metered, strict=True) if not s.startswith("model:")
        },
        filled_kwh=dict(zip(sources, filled, strict=True)),
        rules=dict(rules),
        method=method,
        factor_versions=dict(versions),
        flags=tuple(dict.fromkeys(all_flags)),
        materials=mats,
        _pieces=pieces,
        _gaps=records.gaps,
        quality=dict(quality or {}),
        source_flags={s: tuple(fl) for s, fl in zip(sources, source_flags, strict=True)},
    )
