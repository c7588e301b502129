"""Allocated energy -> emissions, footprints and frames (private helper of
:mod:`.attribution`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import VIA_NAMES
from ._attribution_inputs import Inputs
from .errors import AttributionError
from .factors import FactorSet
from .footprint import Footprint
from .model import STATES, Carrier, Factory
from .quantities import QuantityError, from_epoch, parse_quantity

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Relative tolerance of the energy balance.
BALANCE_RTOL = 1e-9
OVERHEAD = "overhead"


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
    """

    footprints: Mapping[str, Footprint]
    overhead_kwh: float
    overhead_co2e_kg: float
    overhead_co2e_market_kg: float
    metered_kwh: Mapping[str, float]
    filled_kwh: Mapping[str, float]
    rules: Mapping[str, str]
    factor_versions: Mapping[str, str]
    flags: tuple[str, ...]
    pieces: pd.DataFrame
    materials: pd.DataFrame

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


def _pcf_table(factory: Factory) -> dict[str, list[tuple[str, float, bool]]]:
    out: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)
    for s in sorted(factory.suppliers, key=lambda x: x.id):
        for link in s.supplies:
            out[link.material].append((s.id, link.pcf_kg_per_unit, link.primary))
    return out


def _materials(inp: Inputs) -> tuple[pd.DataFrame, list[str]]:
    """Scope 3 rows: MaterialUse events, else the product BOM x order quantity."""
    f = inp.factory
    pcfs = _pcf_table(f)
    units = {m.id: m.unit for m in f.materials}
    orders = {o.id: o for o in f.orders}
    products = {p.id: p for p in f.products}
    rows: list[dict[str, Any]] = []
    flags: list[str] = []
    used = {o for o, *_ in inp.materials}

    def pcf(order: str, material: str, supplier: str | None) -> tuple[str, float, bool]:
        cands = pcfs.get(material, [])
        if supplier is not None:
            cands = [c for c in cands if c[0] == supplier]
        if not cands:
            msg = (
                f"order {order!r}: material {material!r} has no supplier PCF"
                + (f" from supplier {supplier!r}" if supplier else "")
                + "; add one under suppliers in the factory file"
            )
            raise AttributionError(msg)
        return cands[0]

    for o, m, q, unit in inp.materials:
        target = units.get(m)
        if target is None:
            msg = f"order {o!r} uses unknown material {m!r}"
            raise AttributionError(msg)
        if unit != target:
            try:
                if target != "kg":
                    raise QuantityError(unit)
                q = parse_quantity(f"{q} {unit}", "mass")
            except QuantityError:
                msg = (
                    f"order {o!r}: material {m!r} used in {unit!r}, but it is counted in {target!r}"
                )
                raise AttributionError(msg) from None
        sup, factor, primary = pcf(o, m, None)
        rows.append(
            {
                "order": o,
                "material": m,
                "quantity": q,
                "unit": target,
                "supplier": sup,
                "pcf_kg_per_unit": factor,
                "co2e_kg": q * factor,
                "primary": primary,
                "basis": "material_use",
            }
        )
    for o in inp.orders:
        if o in used or o not in orders or orders[o].product not in products:
            continue
        order = orders[o]
        prod = products[order.product]
        if prod.bom:
            flags.append(
                f"order {o!r}: no material use reported; materials from the BOM of "
                f"{prod.id!r} x quantity {order.quantity:g}"
            )
        for item in prod.bom:
            q = item.quantity_per_unit * order.quantity
            sup, factor, primary = pcf(o, item.material, item.supplier)
            rows.append(
                {
                    "order": o,
                    "material": item.material,
                    "quantity": q,
                    "unit": units.get(item.material, "kg"),
                    "supplier": sup,
                    "pcf_kg_per_unit": factor,
                    "co2e_kg": q * factor,
                    "primary": primary,
                    "basis": "bom",
                }
            )
    cols = [
        "order",
        "material",
        "quantity",
        "unit",
        "supplier",
        "pcf_kg_per_unit",
        "co2e_kg",
        "primary",
        "basis",
    ]
    return pd.DataFrame(rows, columns=cols), flags


