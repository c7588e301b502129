"""Footprint records of an attribution (private helper of :mod:`.attribution`).

:func:`._attribution_result.assemble` sums each order's energy and emissions in
arrays; :class:`OrderRecords` turns them into :class:`~.footprint.Footprint`
records when someone reads them (:class:`LazyFootprints`): the breakdowns per
asset, state, carrier and material, the flags, the attribution's part of the
lineage (filled gap intervals, supplier PCFs) and a random id per record, all
records of a read built together, field by field.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._attribution_assets import group_sums
from ._attribution_inputs import Inputs
from ._collections import collections_paused
from .events import _obj
from .footprint import Footprint, footprint_maker
from .model import STATES, Factory
from .quantities import from_epoch

if TYPE_CHECKING:
    from ._attribution_result import PieceTable

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class OrderSums:
    """Per order slot (0: overhead, then the run's orders by code), the sums the
    records are made of."""

    energy_kwh: FloatArray
    scope1_kg: FloatArray
    scope2_location_kg: FloatArray
    scope2_market_kg: FloatArray
    scope3_kg: FloatArray
    #: location-based CO2e of energy from measured (primary) data
    primary_kg: FloatArray
    #: scope 3 CO2e times the supplier's primary data share
    scope3_primary_kg: FloatArray
    #: energy filled from the power-state model
    secondary_kwh: FloatArray
    #: share of the electricity CO2e with a fallback grid factor
    fallback_share: FloatArray
    #: any energy with a fallback factor; any energy in interpolated hours
    fallback: BoolArray
    interpolated: BoolArray


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

    def csr(self) -> tuple[list[int], list[int]]:
        """Row ``j``'s column codes with a nonzero sum, in column order, are
        ``cols[ptr[j]:ptr[j + 1]]``."""
        if self._args is not None:
            self._ready()
        return self._ptr, self._cols


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
    :meth:`values` or :meth:`items`. The cyclic garbage collector is paused while
    records are built (:mod:`._collections`: they hold no reference cycles).
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
            fp = self._cache[order] = self._built([self._index[order]])[0]
        return fp

    def _built(self, ks: Sequence[int]) -> list[Footprint]:
        """The records of order codes ``ks``, built with the cyclic garbage collector
        paused (:mod:`._collections`)."""
        with collections_paused():
            return self._build(ks)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, order: object) -> bool:
        return order in self._index  # without building the record

    def many(self, orders: Sequence[str]) -> list[Footprint]:
        """The records of ``orders``, in that order (``KeyError`` for an order not
        here); the unbuilt ones built together, as :meth:`values` does."""
        ks = [self._index[o] for o in orders]
        todo = sorted({k for k, o in zip(ks, orders, strict=True) if o not in self._cache})
        if todo:
            built = self._built(todo)
            self._cache.update(zip([self._orders[k] for k in todo], built, strict=True))
        return [self._cache[o] for o in orders]

    def _all(self) -> dict[str, Footprint]:
        """Every record, in order; the unbuilt ones built together."""
        if len(self._cache) < len(self._orders):
            todo = [k for k, o in enumerate(self._orders) if o not in self._cache]
            built = dict(zip([self._orders[k] for k in todo], self._built(todo), strict=True))
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


#: the fields :class:`OrderRecords` gives each record, in the class's order (the others, a
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


class OrderRecords:
    """The footprint records of one attribution's orders: :meth:`build` makes them
    (for :class:`LazyFootprints`, which holds it; the records hold nothing of this
    object, so a result is freed without waiting for the garbage collector).

    ``o1`` is each piece's order slot (0: overhead); ``loc`` its location-based
    CO2e; ``note_piece`` the code of its note among ``notes`` (-1: none);
    ``mats`` the material rows, ``mat_slot`` their order slots; ``from_bom`` the
    orders whose materials came from their product's BOM.
    """

    def __init__(
        self,
        inp: Inputs,
        t: PieceTable,
        o1: IntArray,
        sums: OrderSums,
        *,
        loc: FloatArray,
        note_piece: IntArray,
        notes: list[str],
        mats: pd.DataFrame,
        mat_slot: IntArray,
        from_bom: set[str],
        sources: list[str],
        source_flags: list[list[str]],
        fills: Sequence[tuple[FloatArray, FloatArray]],
        carriers: list[str],
        asset_ids: list[str],
        rules: Mapping[str, str],
        versions: Mapping[str, str],
        method: tuple[str, ...],
    ) -> None:
        f = inp.factory
        size = len(inp.orders) + 1
        self._inp, self._t, self._o1, self._sums = inp, t, o1, sums
        self._mats, self._mat_slot, self._from_bom = mats, mat_slot, from_bom
        self._sources, self._source_flags, self._fills = sources, source_flags, fills
        self._method = method
        self.by_asset = _Breakdown(o1, t.origin, asset_ids, t.energy_kwh, size)
        self.co2_asset = _Breakdown(o1, t.origin, asset_ids, loc, size, group=self.by_asset._group)
        self.by_state = _Breakdown(o1, t.state, [s.value for s in STATES], t.energy_kwh, size)
        self.by_carrier = _Breakdown(o1, t.carrier, carriers, t.energy_kwh, size)
        mat_codes, mat_names = pd.factorize(mats["material"], sort=True)
        self.by_material = _Breakdown(
            mat_slot,
            np.asarray(mat_codes, dtype=np.int64),
            [str(x) for x in mat_names],
            mats["co2e_kg"].to_numpy(dtype=float),
            size,
        )
        # the sources that gave each order energy, of those with flags (an order carries them)
        flagged = np.array([bool(fl) for fl in source_flags], dtype=bool)[t.source]
        self.order_sources = _Breakdown(
            o1[flagged],
            t.source[flagged],
            [str(k) for k in range(len(sources))],
            np.ones(int(flagged.sum())),
            size,
        )
        noted = note_piece >= 0
        self.order_notes = _Breakdown(
            o1[noted], note_piece[noted], notes, np.ones(int(noted.sum())), size
        )
        self._orders = {o.id: o for o in f.orders}
        self._products = {p.id: p for p in f.products}
        # shared by the records (read-only)
        self._rules, self._versions = dict(rules), dict(versions)
        self._pact_of = _supplier_pact_versions(f, mats)
        self._lineage: tuple[dict[int, list[dict[str, Any]]], ...] = ()
        self._cols: dict[str, list[Any]] = {}
        self._ids = _Uuid4s(len(inp.orders))
        self._make = footprint_maker(_BUILT)
        self._index: dict[str, int] = {}

    def lineage_parts(self) -> tuple[dict[int, list[dict[str, Any]]], ...]:
        """The attribution's part of the lineage per order slot (filled gaps, supplier
        PCFs), made on first use."""
        if not self._lineage:
            self._lineage = _lineage_parts(
                self._t,
                self._o1,
                self._sources,
                self._fills,
                self._mats,
                self._mat_slot,
                self._inp,
            )
        return self._lineage

    def gaps(self, order: str) -> list[dict[str, Any]]:
        """The filled intervals that gave ``order`` energy."""
        if not self._index:
            self._index = {o: k for k, o in enumerate(self._inp.orders)}
        k = self._index.get(order)  # its code; its slot is one more (0: overhead)
        return [] if k is None else list(self.lineage_parts()[0].get(k + 1) or [])

    def _columns(self) -> dict[str, list[Any]]:
        """Per order slot (0: overhead) the numbers of its record, and per order code
        its times and quantity, as Python lists, made on the first record."""
        if not self._cols:
            s = self._sums
            co2e = s.scope1_kg + s.scope2_location_kg + s.scope3_kg
            primary_kg = s.primary_kg + s.scope3_primary_kg
            share = np.where(
                co2e > 0,
                np.minimum(1.0, np.maximum(0.0, primary_kg / np.where(co2e > 0, co2e, 1.0))),
                np.where(s.secondary_kwh > 0, 0.0, 1.0),
            )
            numbers = {
                "energy_kwh": s.energy_kwh,
                "co2e_kg": co2e,
                "co2e_market_kg": s.scope1_kg + s.scope2_market_kg + s.scope3_kg,
                "scope1_kg": s.scope1_kg,
                "scope2_location_kg": s.scope2_location_kg,
                "scope2_market_kg": s.scope2_market_kg,
                "scope3_kg": s.scope3_kg,
                "primary_data_share": share,
                "factor_fallback_share": s.fallback_share,
                "secondary_kwh": s.secondary_kwh,
                "fallback": s.fallback,
                "interpolated": s.interpolated,
                # per order code (no overhead slot)
                "t0": self._inp.order_t0,
                "t1": self._inp.order_t1,
                "qty": self._inp.order_step_qty,
            }
            self._cols.update((k, a.tolist()) for k, a in numbers.items())
        return self._cols

    def build(self, ks: Sequence[int]) -> list[Footprint]:
        """The records of order codes ``ks``, built field by field."""
        inp, c = self._inp, self._columns()
        f, orders, products = inp.factory, self._orders, self._products
        n = len(ks)
        js = [k + 1 for k in ks]
        whole = n == len(inp.orders) and list(ks) == list(range(n))

        def at_slots(col: list[Any]) -> list[Any]:
            return col[1:] if whole else [col[j] for j in js]

        def at_codes(col: Sequence[Any]) -> list[Any]:
            return list(col) if whole else [col[k] for k in ks]

        gaps_of, pcfs_of = self.lineage_parts()
        oids = at_codes(inp.orders)
        ords = [orders.get(o) for o in oids]
        # the order's first and last event; else the plan's release and due; else the window
        w0, w1 = inp.window
        t0s = [
            t if math.isfinite(t) else (o.release.timestamp() if o else w0)
            for t, o in zip(at_codes(c["t0"]), ords, strict=True)
        ]
        t1s = [
            t if math.isfinite(t) else (o.due.timestamp() if o else w1)
            for t, o in zip(at_codes(c["t1"]), ords, strict=True)
        ]
        flags_col = self._flags(
            oids,
            ords,
            js,
            at_slots(c["secondary_kwh"]),
            at_slots(c["fallback"]),
            at_slots(c["interpolated"]),
        )
        products_of = [o.product if o else "" for o in ords]
        fromtimestamp = datetime.fromtimestamp
        versions, pact_of = self._versions, self._pact_of
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
            "energy_by_carrier_kwh": self.by_carrier.many(js),
            "energy_by_asset_kwh": self.by_asset.many(js),
            "energy_by_state_kwh": self.by_state.many(js),
            "co2e_by_asset_kg": self.co2_asset.many(js),
            "co2e_by_material_kg": self.by_material.many(js),
            "rules": [self._rules] * n,
            "factor_versions": [
                {**versions, **pact_of[oid]} if oid in pact_of else versions for oid in oids
            ],
            "flags": flags_col,
            "method": [self._method] * n,
            "lineage": self._lineage_dicts(js, gaps_of, pcfs_of),
            "id": at_codes(self._ids.all()),
            "factory": [f.id] * n,
            "company_id": [f.company_id] * n,
        }
        return self._make.columns([values[k] for k in _BUILT])

    @staticmethod
    def _lineage_dicts(
        js: list[int],
        gaps_of: dict[int, list[dict[str, Any]]],
        pcfs_of: dict[int, list[dict[str, Any]]],
    ) -> list[dict[str, Any]]:
        """The attribution's part of the lineage of order slots ``js``. Orders without
        filled gaps and with the same supplier PCFs share one dict (read-only, like
        the other shared parts): a plant whose meters all read leaves one object per
        record for the garbage collector to track, the record itself."""
        empty: list[dict[str, Any]] = []
        shared: dict[int, dict[str, Any]] = {}  # id of the PCF list -> its dict
        out: list[dict[str, Any]] = []
        for j in js:
            pcfs = pcfs_of.get(j) or empty
            gaps = gaps_of.get(j)
            if gaps:
                out.append({"filled_gaps": gaps, "supplier_pcfs": pcfs})
                continue
            same = shared.get(id(pcfs))
            if same is None:
                same = shared[id(pcfs)] = {"filled_gaps": empty, "supplier_pcfs": pcfs}
            out.append(same)
        return out

    def _flags(
        self,
        oids: list[str],
        ords: list[Any],
        js: list[int],
        secondary: list[float],
        fallback: list[bool],
        interpolated: list[bool],
    ) -> list[tuple[str, ...]]:
        """Each order's data-quality notes, in order, without repeats.

        The notes that orders share are written once: the BOM note per (product,
        quantity), the flags of the sources that gave an order energy per set of
        sources (each order's sources are a row of ``order_sources``).
        """
        out: list[tuple[str, ...]] = []
        from_bom, source_flags = self._from_bom, self._source_flags
        order_notes = self.order_notes
        ptr, cols = self.order_sources.csr()
        bom_note: dict[tuple[str, float], str] = {}
        src_notes: dict[tuple[int, ...], list[str]] = {}
        for oid, o, j, sec, fb, interp in zip(
            oids, ords, js, secondary, fallback, interpolated, strict=True
        ):
            flags: list[str] = []
            if o is not None and oid in from_bom:
                key = (o.product, o.quantity)
                note = bom_note.get(key)
                if note is None:
                    note = bom_note[key] = (
                        f"no material use reported; materials from the BOM of "
                        f"{o.product!r} x quantity {o.quantity:g}"
                    )
                flags.append(note)
            a, b = ptr[j], ptr[j + 1]
            if b > a:
                srcs = tuple(cols[a:b])
                notes = src_notes.get(srcs)
                if notes is None:
                    notes = src_notes[srcs] = [x for src in srcs for x in source_flags[src]]
                flags += notes
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
            out.append(tuple(dict.fromkeys(flags)))
        return out


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
        slot = j_row[first]
        pcf_code, pcf_vals = pd.factorize(
            mats["pcf_kg_per_unit"].to_numpy(dtype=np.float64)[first], use_na_sentinel=False
        )
        primary = mats["primary"].to_numpy(dtype=bool)[first]
        # one code per distinct (material, supplier, PCF, primary) row, its item made once
        n_f = max(len(pcf_vals), 1)
        row_key = ((m_code[first] * n_s + s_code[first]) * n_f + pcf_code) * 2 + primary
        distinct, row_code = np.unique(row_key, return_inverse=True)
        made: list[dict[str, Any]] = []
        for key in distinct.tolist():
            rest, p = divmod(key, 2)
            rest, fc = divmod(rest, n_f)
            mc, sc = divmod(rest, n_s)
            m, sup = m_str[mc], s_str[sc]
            link = links.get((sup, m))
            made.append(
                {
                    "material": m,
                    "supplier": sup,
                    "pcf_kg_per_unit": float(pcf_vals[fc]),
                    "primary": bool(p),
                    "source": link.source if link is not None else "",
                    "pcf_id": link.pact_id if link is not None else "",
                    "pcf_version": link.pact_version if link is not None else "",
                }
            )
        # orders with the same supplier PCFs share one list of them (a record's parts are
        # read-only, like the rules and factor versions every record shares): fewer
        # objects for the garbage collector to track. The rows are sorted by order slot:
        # each slot's run of row codes, as bytes, is the key of its list.
        codes = row_code.astype(np.int32)
        buf = codes.tobytes()
        cuts = np.flatnonzero(np.r_[True, slot[1:] != slot[:-1]]).tolist()
        shared: dict[bytes, list[dict[str, Any]]] = {}
        for j, lo, hi in zip(slot[cuts].tolist(), cuts, [*cuts[1:], slot.size], strict=True):
            key = buf[4 * lo : 4 * hi]
            same = shared.get(key)
            if same is None:
                same = shared[key] = [made[c] for c in codes[lo:hi].tolist()]
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
