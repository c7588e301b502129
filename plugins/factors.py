"""Built-in emission-factor provider (entry point ``carbontwin.factors: default``).

A factor provider is a callable ``provider(factory) -> FactorSet``. The
built-in one wraps :meth:`carbontwin.twin.factors.FactorSet.default`: the
bundled German 2019 hourly grid series, constant fuel factors and the
factory's electricity contracts. Host platforms register their own providers
(for example a live grid-intensity feed) with
:func:`carbontwin.plugins.registry.register_factor_provider`.
"""

from __future__ import annotations

from typing import Any

from carbontwin.twin.errors import PluginError

__all__ = ["default_factor_set", "factor_set"]


def default_factor_set(factory: Any) -> Any:
    """``FactorSet.default(factory)`` (imported on call, so the registry stays light)."""
    from carbontwin.twin.factors import FactorSet

    return FactorSet.default(factory)


def factor_set(factory: Any, provider: str = "default") -> Any:
    """The factor set of ``factory`` from the provider registered as ``provider``."""
    from .registry import get_factor_provider

    fs = get_factor_provider(provider)(factory)
    if fs is None:
        msg = f"factor provider {provider!r} returned no factor set"
        raise PluginError(msg, field="provider")
    return fs
