"""Plain-language descriptions of the attribution rules and factor versions of a footprint.

Shared by the PACT documents (``allocationRulesDescription``) and the printed label.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["factor_phrases", "rule_phrases"]


def rule_phrases(rules: Mapping[str, str]) -> list[str]:
    """Sentences for the allocation rules recorded in a footprint that has no method text
    of its own (issued before footprints carried it), from the built-in rule objects'
    own text; other rules are named as recorded."""
    from carbontwin.twin.allocation import BUILTIN

    r = {str(k): str(v) for k, v in rules.items()}
    period = r.get("idle_period", "shift") or "shift"
    out: list[str] = []
    for slot in ("idle", "utility_key"):
        name = r.get(slot, "")
        if not name:
            continue
        rule = BUILTIN.get(name)
        out.append(f"{name}: {rule.text.format(period=period)}" if rule else f"{slot}: {name}")
    out += [
        f"{k}: {v}"
        for k, v in sorted(r.items())
        if k not in ("idle", "utility_key", "idle_period") and v != ""
    ]
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
