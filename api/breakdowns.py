"""Breakdowns of an attribution people can read: per order by machine, state, utility,
material, scope and hour, as tidy pandas frames.

One module serves the command line (``carbontwin attribute --by``, ``--csv``,
``--xlsx``), the dashboard's API routes and the period report, so a number
reads the same wherever it is shown.

Every energy breakdown is computed from the attribution's pieces
(:attr:`carbontwin.twin.attribution.Attribution.pieces`), one row per
allocated piece of energy, and adds up to the order's energy; ``overhead``
is a row like an order where ``overhead=True``:

- ``machine``: energy a machine drew itself (its meter's share), by order;
- ``utility``: energy a utility (compressed air, HVAC, ...) drew, by order and
  by the asset it served;
- ``state``: energy by the power state it was drawn in (utilities' share in
  the state of the asset they served);
- ``hour``: energy and emissions by UTC hour;
- ``material``: scope 3 rows (material x supplier PCF);
- ``scope``: kg CO2e by scope (1, 2 location-based, 2 market-based, 3).

``machine`` plus ``utility`` rows of an order add up to its ``energy_kwh`` and
to its scope 1 + scope 2 (location-based) kg CO2e; ``material`` rows add up to
its scope 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbontwin.twin.attribution import Attribution
from carbontwin.twin.errors import CarbonTwinError
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory

__all__ = [
    "BY",
    "OVERHEAD",
    "breakdown",
    "breakdowns",
    "export_frames",
    "hotspots",
    "orders_frame",
    "summary",
]

#: The dimensions a breakdown can be taken by.
BY: tuple[str, ...] = ("machine", "state", "utility", "material", "scope", "hour")
#: Energy no order carries appears under this order name.
OVERHEAD = "overhead"
_ENERGY = ["energy_kwh", "co2e_kg", "co2e_market_kg"]


def orders_frame(footprints: Iterable[Footprint]) -> pd.DataFrame:
    """One row per footprint: the per-order table with its data-quality flags.

    Columns: order, product, quantity, declared_unit, energy_kwh, co2e_kg,
    co2e_per_unit_kg, co2e_market_kg, scope1_kg, scope2_location_kg,
    scope2_market_kg, scope3_kg, primary_data_share, period_start_utc,
    period_end_utc, version, flags (``"; "``-joined).
    """
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
            "period_start_utc": pd.Timestamp(fp.period_start),
            "period_end_utc": pd.Timestamp(fp.period_end),
            "version": fp.version,
            "flags": "; ".join(fp.flags),
        }
        for fp in footprints
    ]
    return pd.DataFrame(rows, columns=list(_ORDER_COLUMNS))


_ORDER_COLUMNS = (
    "order",
    "product",
    "quantity",
    "declared_unit",
    "energy_kwh",
    "co2e_kg",
    "co2e_per_unit_kg",
    "co2e_market_kg",
    "scope1_kg",
    "scope2_location_kg",
    "scope2_market_kg",
    "scope3_kg",
    "primary_data_share",
    "period_start_utc",
    "period_end_utc",
    "version",
    "flags",
)


def _pieces(res: Attribution, order: str | None, overhead: bool) -> pd.DataFrame:
    p = res.pieces
    names = p["order"].astype(str)
    keep = np.ones(len(p), dtype=bool)
    if order is not None:
        keep &= (names == order).to_numpy()
    if not overhead:
        keep &= (names != OVERHEAD).to_numpy()
    out = p.loc[keep].copy()
    for col in ("order", "asset", "served_asset", "state"):
        out[col] = out[col].astype(str)
    return out


def _sum(p: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if p.empty:
        return pd.DataFrame(columns=[*keys, *_ENERGY])
    return p.groupby(keys, sort=True)[_ENERGY].sum().reset_index()


def breakdown(
    res: Attribution,
    factory: Factory,
    by: str,
    *,
    order: str | None = None,
    overhead: bool = True,
) -> pd.DataFrame:
    """The tidy breakdown of ``res`` by ``by`` (one of :data:`BY`).

    Parameters
    ----------
    res : Attribution
        An attribution result.
    factory : Factory
        The factory it was computed for (which assets are utilities).
    by : str
        ``machine``, ``state``, ``utility``, ``material``, ``scope`` or ``hour``.
    order : str, optional
        Only this order (or ``"overhead"``).
    overhead : bool
        Include the energy no order carries as order ``"overhead"``.

    Returns
    -------
    pandas.DataFrame
        One row per (order, key) with energy [kWh] and kg CO2e columns; see
        the module docstring for each dimension's columns.
    """
    if by not in BY:
        msg = f"unknown breakdown {by!r}: choose one of {', '.join(BY)}"
        raise CarbonTwinError(msg, field="by")
    utilities = {u.id for u in factory.utilities}
    if by in ("machine", "utility", "state", "hour"):
        p = _pieces(res, order, overhead)
        is_utility = p["asset"].isin(utilities)
        if by == "machine":
            df = _sum(p[~is_utility], ["order", "asset"]).rename(columns={"asset": "machine"})
        elif by == "utility":
            df = _sum(p[is_utility], ["order", "asset", "served_asset"]).rename(
                columns={"asset": "utility"}
            )
        elif by == "state":
            df = _sum(p, ["order", "state"])
        else:
            hour = np.floor(p["t"].to_numpy(dtype=float) / 3600.0) * 3600.0
            p = p.assign(hour_start_utc=pd.to_datetime(hour, unit="s", utc=True))
            df = _sum(p, ["order", "hour_start_utc"])
        return df.reset_index(drop=True)
    if by == "material":
        m = res.materials
        if order is not None:
            m = m[m["order"].astype(str) == order]
        cols = ["order", "material", "supplier", "quantity", "unit", "co2e_kg", "primary", "basis"]
        df = m[[c for c in cols if c in m.columns]].copy()
        df["order"] = df["order"].astype(str)
        return df.sort_values(["order", "material"], kind="stable").reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    fps = [res.footprints[order]] if order is not None and order in res.footprints else []
    if order is None:
        fps = list(res.footprints.values())
    for fp in fps:
        rows += [
            {"order": fp.order, "scope": "1", "co2e_kg": fp.scope1_kg},
            {"order": fp.order, "scope": "2 location-based", "co2e_kg": fp.scope2_location_kg},
            {"order": fp.order, "scope": "2 market-based", "co2e_kg": fp.scope2_market_kg},
            {"order": fp.order, "scope": "3", "co2e_kg": fp.scope3_kg},
        ]
    if overhead and order in (None, OVERHEAD):
        p = _pieces(res, OVERHEAD, True)
        s1 = float(p.loc[p["scope"] == 1, "co2e_kg"].sum())
        rows += [
            {"order": OVERHEAD, "scope": "1", "co2e_kg": s1},
            {"order": OVERHEAD, "scope": "2 location-based", "co2e_kg": res.overhead_co2e_kg - s1},
            {
                "order": OVERHEAD,
                "scope": "2 market-based",
                "co2e_kg": res.overhead_co2e_market_kg - s1,
            },
        ]
    return pd.DataFrame(rows, columns=["order", "scope", "co2e_kg"])


def breakdowns(
    res: Attribution, factory: Factory, *, overhead: bool = True
) -> dict[str, pd.DataFrame]:
    """Every breakdown of :data:`BY`, by name."""
    return {by: breakdown(res, factory, by, overhead=overhead) for by in BY}


def summary(df: pd.DataFrame, by: str) -> pd.DataFrame:
    """Totals of a breakdown over all orders, one row per key, largest kg CO2e first.

    Columns: the key, ``orders_kwh``/``orders_co2e_kg`` (the orders' part),
    ``overhead_kwh``/``overhead_co2e_kg`` (where the breakdown has energy) and
    ``share`` (of the orders' kg CO2e in this breakdown, 0..1). Materials add
    ``quantity`` and ``unit``.
    """
    key = {"utility": "utility", "hour": "hour_start_utc"}.get(by, by)
    is_oh = df["order"].astype(str) == OVERHEAD
    orders, oh = df[~is_oh], df[is_oh]
    if by == "material":
        g = orders.groupby(["material", "unit"], sort=True)
        out = g[["quantity", "co2e_kg"]].sum().reset_index()
        out = out.rename(columns={"co2e_kg": "orders_co2e_kg"})
    else:
        value_cols = ["co2e_kg"] if by == "scope" else ["energy_kwh", "co2e_kg"]
        a = orders.groupby(key, sort=True)[value_cols].sum()
        a.columns = [f"orders_{c}" for c in value_cols]
        b = oh.groupby(key, sort=True)[value_cols].sum()
        b.columns = [f"overhead_{c}" for c in value_cols]
        out = a.join(b, how="outer").fillna(0.0).reset_index()
        out = out.rename(
            columns={"orders_energy_kwh": "orders_kwh", "overhead_energy_kwh": "overhead_kwh"}
        )
    if by == "scope":
        # market-based scope 2 is another view of scope 2, not more of it
        loc = out["scope"] != "2 market-based"
        total = float(out.loc[loc, "orders_co2e_kg"].sum())
    else:
        total = float(out["orders_co2e_kg"].sum())
    out["share"] = out["orders_co2e_kg"] / total if total > 0 else 0.0
    if by not in ("hour", "scope"):
        out = out.sort_values("orders_co2e_kg", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def _ranked(p: pd.DataFrame, key: str, limit: int) -> list[dict[str, Any]]:
    is_oh = p["order"].astype(str) == OVERHEAD
    g = p.assign(
        orders_co2e_kg=p["co2e_kg"].where(~is_oh, 0.0),
        overhead_co2e_kg=p["co2e_kg"].where(is_oh, 0.0),
    ).groupby(p[key].astype(str))
    s = g[["energy_kwh", "co2e_kg", "orders_co2e_kg", "overhead_co2e_kg"]].sum()
    s = s[s["energy_kwh"] > 0].sort_values("co2e_kg", ascending=False, kind="stable").head(limit)
    return [{"key": str(k), **{c: float(v) for c, v in row.items()}} for k, row in s.iterrows()]


def hotspots(
    res: Attribution,
    factory: Factory,
    *,
    limit: int = 10,
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """What cost the most CO2e (scopes 1 and 2, location-based), orders and overhead together.

    ``machines``: each machine's own energy and the utilities' share it drew;
    ``states``: by power state; ``idle``: IDLE and STANDBY energy per machine.
    Each entry has ``key``, ``energy_kwh``, ``co2e_kg`` and its split into
    ``orders_co2e_kg`` and ``overhead_co2e_kg``, largest first. ``start`` and
    ``end`` [epoch s] limit the energy to that time.
    """
    p = res.pieces
    if start is not None or end is not None:
        t = p["t"].to_numpy(dtype=float)
        keep = np.ones(t.size, dtype=bool)
        if start is not None:
            keep &= t >= start
        if end is not None:
            keep &= t < end
        p = p.loc[keep]
    machines = {m.id for m in factory.machines}
    on_machine = p[p["served_asset"].astype(str).isin(machines)]
    idle = on_machine[on_machine["state"].astype(str).isin(("IDLE", "STANDBY"))]
    return {
        "total_co2e_kg": float(p["co2e_kg"].sum()),
        "machines": _ranked(on_machine, "served_asset", limit),
        "states": _ranked(p, "state", limit),
        "idle": _ranked(idle, "served_asset", limit),
    }


def _for_file(df: pd.DataFrame, excel: bool) -> pd.DataFrame:
    """Timestamps as naive UTC for Excel (it has no time zones); booleans stay booleans."""
    if not excel:
        return df
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def export_frames(frames: Mapping[str, pd.DataFrame], path: Path) -> list[Path]:
    """Write ``frames`` as one Excel workbook (``.xlsx``, a sheet each) or CSV files.

    For CSV the first frame goes to ``path`` and each further one to
    ``<stem>-<name>.csv`` beside it. Times are UTC (ISO 8601 in CSV, naive UTC
    in Excel, whose cells have no time zone and keep milliseconds). Returns the files written.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in frames.items():
                _for_file(df, True).to_excel(xw, sheet_name=name[:31], index=False)
        return [path]
    written = []
    for k, (name, df) in enumerate(frames.items()):
        target = path if k == 0 else path.with_name(f"{path.stem}-{name}.csv")
        df.to_csv(target, index=False)
        written.append(target)
    return written
