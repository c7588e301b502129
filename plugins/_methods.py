"""Plain-language descriptions of the attribution rules and factor versions of a footprint.

Shared by the PACT documents (``allocationRulesDescription``) and the printed label.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["factor_phrases", "rule_phrases"]

_IDLE = {
    "processing_time_share": "idle and standby energy shared by the orders' processing time",
    "overhead": "idle and standby energy to plant overhead",
}
_PERIOD = {"shift": "per shift", "day": "per day", "hour": "per hour", "order": "per order"}
_OFF = {"overhead": "to plant overhead", "occupying_order": "to the order occupying the asset"}
_BATCH = {"quantity": "by quantity", "mass": "by mass", "equal": "in equal parts"}
_UTILITY = {
    "": "by each utility's own key",
    "machine_hours": "by machine hours",
    "declared": "by declared shares",
}


def rule_phrases(rules: Mapping[str, str]) -> list[str]:
    """Sentences for the allocation rules recorded in a footprint (known keys first)."""
    r = {str(k): str(v) for k, v in rules.items()}
    out: list[str] = []
    if "idle" in r:
        text = _IDLE.get(r["idle"], f"idle energy: {r['idle']}")
        if r["idle"] != "overhead" and r.get("idle_period"):
            text += " " + _PERIOD.get(r["idle_period"], f"per {r['idle_period']}")
        out.append(text)
    off = r.get("off")
    fault = r.get("fault")
    if off and off == fault:
        out.append(f"off and fault energy {_OFF.get(off, off)}")
    else:
        if off:
            out.append(f"off energy {_OFF.get(off, off)}")
        if fault:
            out.append(f"fault energy {_OFF.get(fault, fault)}")
    if "batch_share" in r:
        out.append(f"shared batches split {_BATCH.get(r['batch_share'], r['batch_share'])}")
    if "utility_key" in r:
        out.append(
            "utility energy (compressed air, HVAC) to the assets served "
            + _UTILITY.get(r["utility_key"], f"by {r['utility_key']}")
        )
    if r.get("bad_readings") == "clean":
        out.append("invalid meter readings dropped and flagged")
    known = {
        "idle",
        "idle_period",
        "off",
        "fault",
        "batch_share",
        "utility_key",
        "bad_readings",
        "max_sample_interval_s",
    }
    out += [f"{k}: {v}" for k, v in sorted(r.items()) if k not in known]
    return out


def _short(version: str) -> str:
    """``DE_2019_hourly:DE_2019_hourly@sha256:1c07...`` -> ``DE_2019_hourly``."""
    name = version.split("@", 1)[0]
    head, _, tail = name.partition(":")
    return tail if tail and tail == head else name


def factor_phrases(factor_versions: Mapping[str, str]) -> list[str]:
    """Short descriptions of the emission factors used (electricity, fuels, others)."""
    fv = {str(k): str(v) for k, v in factor_versions.items()}
    out: list[str] = []
    if "electricity_location" in fv:
        out.append(f"grid {_short(fv['electricity_location'])} (location-based, hourly)")
    if "electricity_market" in fv:
        out.append(f"market-based: {fv['electricity_market'].split('@', 1)[0]}")
    fuels = sorted({v for k, v in fv.items() if k.startswith("fuel")})
    if fuels:
        out.append("fuels " + ", ".join(fuels))
    out += [
        f"{k} {_short(v)}"
        for k, v in sorted(fv.items())
        if not k.startswith(("fuel", "electricity_location", "electricity_market"))
    ]
    return out
