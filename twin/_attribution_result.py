"""Allocated energy -> emissions, footprints and frames (private helper of
:mod:`.attribution`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import VIA_NAMES
from ._attribution_inputs import Inputs
from ._attribution_materials import material_rows
from .errors import AttributionError
from .factors import FactorSet
from .footprint import Footprint
from .model import STATES, Carrier, Factory
from .quantities import from_epoch

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
    for c in np.unique(t.carrier).tolist():
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


class _Breakdown:
    """Sums of ``w`` per (order slot, column), computed on the first read.

    Dense (one bincount) while orders x columns stays small, sorted keys beyond.
    Zero sums are left out of the dicts.
    """

    _DENSE_MAX = 20_000_000

    def __init__(
        self, o1: IntArray, col: IntArray, names: Sequence[str], w: FloatArray, size: int
    ) -> None:
        self.n = max(len(names), 1)
        self.names = list(names)
        self._args: tuple[IntArray, FloatArray, int] | None = (o1 * self.n + col, w, size)
        self._ptr: list[int] = []
        self._keys: list[str] = []
        self._vals: list[float] = []

    def _ready(self) -> None:
        if self._args is None:
            return
        key, w, size = self._args
        self._args = None
        if size * self.n <= self._DENSE_MAX:
            dense = np.bincount(key, weights=w, minlength=size * self.n).reshape(size, self.n)
            rows, cols = np.nonzero(dense)
            vals = dense[rows, cols]
        else:
            uk, inv = np.unique(key, return_inverse=True)
            sums = np.bincount(inv.reshape(-1), weights=w, minlength=uk.size)
            keep = sums != 0
            rows, cols, vals = uk[keep] // self.n, uk[keep] % self.n, sums[keep]
        # CSR over order slots, as Python lists: a record reads its slice with no numpy call
        self._ptr = np.searchsorted(rows, np.arange(size + 1)).tolist()
        self._keys = [self.names[c] for c in cols.tolist()]
        self._vals = vals.astype(np.float64).tolist()

    def get(self, j: int) -> dict[str, float]:
        self._ready()
        a, b = self._ptr[j], self._ptr[j + 1]
        return dict(zip(self._keys[a:b], self._vals[a:b], strict=True))


class LazyFootprints(Mapping[str, Footprint]):
    """Order id -> :class:`Footprint`, each record built on first access.

    Attribution computes every number in arrays; the records themselves (with
    their dict breakdowns and UUIDs) are assembled when someone reads them.
    """

    def __init__(self, orders: Sequence[str], build: Callable[[int], Footprint]) -> None:
        self._index = {o: k for k, o in enumerate(orders)}
        self._build = build
        self._cache: dict[str, Footprint] = {}

    def __getitem__(self, order: str) -> Footprint:
        fp = self._cache.get(order)
        if fp is None:
            fp = self._cache[order] = self._build(self._index[order])
        return fp

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


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
        weights=mats["co2e_kg"].to_numpy(dtype=float) * mats["primary_share"].to_numpy(dtype=float),
        minlength=size,
    )

    by_asset = _Breakdown(o1, t.origin, asset_ids, t.energy_kwh, size)
    co2_asset = _Breakdown(o1, t.origin, asset_ids, loc, size)
    by_state = _Breakdown(o1, t.state, [s.value for s in STATES], t.energy_kwh, size)
    by_carrier = _Breakdown(o1, t.carrier, carriers, t.energy_kwh, size)
    mat_codes, mat_names = pd.factorize(mats["material"], sort=True)
    by_material = _Breakdown(
        mo + 1,
        np.asarray(mat_codes, dtype=np.int64),
        [str(x) for x in mat_names],
        mats["co2e_kg"].to_numpy(dtype=float),
        size,
    )
    order_sources = _Breakdown(
        o1, t.source, [str(k) for k in range(len(sources))], np.ones(o1.size), size
    )
    versions = factors.versions
    orders = {o.id: o for o in f.orders}
    products = {p.id: p for p in f.products}
    w0, w1 = inp.window

    fb_kg = np.bincount(o1, weights=np.where(fb_piece, loc, 0.0), minlength=size)
    elec_kg = np.bincount(
        o1, weights=np.where(t.carrier == _elec_code(carriers), loc, 0.0), minlength=size
    )
    fb_share = np.divide(fb_kg, elec_kg, out=np.zeros(size), where=elec_kg > 0)
    fb_order = np.bincount(o1, weights=fb_piece, minlength=size) > 0
    order_notes = _Breakdown(
        o1[note_piece >= 0],
        note_piece[note_piece >= 0],
        notes,
        np.ones(int((note_piece >= 0).sum())),
        size,
    )
    filled_order = np.bincount(o1, weights=filled_piece, minlength=size) > 0
    rules_d, versions_d = dict(rules), dict(versions)  # shared by the records (read-only)
    pact_of = _supplier_pact_versions(f, mats)

    cols: dict[str, list[Any]] = {}
    lineage_of: dict[int, dict[str, Any]] = {}

    def order_lineage(j: int) -> dict[str, Any]:
        """The attribution's part of the lineage of order slot ``j`` (built once for all)."""
        if not lineage_of:
            lineage_of.update(_lineage_parts(t, o1, size, sources, fills, mats, inp, code_of))
            lineage_of.setdefault(-1, {})
        return lineage_of.get(j, {"filled_gaps": [], "supplier_pcfs": []})

    def column(name: str) -> list[Any]:
        """Per-order arrays as Python lists, converted once on the first record."""
        if not cols:
            arrays = {
                "e": e_tot,
                "s1": s1,
                "s2l": s2l,
                "s2m": s2m,
                "s3": s3,
                "prim": prim,
                "s3p": s3p,
                "sec": secondary_e,
                "fb": fb_order,
                "fb_share": fb_share,
                "filled": filled_order,
                "t0": inp.order_t0,
                "t1": inp.order_t1,
                "qty": inp.order_step_qty,
            }
            cols.update({n: a.tolist() for n, a in arrays.items()})
        return cols[name]

    def build(k: int) -> Footprint:
        j = k + 1
        c = column
        oid = inp.orders[k]
        order = orders.get(oid)
        prod = products.get(order.product) if order else None
        qty = order.quantity if order else c("qty")[k]
        t0, t1 = c("t0")[k], c("t1")[k]
        if not math.isfinite(t0):
            t0 = order.release.timestamp() if order else w0
        if not math.isfinite(t1):
            t1 = order.due.timestamp() if order else w1
        flags = []
        if oid in from_bom and order is not None:
            flags.append(
                f"no material use reported; materials from the BOM of "
                f"{order.product!r} x quantity {order.quantity:g}"
            )
        for src in order_sources.get(j):
            flags += source_flags[int(src)]
        if c("fb")[j]:
            flags += list(order_notes.get(j)) or [
                "electricity outside the hourly grid series used a fallback factor"
            ]
        if c("filled")[j]:
            flags.append(
                "electricity in hours missing from the grid series used interpolated factors"
            )
        sec = c("sec")[j]
        if sec > 0:
            flags.append(
                f"{sec:.6g} kWh of this order's energy filled from the power-state "
                "model (secondary data)"
            )
        sc1, sc2l, sc2m, sc3 = c("s1")[j], c("s2l")[j], c("s2m")[j], c("s3")[j]
        co2e = sc1 + sc2l + sc3
        primary_kg = c("prim")[j] + c("s3p")[j]
        share = min(1.0, max(0.0, primary_kg / co2e)) if co2e > 0 else (0.0 if sec > 0 else 1.0)
        return Footprint(
            order=oid,
            product=order.product if order else "",
            quantity=float(qty),
            declared_unit=prod.declared_unit if prod else "piece",
            period_start=from_epoch(t0),
            period_end=from_epoch(t1),
            energy_kwh=c("e")[j],
            co2e_kg=co2e,
            co2e_market_kg=sc1 + sc2m + sc3,
            scope1_kg=sc1,
            scope2_location_kg=sc2l,
            scope2_market_kg=sc2m,
            scope3_kg=sc3,
            energy_by_carrier_kwh=by_carrier.get(j),
            energy_by_asset_kwh=by_asset.get(j),
            energy_by_state_kwh=by_state.get(j),
            co2e_by_asset_kg=co2_asset.get(j),
            co2e_by_material_kg=by_material.get(j),
            primary_data_share=share,
            factor_fallback_share=c("fb_share")[j],
            rules=rules_d,
            method=method,
            factor_versions={**versions_d, **pact_of[oid]} if oid in pact_of else versions_d,
            flags=tuple(dict.fromkeys(flags)),
            lineage=order_lineage(j),
            factory=f.id,
            company_id=f.company_id,
        )

    footprints = LazyFootprints(inp.orders, build)
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
        footprints=footprints,
        overhead_kwh=float(e_tot[0]),
        overhead_co2e_kg=float(s1[0] + s2l[0]),
        overhead_co2e_market_kg=float(s1[0] + s2m[0]),
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
        quality=dict(quality or {}),
        source_flags={s: tuple(fl) for s, fl in zip(sources, source_flags, strict=True)},
    )


