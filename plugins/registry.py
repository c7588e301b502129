"""The extension registry: entry-point groups ``carbontwin.*``.

Groups (docs/architecture.md, "Plugins"): ``carbontwin.connectors``, ``carbontwin.factors``,
``carbontwin.allocation``, ``carbontwin.policies``, ``carbontwin.exporters``.
carbontwin's own plugins register through the same entry points (see
``pyproject.toml``) as third-party packages.

Discovery is cached (like xarray's ``list_engines()``): the entry points are
read once per process; :func:`refresh` forgets them. Tests and host platforms
add objects at run time with ``register_*(name, obj)``; a registered object
wins over an entry point of the same name.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from carbontwin.twin.errors import PluginError

__all__ = [
    "GROUPS",
    "PluginInfo",
    "entry_points_of",
    "get_allocation",
    "get_connector",
    "get_exporter",
    "get_factor_provider",
    "get_plugin",
    "get_policy",
    "list_plugins",
    "refresh",
    "register",
    "register_allocation",
    "register_connector",
    "register_exporter",
    "register_factor_provider",
    "register_policy",
    "unregister",
]

GROUPS: tuple[str, ...] = (
    "carbontwin.connectors",
    "carbontwin.factors",
    "carbontwin.allocation",
    "carbontwin.policies",
    "carbontwin.exporters",
)

_SHORT = {g.split(".", 1)[1]: g for g in GROUPS}
_registered: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One plugin as :func:`list_plugins` reports it."""

    group: str
    name: str
    target: str  # "module:attr" of an entry point, or the object's qualified name
    distribution: str  # the package that declares it, or "registered" at run time


def _group(group: str) -> str:
    g = _SHORT.get(group, group)
    if g not in _registered:
        msg = f"unknown plugin group {group!r}; expected one of {', '.join(GROUPS)}"
        raise PluginError(msg, field="group")
    return g


def entry_points_of(group: str) -> Mapping[str, EntryPoint]:
    """Entry points of ``group`` (``"carbontwin.exporters"`` or ``"exporters"``), by name.

    Cached per process; two distributions declaring the same name raise
    :class:`PluginError`.
    """
    return _entry_points(_group(group))


@functools.cache
def _entry_points(g: str) -> Mapping[str, EntryPoint]:
    out: dict[str, EntryPoint] = {}
    for ep in entry_points(group=g):
        if ep.name in out and out[ep.name].value != ep.value:
            msg = (
                f"plugin {ep.name!r} of {g} is declared twice: {out[ep.name].value} and "
                f"{ep.value}; uninstall one of the packages"
            )
            raise PluginError(msg, field=ep.name)
        out[ep.name] = ep
    return dict(sorted(out.items()))


def refresh() -> None:
    """Forget cached entry points (after installing a plugin package at run time)."""
    _entry_points.cache_clear()
    _load.cache_clear()


@functools.cache
def _load(group: str, name: str) -> Any:
    ep = entry_points_of(group)[name]
    try:
        return ep.load()
    except Exception as exc:  # a broken third-party plugin must not look like ours
        msg = f"plugin {name!r} of {group} ({ep.value}) failed to load: {exc}"
        raise PluginError(msg, field=name) from exc


def get_plugin(group: str, name: str) -> Any:
    """The object registered as ``name`` in ``group``."""
    g = _group(group)
    if name in _registered[g]:
        return _registered[g][name]
    if name in entry_points_of(g):
        return _load(g, name)
    known = sorted(set(_registered[g]) | set(entry_points_of(g)))
    msg = f"no plugin {name!r} in {g}; available: {', '.join(known) or 'none'}"
    raise PluginError(msg, field=name)


def register(group: str, name: str, obj: Any, *, replace: bool = False) -> None:
    """Register ``obj`` as ``name`` in ``group`` at run time (tests, host platforms)."""
    g = _group(group)
    if not replace and name in _registered[g] and _registered[g][name] is not obj:
        msg = f"plugin {name!r} is already registered in {g}; pass replace=True to override"
        raise PluginError(msg, field=name)
    _registered[g][name] = obj


def unregister(group: str, name: str) -> None:
    """Remove a run-time registration (entry points stay)."""
    _registered[_group(group)].pop(name, None)


def list_plugins(group: str | None = None) -> list[PluginInfo]:
    """Every plugin, entry points and run-time registrations, sorted by group and name."""
    out: list[PluginInfo] = []
    for g in [_group(group)] if group else GROUPS:
        names = set(entry_points_of(g)) | set(_registered[g])
        for name in sorted(names):
            if name in _registered[g]:
                obj = _registered[g][name]
                target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
                out.append(PluginInfo(g, name, target, "registered"))
            else:
                ep = entry_points_of(g)[name]
                dist = ep.dist.name if ep.dist is not None else "?"
                out.append(PluginInfo(g, name, ep.value, dist))
    return out


def get_exporter(name: str) -> Any:
    return get_plugin("carbontwin.exporters", name)


def get_policy(name: str) -> Any:
    return get_plugin("carbontwin.policies", name)


def get_factor_provider(name: str) -> Any:
    return get_plugin("carbontwin.factors", name)


def get_connector(name: str) -> Any:
    return get_plugin("carbontwin.connectors", name)


def get_allocation(name: str) -> Any:
    return get_plugin("carbontwin.allocation", name)


def register_exporter(name: str, obj: Any, *, replace: bool = False) -> None:
    register("carbontwin.exporters", name, obj, replace=replace)


def register_policy(name: str, obj: Any, *, replace: bool = False) -> None:
    register("carbontwin.policies", name, obj, replace=replace)


def register_factor_provider(name: str, obj: Any, *, replace: bool = False) -> None:
    register("carbontwin.factors", name, obj, replace=replace)


def register_connector(name: str, obj: Any, *, replace: bool = False) -> None:
    register("carbontwin.connectors", name, obj, replace=replace)


def register_allocation(name: str, obj: Any, *, replace: bool = False) -> None:
    register("carbontwin.allocation", name, obj, replace=replace)
