"""Per-order product carbon footprint: the record attribution issues.

A :class:`Footprint` is immutable once issued. A correction is a new version
whose ``replaces`` names the id of the one it supersedes. The records of one
attribution share the parts that are the same for several of them (rules,
factor versions, lists of supplier PCFs in the lineage): read them, do not change
them in place (``to_dict`` gives copies).

All breakdowns add up to their totals (a tested invariant):

- ``co2e_kg == scope1_kg + scope2_location_kg + scope3_kg`` (location-based)
- ``co2e_market_kg == scope1_kg + scope2_market_kg + scope3_kg``
- ``sum(energy_by_carrier_kwh) == sum(energy_by_asset_kwh) == sum(energy_by_state_kwh)
  == energy_kwh``
"""

from __future__ import annotations

import re
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import repeat
from numbers import Integral
from typing import Any

import orjson
import rfc8785

from .quantities import utc

__all__ = ["ACTIVE", "DEPRECATED", "Footprint", "canonical_json"]

#: PACT statuses a footprint version is issued with (a withdrawal is Deprecated).
ACTIVE, DEPRECATED = "Active", "Deprecated"
#: the flag a withdrawal carries before its reason (``Store.withdraw_footprint``)
WITHDRAWN = "withdrawn: "


@dataclass(frozen=True, slots=True)
class Footprint:
    """Footprint of one production order.

    Attributes
    ----------
    id : str
        UUID of this version.
    order, product : str
        Order and product ids of the factory model.
    quantity : float
        Amount produced, in ``declared_unit`` (pieces, or kg).
    declared_unit : str
        ``"piece"`` or ``"kg"``.
    period_start, period_end : datetime
        Reference period: the order's first to last event (UTC).
    energy_kwh : float
        Energy attributed to the order, all carriers [kWh].
    co2e_kg : float
        Cradle-to-gate total, location-based scope 2 [kg CO2e].
    co2e_market_kg : float
        Same total with market-based scope 2 [kg CO2e].
    scope1_kg, scope2_location_kg, scope2_market_kg, scope3_kg : float
        Scope split [kg CO2e]. Scope 3 is upstream materials (supplier PCFs).
    energy_by_carrier_kwh, energy_by_asset_kwh, energy_by_state_kwh : Mapping
        Energy breakdowns [kWh].
    co2e_by_asset_kg, co2e_by_material_kg : Mapping
        Emission breakdowns [kg CO2e] (assets: scopes 1+2 location-based;
        materials: scope 3).
    primary_data_share : float
        Share of the footprint computed from measured data, 0..1.
    factor_fallback_share : float
        Share of the order's electricity emissions (location-based) whose grid
        factor came from a fallback (another year's profile, an annual factor
        instead of the hour's), 0..1; it lowers the temporal data-quality rating.
    rules, factor_versions : Mapping[str, str]
        Allocation rules and emission-factor versions that produced it.
    method : tuple of str
        What the applied rules do, one sentence each, generated from the rule
        objects that ran (shown on labels, in PACT and AAS).
    lineage : Mapping[str, Any]
        Where the numbers come from (set when issued): factory version and its
        content hash, per meter the time range, count and digest of the events
        used, factor series versions, rules, carbontwin version, the gap
        intervals that filled energy of this order, supplier PCFs, and
        ``input_sha256``, the digest of all inputs (see :mod:`.lineage`).
    status : str
        ``"Active"``, or ``"Deprecated"`` for a withdrawal (a version that
        withdraws the footprint of its order).
    flags : tuple of str
        Data quality notes (gaps filled from the power-state model, cleaned readings).
    version : int
        1 for the first issue of an order's footprint, then 2, 3, ...
    replaces : str or None
        Id of the version this one corrects.
    issued_at : datetime or None
        When it was issued (set by the store).
    """

    # attribution builds its records field by field by name (``OrderRecords.build`` in
    # ``_attribution_records``), in this order
    order: str
    product: str
    quantity: float
    declared_unit: str
    period_start: datetime
    period_end: datetime
    energy_kwh: float
    co2e_kg: float
    co2e_market_kg: float
    scope1_kg: float
    scope2_location_kg: float
    scope2_market_kg: float
    scope3_kg: float
    energy_by_carrier_kwh: Mapping[str, float] = field(default_factory=dict)
    energy_by_asset_kwh: Mapping[str, float] = field(default_factory=dict)
    energy_by_state_kwh: Mapping[str, float] = field(default_factory=dict)
    co2e_by_asset_kg: Mapping[str, float] = field(default_factory=dict)
    co2e_by_material_kg: Mapping[str, float] = field(default_factory=dict)
    primary_data_share: float = 1.0
    factor_fallback_share: float = 0.0
    rules: Mapping[str, str] = field(default_factory=dict)
    factor_versions: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    method: tuple[str, ...] = ()
    lineage: Mapping[str, Any] = field(default_factory=dict)
    status: str = ACTIVE
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = 1
    replaces: str | None = None
    issued_at: datetime | None = None
    factory: str = ""
    company_id: str = ""

    @property
    def co2e_per_unit_kg(self) -> float:
        """Location-based cradle-to-gate footprint per declared unit [kg CO2e/unit]."""
        return self.co2e_kg / self.quantity if self.quantity else float("nan")

    @property
    def co2e_market_per_unit_kg(self) -> float:
        """Market-based footprint per declared unit [kg CO2e/unit]."""
        return self.co2e_market_kg / self.quantity if self.quantity else float("nan")

    @property
    def energy_per_unit_kwh(self) -> float:
        return self.energy_kwh / self.quantity if self.quantity else float("nan")

    @property
    def withdrawal_reason(self) -> str:
        """Why this footprint was withdrawn ("" when it is not a withdrawal, i.e. not
        issued with status Deprecated): the text of its last ``withdrawn:`` flag."""
        if self.status != DEPRECATED:
            return ""
        reasons = [f.removeprefix(WITHDRAWN) for f in self.flags if f.startswith(WITHDRAWN)]
        return reasons[-1] if reasons else "withdrawn"

    def successor(self, new: Footprint) -> Footprint:
        """``new`` as the next version of this footprint (a correction)."""
        return replace(
            new, id=str(uuid.uuid4()), version=self.version + 1, replaces=self.id, issued_at=None
        )

    def to_dict(self, *, copy: bool = True) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 UTC times); nested containers are copies.

        ``copy=False`` shares the containers nested below the top-level mappings and
        leaves the mappings' keys in their own order: for serialising at once
        (:func:`canonical_json` sorts the keys), never for keeping or changing.
        """
        if not copy:
            d = {name: getattr(self, name) for name in self.__dataclass_fields__}
        else:
            d = {name: _copied(getattr(self, name)) for name in self.__dataclass_fields__}
        for k in ("period_start", "period_end", "issued_at"):
            if d[k] is not None:
                d[k] = d[k].isoformat().replace("+00:00", "Z")
        d["flags"] = list(self.flags)
        d["method"] = list(self.method)
        for k, v in d.items():
            if isinstance(v, Mapping):
                items = sorted(v.items()) if copy else v.items()
                d[k] = {str(kk): vv for kk, vv in items}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Footprint:
        kw = dict(d)
        for k in ("period_start", "period_end"):
            kw[k] = utc(kw[k])
        if kw.get("issued_at") is not None:
            kw["issued_at"] = utc(kw["issued_at"])
        kw["flags"] = tuple(kw.get("flags", ()))
        kw["method"] = tuple(kw.get("method", ()))
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in kw.items() if k in names})


class FootprintMaker:
    """Builds :class:`Footprint` records from the values of the fields ``names``, in
    that order; the fields not named take their defaults (those with a default
    factory must be named).

    For building many records at once: the dataclass's own ``__init__`` sets each
    field of the frozen record through ``object.__setattr__``, about twice the time
    of setting its slots directly, which this does; :meth:`columns` sets one field of
    all the records at a time, a loop that runs in C. The records are the same.
    """

    def __init__(self, names: Sequence[str]) -> None:
        fields = Footprint.__dataclass_fields__
        unknown = [n for n in names if n not in fields]
        if unknown or len(set(names)) != len(names):
            msg = f"footprint_maker: unknown or repeated fields {unknown or list(names)}"
            raise TypeError(msg)
        given = set(names)
        rest = [f for n, f in fields.items() if n not in given]
        factories = [f.name for f in rest if f.default is MISSING]
        if factories:
            msg = f"footprint_maker: fields without a plain default must be named: {factories}"
            raise TypeError(msg)
        self.names = tuple(names)
        self._setters = tuple(getattr(Footprint, n).__set__ for n in names)
        self._defaults = tuple((getattr(Footprint, f.name).__set__, f.default) for f in rest)

    def __call__(self, values: Sequence[Any]) -> Footprint:
        """One record from one value per field."""
        fp: Footprint = object.__new__(Footprint)
        for set_, v in zip(self._setters, values, strict=True):
            set_(fp, v)
        for set_, v in self._defaults:
            set_(fp, v)
        return fp

    def columns(self, columns: Sequence[Sequence[Any]]) -> list[Footprint]:
        """Records from one column per field (all of the same length), the k-th
        record from the k-th value of each column."""
        if len(columns) != len(self._setters):
            msg = f"footprint_maker: {len(columns)} columns for {len(self._setters)} fields"
            raise ValueError(msg)
        n = len(columns[0]) if columns else 0
        short = [nm for nm, c in zip(self.names, columns, strict=True) if len(c) != n]
        if short:
            msg = f"footprint_maker: columns {short} are not {n} long like {self.names[0]!r}"
            raise ValueError(msg)
        out: list[Footprint] = list(map(object.__new__, repeat(Footprint, n)))
        for set_, col in zip(self._setters, columns, strict=True):
            deque(map(set_, out, col), maxlen=0)
        for set_, v in self._defaults:
            deque(map(set_, out, repeat(v, n)), maxlen=0)
        return out


def footprint_maker(names: Sequence[str]) -> FootprintMaker:
    """A :class:`FootprintMaker` of the fields ``names``."""
    return FootprintMaker(names)


def _copied(value: Any) -> Any:
    """``value`` with its dicts, lists and tuples copied (what ``dataclasses.asdict`` does
    to a footprint's fields, without its per-object overhead)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    return value


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``obj``, for hashing and signing.

    Keys sorted by UTF-16 code units, no spaces, numbers in ECMAScript form.
    Raises ``ValueError`` for NaN, infinities, integers beyond 2**53, non-string
    keys and lone surrogates.

    ``orjson`` writes the bytes (keys sorted, no spaces, UTF-8 unescaped) after a
    walk over ``obj`` gives each number the form RFC 8785 section 3.2.2.3 asks for
    (see :func:`_jcs_ready`); what that cannot do exactly (other types, keys beyond
    U+FFFF, NaN and infinities, lone surrogates) is left to the ``rfc8785``
    package, which also raises the errors.
    """
    small: list[bytes] = []
    try:
        text: bytes = orjson.dumps(_jcs_ready(obj, small), option=orjson.OPT_SORT_KEYS)
        if small:
            if text.count(_MARK) != 2 * len(small):  # a string of obj holds the mark itself
                raise _NotFast
            text = _MARKED.sub(lambda m: small[int(m[1])], text)
        return text
    except Exception:
        return rfc8785.dumps(obj)


class _NotFast(Exception):
    """``obj`` holds what only the ``rfc8785`` package writes (or rejects) exactly."""


_SAFE_INT = 2**53 - 1
#: a private-use character around the index of a number that stands in its place
_MARK_TEXT = "\ue000"
#: the mark as ``orjson`` writes it (UTF-8), and a marked number in its output
_MARK = _MARK_TEXT.encode()
_MARKED = re.compile(b'"' + _MARK + b"(\\d+)" + _MARK + b'"')


def _jcs_ready(v: Any, small: list[bytes]) -> Any:
    """``v`` as ``orjson`` writes it in RFC 8785 form: floats that ECMAScript writes as
    integers become ints; those it writes in another form than ``repr`` (below 1e-4)
    become marked strings whose text is in ``small``."""
    t = type(v)
    if t is dict:
        out = {}
        for k, x in v.items():
            if type(k) is not str or (not k.isascii() and max(k) > "\uffff"):
                raise _NotFast  # sorted by code points, RFC 8785 sorts by UTF-16 units
            tx = type(x)  # the common leaves here: a call less each
            if tx is str or tx is bool or x is None:
                out[k] = x
            elif tx is float:
                out[k] = _es_float(x, small)
            else:
                out[k] = _jcs_ready(x, small)
        return out
    if t is str or t is bool or v is None:
        return v
    if t is float:
        return _es_float(v, small)
    if t is int:
        if -_SAFE_INT <= v <= _SAFE_INT:
            return v
        raise _NotFast
    if t is list or t is tuple:
        return [_jcs_ready(x, small) for x in v]
    if isinstance(v, float):  # numpy's float64 and other float subclasses
        return _es_float(float(v), small)
    if isinstance(v, Integral) and not isinstance(v, bool):  # numpy's integers
        return _jcs_ready(int(v), small)
    raise _NotFast


def _es_float(v: float, small: list[bytes]) -> Any:
    """``v`` as :func:`_jcs_ready` gives it to the encoder (RFC 8785 section 3.2.2.3)."""
    if v.is_integer():  # ECMAScript: no ".0", no exponent below 1e21; -0 is "0"
        if -1e16 < v < 1e16:
            return int(v)
        if -1e21 < v < 1e21:  # repr has an exponent: its digits, then zeros
            return int(Decimal(repr(v)))
        return v  # "1e+21" and up: repr's form
    if -1e-3 < v < 1e-3:
        r = repr(v)
        if "e" in r:  # Python from 1e-4 down, ECMAScript from 1e-6 down
            small.append(_es_small(r).encode())
            return f"{_MARK_TEXT}{len(small) - 1}{_MARK_TEXT}"
    if v - v:  # NaN and infinities (orjson would write null): rfc8785 raises
        raise _NotFast
    return v


def _es_small(r: str) -> str:
    """ECMAScript's Number::toString of the float whose ``repr`` is ``r`` (exponent < 0)."""
    mantissa, _, exp = r.partition("e")
    n = int(exp)
    if n < -6:
        return f"{mantissa}e{n}"  # 1e-7: no zero-padded exponent
    sign = "-" if mantissa.startswith("-") else ""
    return f"{sign}0.{'0' * (-n - 1)}{mantissa.lstrip('-').replace('.', '')}"
