"""SQLAlchemy 2 tables of the twin store.

Times
-----
Two representations, on purpose:

- **Events and factor points** (hot paths, millions of rows) keep time as
  ``DOUBLE PRECISION`` float64 seconds since the epoch (UTC), exactly the
  numbers :class:`~carbontwin.twin.events.EventBatch` carries, so a batch goes
  in and out without a datetime per row and compares bit for bit.
- **Human-facing rows** (factory versions, orders, footprints, factor series)
  keep time as ``TIMESTAMP WITH TIME ZONE`` through :class:`UTCDateTime`,
  which always hands back timezone-aware UTC datetimes (also on SQLite,
  which stores no zone).

Natural keys
------------
Each event table's primary key is the event's natural key, so a re-sent event
is stored once (``INSERT ... ON CONFLICT DO NOTHING``) and the key's index is
the ``(source, t)`` index reads use:

=================  ==========================================  ==================
table              primary key (natural key)                    extra index
=================  ==========================================  ==================
state_changes      (asset, t)                                   --
power_samples      (meter, t)                                   --
energy_counters    (meter, t)                                   --
order_steps        (order_id, operation, asset, start, kind)    (asset, start)
material_uses      (order_id, material, booking)                --
gaps               (source, start)                              --
=================  ==========================================  ==================

A correction replaces an event's values in its table and keeps the old
values in ``event_history``.

Tenants
-------
Every table of the twin carries ``tenant`` (migration 0006) and every key above
starts with it: two tenants may both have a meter ``M1``. ``tenants`` and
``clients`` (API credentials, argon2 hashes of their secrets) are the only
tables no tenant owns. On PostgreSQL row-level security policies hide every
other tenant's rows from a transaction (see ``Store``).

Footprints are versioned and append-only: ``UNIQUE(tenant, order_id, version)``, a
correction names the row it ``replaces_id``; each row keeps the Ed25519
signature made when it was issued and the id of the key (``signing_keys``).
Every issue appends an entry to its tenant's chain in ``issuance_log`` holding
the hash of the entry before it. Triggers reject UPDATE and DELETE of footprints, log entries and
keys on SQLite and PostgreSQL, and TRUNCATE on PostgreSQL (migrations 0001
and 0002).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "ClientRow",
    "EnergyCounterRow",
    "EventHistoryRow",
    "FactorPointRow",
    "FactorSeriesRow",
    "FactoryVersionRow",
    "FootprintRow",
    "GapRow",
    "IssuanceInputRow",
    "IssuanceLogRow",
    "MaterialUseRow",
    "OrderRow",
    "OrderStepRow",
    "PowerSampleRow",
    "PublicationRow",
    "RetractionRow",
    "SigningKeyRow",
    "StateChangeRow",
    "TenantRow",
    "UTCDateTime",
]

#: Constraint and index names, so migrations and models name things alike.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LEN = 200  # asset, meter, order, material ids
TENANT_LEN = 63  # tenant names


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetime on every backend.

    Refuses naive datetimes on the way in (an unzoned time is ambiguous);
    stores UTC; hands back aware UTC datetimes (SQLite keeps no zone, so a
    value read there is UTC by construction).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} given to the store; pass a UTC-aware one"
            raise ValueError(msg)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            msg = f"expected a datetime from the database, got {value!r}"
            raise TypeError(msg)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _id(**kw: Any) -> Mapped[str]:
    return mapped_column(sa.String(ID_LEN), nullable=False, **kw)


def _tenant(**kw: Any) -> Mapped[str]:
    """The tenant a row belongs to (migration 0006); first in every key and index."""
    return mapped_column(sa.String(TENANT_LEN), nullable=False, **kw)


def _t(**kw: Any) -> Mapped[float]:
    return mapped_column(sa.Double(), nullable=False, **kw)


# --- model versions ------------------------------------------------------------


class FactoryVersionRow(Base):
    """One saved version of a factory description (``factory_to_dict`` JSON)."""

    __tablename__ = "factory_versions"
    __table_args__ = (sa.Index(None, "tenant", "id"),)

    tenant: Mapped[str] = _tenant()
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    factory_id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), nullable=False)


# --- events (float64 epoch seconds) ----------------------------------------------


#: SQLite keeps the point-event tables in their key's B-tree (migration 0012)
_CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}


class StateChangeRow(Base):
    __tablename__ = "state_changes"
    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('OFF', 'STANDBY', 'IDLE', 'SETUP', 'PROCESSING', 'FAULT')",
            name="state_known",
        ),
        _CLUSTERED,
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    asset: Mapped[str] = _id(primary_key=True)
    t: Mapped[float] = _t(primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False)


class PowerSampleRow(Base):
    __tablename__ = "power_samples"
    __table_args__ = (
        sa.CheckConstraint("power_kw >= 0", name="power_kw_not_negative"),
        _CLUSTERED,
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    meter: Mapped[str] = _id(primary_key=True)
    t: Mapped[float] = _t(primary_key=True)
    power_kw: Mapped[float] = mapped_column(sa.Double(), nullable=False)


class EnergyCounterRow(Base):
    __tablename__ = "energy_counters"
    __table_args__ = (
        sa.CheckConstraint("energy_kwh >= 0", name="energy_kwh_not_negative"),
        _CLUSTERED,
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    meter: Mapped[str] = _id(primary_key=True)
    t: Mapped[float] = _t(primary_key=True)
    energy_kwh: Mapped[float] = mapped_column(sa.Double(), nullable=False)


class OrderStepRow(Base):
    __tablename__ = "order_steps"
    __table_args__ = (
        sa.CheckConstraint('"end" >= start', name="end_not_before_start"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.CheckConstraint("kind IN ('setup', 'processing')", name="kind_known"),
        sa.Index(None, "tenant", "asset", "start"),
        sa.Index(None, "tenant", "start"),
        sa.Index(None, "tenant", "end"),
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    order_id: Mapped[str] = _id(primary_key=True)
    operation: Mapped[str] = _id(primary_key=True)
    asset: Mapped[str] = _id(primary_key=True)
    start: Mapped[float] = _t(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    end: Mapped[float] = _t()
    quantity: Mapped[float] = mapped_column(sa.Double(), nullable=False)


class MaterialUseRow(Base):
    __tablename__ = "material_uses"
    __table_args__ = (sa.CheckConstraint("quantity >= 0", name="quantity_not_negative"),)

    tenant: Mapped[str] = _tenant(primary_key=True)
    order_id: Mapped[str] = _id(primary_key=True)
    material: Mapped[str] = _id(primary_key=True)
    quantity: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    unit: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    t: Mapped[float | None] = mapped_column(sa.Double(), nullable=True)
    # the booking's own id: two bookings of one material for one order are two rows
    booking: Mapped[str] = _id(primary_key=True)


class EventHistoryRow(Base):
    """A stored event value that a correction replaced (kept, never deleted).

    ``key`` is the event's natural key and ``old``/``new`` its values, as JSON
    lists in the order of :data:`carbontwin.twin.events.KINDS`.
    """

    __tablename__ = "event_history"
    __table_args__ = (sa.Index(None, "tenant", "kind"),)

    tenant: Mapped[str] = _tenant()
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    key: Mapped[list[Any]] = mapped_column(sa.JSON(), nullable=False)
    old: Mapped[list[Any]] = mapped_column(sa.JSON(), nullable=False)
    new: Mapped[list[Any]] = mapped_column(sa.JSON(), nullable=False)
    superseded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class GapRow(Base):
    __tablename__ = "gaps"
    __table_args__ = (
        sa.CheckConstraint('"end" >= start', name="end_not_before_start"),
        sa.Index(None, "tenant", "start"),
        sa.Index(None, "tenant", "end"),
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    source: Mapped[str] = _id(primary_key=True)
    start: Mapped[float] = _t(primary_key=True)
    end: Mapped[float] = _t()
    reason: Mapped[str] = mapped_column(sa.Text(), nullable=False)


# --- orders and footprints -------------------------------------------------------


class OrderRow(Base):
    __tablename__ = "orders"
    __table_args__ = (sa.CheckConstraint("quantity > 0", name="quantity_positive"),)

    tenant: Mapped[str] = _tenant(primary_key=True)
    id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    product: Mapped[str] = _id()
    quantity: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    release: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    due: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class FootprintRow(Base):
    """An issued footprint version. Never updated or deleted (triggers reject both)."""

    __tablename__ = "footprints"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "order_id", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        sa.Index(None, "tenant", "product", "period_start"),
        sa.Index(None, "tenant", "issued_at"),
    )

    tenant: Mapped[str] = _tenant()
    id: Mapped[str] = mapped_column(sa.Uuid(as_uuid=False), primary_key=True)
    order_id: Mapped[str] = _id()
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    replaces_id: Mapped[str | None] = mapped_column(
        sa.Uuid(as_uuid=False), sa.ForeignKey("footprints.id"), nullable=True
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    product: Mapped[str] = _id()
    factory: Mapped[str] = mapped_column(sa.String(ID_LEN), nullable=False)
    co2e_kg: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), nullable=False)
    # the ``signature`` member of the signed document, made at issuance (None: issued
    # before signing at issuance existed)
    signature: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(), nullable=True)
    key_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)


class SigningKeyRow(Base):
    """A public key that signed footprints (PEM), by key id."""

    __tablename__ = "signing_keys"

    tenant: Mapped[str] = _tenant(primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    public_key_pem: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class IssuanceLogRow(Base):
    """One issued footprint in the hash-chained issuance log.

    ``entry_sha256`` is the SHA-256 of the RFC 8785 JSON of (seq, footprint_id,
    order_id, version, document_sha256, prev_sha256); ``prev_sha256`` is the
    entry before's ``entry_sha256`` (64 zeros for the first), so a removed,
    changed or reordered entry breaks the chain. ``document_sha256`` is the
    hash of the signed footprint document as stored.
    """

    __tablename__ = "issuance_log"

    tenant: Mapped[str] = _tenant(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    footprint_id: Mapped[str] = mapped_column(sa.Uuid(as_uuid=False), nullable=False)
    order_id: Mapped[str] = _id()
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    document_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    prev_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    entry_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class IssuanceInputRow(Base):
    """The events or emission factors an issuing run read, kept for verifier packs.

    Keyed by the SHA-256 recorded in the footprints' lineage; ``document`` is
    the zlib-compressed JSON (``carbontwin.twin.lineage.events_to_dict`` or
    ``factors_to_dict``), so a pack recomputes from exactly what was read even
    when late data arrived since.
    """

    __tablename__ = "issuance_inputs"

    tenant: Mapped[str] = _tenant(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    document: Mapped[bytes] = mapped_column(sa.LargeBinary(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PublicationRow(Base):
    """A footprint made public by an explicit act (migration 0002): its public page and
    JSON answer without a token."""

    __tablename__ = "publications"
    __table_args__ = (sa.Index(None, "tenant"),)

    tenant: Mapped[str] = _tenant()
    footprint_id: Mapped[str] = mapped_column(
        sa.Uuid(as_uuid=False), sa.ForeignKey("footprints.id"), primary_key=True
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# --- emission factor series -----------------------------------------------------


class FactorSeriesRow(Base):
    """A named, versioned hourly factor series (e.g. DE grid 2019) [kg CO2e/kWh]."""

    __tablename__ = "factor_series"
    __table_args__ = (sa.UniqueConstraint("tenant", "name", "version"),)

    tenant: Mapped[str] = _tenant()
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = _id()
    version: Mapped[str] = _id()
    source: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class FactorPointRow(Base):
    """One value of a factor series, valid from ``t`` (epoch s) [kg CO2e/kWh]."""

    __tablename__ = "factor_points"

    tenant: Mapped[str] = _tenant()
    series_id: Mapped[int] = mapped_column(
        sa.Integer, sa.ForeignKey("factor_series.id", ondelete="CASCADE"), primary_key=True
    )
    t: Mapped[float] = _t(primary_key=True)
    value: Mapped[float] = mapped_column(sa.Double(), nullable=False)
    filled: Mapped[bool] = mapped_column(sa.Boolean(), nullable=False)


# --- windowed issuing (migrations 0007, 0009) --------------------------------------------


class AttributionWindowRow(Base):
    """One attributed window ``[start, end)`` [epoch s] of windowed issuing.

    ``key`` names what it was attributed with (factory version, rules, factor
    set); ``pieces`` holds the window's energy pieces of its orders (Parquet),
    ``meta`` per order the window's flags and filled stretches, ``slice_sha256``
    the digest of the events read. Derived data: re-attributing a window (late
    data, a new factory version) replaces its row.
    """

    __tablename__ = "attribution_windows"
    __table_args__ = (  # migration 0011: the columns every run reads, without the table
        sa.Index(
            "ix_attribution_windows_overview",
            "tenant",
            "start",
            "end",
            "key",
            "slice_sha256",
            "slice_count",
            "span",
            "reach_from",
            "reach_to",
        ),
        # migration 0013: the few windows whose orders wait for an issuing pass
        sa.Index(
            "ix_attribution_windows_pending",
            "tenant",
            "start",
            sqlite_where=sa.text("issued_at IS NULL"),
            postgresql_where=sa.text("issued_at IS NULL"),
        ),
    )

    tenant: Mapped[str] = _tenant(primary_key=True)
    start: Mapped[float] = _t(primary_key=True)
    end: Mapped[float] = _t()
    key: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    slice_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    slice_count: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    pieces: Mapped[bytes] = mapped_column(sa.LargeBinary(), nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON(), nullable=False)
    attributed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # the newest ingest span checked against this window, and the time its slice
    # depends on (twin.windows.slice_reach; NULL for windows attributed before 0010)
    span: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    reach_from: Mapped[float | None] = mapped_column(sa.Double(), nullable=True)
    reach_to: Mapped[float | None] = mapped_column(sa.Double(), nullable=True)
    # when an issuing pass last went through this window's orders after it was
    # (re-)attributed; NULL: not yet (a pass that stopped half way leaves it NULL, so the
    # next one issues them: nothing is lost on a crash)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WindowOrderRow(Base):
    """An order with energy in an attributed window; ``last_end`` is its last step end."""

    __tablename__ = "window_orders"
    __table_args__ = (sa.Index(None, "tenant", "window_start"),)

    tenant: Mapped[str] = _tenant(primary_key=True)
    order_id: Mapped[str] = _id(primary_key=True)
    window_start: Mapped[float] = _t(primary_key=True)
    last_end: Mapped[float] = _t()


class IngestSpanRow(Base):
    """The time span [epoch s] of one stored event batch: windowed issuing finds late
    data for windows it has attributed through the spans after its cursor."""

    __tablename__ = "ingest_spans"
    __table_args__ = (sa.Index(None, "tenant", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = _tenant()
    t_min: Mapped[float] = _t()
    t_max: Mapped[float] = _t()


class EventExtentRow(Base):
    """Earliest and latest time [epoch s] of a tenant's stored events (migration 0010),
    widened by every stored batch: windowed issuing lays out its windows from it
    without scanning the event tables."""

    __tablename__ = "event_extents"

    tenant: Mapped[str] = _tenant(primary_key=True)
    t_min: Mapped[float] = _t()
    t_max: Mapped[float] = _t()


class WindowCursorRow(Base):
    """The newest ingest span every attributed window of a tenant was checked against
    (migration 0010): a span at or below it reached no window that was not attributed
    again after it."""

    __tablename__ = "window_cursors"

    tenant: Mapped[str] = _tenant(primary_key=True)
    span: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)


class ArchiveRow(Base):
    """A Parquet file of raw events moved out of the store (``carbontwin archive``):
    rows of ``table`` with ``t_from <= t < t_to``, ``rows`` of them; ``sha256`` of the
    file's bytes, checked when it is read back."""

    __tablename__ = "archives"
    __table_args__ = (sa.Index(None, "tenant", "table_name"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = _tenant()
    table_name: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    t_from: Mapped[float] = _t()
    t_to: Mapped[float] = _t()
    path: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    rows: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class RetractionRow(Base):
    """Events of ``source`` with ``start <= t < end`` taken out of attribution (0005).

    Append-only like the footprints: a retraction is never changed or deleted;
    the events it covers stay stored (``carbontwin.twin.retractions``).
    """

    __tablename__ = "event_retractions"
    __table_args__ = (
        sa.CheckConstraint("t_end > t_start", name="range_not_empty"),
        sa.Index(None, "tenant", "source"),
    )

    tenant: Mapped[str] = _tenant()
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = _id()
    t_start: Mapped[float] = _t()
    t_end: Mapped[float] = _t()
    reason: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    retracted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


# --- tenants and their API clients (migration 0006) -----------------------------------


class TenantRow(Base):
    """A tenant: a plant or company whose rows no other tenant sees."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(sa.String(TENANT_LEN), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ClientRow(Base):
    """An API client of one tenant: the argon2 hash of its secret and its scopes
    (comma-separated ``read``, ``write``, ``admin``). The secret itself is never stored."""

    __tablename__ = "clients"
    __table_args__ = (sa.Index(None, "tenant"),)

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(
        sa.String(TENANT_LEN), sa.ForeignKey("tenants.name"), nullable=False
    )
    secret_hash: Mapped[str] = mapped_column(sa.Text(), nullable=False)
    scopes: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
