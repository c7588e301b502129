"""Calibration: check the simulator's power model against a plant's meters, and fit it.

A measured period (the twin's events: machine states, order steps, meter
readings) is replayed through the simulator's power-state model — every
recorded state of every machine at its modelled power, warm-ups (SETUP with no
order step on the machine) at warm-up power, utilities driven by the machines
they serve (:mod:`.results`) — and each meter's modelled energy is compared
with what it read. Then each asset's power per state is fitted to the readings
by least squares over state durations (scipy's bounded ``lsq_linear``): one row
per interval between two readings of a meter, one column per (asset, state)
that the meter measures, the energy read in the interval on the right. The
standard error of each fitted power comes from the residual variance and
``(A^T A)^-1``. The fitted factory replays again; the total error before and
after is the headline.

Errors per meter are signed ``(model - meter) / meter``; the total error is
``sum |model - meter| / sum meter`` over all meters (deviations do not cancel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import lsq_linear

from carbontwin.twin.errors import SimulationError
from carbontwin.twin.events import EventBatch
from carbontwin.twin.model import STATES, Factory, PowerModel, State

__all__ = ["Calibration", "calibrate", "replay_error"]

FloatArray = npt.NDArray[np.float64]
#: Columns per machine: the six states, and warm-up (SETUP without an order step).
_COLS = [s.value for s in STATES] + ["WARMUP"]
_WARM = len(STATES)
_STATE_INDEX = {s.value: i for i, s in enumerate(STATES)}
_U_OFF, _U_IDLE, _U_PROC = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Design:
    """Per meter: reading intervals, energy read, and seconds per (asset, column)."""

    meters: list[str]
    rows_meter: npt.NDArray[np.int64]
    energy_kwh: FloatArray
    hours: FloatArray  # rows x columns [h]
    columns: list[tuple[str, str]]  # (asset, column name)


def _machine_timeline(
    events: EventBatch, asset: str, t0: float, t1: float
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Change times and column index (state, or warm-up) of one machine on [t0, t1]."""
    sel = events.state_asset == asset
    t = np.asarray(events.state_t[sel], dtype=np.float64)
    st = events.state[sel]
    order = np.argsort(t, kind="stable")
    t, st = t[order], st[order]
    code = np.array([_STATE_INDEX.get(str(s), -1) for s in st], dtype=np.int64)
    if len(t) == 0:
        return np.array([t0]), np.array([-1])
    # setup steps with an order on this machine: SETUP outside them is warm-up
    ss = (events.step_asset == asset) & (events.step_kind == "setup")
    s0 = np.asarray(events.step_start[ss], dtype=np.float64)
    s1 = np.asarray(events.step_end[ss], dtype=np.float64)
    knots = np.unique(np.concatenate([t, s0, s1, [t0, t1]]))
    knots = knots[(knots >= t0) & (knots <= t1)]
    i = np.searchsorted(t, knots, side="right") - 1
    c = np.where(i >= 0, code[np.clip(i, 0, None)], -1)
    if len(s0):
        o0 = np.sort(s0)
        o1 = np.sort(s1)
        inside = (
            np.searchsorted(o0, knots, side="right") - np.searchsorted(o1, knots, side="right")
        ) > 0
    else:
        inside = np.zeros(len(knots), dtype=bool)
    setup = _STATE_INDEX[State.SETUP.value]
    c = np.where((c == setup) & ~inside, _WARM, c)
    return knots, c


