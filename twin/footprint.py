"""Per-order product carbon footprint: the record attribution issues.

A :class:`Footprint` is immutable once issued. A correction is a new version
whose ``replaces`` names the id of the one it supersedes.

All breakdowns add up to their totals (a tested invariant):

- ``co2e_kg == scope1_kg + scope2_location_kg + scope3_kg`` (location-based)
- ``co2e_market_kg == scope1_kg + scope2_market_kg + scope3_kg``
- ``sum(energy_by_carrier_kwh) == sum(energy_by_asset_kwh) == sum(energy_by_state_kwh)
  == energy_kwh``
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import rfc8785

from .quantities import utc

__all__ = ["ACTIVE", "DEPRECATED", "Footprint", "canonical_json"]

#: PACT statuses a footprint version is issued with (a withdrawal is Deprecated).
ACTIVE, DEPRECATED = "Active", "Deprecated"


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

    def successor(self, new: Footprint) -> Footprint:
        """``new`` as the next version of this footprint (a correction)."""
        return replace(
            new, id=str(uuid.uuid4()), version=self.version + 1, replaces=self.id, issued_at=None
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 UTC times); nested containers are copies."""
        d = {name: _copied(getattr(self, name)) for name in self.__dataclass_fields__}
        for k in ("period_start", "period_end", "issued_at"):
            if d[k] is not None:
                d[k] = d[k].isoformat().replace("+00:00", "Z")
        d["flags"] = list(self.flags)
        d["method"] = list(self.method)
        for k, v in d.items():
            if isinstance(v, Mapping):
                d[k] = {str(kk): vv for kk, vv in sorted(v.items())}
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

    Keys sorted by UTF-16 code units, no spaces, numbers in ECMAScript form
    (``rfc8785`` package). Raises ``ValueError`` for NaN, infinities, integers
    beyond 2**53 and non-string keys.
    """
    return rfc8785.dumps(obj)
