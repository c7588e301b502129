"""Allocated energy -> emissions, footprints and frames (private helper of
:mod:`.attribution`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import VIA_NAMES, group_sums
from ._attribution_inputs import Inputs
from ._attribution_materials import material_rows
from .errors import AttributionError
from .events import _obj
from .factors import FactorSet
from .footprint import Footprint, footprint_maker
from .model import STATES, Carrier, Factory
from .quantities import from_epoch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_T = TypeVar("_T")

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


class _Breakdown:
    """Sums of ``w`` per (order slot, column), computed on the first read.

    Each sum adds its rows in row order: one bincount over all slots x columns
    when they are few, else over the groups of one stable sort of the rows (shared
    by breakdowns built with the same ``group``). Zero sums are left out of the dicts.
    """

    def __init__(
        self,
        o1: IntArray,
        col: IntArray,
        names: Sequence[str],
        w: FloatArray,
        size: int,
        group: _Groups | None = None,
    ) -> None:
        self.n = max(len(names), 1)
        self.names = list(names)
        self._key = o1 * self.n + col
        # one bincount over every (slot, column) cell while that is not much more than
        # the rows; else a sort of the rows, shared with breakdowns of the same group
        self._dense = group is None and size * self.n <= 2 * o1.size + 65536
        self._group = group or _Groups(self._key)
        self._args: tuple[FloatArray, int] | None = (w, size)
        self._ptr: list[int] = []
        self._cols: list[int] = []
        self._keys: list[str] = []
        self._vals: list[float] = []

    def _ready(self) -> None:
        if self._args is None:
            return
        w, size = self._args
        self._args = None
        if self._dense:
            dense = np.bincount(self._key, weights=w, minlength=size * self.n)
            nz = np.flatnonzero(dense)
            rows, cols, vals = nz // self.n, nz % self.n, dense[nz]
        else:
            # a group's rows in row order: the same sums as the dense bincount
            uk, order, group = self._group.get()
            sums = np.bincount(group, weights=w[order], minlength=uk.size)
            keep = sums != 0
            rows, cols, vals = uk[keep] // self.n, uk[keep] % self.n, sums[keep]
        # CSR over order slots, as Python lists: a record reads its slice with no numpy call
        self._ptr = np.searchsorted(rows, np.arange(size + 1)).tolist()
        self._cols = cols.tolist()
        self._keys = _obj(self.names)[cols].tolist()
        self._vals = vals.astype(np.float64).tolist()

    def get(self, j: int) -> dict[str, float]:
        if self._args is not None:
            self._ready()
        a, b = self._ptr[j], self._ptr[j + 1]
        return dict(zip(self._keys[a:b], self._vals[a:b], strict=False))

    def many(self, js: Sequence[int]) -> list[dict[str, float]]:
        """:meth:`get` of each of ``js``."""
        if self._args is not None:
            self._ready()
        ptr, k, v = self._ptr, self._keys, self._vals
        out: list[dict[str, float]] = []
        # dict displays for the usual few entries (no key-value tuples to build first)
        for j in js:
            a = ptr[j]
            m = ptr[j + 1] - a
            if m == 1:
                out.append({k[a]: v[a]})
            elif m == 2:
                out.append({k[a]: v[a], k[a + 1]: v[a + 1]})
            elif m == 3:
                out.append({k[a]: v[a], k[a + 1]: v[a + 1], k[a + 2]: v[a + 2]})
            elif m == 0:
                out.append({})
            else:
                out.append(dict(zip(k[a : a + m], v[a : a + m], strict=True)))
        return out

    def columns(self, j: int) -> list[int]:
        """The column codes with a nonzero sum in row ``j``, in column order."""
        if self._args is not None:
            self._ready()
        a, b = self._ptr[j], self._ptr[j + 1]
        return self._cols[a:b]


class _Groups:
    """Rows grouped by ``key``, found on first use: the distinct keys (sorted), the rows
    in key order (stable: each group's rows keep their order) and each sorted row's group.
    """

    def __init__(self, key: IntArray) -> None:
        self._key: IntArray | None = key
        self._out = (np.empty(0, np.int64), np.empty(0, np.intp), np.empty(0, np.intp))

    def get(self) -> tuple[IntArray, IntArray, IntArray]:
        if self._key is not None:
            key, self._key = self._key, None
            order = np.argsort(key, kind="stable")
            ks = key[order]
            new = np.ones(ks.size, dtype=bool)
            np.not_equal(ks[1:], ks[:-1], out=new[1:])
            group = np.cumsum(new)
            group -= 1
            self._out = (ks[new], order, group)
        return self._out


#: where a UUID's 32 hex digits stand in its 36 characters (the rest are hyphens)
_HEX_AT = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


class _Uuid4s:
    """Random (version 4) UUIDs as strings, drawn together on first use: one
    ``os.urandom`` call for all of them, the same bits :func:`uuid.uuid4` sets."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._ids: list[str] = []

    def all(self) -> list[str]:
        if not self._ids:
            raw = np.frombuffer(os.urandom(16 * max(self._n, 1)), dtype=np.uint8).reshape(-1, 16)
            raw = raw.copy()
            raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
            raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
            # 8-4-4-4-12 lowercase hex digits, written as one ASCII block and cut in 36s
            digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
            text = np.full((raw.shape[0], 36), ord("-"), dtype=np.uint8)
            text[:, _HEX_AT] = digits[np.stack([raw >> 4, raw & 0x0F], axis=2).reshape(-1, 32)]
            block = text.tobytes().decode("ascii")
            self._ids = [block[i : i + 36] for i in range(0, len(block), 36)]
        return self._ids


class LazyFootprints(Mapping[str, Footprint]):
    """Order id -> :class:`Footprint`, each record built on first access.

    Attribution computes every number in arrays; the records themselves (with
    their dict breakdowns and UUIDs) are assembled when someone reads them: one
    by one through ``[order]``, all still unbuilt ones together when iterating
    :meth:`values` or :meth:`items`.
    """

    def __init__(
        self, orders: Sequence[str], build: Callable[[Sequence[int]], list[Footprint]]
    ) -> None:
        self._orders = list(orders)
        self._index = {o: k for k, o in enumerate(orders)}
        self._build = build
        self._cache: dict[str, Footprint] = {}

    def __getitem__(self, order: str) -> Footprint:
        fp = self._cache.get(order)
        if fp is None:
            fp = self._cache[order] = self._build([self._index[order]])[0]
        return fp

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, order: object) -> bool:
        return order in self._index  # without building the record

    def _all(self) -> dict[str, Footprint]:
        """Every record, in order; the unbuilt ones built together."""
        if len(self._cache) < len(self._orders):
            todo = [k for k, o in enumerate(self._orders) if o not in self._cache]
            built = dict(zip([self._orders[k] for k in todo], self._build(todo), strict=True))
            self._cache = {o: self._cache.get(o) or built[o] for o in self._orders}
        return self._cache

    def values(self) -> ValuesView[Footprint]:
        return _Values(self)

    def items(self) -> ItemsView[str, Footprint]:
        return _Items(self)