def _utility_timeline(
    factory: Factory,
    uid: str,
    machine_tl: Mapping[str, tuple[FloatArray, npt.NDArray[np.int64]]],
    t0: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Change times, and per segment the OFF/IDLE/PROCESSING weights of a utility.

    Power = P_off (all served machines off) or P_idle (1 - f) + P_proc f, with f the
    weighted share of served machines processing (as the simulator draws it).
    """
    u = next(x for x in factory.utilities if x.id == uid)
    served = [(machine_tl[s.asset], s.weight) for s in u.serves if s.asset in machine_tl]
    if not served:
        return np.array([t0]), np.array([0.0]), np.array([0.0])
    t = np.unique(np.concatenate([tl[0] for tl, _ in served]))
    wsum = sum(w for _, w in served) or 1.0
    frac = np.zeros(len(t))
    on = np.zeros(len(t), dtype=bool)
    proc = _STATE_INDEX[State.PROCESSING.value]
    off = _STATE_INDEX[State.OFF.value]
    for (kt, kc), w in served:
        c = kc[np.clip(np.searchsorted(kt, t, side="right") - 1, 0, None)]
        frac += w * (c == proc)
        on |= c != off
    frac /= wsum
    on = on | (frac > 0)
    return t, on.astype(np.float64), frac


def _seconds_in(
    knots: FloatArray, weights: FloatArray, edges: FloatArray, t_end: float
) -> FloatArray:
    """Seconds of a step function's weight inside each interval between ``edges``."""
    seg_end = np.append(knots[1:], t_end)
    cum = np.concatenate(([0.0], np.cumsum(weights * np.maximum(seg_end - knots, 0.0))))

    def at(x: FloatArray) -> FloatArray:
        i = np.clip(np.searchsorted(knots, x, side="right") - 1, 0, len(knots) - 1)
        return cum[i] + weights[i] * np.clip(x - knots[i], 0.0, None)

    return np.diff(at(edges))


def _readings(events: EventBatch, factory: Factory, meter: str) -> tuple[FloatArray, FloatArray]:
    """Reading times and energy [kWh] between consecutive readings of one meter."""
    m = next(x for x in factory.meters if x.id == meter)
    sel = events.power_meter == meter
    if np.any(sel):
        t = np.asarray(events.power_t[sel], dtype=np.float64)
        p = np.asarray(events.power_kw[sel], dtype=np.float64)
        o = np.argsort(t, kind="stable")
        t, p = t[o], p[o]
        return t, p[:-1] * np.diff(t) / 3600.0
    sel = events.counter_meter == meter
    t = np.asarray(events.counter_t[sel], dtype=np.float64)
    c = np.asarray(events.counter_kwh[sel], dtype=np.float64)
    o = np.argsort(t, kind="stable")
    t, c = t[o], c[o]
    d = np.diff(c)
    if m.rollover_kwh:
        d = np.where(d < 0, d + float(m.rollover_kwh), d)
    else:
        d = np.where(d < 0, np.nan, d)  # a reset: that interval is unknown
    return t, d


def _design(factory: Factory, events: EventBatch) -> tuple[_Design, dict[str, Any]]:
    if len(events.state_t) == 0:
        msg = "the events hold no machine states; calibration needs StateChange events"
        raise SimulationError(msg, field="events")
    t_all = np.concatenate([events.state_t, events.power_t, events.counter_t])
    t0, t1 = float(t_all.min()), float(t_all.max())
    machines = {m.id for m in factory.machines}
    utilities = {u.id for u in factory.utilities}
    mtl = {m: _machine_timeline(events, m, t0, t1) for m in sorted(machines)}
    utl = {u: _utility_timeline(factory, u, mtl, t0) for u in sorted(utilities)}
    columns: list[tuple[str, str]] = []
    col_of: dict[tuple[str, str], int] = {}
    for mt in factory.meters:
        for a in mt.measures:
            names = (
                _COLS if a in machines else ["OFF", "IDLE", "PROCESSING"] if a in utilities else []
            )
            for n in names:
                if (a, n) not in col_of:
                    col_of[(a, n)] = len(columns)
                    columns.append((a, n))
    rows_m, rows_e, rows_h = [], [], []
    meters = [mt.id for mt in factory.meters]
    for mi, mt in enumerate(factory.meters):
        t, e = _readings(events, factory, mt.id)
        if len(t) < 2:
            continue
        h = np.zeros((len(e), len(columns)))
        for a in mt.measures:
            if a in mtl:
                kt, kc = mtl[a]
                for ci, n in enumerate(_COLS):
                    w = (kc == ci).astype(np.float64)
                    h[:, col_of[(a, n)]] = _seconds_in(kt, w, t, t1) / 3600.0
            elif a in utl:
                kt, on, frac = utl[a]
                h[:, col_of[(a, "OFF")]] = _seconds_in(kt, 1.0 - on, t, t1) / 3600.0
                h[:, col_of[(a, "IDLE")]] = _seconds_in(kt, on * (1.0 - frac), t, t1) / 3600.0
                h[:, col_of[(a, "PROCESSING")]] = _seconds_in(kt, on * frac, t, t1) / 3600.0
            else:
                msg = f"meter {mt.id!r} measures {a!r}, which is neither a machine nor a utility"
                raise SimulationError(msg, field=f"meters.{mt.id}.measures")
        ok = np.isfinite(e)
        rows_m.append(np.full(int(ok.sum()), mi))
        rows_e.append(e[ok])
        rows_h.append(h[ok])
    if not rows_e:
        msg = "no meter has two readings in the events; nothing to compare"
        raise SimulationError(msg, field="events")
    d = _Design(
        meters,
        np.concatenate(rows_m),
        np.concatenate(rows_e),
        np.vstack(rows_h),
        columns,
    )
    return d, {"start": t0, "end": t1}


def _model_powers(factory: Factory, columns: list[tuple[str, str]]) -> FloatArray:
    machines = {m.id: m for m in factory.machines}
    utilities = {u.id: u for u in factory.utilities}
    out = np.zeros(len(columns))
    for i, (a, n) in enumerate(columns):
        if a in machines:
            pm = machines[a].power
            if n == "WARMUP":
                out[i] = pm.warmup_energy_kwh * 3600.0 / pm.warmup_s if pm.warmup_s > 0 else 0.0
            else:
                out[i] = pm.power_kw[State(n)]
        else:
            out[i] = utilities[a].power.power_kw[State(n)]
    return out


def _errors(d: _Design, powers: FloatArray) -> dict[str, Any]:
    model = d.hours @ powers
    per: dict[str, dict[str, float]] = {}
    abs_dev = 0.0
    total_met = 0.0
    for mi, mid in enumerate(d.meters):
        sel = d.rows_meter == mi
        if not np.any(sel):
            continue
        met = float(d.energy_kwh[sel].sum())
        mod = float(model[sel].sum())
        per[mid] = {
            "metered_kwh": met,
            "model_kwh": mod,
            "error_pct": (mod - met) / met * 100.0 if met else math.nan,
        }
        abs_dev += abs(mod - met)
        total_met += met
    return {
        "meters": per,
        "total_error_pct": abs_dev / total_met * 100.0 if total_met else math.nan,
        "metered_kwh": total_met,
    }


@dataclass(slots=True)
class Calibration:
    """Before and after: errors per meter, fitted powers with standard errors, the factory."""

    before: dict[str, Any]
    after: dict[str, Any]
    fitted: dict[str, dict[str, tuple[float, float]]]  # asset -> state -> (kW, std err kW)
    factory: Factory = field(repr=False)
    period: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "before": self.before,
            "after": self.after,
            "total_error_before_pct": self.before["total_error_pct"],
            "total_error_after_pct": self.after["total_error_pct"],
            "fitted": {
                a: {s: {"power_kw": p, "std_err_kw": e} for s, (p, e) in st.items()}
                for a, st in self.fitted.items()
            },
        }