def _iso(t: float) -> str:
    return from_epoch(t).isoformat().replace("+00:00", "Z")


def _lineage_parts(
    t: PieceTable,
    o1: IntArray,
    size: int,
    sources: Sequence[str],
    fills: Sequence[tuple[FloatArray, FloatArray]],
    mats: pd.DataFrame,
    inp: Inputs,
    code_of: Mapping[str, int],
) -> dict[int, dict[str, Any]]:
    """Per order slot: the filled intervals that gave it energy (source, start, end,
    kWh; only where it received filled energy) and the supplier PCFs of its materials."""
    out: dict[int, dict[str, Any]] = {
        j: {"filled_gaps": [], "supplier_pcfs": []} for j in range(size)
    }
    sec = np.flatnonzero(~t.primary & (o1 > 0) & (t.energy_kwh != 0))
    for k, (f_lo, f_hi) in enumerate(fills):
        if f_lo.size == 0:
            continue
        sel = sec[t.source[sec] == k]
        if sel.size == 0:
            continue
        j_iv = np.clip(np.searchsorted(f_lo, t.t[sel], side="right") - 1, 0, f_lo.size - 1)
        key = o1[sel] * f_lo.size + j_iv
        uk, inv = np.unique(key, return_inverse=True)
        e = np.bincount(inv.reshape(-1), weights=t.energy_kwh[sel])
        for u, kwh in zip(uk.tolist(), e.tolist(), strict=True):
            j, iv = divmod(u, f_lo.size)
            out[j]["filled_gaps"].append(
                {
                    "source": sources[k],
                    "start": _iso(float(f_lo[iv])),
                    "end": _iso(float(f_hi[iv])),
                    "energy_kwh": kwh,
                }
            )
    links = {(s.id, link.material): link for s in inp.factory.suppliers for link in s.supplies}
    seen: set[tuple[int, str, str]] = set()
    for o, m, sup, pcf, primary in zip(
        mats["order"],
        mats["material"],
        mats["supplier"],
        mats["pcf_kg_per_unit"],
        mats["primary"],
        strict=True,
    ):
        j = code_of[str(o)] + 1
        if (j, str(m), str(sup)) in seen:
            continue
        seen.add((j, str(m), str(sup)))
        link = links.get((str(sup), str(m)))
        out[j]["supplier_pcfs"].append(
            {
                "material": str(m),
                "supplier": str(sup),
                "pcf_kg_per_unit": float(pcf),
                "primary": bool(primary),
                "source": link.source if link is not None else "",
                "pcf_id": link.pact_id if link is not None else "",
                "pcf_version": link.pact_version if link is not None else "",
            }
        )
    for d in out.values():
        d["supplier_pcfs"].sort(key=lambda x: (x["material"], x["supplier"]))
    return out


def _supplier_pact_versions(f: Factory, mats: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per order: ``supplier:<supplier>:<material>`` -> ``PACT <id> v<version>`` for each
    material whose supplier value came from a PACT footprint (its id in the lineage)."""
    links = {
        (s.id, link.material): link for s in f.suppliers for link in s.supplies if link.pact_id
    }
    out: dict[str, dict[str, str]] = {}
    if not links:
        return out
    for o, m, sup in zip(mats["order"], mats["material"], mats["supplier"], strict=True):
        link = links.get((str(sup), str(m)))
        if link is not None:
            label = f"PACT {link.pact_id}" + (f" v{link.pact_version}" if link.pact_version else "")
            out.setdefault(str(o), {})[f"supplier:{sup}:{m}"] = label
    return out
