"""carbontwin.plugins: the extension registry and the built-in exporters.

- :mod:`.registry`: entry-point groups ``carbontwin.*`` with ``register_*`` for hosts and tests
- :mod:`.pact`: PACT v3 / v2.2 ProductFootprint rendering
- :mod:`.label`: the printable label (SVG, HTML, PDF with QR code)
- :mod:`.signing`: Ed25519 signatures over canonical JSON
- :mod:`.factors`: the built-in emission-factor provider
"""

from .pact import PactContext, pact_context, render_pact_v2, render_pact_v3
from .registry import (
    entry_points_of,
    get_exporter,
    get_factor_provider,
    get_policy,
    list_plugins,
    register_allocation,
    register_connector,
    register_exporter,
    register_factor_provider,
    register_policy,
)
from .signing import load_or_create_key, sign_document, verify_document

__all__ = [
    "PactContext",
    "entry_points_of",
    "get_exporter",
    "get_factor_provider",
    "get_policy",
    "list_plugins",
    "load_or_create_key",
    "pact_context",
    "register_allocation",
    "register_connector",
    "register_exporter",
    "register_factor_provider",
    "register_policy",
    "render_pact_v2",
    "render_pact_v3",
    "sign_document",
    "verify_document",
]
