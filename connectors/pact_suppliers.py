"""Supplier product footprints in: PACT v2/v3 ``ProductFootprint`` JSON, from files or
pulled from a supplier's PACT host (OAuth2 client credentials).

A supplier footprint becomes the supply link of one material of the factory
(:class:`~carbontwin.twin.model.SupplyLink`): its ``pcfExcludingBiogenicUptake``
(v3) or ``pCfExcludingBiogenic`` (v2) per declared unit, converted to the
material's unit (pint); its primary data share and DQRs, carried into the
footprints of the orders that use the material; its id and version in the
link's source, which every footprint's lineage names.

Checks before a footprint is used (PACT Technical Specifications, WBCSD):

- status ``Active`` (a ``Deprecated`` footprint was superseded);
- validity period: ``validityPeriodStart``/``End``, or when the supplier gives
  none, 3 years from ``referencePeriodEnd`` (v3 data model); the footprint must
  be valid at the time of import;
- the declared unit converts to the material's unit (``kilogram`` to ``t``,
  ``liter`` to ``m**3``; ``piece`` only to pieces, or to a mass through
  ``productMassPerDeclaredUnit``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from carbontwin.twin.errors import ConnectorError
from carbontwin.twin.model import Factory, Supplier, SupplyLink
from carbontwin.twin.quantities import plus_years

__all__ = [
    "SupplierFootprint",
    "apply_supplier_footprint",
    "parse_product_footprint",
    "pcf_per_material_unit",
    "pull_footprints",
    "read_footprint_file",
]

#: PACT declared units -> pint unit expressions.
_UNITS = {
    "kilogram": "kg",
    "liter": "liter",
    "cubic meter": "m**3",
    "kilowatt hour": "kWh",
    "megajoule": "MJ",
    "ton kilometer": "t*km",
    "square meter": "m**2",
    "piece": "piece",
}
#: Validity of a footprint that declares none: 3 years from its reference period end.
DEFAULT_VALIDITY_YEARS = 3


@dataclass(frozen=True, slots=True)
class SupplierFootprint:
    """The parts of a PACT ProductFootprint that carbontwin uses.

    Attributes
    ----------
    id, spec_version, version, status : str
        ``version`` is v2's integer version as text, ``""`` in v3 (which has none).
    company_name : str
    company_ids, product_ids : tuple of str
    declared_unit : str
        PACT unit (``"kilogram"``, ``"piece"``, ...).
    declared_amount : float
        Amount of the declared unit the values refer to.
    pcf_kg : float
        kg CO2e per ``declared_amount`` declared units, excluding biogenic uptake.
    mass_kg : float or None
        Product mass per declared unit amount [kg], when given.
    valid_from, valid_to : datetime
    primary_data_share : float or None
        0..1.
    dqr : Mapping[str, float]
        ``technological``, ``geographical``, ``temporal`` (1 best .. 3 worst) as given.
    source : str
        File or URL the footprint came from.
    """

    id: str
    spec_version: str
    version: str
    status: str
    company_name: str
    company_ids: tuple[str, ...]
    product_ids: tuple[str, ...]
    declared_unit: str
    declared_amount: float
    pcf_kg: float
    mass_kg: float | None
    valid_from: datetime
    valid_to: datetime
    primary_data_share: float | None
    dqr: Mapping[str, float]
    source: str

    @property
    def label(self) -> str:
        """``PACT <id> v<version>`` (``PACT <id>`` for v3), as the lineage names it."""
        return f"PACT {self.id}" + (f" v{self.version}" if self.version else "")


def _fail(where: str, field: str, msg: str) -> ConnectorError:
    return ConnectorError(f"{where}: {field}: {msg}", field=field)


def _num(value: Any, where: str, field: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise _fail(where, field, f"{value!r} is not a number") from None
    if not math.isfinite(x):
        raise _fail(where, field, f"{value!r} is not finite")
    return x


def _time(value: Any, where: str, field: str) -> datetime:
    if not isinstance(value, str):
        raise _fail(where, field, "missing or not a date-time string")
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _fail(where, field, f"{value!r} is not an ISO 8601 date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_product_footprint(doc: Any, where: str = "footprint") -> SupplierFootprint:
    """Read a PACT v2.x or v3.x ``ProductFootprint`` (a dict); errors name the field."""
    if not isinstance(doc, dict):
        raise _fail(where, "(document)", "a ProductFootprint must be a JSON object")
    pcf = doc.get("pcf")
    if not isinstance(pcf, dict):
        raise _fail(where, "pcf", "missing or not an object")
    spec = str(doc.get("specVersion", ""))
    if not spec or spec[0] not in "23":
        raise _fail(where, "specVersion", f"{spec!r} is not a PACT 2.x or 3.x version")
    for key in ("id", "companyName"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise _fail(where, key, "missing or empty")
    v3 = spec.startswith("3")
    if v3:
        unit = pcf.get("declaredUnitOfMeasurement")
        amount = _num(pcf.get("declaredUnitAmount"), where, "pcf.declaredUnitAmount")
        value = _num(pcf.get("pcfExcludingBiogenicUptake"), where, "pcf.pcfExcludingBiogenicUptake")
        mass = pcf.get("productMassPerDeclaredUnit")
        mass_kg = _num(mass, where, "pcf.productMassPerDeclaredUnit") if mass is not None else None
        dq = pcf.get("dqi") or {}
    else:
        unit = pcf.get("declaredUnit")
        amount = _num(pcf.get("unitaryProductAmount"), where, "pcf.unitaryProductAmount")
        # v2: pCfExcludingBiogenic is per declared unit; unitaryProductAmount is how
        # many declared units one product holds. Values are per 1 declared unit.
        value = _num(pcf.get("pCfExcludingBiogenic"), where, "pcf.pCfExcludingBiogenic")
        amount, mass_kg = 1.0, None
        dq = pcf.get("dqi") or {}
    if unit not in _UNITS:
        field = "pcf.declaredUnitOfMeasurement" if v3 else "pcf.declaredUnit"
        raise _fail(where, field, f"{unit!r} is not a PACT declared unit")
    if amount <= 0:
        raise _fail(where, "pcf.declaredUnitAmount", "must be > 0")
    if value < 0:
        raise _fail(where, "pcf.pcfExcludingBiogenicUptake", "must be >= 0")
    ref_end = _time(pcf.get("referencePeriodEnd"), where, "pcf.referencePeriodEnd")
    if doc.get("validityPeriodStart") or doc.get("validityPeriodEnd"):
        start = _time(doc.get("validityPeriodStart"), where, "validityPeriodStart")
        end = _time(doc.get("validityPeriodEnd"), where, "validityPeriodEnd")
    else:
        start, end = ref_end, plus_years(ref_end, DEFAULT_VALIDITY_YEARS)
    share = pcf.get("primaryDataShare")
    dqr = {
        k: _num(dq[f"{k}DQR"], where, f"pcf.dqi.{k}DQR")
        for k in ("technological", "geographical", "temporal")
        if isinstance(dq, dict) and dq.get(f"{k}DQR") is not None
    }
    return SupplierFootprint(
        id=str(doc["id"]),
        spec_version=spec,
        version=str(doc["version"]) if not v3 and "version" in doc else "",
        status=str(doc.get("status", "")),
        company_name=str(doc["companyName"]),
        company_ids=tuple(str(x) for x in doc.get("companyIds") or ()),
        product_ids=tuple(str(x) for x in doc.get("productIds") or ()),
        declared_unit=str(unit),
        declared_amount=amount,
        pcf_kg=value,
        mass_kg=mass_kg,
        valid_from=start,
        valid_to=end,
        primary_data_share=(
            _num(share, where, "pcf.primaryDataShare") / 100.0 if share is not None else None
        ),
        dqr=dqr,
        source=where,
    )


@cache
def _ureg() -> Any:
    import pint

    ureg: Any = pint.UnitRegistry()
    ureg.define("piece = [piece]")
    return ureg


def pcf_per_material_unit(sfp: SupplierFootprint, material_unit: str) -> float:
    """kg CO2e per one ``material_unit`` (``"kg"``, ``"t"``, ``"piece"``, ``"l"``, ...)."""
    ureg = _ureg()
    per_declared = sfp.pcf_kg / sfp.declared_amount
    declared = ureg(_UNITS[sfp.declared_unit])
    try:
        target = ureg("piece" if material_unit in ("piece", "pcs") else material_unit)
    except Exception:
        msg = f"{sfp.source}: material unit {material_unit!r} is not a unit pint knows"
        raise ConnectorError(msg, field="unit") from None
    try:  # one declared unit is this many material units
        return float(per_declared / declared.to(target).magnitude)
    except Exception:  # pint's DimensionalityError: other dimensions
        pass
    if sfp.declared_unit == "piece" and sfp.mass_kg:  # per piece -> per mass unit via its mass
        per_kg = per_declared / (sfp.mass_kg / sfp.declared_amount)
        try:
            return float(per_kg / ureg("kg").to(target).magnitude)
        except Exception:
            pass
    msg = (
        f"{sfp.source}: declared unit {sfp.declared_unit!r} does not convert to the "
        f"material's unit {material_unit!r}"
    )
    raise ConnectorError(msg, field="declaredUnit")


def check_usable(sfp: SupplierFootprint, at: datetime) -> None:
    """Raise ConnectorError unless ``sfp`` is Active and valid at ``at``."""
    if sfp.status and sfp.status != "Active":
        msg = f"{sfp.source}: footprint {sfp.id} has status {sfp.status!r}; use its successor"
        raise ConnectorError(msg, field="status")
    if not sfp.valid_from <= at <= sfp.valid_to:
        msg = (
            f"{sfp.source}: footprint {sfp.id} is valid from {sfp.valid_from:%Y-%m-%d} to "
            f"{sfp.valid_to:%Y-%m-%d}, not at {at:%Y-%m-%d}"
        )
        raise ConnectorError(msg, field="validityPeriodEnd")


def read_footprint_file(path: str | Path) -> list[SupplierFootprint]:
    """Footprints of a JSON file: one ProductFootprint, a list, or ``{"data": ...}``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"{p}: cannot read: {exc.strerror}"
        raise ConnectorError(msg, field="path") from None
    except json.JSONDecodeError as exc:
        msg = f"{p}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}"
        raise ConnectorError(msg, field="path") from None
    if isinstance(doc, dict) and "data" in doc:
        doc = doc["data"]
    docs = doc if isinstance(doc, list) else [doc]
    return [
        parse_product_footprint(d, f"{p}[{i}]" if len(docs) > 1 else str(p))
        for i, d in enumerate(docs)
    ]


