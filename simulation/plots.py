"""PNG charts (matplotlib, Agg backend): Gantt, power per energy carrier with grid intensity,
KPI comparison of scenarios, and the optimizer's Pareto front.

Times are shown in the plant's local time (``tz``, the site's IANA zone); charts
of compared schedules take one time range (``xlim``, epoch seconds) so they line up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .results import _REPORTED  # noqa: E402
from .sim import SimResult  # noqa: E402

__all__ = ["gantt_chart", "kpi_chart", "pareto_chart", "power_chart", "time_range"]

_CARRIER_COLOURS = {
    "electricity": "#3182bd",
    "natural_gas": "#e6550d",
    "diesel": "#756bb1",
    "lpg": "#636363",
    "steam": "#31a354",
    "heat": "#fd8d3c",
}

_STATE_COLOURS = {
    "OFF": "#ffffff",
    "STANDBY": "#d9d9d9",
    "IDLE": "#bdbdbd",
    "SETUP": "#fdae6b",
    "PROCESSING": "#3182bd",
    "FAULT": "#de2d26",
}


def _dates(t: np.ndarray, tz: str = "UTC") -> np.ndarray:
    local = pd.to_datetime(np.asarray(t, dtype=float), unit="s", utc=True).tz_convert(tz or "UTC")
    days: np.ndarray = mdates.date2num(local.tz_localize(None))  # type: ignore[no-untyped-call]  # not annotated in matplotlib
    return days


def time_range(results: list[SimResult]) -> tuple[float, float]:
    """One time range [epoch s] covering every result, for charts that are compared."""
    return min(r.t0 for r in results), max(r.t_end for r in results)


def _time_axis(ax: Axes, tz: str, xlim: tuple[float, float] | None) -> None:
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %H:%M"))  # type: ignore[no-untyped-call]  # not annotated in matplotlib
    if xlim is not None:
        left, right = _dates(np.array(xlim), tz)
        ax.set_xlim(float(left), float(right))
    ax.set_xlabel(f"plant local time ({tz or 'UTC'})")


def gantt_chart(
    result: SimResult,
    path: str | Path,
    title: str = "",
    *,
    tz: str = "UTC",
    xlim: tuple[float, float] | None = None,
) -> Path:
    """Machine states over time, one row per machine.

    Returns the path of the PNG written.
    """
    machines = [a for a, tr in result.traces.items() if tr.kind == "machine"]
    fig, ax = plt.subplots(figsize=(14, 0.5 * len(machines) + 2), dpi=100)
    for row, a in enumerate(machines):
        tr = result.traces[a]
        ends = np.append(tr.t[1:], result.t_end)
        names = _REPORTED[tr.code]
        for state, colour in _STATE_COLOURS.items():
            sel = names == state
            if not sel.any() or state == "OFF":
                continue
            x0 = _dates(tr.t[sel], tz)
            x1 = _dates(ends[sel], tz)
            ax.broken_barh(
                list(zip(x0, x1 - x0, strict=True)),
                (row - 0.4, 0.8),
                facecolors=colour,
                edgecolors="none",
            )
    ax.set_yticks(range(len(machines)), machines)
    ax.invert_yaxis()
    _time_axis(ax, tz, xlim)
    handles = [
        Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#888888") for c in _STATE_COLOURS.values()
    ]
    ax.legend(
        handles,
        list(_STATE_COLOURS),
        loc="upper center",
        ncol=6,
        bbox_to_anchor=(0.5, -0.08),
        frameon=False,
    )
    ax.set_title(title or f"Machine states ({result.policy})")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def power_chart(
    result: SimResult,
    path: str | Path,
    title: str = "",
    *,
    tz: str = "UTC",
    xlim: tuple[float, float] | None = None,
) -> Path:
    """Plant power per energy carrier [kW] (hourly mean, machines and utilities) with the
    grid intensity overlaid."""
    from .results import hourly_energy_kwh

    edges = result.hour_edges
    width_h = np.diff(edges) / 3600.0
    by_carrier: dict[str, np.ndarray] = {}
    for tr in result.traces.values():
        e = hourly_energy_kwh(tr, edges)
        by_carrier[tr.carrier] = by_carrier.get(tr.carrier, 0.0) + e
    fig, ax = plt.subplots(figsize=(14, 4.5), dpi=100)
    x = _dates(edges[:-1], tz)
    for carrier in sorted(by_carrier, key=lambda c: (c != "electricity", c)):
        kw = np.divide(by_carrier[carrier], width_h, out=np.zeros_like(width_h), where=width_h > 0)
        ax.step(
            x,
            kw,
            where="post",
            color=_CARRIER_COLOURS.get(carrier, "#555555"),
            label=f"{carrier.replace('_', ' ')} [kW] (hourly mean, {by_carrier[carrier].sum():,.0f} kWh)",
        )
    ax.set_ylabel("power [kW]")
    ax2 = ax.twinx()
    ax2.step(
        x,
        result.grid_kg_per_kwh * 1000.0,
        where="post",
        color="#31a354",
        alpha=0.6,
        linestyle=":",
        label="grid intensity [g CO2e/kWh]",
    )
    ax2.set_ylabel("grid intensity [g CO2e/kWh]")
    _time_axis(ax, tz, xlim)
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [str(ln.get_label()) for ln in lines], loc="upper right", fontsize=8)
    ax.set_title(title or f"Power per energy carrier and grid intensity ({result.policy})")
    fig.text(
        0.01,
        0.01,
        "Grid intensity derived from ENTSO-E Transparency Platform generation "
        "data and Tranberg et al. (2019) emission factors.",
        fontsize=7,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def kpi_chart(
    report: object,
    path: str | Path,
    kpis: tuple[str, ...] = (
        "energy_kwh",
        "co2e_kg",
        "cost",
        "peak_demand_kw",
        "makespan_h",
        "total_tardiness_h",
    ),
) -> Path:
    """Each candidate's change against the baseline per KPI [%], with 95 % intervals.

    ``report`` is a :class:`~carbontwin.simulation.scenario.ScenarioReport`.
    """
    from .scenario import ScenarioReport

    assert isinstance(report, ScenarioReport)
    names = [n for n in report.names if n != report.baseline]
    shown = [k for k in kpis if k in report.kpis]
    fig, ax = plt.subplots(figsize=(max(8, 2.2 * len(shown)), 5), dpi=100)
    width = 0.8 / max(len(names), 1)
    x = np.arange(len(shown))
    for i, n in enumerate(names):
        base = np.array([report.stats[report.baseline][k].mean for k in shown])
        mean = np.array([report.diffs[n][k].mean for k in shown])
        hw = np.array([report.diffs[n][k].half_width for k in shown])
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(base != 0, mean / base * 100.0, np.nan)
            err = np.where(base != 0, np.nan_to_num(hw) / np.abs(base) * 100.0, np.nan)
        ax.bar(x + (i - (len(names) - 1) / 2) * width, rel, width, yerr=err, capsize=3, label=n)
    ax.axhline(0.0, color="#333333", linewidth=0.8)
    ax.set_xticks(x, shown)
    ax.set_ylabel(f"change against {report.baseline} [%] (mean, 95 % CI)")
    ax.set_title(
        f"{report.scenario}: KPIs against {report.baseline}, {len(report.seeds)} replications"
    )
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def pareto_chart(report: dict[str, object], path: str | Path, title: str = "") -> Path:
    """The optimizer's front: CO2e against makespan, coloured by cost, as-is and the pick marked.

    ``report`` is what :func:`~carbontwin.simulation.optimizer.optimize_scenario` returns.
    """
    front: list[dict[str, Any]] = report["front"]  # type: ignore[assignment]
    base: dict[str, float] = report["baseline_kpis"]  # type: ignore[assignment]
    pick: dict[str, float] = report["recommended_kpis"]  # type: ignore[assignment]
    limit = report["constraints"]["max_makespan_increase_pct"]  # type: ignore[index]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
    x = np.array([k["makespan_h"] for k in front])
    y = np.array([k["co2e_kg"] for k in front])
    has_cost = "cost" in base
    c = np.array([k.get("cost", 0.0) for k in front])
    tard = np.array([k["total_tardiness_h"] for k in front])
    sc = ax.scatter(
        x,
        y,
        c=c if has_cost else "#3182bd",
        cmap="viridis",
        s=30 + 20 * np.minimum(tard, 10.0),
        edgecolors="#333333",
        linewidths=0.5,
        label="Pareto front (size: tardiness)",
        zorder=3,
    )
    if has_cost:
        parts = ["energy"] + [
            name
            for key, name in (("demand_charge", "demand charge"), ("overtime_cost", "overtime"))
            if key in base
        ]
        fig.colorbar(sc, ax=ax, label="cost (" + ", ".join(parts) + ")")
    exact = [k for k in front if k.get("solver") == "cpsat"]
    if exact:
        ax.scatter(
            [k["makespan_h"] for k in exact],
            [k["co2e_kg"] for k in exact],
            marker="D",
            s=90,
            facecolors="none",
            edgecolors="#08519c",
            linewidths=1.5,
            label="CP-SAT (exact model)",
            zorder=4,
        )
    ax.scatter(
        [base["makespan_h"]],
        [base["co2e_kg"]],
        marker="*",
        s=300,
        color="#de2d26",
        label="as-is",
        zorder=4,
    )
    ax.scatter(
        [pick["makespan_h"]],
        [pick["co2e_kg"]],
        marker="o",
        s=260,
        facecolors="none",
        edgecolors="#de2d26",
        linewidths=2,
        label="recommended",
        zorder=5,
    )
    ax.axvline(
        base["makespan_h"] * (1 + float(limit) / 100.0),
        color="#888888",
        linestyle="--",
        label=f"makespan limit (+{float(limit):.0f} %)",
    )
    ax.set_xlabel("makespan [h from the scenario start]")
    ax.set_ylabel("CO2e of energy [kg] (hourly location-based grid, fuels)")
    ax.set_title(title or f"{report.get('scenario', '')}: schedules against as-is")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