class _Values(ValuesView[Footprint]):
    _mapping: LazyFootprints

    def __iter__(self) -> Iterator[Footprint]:
        return iter(self._mapping._all().values())


class _Items(ItemsView[str, Footprint]):
    _mapping: LazyFootprints

    def __iter__(self) -> Iterator[tuple[str, Footprint]]:
        return iter(self._mapping._all().items())


#: the fields :func:`assemble` gives each record, in the class's order (the others, a
#: new record's status and version, take their defaults)
_BUILT = tuple(
    n
    for n in Footprint.__dataclass_fields__
    if n not in ("status", "version", "replaces", "issued_at")
)
#: the record's numbers computed per order in arrays: its float fields but the quantity
_NUMBERS = tuple(
    n for n, f in Footprint.__dataclass_fields__.items() if f.type == "float" and n != "quantity"
)


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
    mo = np.asarray(pd.Index(inp.orders).get_indexer(mats["order"].tolist()), dtype=np.int64)
    if (mo < 0).any():  # material rows only name orders of the run
        msg = f"material row of unknown order {mats['order'].iloc[int(np.argmin(mo))]!r}"
        raise AttributionError(msg)
    s3 = np.bincount(mo + 1, weights=mats["co2e_kg"].to_numpy(dtype=float), minlength=size)
    s3p = np.bincount(
        mo + 1,
        weights=mats["co2e_kg"].to_numpy(dtype=float) * mats["primary_share"].to_numpy(dtype=float),
        minlength=size,
    )

    by_asset = _Breakdown(o1, t.origin, asset_ids, t.energy_kwh, size)
    co2_asset = _Breakdown(o1, t.origin, asset_ids, loc, size, group=by_asset._group)
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
    # the sources that gave each order energy, of those with flags (an order carries them)
    flagged = np.array([bool(fl) for fl in source_flags], dtype=bool)[t.source]
    order_sources = _Breakdown(
        o1[flagged],
        t.source[flagged],
        [str(k) for k in range(len(sources))],
        np.ones(int(flagged.sum())),
        size,
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

    # the attribution's part of the lineage per order slot: filled gaps, supplier PCFs
    lineage_of: list[dict[int, list[dict[str, Any]]]] = []

    def lineage_parts() -> list[dict[int, list[dict[str, Any]]]]:
        """The lineage parts of all orders, made on first use."""
        if not lineage_of:
            lineage_of.extend(_lineage_parts(t, o1, sources, fills, mats, mo + 1, inp))
        return lineage_of

    cols: dict[str, list[Any]] = {}
    ids = _Uuid4s(n_o)
    make = footprint_maker(_BUILT)

    def slot_columns() -> dict[str, list[Any]]:
        """Per order slot (0: overhead) the numbers of its record, as Python lists,
        computed on the first record."""
        if not cols:
            co2e = s1 + s2l + s3
            primary_kg = prim + s3p
            share = np.where(
                co2e > 0,
                np.minimum(1.0, np.maximum(0.0, primary_kg / np.where(co2e > 0, co2e, 1.0))),
                np.where(secondary_e > 0, 0.0, 1.0),
            )
            named = {
                "energy_kwh": e_tot,
                "co2e_kg": co2e,
                "co2e_market_kg": s1 + s2m + s3,
                "scope1_kg": s1,
                "scope2_location_kg": s2l,
                "scope2_market_kg": s2m,
                "scope3_kg": s3,
                "primary_data_share": share,
                "factor_fallback_share": fb_share,
                "secondary_kwh": secondary_e,
                "fallback": fb_order,
                "interpolated": filled_order,
            }
            cols.update((k, a.tolist()) for k, a in named.items())
            # per order code (no overhead slot)
            cols.update(
                (k, a.tolist())
                for k, a in (
                    ("t0", inp.order_t0),
                    ("t1", inp.order_t1),
                    ("qty", inp.order_step_qty),
                )
            )
        return cols

    def build(ks: Sequence[int]) -> list[Footprint]:
        """The records of order codes ``ks``, built field by field."""
        c = slot_columns()
        n = len(ks)
        js = [k + 1 for k in ks]
        whole = n == n_o and list(ks) == list(range(n_o))

        def at_slots(col: list[Any]) -> list[Any]:
            return col[1:] if whole else [col[j] for j in js]

        def at_codes(col: Sequence[Any]) -> list[Any]:
            return list(col) if whole else [col[k] for k in ks]

        gaps_of, pcfs_of = lineage_parts()
        oids = at_codes(inp.orders)
        ords = [orders.get(o) for o in oids]
        # the order's first and last event; else the plan's release and due; else the window
        t0s = [
            t if math.isfinite(t) else (o.release.timestamp() if o else w0)
            for t, o in zip(at_codes(c["t0"]), ords, strict=True)
        ]
        t1s = [
            t if math.isfinite(t) else (o.due.timestamp() if o else w1)
            for t, o in zip(at_codes(c["t1"]), ords, strict=True)
        ]
        flags_col: list[tuple[str, ...]] = []
        for oid, o, j, sec, fb, interp in zip(
            oids,
            ords,
            js,
            at_slots(c["secondary_kwh"]),
            at_slots(c["fallback"]),
            at_slots(c["interpolated"]),
            strict=True,
        ):
            flags = []
            if o is not None and oid in from_bom:
                flags.append(
                    f"no material use reported; materials from the BOM of "
                    f"{o.product!r} x quantity {o.quantity:g}"
                )
            srcs = order_sources.columns(j)
            if srcs:
                flags += [x for src in srcs for x in source_flags[src]]
            if fb:
                flags += list(order_notes.get(j)) or [
                    "electricity outside the hourly grid series used a fallback factor"
                ]
            if interp:
                flags.append(
                    "electricity in hours missing from the grid series used interpolated factors"
                )
            if sec > 0:
                flags.append(
                    f"{sec:.6g} kWh of this order's energy filled from the power-state "
                    "model (secondary data)"
                )
            flags_col.append(tuple(dict.fromkeys(flags)))
        products_of = [o.product if o else "" for o in ords]
        fromtimestamp = datetime.fromtimestamp
        values = {
            "order": oids,
            "product": products_of,
            "quantity": [
                float(o.quantity) if o else float(q)
                for o, q in zip(ords, at_codes(c["qty"]), strict=True)
            ],
            "declared_unit": [
                p.declared_unit if p else "piece"
                for p in [products.get(x) if x else None for x in products_of]
            ],
            "period_start": list(map(fromtimestamp, t0s, repeat(UTC, n))),
            "period_end": list(map(fromtimestamp, t1s, repeat(UTC, n))),
            **{k: at_slots(c[k]) for k in _NUMBERS},
            "energy_by_carrier_kwh": by_carrier.many(js),
            "energy_by_asset_kwh": by_asset.many(js),
            "energy_by_state_kwh": by_state.many(js),
            "co2e_by_asset_kg": co2_asset.many(js),
            "co2e_by_material_kg": by_material.many(js),
            "rules": [rules_d] * n,
            "factor_versions": [
                {**versions_d, **pact_of[oid]} if oid in pact_of else versions_d for oid in oids
            ],
            "flags": flags_col,
            "method": [method] * n,
            "lineage": [
                {"filled_gaps": gaps_of.get(j) or [], "supplier_pcfs": pcfs_of.get(j) or []}
                for j in js
            ],
            "id": at_codes(ids.all()),
            "factory": [f.id] * n,
            "company_id": [f.company_id] * n,
        }
        return make.columns([values[k] for k in _BUILT])

    footprints = LazyFootprints(inp.orders, build)

    def gaps(order: str) -> list[dict[str, Any]]:
        k = footprints._index.get(order)  # its code; its slot is one more (0: overhead)
        return [] if k is None else list(lineage_parts()[0].get(k + 1) or [])

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
        _gaps=gaps,
        quality=dict(quality or {}),
        source_flags={s: tuple(fl) for s, fl in zip(sources, source_flags, strict=True)},
    )