def _emissions(
    t: PieceTable, factors: FactorSet, carriers: list[str]
) -> tuple[FloatArray, FloatArray, IntArray, list[str]]:
    loc = np.zeros(t.t.size)
    mkt = np.zeros(t.t.size)
    scope = np.full(t.t.size, 2, dtype=np.int64)
    flags: list[str] = []
    for c in np.unique(t.carrier).tolist():
        sel = t.carrier == c
        name = carriers[c]
        if name == Carrier.ELECTRICITY.value:
            tt = t.t[sel]
            e = t.energy_kwh[sel]
            loc[sel] = e * factors.electricity_location_kg_per_kwh(tt)
            mkt[sel] = e * factors.electricity_market_kg_per_kwh(tt)
            fb = factors.fallback_used(tt)
            if fb.any():
                flags.append(
                    f"{int(fb.sum())} piece(s) outside the hourly grid series used the "
                    f"annual fallback factor"
                )
            if factors.filled_hour(tt).any():
                flags.append(
                    "some hours of the grid series were missing in its source and "
                    "filled by interpolation"
                )
        else:
            fuel = factors.fuel(name)
            loc[sel] = t.energy_kwh[sel] * fuel.factor_kg_per_kwh
            mkt[sel] = loc[sel]
            scope[sel] = fuel.scope
    return loc, mkt, scope, flags