def _token(client: httpx.Client, base: str, client_id: str, secret: str) -> str:
    token_url = f"{base}/auth/token"
    try:
        r = client.get(f"{base}/.well-known/openid-configuration")
        if r.status_code == 200 and isinstance(r.json().get("token_endpoint"), str):
            token_url = r.json()["token_endpoint"]
    except (httpx.HTTPError, ValueError):
        pass
    r = client.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    if r.status_code != 200:
        msg = f"{token_url}: token request answered {r.status_code}: {r.text[:200]}"
        raise ConnectorError(msg, field="client_secret")
    token = r.json().get("access_token")
    if not isinstance(token, str):
        msg = f"{token_url}: no access_token in the answer"
        raise ConnectorError(msg, field="access_token")
    return token


def pull_footprints(
    base_url: str,
    client_id: str,
    client_secret: str,
    *,
    product_ids: Sequence[str] = (),
    spec: int = 3,
    verify: Any = True,
    timeout_s: float = 30.0,
) -> list[SupplierFootprint]:
    """Footprints from a supplier's PACT host (ListFootprints, every page).

    Authenticates with OAuth2 client credentials (token endpoint from
    ``/.well-known/openid-configuration``, else ``/auth/token``), then follows
    the ``Link: rel="next"`` pages of ``/3/footprints`` (``/2/footprints``),
    filtered by ``productId`` (v3) or the OData ``productIds/any`` filter (v2).
    """
    base = base_url.rstrip("/")
    out: list[SupplierFootprint] = []
    try:
        with httpx.Client(timeout=timeout_s, verify=verify) as client:
            headers = {"Authorization": f"Bearer {_token(client, base, client_id, client_secret)}"}
            params: Any
            if spec == 3:
                params = [("productId", p) for p in product_ids]
            else:
                clause = " or ".join(f"p eq '{p}'" for p in product_ids)
                params = {"$filter": f"productIds/any(p:({clause}))"} if product_ids else {}
            url: str | None = f"{base}/{spec}/footprints"
            pages = 0
            while url and pages < 1000:
                r = client.get(url, params=params if pages == 0 else None, headers=headers)
                if r.status_code != 200:
                    msg = f"{url}: ListFootprints answered {r.status_code}: {r.text[:200]}"
                    raise ConnectorError(msg, field="url")
                data = r.json().get("data")
                if not isinstance(data, list):
                    msg = f"{url}: the answer has no 'data' list"
                    raise ConnectorError(msg, field="data")
                out += [parse_product_footprint(d, f"{url} data[{i}]") for i, d in enumerate(data)]
                url = r.links.get("next", {}).get("url")
                pages += 1
    except httpx.HTTPError as exc:
        msg = f"{base}: {exc}"
        raise ConnectorError(msg, field="url") from None
    return out


