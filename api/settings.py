"""Settings of the carbontwin service.

Nothing is read at import time: build :class:`Settings` explicitly
(``Settings(database_url=...)``) or from the environment with
:meth:`Settings.from_env` (variables ``CARBONTWIN_*``, e.g.
``CARBONTWIN_DATABASE_URL``, ``CARBONTWIN_CLIENT_SECRET``).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["PactPartner", "Settings"]


class PactPartner(BaseModel):
    """A PACT data recipient whose footprint requests need more than its event ``source``.

    Not needed for a requester that can be reached at its event ``source``
    without a token on a public address: the answer goes to
    ``{source}/3/events`` (``/2/events`` for a v2 request) by default (see
    ``pact_answer_private_sources``). ``events_url`` is the partner's host (or either of
    its Action Events endpoints); the answer to a v3 request goes to its
    ``/3/events``, to a v2 request to its ``/2/events``. ``token`` is the bearer
    token the partner gave us for that endpoint.
    """

    events_url: str
    token: str | None = None


class Settings(BaseSettings):
    """Service configuration (also the ``configSchema`` of ``GET /plugin/manifest``)."""

    model_config = SettingsConfigDict(
        env_prefix="CARBONTWIN_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the twin store; None: CARBONTWIN_DATABASE_URL, "
        "else sqlite:///carbontwin.db",
    )
    client_id: str = Field(
        default="carbontwin", description="OAuth2 client id for POST /auth/token"
    )
    client_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(24)),
        description="OAuth2 client secret; a random one when not set",
    )
    token_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="HMAC key of issued access tokens (share it between replicas)",
    )
    token_ttl_s: int = Field(default=3600, ge=60, description="Access token lifetime [s]")
    key_path: Path = Field(
        default=Path("carbontwin-signing-key.pem"),
        description="Ed25519 signing key file, created on first use",
    )
    require_https: bool = Field(
        default=True,
        description="Refuse the PACT API and token route over plain HTTP. Off "
        "(development mode) plain HTTP is still accepted only from loopback peers",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of reverse proxies whose "
        "X-Forwarded-Proto and X-Forwarded-For are believed; empty: none",
    )
    public_base_url: str = Field(
        default="",
        description="External URL of this app (for label QR codes and Link headers); "
        "empty: taken from each request",
    )
    pact_domain: str = Field(
        default="carbontwin.local", description="Domain in custom PACT product/company URNs"
    )
    company_name: str = Field(
        default="", description="Company name in PACT documents (default: the factory name)"
    )
    product_category_cpc: str = Field(default="4", description="UN CPC code for PACT v2 documents")
    product_classifications: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Product id -> classification URNs for PACT productClassifications",
    )
    pact_partners: dict[str, PactPartner] = Field(
        default_factory=dict,
        description="PACT partners by CloudEvents 'source': where to POST answers to their "
        "footprint requests",
    )
    pact_answer_private_sources: bool = Field(
        default=False,
        description="Answer a footprint request at its own event source (a requester with "
        "no pact_partners entry) also when that is a loopback, private or link-local "
        "address. Off: such a request gets 400, so that no requester can make this service "
        "POST into the network it runs in; for tests and closed networks",
    )
    callback_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of partner callbacks [s]"
    )
    max_stored_events: int = Field(
        default=1000,
        ge=1,
        description="PACT events received, callback records and finished simulation jobs "
        "kept in memory (each, newest first)",
    )
    max_event_age_s: float = Field(
        default=7 * 86400.0,
        gt=0,
        description="Age after which kept PACT events, callback records and finished "
        "simulation jobs are dropped [s]",
    )
    max_history_events: int = Field(
        default=10_000_000,
        ge=1,
        description="Most stored events a request may attribute all at once (POST "
        "/footprints/attribute, POST /orders/{id}/footprint, the plant views and the "
        "report); a larger store gets 413 naming the windowed route (POST /footprints/issue), "
        "which reads one window at a time",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Largest request body [bytes]; a larger one is refused with 413",
    )
    max_events_per_request: int = Field(
        default=200_000,
        ge=1,
        description="Most events in one POST /events batch; more is refused with 413",
    )
    simulation_workers: int = Field(
        default=1, ge=1, le=32, description="Threads running simulation jobs"
    )
    response_cache_mb: float = Field(
        default=64.0,
        ge=0,
        description="Memory for rendered PACT documents and labels kept per worker process "
        "(LRU by footprint id, format and whether it is still the newest version) [MiB]; "
        "0: render every request",
    )
    factory_cache_size: int = Field(
        default=8, ge=1, description="Built factory versions kept per worker process (LRU)"
    )
    max_page_size: int = Field(default=100, ge=1, description="Largest page of GET /3/footprints")
    rules: dict[str, Any] = Field(
        default_factory=dict,
        description="Allocation rules of every issue (carbontwin.twin.attribution.Rules), e.g. "
        '{"idle": "processing_time_only", "utility_key": "processing_hours"}; unset rules '
        "keep their defaults; idle and utility_key name rules of the entry-point group "
        "carbontwin.allocation",
    )
    scope2_headline: Literal["location", "market"] = Field(
        default="location",
        description="Scope 2 method of the headline figure on labels and in PACT "
        "(pCfExcludingBiogenic); every footprint carries both",
    )

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, Any]) -> dict[str, Any]:
        from carbontwin.api.issuing import rules_from
        from carbontwin.twin.errors import CarbonTwinError

        try:
            rules_from(value)
        except (CarbonTwinError, TypeError, ValueError) as exc:
            msg = f"rules: {exc}"
            raise ValueError(msg) from None
        return value

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from ``CARBONTWIN_*`` environment variables, then ``overrides``."""
        return cls(**overrides)  # type: ignore[arg-type]