def replay_error(factory: Factory, events: EventBatch) -> dict[str, Any]:
    """Errors of the factory's power model against the meters over the events' period."""
    d, _ = _design(factory, events)
    return _errors(d, _model_powers(factory, d.columns))


def calibrate(factory: Factory, events: EventBatch, *, min_hours: float = 0.25) -> Calibration:
    """Fit every asset's power per state to the meter readings (see the module docstring).

    States an asset spent less than ``min_hours`` in keep their modelled power.
    """
    d, period = _design(factory, events)
    prior = _model_powers(factory, d.columns)
    before = _errors(d, prior)
    occupied = d.hours.sum(axis=0) >= min_hours
    a = d.hours[:, occupied]
    # what the unfitted columns draw is known: move it to the right-hand side
    b = d.energy_kwh - d.hours[:, ~occupied] @ prior[~occupied]
    fit = lsq_linear(a, b, bounds=(0.0, np.inf), method="bvls")
    x = prior.copy()
    x[occupied] = fit.x
    n, p = a.shape
    resid = b - a @ fit.x
    sigma2 = float(resid @ resid) / max(n - p, 1)
    try:
        cov = sigma2 * np.linalg.pinv(a.T @ a)
        se_fit = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:  # pragma: no cover - pinv does not raise on finite input
        se_fit = np.full(p, math.nan)
    se = np.zeros(len(x))
    se[occupied] = se_fit
    fitted: dict[str, dict[str, tuple[float, float]]] = {}
    for i, (asset, name) in enumerate(d.columns):
        if occupied[i]:
            fitted.setdefault(asset, {})[name] = (float(x[i]), float(se[i]))
    new = _apply(factory, fitted)
    after = _errors(d, _model_powers(new, d.columns))
    return Calibration(before, after, fitted, new, period)


def _apply(factory: Factory, fitted: Mapping[str, Mapping[str, tuple[float, float]]]) -> Factory:
    def power(pm: PowerModel, values: Mapping[str, tuple[float, float]]) -> PowerModel:
        kw = dict(pm.power_kw)
        for name, (p, _e) in values.items():
            if name != "WARMUP":
                kw[State(name)] = p
        warm = pm.warmup_energy_kwh
        if "WARMUP" in values and pm.warmup_s > 0:
            warm = values["WARMUP"][0] * pm.warmup_s / 3600.0
        return replace(pm, power_kw=kw, warmup_energy_kwh=warm)

    machines = tuple(
        replace(m, power=power(m.power, fitted[m.id])) if m.id in fitted else m
        for m in factory.machines
    )
    utilities = tuple(
        replace(u, power=power(u.power, fitted[u.id])) if u.id in fitted else u
        for u in factory.utilities
    )
    return replace(factory, machines=machines, utilities=utilities)


def annotate_factory_yaml(text: str, cal: Calibration) -> str:
    """The factory YAML with a comment above each fitted asset: fitted powers ± standard error."""
    lines = text.splitlines()
    out: list[str] = [
        "# Calibrated by carbontwin calibrate against the meters of "
        f"{cal.period.get('start', 0):.0f}..{cal.period.get('end', 0):.0f} (epoch s):",
        f"# total energy error {cal.before['total_error_pct']:.2f} % before, "
        f"{cal.after['total_error_pct']:.2f} % after the fit.",
    ]
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("- id:"):
            asset = stripped[len("- id:") :].strip().strip("'\"")
            if asset in cal.fitted:
                indent = line[: len(line) - len(line.lstrip())]
                parts = ", ".join(
                    f"{s.lower()} {p:.3f} ± {e:.3f} kW" for s, (p, e) in cal.fitted[asset].items()
                )
                out.append(f"{indent}# fitted: {parts}")
        out.append(line)
    return "\n".join(out) + "\n"