def assemble(
    inp: Inputs,
    t: PieceTable,
    factors: FactorSet,
    rules: Mapping[str, str],
    *,
    sources: list[str],
    metered: list[float],
    filled: list[float],
    source_flags: list[list[str]],
    carriers: list[str],
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
    loc, mkt, scope, e_flags = _emissions(t, factors, carriers)
    mats, m_flags = _materials(inp)
    # --- per order aggregates -----------------------------------------------------------
    o1 = t.order + 1  # 0 = overhead
    size = n_o + 1
    e_tot = np.bincount(o1, weights=t.energy_kwh, minlength=size)
    s1 = np.bincount(o1, weights=np.where(scope == 1, loc, 0.0), minlength=size)
    s2l = np.bincount(o1, weights=np.where(scope == 2, loc, 0.0), minlength=size)
    s2m = np.bincount(o1, weights=np.where(scope == 2, mkt, 0.0), minlength=size)
    prim = np.bincount(o1, weights=np.where(t.primary, loc, 0.0), minlength=size)
    secondary_e = np.bincount(o1, weights=np.where(t.primary, 0.0, t.energy_kwh), minlength=size)
    asset_ids = sorted(f.asset_ids)
    code_of = {o: k for k, o in enumerate(inp.orders)}
    mo = np.array([code_of[o] for o in mats["order"]], dtype=np.int64)
    s3 = np.bincount(mo + 1, weights=mats["co2e_kg"].to_numpy(dtype=float), minlength=size)
    s3p = np.bincount(
        mo + 1,
        weights=np.where(
            mats["primary"].to_numpy(dtype=bool), mats["co2e_kg"].to_numpy(dtype=float), 0.0
        ),
        minlength=size,
    )

    def breakdown(col: IntArray, names: Sequence[str], w: FloatArray) -> list[dict[str, float]]:
        n = len(names)
        key = o1 * n + col
        uk, inv = np.unique(key, return_inverse=True)
        sums = np.bincount(inv.reshape(-1), weights=w)
        out: list[dict[str, float]] = [{} for _ in range(size)]
        for k, v in zip(uk.tolist(), sums.tolist(), strict=True):
            out[k // n][names[k % n]] = v
        return out

    by_asset = breakdown(t.origin, asset_ids, t.energy_kwh)
    co2_asset = breakdown(t.origin, asset_ids, loc)
    by_state = breakdown(t.state, [s.value for s in STATES], t.energy_kwh)
    by_carrier = breakdown(t.carrier, carriers, t.energy_kwh)
    by_material: list[dict[str, float]] = [{} for _ in range(size)]
    for o, m, c in zip(mo.tolist(), mats["material"], mats["co2e_kg"], strict=True):
        by_material[o + 1][m] = by_material[o + 1].get(m, 0.0) + float(c)
    pairs = np.unique(o1 * len(sources) + t.source)
    order_sources: list[list[int]] = [[] for _ in range(size)]
    for k in pairs.tolist():
        order_sources[k // len(sources)].append(k % len(sources))
    versions = factors.versions
    orders = {o.id: o for o in f.orders}
    products = {p.id: p for p in f.products}
    w0, w1 = inp.window
    footprints: dict[str, Footprint] = {}
    for k, oid in enumerate(inp.orders):
        j = k + 1
        order = orders.get(oid)
        prod = products.get(order.product) if order else None
        qty = order.quantity if order else float(inp.order_step_qty[k])
        t0 = (
            inp.order_t0[k]
            if np.isfinite(inp.order_t0[k])
            else (order.release.timestamp() if order else w0)
        )
        t1 = (
            inp.order_t1[k]
            if np.isfinite(inp.order_t1[k])
            else (order.due.timestamp() if order else w1)
        )
        flags = [m for m in m_flags if m.startswith(f"order {oid!r}:")]
        for s in order_sources[j]:
            flags += source_flags[s]
        flags += e_flags
        if secondary_e[j] > 0:
            flags.append(
                f"{secondary_e[j]:.6g} kWh of this order's energy filled from the "
                "power-state model (secondary data)"
            )
        co2e = float(s1[j] + s2l[j] + s3[j])
        primary_kg = float(prim[j] + s3p[j])
        share = (
            min(1.0, max(0.0, primary_kg / co2e))
            if co2e > 0
            else (0.0 if secondary_e[j] > 0 else 1.0)
        )
        footprints[oid] = Footprint(
            order=oid,
            product=order.product if order else "",
            quantity=float(qty),
            declared_unit=prod.declared_unit if prod else "piece",
            period_start=from_epoch(float(t0)),
            period_end=from_epoch(float(t1)),
            energy_kwh=float(e_tot[j]),
            co2e_kg=co2e,
            co2e_market_kg=float(s1[j] + s2m[j] + s3[j]),
            scope1_kg=float(s1[j]),
            scope2_location_kg=float(s2l[j]),
            scope2_market_kg=float(s2m[j]),
            scope3_kg=float(s3[j]),
            energy_by_carrier_kwh=by_carrier[j],
            energy_by_asset_kwh=by_asset[j],
            energy_by_state_kwh=by_state[j],
            co2e_by_asset_kg=co2_asset[j],
            co2e_by_material_kg=by_material[j],
            primary_data_share=share,
            rules=dict(rules),
            factor_versions=dict(versions),
            flags=tuple(dict.fromkeys(flags)),
            factory=f.id,
            company_id=f.company_id,
        )
    pieces = pd.DataFrame(
        {
            "order": pd.Categorical.from_codes(o1, [OVERHEAD, *inp.orders]),
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
    all_flags = list(inp.flags) + [x for fl in source_flags for x in fl] + e_flags + m_flags
    return Attribution(
        footprints=footprints,
        overhead_kwh=float(e_tot[0]),
        overhead_co2e_kg=float(s1[0] + s2l[0]),
        overhead_co2e_market_kg=float(s1[0] + s2m[0]),
        metered_kwh={
            s: m for s, m in zip(sources, metered, strict=True) if not s.startswith("model:")
        },
        filled_kwh=dict(zip(sources, filled, strict=True)),
        rules=dict(rules),
        factor_versions=dict(versions),
        flags=tuple(dict.fromkeys(all_flags)),
        pieces=pieces,
        materials=mats,
    )