def _iso(t: float) -> str:
    return from_epoch(t).isoformat().replace("+00:00", "Z")


def _by_slot(slots: IntArray, items: list[_T]) -> dict[int, list[_T]]:
    """``items`` grouped by their order slot (``slots``, one per item), each slot's items in
    their order."""
    order = slots.argsort(kind="stable")
    if order.size and not (order[1:] > order[:-1]).all():
        items = [items[i] for i in order.tolist()]
    ss = slots[order]
    first = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    js = ss[first]
    bounds = [*first.tolist(), len(items)]
    return {j: items[a:b] for j, a, b in zip(js.tolist(), bounds[:-1], bounds[1:], strict=True)}


def _lineage_parts(
    t: PieceTable,
    o1: IntArray,
    sources: Sequence[str],
    fills: Sequence[tuple[FloatArray, FloatArray]],
    mats: pd.DataFrame,
    mat_slot: IntArray,
    inp: Inputs,
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """Per order slot: the filled intervals that gave it energy (source, start, end,
    kWh; only where it received filled energy) and the supplier PCFs of its materials
    (sorted by material and supplier; ``mat_slot``: the order slot of each material
    row), as two maps slot -> items; slots without items are left out."""
    gap_slot: list[IntArray] = []
    gap_items: list[dict[str, Any]] = []
    sec = np.flatnonzero(~t.primary & (o1 > 0) & (t.energy_kwh != 0))
    for k, (f_lo, f_hi) in enumerate(fills):
        if f_lo.size == 0:
            continue
        sel = sec[t.source[sec] == k]
        if sel.size == 0:
            continue
        j_iv = np.clip(np.searchsorted(f_lo, t.t[sel], side="right") - 1, 0, f_lo.size - 1)
        key = o1[sel] * f_lo.size + j_iv
        uk, _, e = group_sums(key, t.energy_kwh[sel])
        iv = uk % f_lo.size
        # each interval's times written once, however many orders it filled
        used = np.unique(iv).tolist()
        lo_iso = dict(zip(used, [_iso(x) for x in f_lo[used].tolist()], strict=True))
        hi_iso = dict(zip(used, [_iso(x) for x in f_hi[used].tolist()], strict=True))
        src = sources[k]
        gap_slot.append(uk // f_lo.size)
        gap_items += [
            {"source": src, "start": lo_iso[i], "end": hi_iso[i], "energy_kwh": kwh}
            for i, kwh in zip(iv.tolist(), e.tolist(), strict=True)
        ]
    gaps = _by_slot(np.concatenate(gap_slot), gap_items) if gap_items else {}
    pcfs: dict[int, list[dict[str, Any]]] = {}
    if len(mats):
        links = {(s.id, link.material): link for s in inp.factory.suppliers for link in s.supplies}
        j_row = mat_slot
        m_code, m_names = pd.factorize(
            np.asarray(mats["material"].tolist(), dtype=object), sort=True
        )
        s_code, s_names = pd.factorize(
            np.asarray(mats["supplier"].tolist(), dtype=object), sort=True
        )
        n_m, n_s = max(len(m_names), 1), max(len(s_names), 1)
        # the first row of each (order, material, supplier), sorted by them
        _, first, _ = group_sums((j_row * n_m + m_code) * n_s + s_code, np.zeros(j_row.size))
        m_str = [str(x) for x in m_names]
        s_str = [str(x) for x in s_names]
        pcf = mats["pcf_kg_per_unit"].to_numpy()[first].tolist()
        primary = mats["primary"].to_numpy()[first].tolist()
        rows = list(
            zip(
                [m_str[c] for c in m_code[first].tolist()],
                [s_str[c] for c in s_code[first].tolist()],
                pcf,
                primary,
                strict=True,
            )
        )
        made: dict[tuple[str, str, float, bool], dict[str, Any]] = {}
        for m, sup, f, p in dict.fromkeys(rows):
            link = links.get((sup, m))
            made[m, sup, f, p] = {
                "material": m,
                "supplier": sup,
                "pcf_kg_per_unit": float(f),
                "primary": bool(p),
                "source": link.source if link is not None else "",
                "pcf_id": link.pact_id if link is not None else "",
                "pcf_version": link.pact_version if link is not None else "",
            }
        # orders with the same supplier PCFs share one list of them (a record's parts are
        # read-only, like the rules and factor versions every record shares): fewer
        # objects for the garbage collector to track
        shared: dict[tuple[tuple[str, str, float, bool], ...], list[dict[str, Any]]] = {}
        for j, rs in _by_slot(j_row[first], rows).items():
            key = tuple(rs)
            same = shared.get(key)
            if same is None:
                same = shared[key] = [made[r] for r in rs]
            pcfs[j] = same
    return gaps, pcfs


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