def apply_supplier_footprint(
    factory: Factory,
    supplier: str,
    material: str,
    sfp: SupplierFootprint,
    *,
    at: datetime | None = None,
    supplier_name: str = "",
) -> Factory:
    """``factory`` with ``supplier``'s footprint of ``material`` taken from ``sfp``.

    The footprint must be Active and valid at ``at`` (now by default); its value
    is converted to the material's unit. An existing link of that supplier and
    material is replaced, a new supplier is added with ``supplier_name`` (the
    footprint's company name by default).
    """
    mats = {m.id: m for m in factory.materials}
    if material not in mats:
        msg = f"material {material!r} is not in the factory (known: {', '.join(sorted(mats))})"
        raise ConnectorError(msg, field="material")
    check_usable(sfp, at or datetime.now(UTC))
    value = pcf_per_material_unit(sfp, mats[material].unit)
    share = sfp.primary_data_share
    dqr = sfp.dqr
    link = SupplyLink(
        material=material,
        pcf_kg_per_unit=value,
        source=f"{sfp.label} ({sfp.company_name}, PACT {sfp.spec_version}) from {sfp.source}",
        primary=(share or 0.0) > 0.0,
        pact_id=sfp.id,
        pact_version=sfp.version,
        primary_data_share=share,
        dqr=(dqr["technological"], dqr["geographical"], dqr["temporal"])
        if all(k in dqr for k in ("technological", "geographical", "temporal"))
        else None,
    )
    suppliers: list[Supplier] = []
    found = False
    for s in factory.suppliers:
        if s.id == supplier:
            found = True
            kept = tuple(x for x in s.supplies if x.material != material)
            s = replace(s, supplies=(*kept, link))
        suppliers.append(s)
    if not found:
        suppliers.append(
            Supplier(id=supplier, name=supplier_name or sfp.company_name, supplies=(link,))
        )
    return replace(factory, suppliers=tuple(suppliers))


def pick(footprints: Iterable[SupplierFootprint], product_id: str | None) -> SupplierFootprint:
    """The Active footprint for ``product_id`` (any product when None) valid latest."""
    cands = [
        f
        for f in footprints
        if (product_id is None or product_id in f.product_ids) and f.status in ("", "Active")
    ]
    if not cands:
        msg = f"no Active supplier footprint for product {product_id!r}"
        raise ConnectorError(msg, field="product_id")
    return max(cands, key=lambda f: (f.valid_to, f.version))
