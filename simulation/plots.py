"""PNG charts of a simulated run (matplotlib, Agg backend): Gantt and power with grid intensity."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .results import _REPORTED  # noqa: E402
from .sim import SimResult  # noqa: E402

__all__ = ["gantt_chart", "pareto_chart", "power_chart"]

_STATE_COLOURS = {
    "OFF": "#ffffff",
    "STANDBY": "#d9d9d9",
    "IDLE": "#bdbdbd",
    "SETUP": "#fdae6b",
    "PROCESSING": "#3182bd",
    "FAULT": "#de2d26",
}


def _dates(t: np.ndarray) -> np.ndarray:
    return mdates.date2num(pd.to_datetime(t, unit="s", utc=True).tz_localize(None))


def gantt_chart(result: SimResult, path: str | Path, title: str = "") -> Path:
    """Machine states over time, one row per machine, orders' processing steps labelled.

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
            x0 = _dates(tr.t[sel])
            x1 = _dates(ends[sel])
            ax.broken_barh(
                list(zip(x0, x1 - x0, strict=True)),
                (row - 0.4, 0.8),
                facecolors=colour,
                edgecolors="none",
            )
    ax.set_yticks(range(len(machines)), machines)
    ax.invert_yaxis()
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %H:%M"))
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#888888")
        for c in _STATE_COLOURS.values()
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
    ax.set_xlabel("time (UTC)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def power_chart(result: SimResult, path: str | Path, title: str = "") -> Path:
    """Plant electric power [kW] over time (hourly mean) with the grid intensity overlaid."""
    hours = result.hour_edges[:-1]
    width_h = np.diff(result.hour_edges) / 3600.0
    mean_kw = np.divide(result.hourly_kwh, width_h, out=np.zeros_like(width_h), where=width_h > 0)
    fig, ax = plt.subplots(figsize=(14, 4.5), dpi=100)
    x = _dates(hours)
    ax.step(x, mean_kw, where="post", color="#3182bd", label="electric power (hourly mean)")
    ax.set_ylabel("power [kW]")
    ax.set_xlabel("time (UTC)")
    ax2 = ax.twinx()
    ax2.step(
        x,
        result.grid_kg_per_kwh * 1000.0,
        where="post",
        color="#31a354",
        alpha=0.8,
        label="grid intensity",
    )
    ax2.set_ylabel("grid intensity [g CO2e/kWh]")
    ax.xaxis_date()
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %H:%M"))
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    ax.set_title(title or f"Power and grid intensity ({result.policy})")
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


def pareto_chart(report: dict[str, object], path: str | Path, title: str = "") -> Path:
    """The optimizer's front: CO2e against makespan, coloured by cost, as-is and the pick marked.

    ``report`` is what :func:`~carbontwin.simulation.optimizer.optimize_scenario` returns.
    """
    front: list[dict[str, float]] = report["front"]  # type: ignore[assignment]
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
        fig.colorbar(sc, ax=ax, label="energy cost")
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
        base["makespan_h"] * (1 + float(limit) / 100.0),  # type: ignore[arg-type]
        color="#888888",
        linestyle="--",
        label=f"makespan limit (+{float(limit):.0f} %)",  # type: ignore[arg-type]
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
