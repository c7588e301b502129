"""The store facade: one object that persists the twin.

SQLite file by default, PostgreSQL through ``CARBONTWIN_DATABASE_URL`` (or a
URL given to :class:`Store`). Each method is one transaction; a failed call
stores nothing. Database errors come out as :class:`StoreError` naming what
was written and where.

Times: events are float64 epoch seconds (as in :class:`EventBatch`); orders,
footprints and versions carry timezone-aware UTC datetimes (see
:mod:`carbontwin.twin.store.models`).

>>> store = Store.open("sqlite://")  # in memory, schema built by Alembic
>>> store.write_events(EventBatch())
0
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from carbontwin.twin.errors import StoreError
from carbontwin.twin.events import EventBatch, Settlement, settle
from carbontwin.twin.footprint import Footprint
from carbontwin.twin.model import Factory, Order
from carbontwin.twin.retractions import RETRACTABLE, Retraction, retracted_mask, without_retracted
from carbontwin.twin.store import (
    _archive,
    _audit,
    _events,
    _footprints,
    _retractions,
    _series,
    _tenants,
    _windows,
)
from carbontwin.twin.store._audit import AuditReport, Verifier
from carbontwin.twin.store._footprints import F, FootprintHead, NotFoundError, Signer
from carbontwin.twin.store._jsontext import dumps as json_dumps
from carbontwin.twin.store._series import SeriesLike
from carbontwin.twin.store.models import (
    EventHistoryRow,
    FactorSeriesRow,
    FactoryVersionRow,
    OrderRow,
    PublicationRow,
)

if TYPE_CHECKING:
    from carbontwin.twin.factors import HourlySeries

__all__ = [
    "DEFAULT_TENANT",
    "DEFAULT_URL",
    "AuditReport",
    "FootprintHead",
    "NotFoundError",
    "SeriesLike",
    "Signer",
    "StoredFootprint",
    "Store",
    "Verifier",
    "check_tenant",
    "migrations_path",
]

#: Database used when neither a URL nor ``CARBONTWIN_DATABASE_URL`` is given.
DEFAULT_URL = "sqlite:///carbontwin.db"

_WRITE = "carbontwin_write"  # execution option: this transaction will write
_TENANT = "carbontwin_tenant"  # execution option: the tenant of this transaction

#: The tenant of every row stored before tenants existed, and of the settings' client.
DEFAULT_TENANT = "default"

_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def check_tenant(name: str) -> str:
    """``name`` if it is a valid tenant name (lower-case letters, digits, ``-`` and ``_``,
    at most 63 characters, starting with a letter or digit); :class:`StoreError` otherwise."""
    if not isinstance(name, str) or not _TENANT_NAME.fullmatch(name):
        msg = (
            f"tenant name {name!r} is not valid: use 1 to 63 lower-case letters, digits, "
            "'-' or '_', starting with a letter or digit"
        )
        raise StoreError(msg, field="tenant")
    return name


@dataclass(frozen=True, slots=True)
class StoredFootprint:
    """A footprint as stored: its signed document, the signing key and its log entry.

    ``problems`` lists what does not hold for the row on its own (columns
    against payload, a missing signature or key, the log entry's document
    hash); the signature itself is checked by the caller against a public key.
    """

    document: dict[str, Any]
    public_key_pem: str | None
    log_seq: int | None
    problems: tuple[str, ...]

    @property
    def footprint(self) -> Footprint:
        return Footprint.from_dict(self.document["payload"])


def migrations_path() -> Path:
    """Folder of the packaged Alembic migrations (works from an installed wheel)."""
    return Path(__file__).resolve().parent / "migrations"


def _engine(url: str) -> sa.Engine:
    u = sa.make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")  # the driver of the [postgres] extra
    backend = u.get_backend_name()
    if backend == "sqlite":
        memory = u.database in (None, "", ":memory:")
        kw: dict[str, Any] = {
            "connect_args": {"check_same_thread": False},
            "json_serializer": json_dumps,
        }
        if memory:  # one shared connection, so every thread sees the same database
            kw["poolclass"] = StaticPool
        engine = sa.create_engine(u, **kw)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # let SQLAlchemy own BEGIN/COMMIT (pysqlite's own handling would
            # commit around DDL and defer BEGIN); enforce foreign keys
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA busy_timeout = 10000")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # writers take the write lock up front, so a read-then-write
            # transaction (issuing a footprint version) cannot interleave
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine
    if backend == "postgresql":
        engine = sa.create_engine(u, pool_pre_ping=True, json_serializer=json_dumps)

        @sa.event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn: Any, _record: Any) -> None:
            # psycopg prepares a statement run five times; the server then plans it once
            # for any parameters (a generic plan). Reads of a window's orders and steps
            # by a list of ids got a plan that scans the tenant's whole history (4-20 ms
            # planned for their ids, 80-170 ms generic on 10 k orders): plan each
            # execution for its own parameters
            with dbapi_conn.cursor() as cur:
                cur.execute("SET plan_cache_mode = force_custom_plan")

        @sa.event.listens_for(engine, "begin")
        def _pg_begin(conn: sa.Connection) -> None:
            # row-level security (migration 0005) lets a transaction see and write only
            # the rows of the tenant named here; unset, it sees no tenant's rows
            tenant = conn.get_execution_options().get(_TENANT)
            if tenant is not None:
                conn.exec_driver_sql(
                    "SELECT set_config('carbontwin.tenant', %(t)s, true)", {"t": tenant}
                )

        return engine
    msg = f"the store supports sqlite:// and postgresql:// URLs, not {u.drivername!r}"
    raise StoreError(msg, field="url")


log = logging.getLogger("carbontwin.store")

#: factory versions kept built in memory per store object
_FACTORY_CACHE = 8


class Store:
    """Persistence of factory versions, events, orders, footprints and factor series.

    Parameters
    ----------
    url : str, optional
        SQLAlchemy URL (``sqlite:///path.db``, ``sqlite://`` in memory,
        ``postgresql+psycopg://user@host/db``). Defaults to
        ``CARBONTWIN_DATABASE_URL``, else ``sqlite:///carbontwin.db``.
    tenant : str, optional
        The tenant whose rows this store reads and writes (default ``default``).
        Every query filters by it and every row written carries it; on
        PostgreSQL row-level security backs that up (see
        ``docs/architecture.md``, "Tenants"). :meth:`for_tenant` gives the same
        database scoped to another tenant.

    Notes
    -----
    Constructing a store does not touch the schema: call :meth:`upgrade` (or
    build with :meth:`open`) to run the packaged Alembic migrations.
    """

    def __init__(self, url: str | None = None, *, tenant: str = DEFAULT_TENANT) -> None:
        self.url: str = url or os.environ.get("CARBONTWIN_DATABASE_URL") or DEFAULT_URL
        self.tenant: str = check_tenant(tenant)
        self.engine: sa.Engine = _engine(self.url)
        # factory versions never change once saved: each is built once per store object
        self._factories: dict[int, Factory] = {}

    @classmethod
    def open(cls, url: str | None = None, *, tenant: str = DEFAULT_TENANT) -> Store:
        """A store with its schema upgraded to the newest migration."""
        store = cls(url, tenant=tenant)
        store.upgrade()
        return store

    def for_tenant(self, tenant: str) -> Store:
        """This database scoped to ``tenant`` (same engine and connection pool)."""
        view = object.__new__(type(self))
        view.url = self.url
        view.tenant = check_tenant(tenant)
        view.engine = self.engine
        view._factories = {}
        return view

    @property
    def admin(self) -> _tenants.TenantAdmin:
        """Tenants and API clients: the part of the store no tenant scopes."""
        return _tenants.TenantAdmin(self)

    def __repr__(self) -> str:
        url = self.engine.url.render_as_string(hide_password=True)
        return f"Store({url!r}, tenant={self.tenant!r})"

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(
        self, what: str, *, write: bool = False, foreign_keys: bool = True
    ) -> Iterator[sa.Connection]:
        """One transaction; driver errors become :class:`StoreError` naming ``what``.

        ``write`` transactions take SQLite's write lock at BEGIN, so a
        read-then-write cannot interleave with another writer (on PostgreSQL,
        constraints and, for footprints, an advisory lock per order do that).
        ``foreign_keys=False`` turns SQLite's foreign key checks off for this
        transaction (migrations that rebuild tables).
        """
        try:
            connection = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            # the driver's text names host, port and user: for the operator's log only
            log.warning("%s: cannot connect to %r: %s", what, self, getattr(exc, "orig", exc))
            msg = f"{what} failed: the database cannot be reached (carbontwin's log says why)"
            raise StoreError(msg) from exc
        try:
            with connection as conn:
                conn.execution_options(**{_WRITE: write, _TENANT: self.tenant})
                raw: Any = conn.connection.dbapi_connection if not foreign_keys else None
                if raw is not None:  # outside a transaction, or SQLite ignores the pragma
                    raw.execute("PRAGMA foreign_keys = OFF")
                try:
                    with conn.begin():
                        yield conn
                finally:
                    if raw is not None:
                        raw.execute("PRAGMA foreign_keys = ON")
        except StoreError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None) or exc
            # the driver's first line says what was refused; the lines after it quote SQL
            text = str(orig).strip()
            reason = text.splitlines()[0] if text else type(orig).__name__
            log.warning("%s failed in %r: %s", what, self, text)
            msg = f"{what} failed: {reason}"
            raise StoreError(msg) from exc

    # --- schema --------------------------------------------------------------

    def alembic_config(self) -> Any:
        """An ``alembic.config.Config`` for the packaged migrations (no ini file needed)."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(migrations_path()))
        cfg.set_main_option("path_separator", "os")
        cfg.set_main_option(
            "sqlalchemy.url",
            self.engine.url.render_as_string(hide_password=False).replace("%", "%%"),
        )
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Run ``alembic upgrade <revision>`` on this database.

        On SQLite, foreign keys are off while migrations rebuild tables and
        checked before commit. On PostgreSQL the migrations run with
        ``row_security = off``: a migration that reads tenant rows works for
        the tables' owner only if it may bypass row-level security, and
        otherwise fails loudly instead of seeing no rows.
        """
        from alembic import command

        cfg = self.alembic_config()
        sqlite = self.engine.dialect.name == "sqlite"
        what = f"alembic upgrade {revision}"
        with self._tx(what, write=True, foreign_keys=not sqlite) as conn:
            if not sqlite:
                conn.exec_driver_sql("SET LOCAL row_security = off")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    msg = f"{what}: {len(broken)} rows break foreign keys; nothing was changed"
                    raise StoreError(msg)

    def revision(self) -> str | None:
        """The Alembic revision the database is at (``None`` when unmigrated)."""
        from alembic.runtime.migration import MigrationContext

        with self._tx("reading the schema revision") as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
        return rev

    # --- factory versions ----------------------------------------------------

    def save_factory(self, factory: Factory) -> int:
        """Store ``factory`` as a new version; return its version number."""
        from carbontwin.twin.factory_file import factory_to_dict

        doc = factory_to_dict(factory)
        try:
            doc = json.loads(json.dumps(doc, allow_nan=False))
        except (TypeError, ValueError) as exc:
            msg = f"factory {factory.id!r} does not serialise to JSON: {exc}"
            raise StoreError(msg) from exc
        with self._tx(f"saving factory {factory.id!r}", write=True) as conn:
            vid = conn.execute(
                sa.insert(FactoryVersionRow)
                .values(
                    tenant=self.tenant,
                    created_at=datetime.now(UTC),
                    factory_id=factory.id,
                    name=factory.name,
                    document=doc,
                )
                .returning(FactoryVersionRow.id)
            ).scalar_one()
        return int(vid)

    def load_factory(self, version: int | None = None) -> Factory:
        """The factory of ``version`` (default: the newest saved one).

        Versions are immutable, so each is built from its document once and
        then served from memory; finding the newest version is one indexed query.
        """
        from carbontwin.twin.factory_file import factory_from_dict

        with self._tx("loading a factory version") as conn:
            if version is None:
                newest = conn.execute(
                    sa.select(sa.func.max(FactoryVersionRow.id)).where(
                        FactoryVersionRow.tenant == self.tenant
                    )
                ).scalar()
                vid = int(newest) if newest is not None else None
            else:
                vid = int(version)
            cached = self._factories.get(vid) if vid is not None else None
            if cached is not None:
                return cached
            row = (
                conn.execute(
                    sa.select(FactoryVersionRow.id, FactoryVersionRow.document).where(
                        FactoryVersionRow.tenant == self.tenant, FactoryVersionRow.id == vid
                    )
                ).first()
                if vid is not None
                else None
            )
        if row is None:
            what = "no factory saved yet" if version is None else f"no factory version {version}"
            msg = f"{what} in the store"
            raise NotFoundError(msg, field="version")
        # stored versions were validated when saved; a later library never refuses them
        factory = factory_from_dict(
            row.document, filename=f"factory version {row.id}", check_factors=False
        )
        if len(self._factories) >= _FACTORY_CACHE:
            self._factories.pop(next(iter(self._factories)))
        self._factories[int(row.id)] = factory
        return factory

    def factory_document(self, version: int | None = None) -> tuple[int, dict[str, Any]]:
        """(version, stored document) of a factory version (default: the newest)."""
        stmt = sa.select(FactoryVersionRow.id, FactoryVersionRow.document).where(
            FactoryVersionRow.tenant == self.tenant
        )
        if version is None:
            stmt = stmt.order_by(FactoryVersionRow.id.desc()).limit(1)
        else:
            stmt = stmt.where(FactoryVersionRow.id == version)
        with self._tx("loading a factory version") as conn:
            row = conn.execute(stmt).first()
        if row is None:
            what = "no factory saved yet" if version is None else f"no factory version {version}"
            msg = f"{what} in the store"
            raise NotFoundError(msg, field="version")
        return int(row.id), dict(row.document)

    def save_issuance_input(self, kind: str, sha256: str, document: Any) -> None:
        """Keep the ``kind`` (``events``, ``factors``) an issuing run read, under its digest.

        Stored once (the same digest again is a no-op), compressed, append-only.
        ``document`` may be a function making it, called only when it is not kept yet.
        """
        import zlib

        from carbontwin.twin.store.models import IssuanceInputRow

        with self._tx(f"keeping the {kind} of an issuing run", write=True) as conn:
            known = conn.execute(
                sa.select(IssuanceInputRow.sha256).where(
                    IssuanceInputRow.tenant == self.tenant, IssuanceInputRow.sha256 == sha256
                )
            ).first()
            if known is None:
                if callable(document):
                    document = document()
                blob = zlib.compress(json.dumps(document, allow_nan=False).encode("utf-8"), 6)
                conn.execute(
                    sa.insert(IssuanceInputRow).values(
                        tenant=self.tenant,
                        sha256=sha256,
                        kind=kind,
                        document=blob,
                        created_at=datetime.now(UTC),
                    )
                )

    def load_issuance_input(self, sha256: str) -> Any:
        """The document :meth:`save_issuance_input` kept under ``sha256``."""
        import zlib

        from carbontwin.twin.store.models import IssuanceInputRow

        with self._tx("reading the inputs of an issuing run") as conn:
            blob = conn.execute(
                sa.select(IssuanceInputRow.document).where(
                    IssuanceInputRow.tenant == self.tenant, IssuanceInputRow.sha256 == sha256
                )
            ).scalar_one_or_none()
        if blob is None:
            msg = f"no issuing inputs with digest {sha256} in the store"
            raise NotFoundError(msg, field="sha256")
        return json.loads(zlib.decompress(blob).decode("utf-8"))

    def factory_versions(self) -> list[tuple[int, str, datetime]]:
        """(version, factory id, saved at) of every saved factory, oldest first."""
        with self._tx("listing factory versions") as conn:
            rows = conn.execute(
                sa.select(
                    FactoryVersionRow.id, FactoryVersionRow.factory_id, FactoryVersionRow.created_at
                )
                .where(FactoryVersionRow.tenant == self.tenant)
                .order_by(FactoryVersionRow.id)
            ).all()
        return [(int(r.id), str(r.factory_id), r.created_at) for r in rows]

    # --- events ----------------------------------------------------------------

    def write_events(self, batch: EventBatch, *, chunk_rows: int = _events.CHUNK_ROWS) -> int:
        """Store ``batch`` in one transaction; return how many rows it stored or corrected.

        Same as :meth:`ingest`, counting only the rows written.
        """
        s = self.ingest(batch, chunk_rows=chunk_rows)
        return s.new + s.corrected

    def ingest(self, batch: EventBatch, *, chunk_rows: int = _events.CHUNK_ROWS) -> Settlement:
        """Store ``batch`` in one transaction and say what became of every row.

        Nothing is dropped silently: a row with a key not stored yet is stored
        (``new``); the same event again is a no-op (``unchanged``); another
        value under a stored key replaces it only when the row is flagged as a
        correction (``corrected``; the old value stays in
        :meth:`event_history`), and is otherwise a conflict. Material uses are
        keyed by their booking id, so two bookings of one material both count.
        ``received == new + unchanged + corrected``.

        Raises
        ------
        EventConflictError
            Listing every conflicting row; nothing of the batch is stored.
        EventError
            For an invalid batch (:meth:`EventBatch.validate`); nothing stored.
        StoreError
            When the database refuses the write; nothing stored.
        """
        batch.validate()
        if not len(batch):
            return settle(batch)
        with self._tx(f"writing an event batch of {len(batch)} rows", write=True) as conn:
            settled = settle(batch, _events.stored_for(conn, batch, self.tenant))
            _events.write_settled(conn, settled, self.tenant, chunk_rows=chunk_rows)
            if settled.new or settled.corrected:
                _windows.record_span(conn, self.tenant, batch)
        return settled

    def event_history(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Values corrections replaced, oldest first: ``kind``, ``key``, ``old``, ``new``
        (lists in the column order of :data:`carbontwin.twin.events.KINDS`), ``superseded_at``."""
        stmt = (
            sa.select(EventHistoryRow)
            .where(EventHistoryRow.tenant == self.tenant)
            .order_by(EventHistoryRow.id)
        )
        if kind is not None:
            stmt = stmt.where(EventHistoryRow.kind == kind)
        with self._tx("reading the event history") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [{k: r[k] for k in ("kind", "key", "old", "new", "superseded_at")} for r in rows]

    def read_events(
        self, start: float | None = None, end: float | None = None, *, retracted: bool = False
    ) -> EventBatch:
        """Stored events in ``[start, end)`` [epoch s], sorted by source and time.

        States, samples and counters lie in the window; order steps and gaps
        overlap it; material uses belong to an order with a step in it.
        Events under a retraction (:meth:`retract_events`) are left out unless
        ``retracted`` is true.
        """
        with self._tx("reading events") as conn:
            batch = _events.read_kinds(conn, start, end, self.tenant)
            if retracted:
                return batch
            taken = _retractions.load(conn, self.tenant)
        return without_retracted(batch, taken)[0]

    def retract_events(
        self, source: str, start: float, end: float, reason: str
    ) -> tuple[Retraction, dict[str, int]]:
        """Take the events of ``source`` with ``start <= t < end`` [epoch s] out of
        attribution, on record (:mod:`carbontwin.twin.retractions`): the events stay
        stored, the retraction is kept append-only. Returns it with the number of
        stored events of each kind it covers."""
        r = _retractions.check(source, start, end, reason)
        with self._tx(f"retracting events of {source!r}", write=True) as conn:
            batch = _events.read_kinds(conn, r.start, r.end, self.tenant)
            counts = {
                kind: n
                for kind in RETRACTABLE
                if (n := int(retracted_mask(batch, kind, [r]).sum()))
            }
            saved = _retractions.insert(conn, r, self.tenant)
            # windowed issuing attributes the windows it reaches again
            _windows.record_range(conn, self.tenant, r.start, r.end)
        return saved, counts

    def retractions(self) -> list[Retraction]:
        """Every retraction, oldest first."""
        with self._tx("reading event retractions") as conn:
            return _retractions.load(conn, self.tenant)

    # --- windowed issuing (carbontwin.api.issuing.issue_windows) ---------------------

    def read_window(
        self, start: float, end: float, meters: Sequence[str], assets: Sequence[str]
    ) -> tuple[EventBatch, float, float]:
        """The events attributing the window ``[start, end)`` needs (each meter's readings
        from its last before to its first after the window, states, steps and gaps
        around them) and the span they cover; see :func:`._windows.read_slice`."""
        with self._tx("reading a window's events") as conn:
            return _windows.read_slice(conn, self.tenant, start, end, meters, assets)

    def order_events(self, orders: Iterable[str]) -> EventBatch:
        """Every stored order step and material use of ``orders``."""
        with self._tx("reading the events of orders") as conn:
            return _windows.order_events(conn, self.tenant, orders)

    def events_extent(self) -> tuple[float, float] | None:
        """Earliest and latest stored event time [epoch s]; ``None`` when there are none."""
        with self._tx("reading the events' time span") as conn:
            return _windows.extent(conn, self.tenant)

    def save_window(
        self, window: _windows.StoredWindow, pieces: bytes, orders: Sequence[tuple[str, float]]
    ) -> None:
        """Store (or replace) an attributed window with its orders, in one transaction."""
        with self._tx("storing an attributed window", write=True) as conn:
            _windows.save_window(conn, self.tenant, window, pieces, orders)

    def delete_windows(self, starts: Iterable[float]) -> None:
        """Drop attributed windows that no longer match the window layout (derived data)."""
        with self._tx("dropping attributed windows", write=True) as conn:
            _windows.delete_windows(conn, self.tenant, starts)

    def archive(
        self,
        before: float,
        folder: str | Path,
        *,
        on_rows: Callable[[str, float, int], None] | None = None,
    ) -> list[_archive.ArchivedFile]:
        """Move the states, power samples and counter readings older than ``before``
        [epoch s] to Parquet files in ``folder``, one per table and month, recorded with
        their SHA-256 (see :mod:`._archive`). Only attributed time is archived: ``before``
        must not pass the end of the last attributed window. One transaction: the rows
        leave the store only when every file is written and recorded; when it fails, the
        files it wrote are removed. ``on_rows(table, month start, rows so far)``: progress.
        """
        written: list[Path] = []
        try:
            with self._tx("archiving events", write=True) as conn:
                ws = _windows.windows(conn, self.tenant)
                last = max((w.end for w in ws), default=None)
                if last is None or before > last:
                    when = (
                        "no window is attributed yet"
                        if last is None
                        else (
                            f"the last attributed window ends at "
                            f"{datetime.fromtimestamp(last, UTC):%Y-%m-%dT%H:%M:%SZ}"
                        )
                    )
                    msg = (
                        f"cannot archive before {datetime.fromtimestamp(before, UTC):%Y-%m-%dT%H:%M:%SZ}: "
                        f"{when}; run 'carbontwin issue' first"
                    )
                    raise StoreError(msg, field="before")
                return _archive.archive(
                    conn, self.tenant, before, Path(folder), on_rows=on_rows, written=written
                )
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def archived_files(self) -> list[_archive.ArchivedFile]:
        """Every archive file, by table and time."""
        with self._tx("reading archives") as conn:
            return _archive.files(conn, self.tenant)

    def attributed_windows(self) -> list[_windows.StoredWindow]:
        """Every attributed window (without its pieces and meta), by start."""
        with self._tx("reading attributed windows") as conn:
            return _windows.windows(conn, self.tenant)

    def window_meta(self, starts: Iterable[float]) -> dict[float, dict[str, Any]]:
        """Meta (per order: flags, filled stretches; held orders) of the windows at ``starts``."""
        with self._tx("reading attributed windows") as conn:
            return _windows.window_meta(conn, self.tenant, starts)

    def windows_checked(self, span: int) -> None:
        """Record that every attributed window was checked against the ingest spans up to
        id ``span`` (windowed issuing, after attributing the windows they reached)."""
        with self._tx("recording checked windows", write=True) as conn:
            _windows.checked_until(conn, self.tenant, span)

    def windows_checked_span(self) -> int:
        """The span recorded by :meth:`windows_checked` (0: none)."""
        with self._tx("reading attributed windows") as conn:
            return _windows.checked_span(conn, self.tenant)

    def ingest_span_cursor(self) -> int:
        """The newest ingest span id (0: none recorded)."""
        with self._tx("reading ingest spans") as conn:
            return _windows.span_cursor(conn, self.tenant)

    def window_records(
        self, starts: Iterable[float]
    ) -> dict[float, tuple[_windows.StoredWindow, bytes]]:
        """The attributed windows at ``starts``, each with its digests, meta and pieces
        (Parquet) read from one row (see :func:`_windows.window_records`)."""
        with self._tx("reading attributed windows") as conn:
            return _windows.window_records(conn, self.tenant, starts)

    def pending_windows(self) -> list[tuple[float, str, str]]:
        """(start, key, slice digest) of the attributed windows whose orders wait for an
        issuing pass (see :meth:`windows_issued`)."""
        with self._tx("reading attributed windows") as conn:
            return _windows.pending(conn, self.tenant)

    def window_order_ids(self, starts: Iterable[float]) -> set[str]:
        """The orders with energy in the attributed windows at ``starts``."""
        with self._tx("reading the orders of windows") as conn:
            return _windows.window_orders(conn, self.tenant, starts)

    def windows_issued(self, windows: Iterable[tuple[float, str, str]]) -> None:
        """Record that an issuing pass went through the orders of ``windows`` (as
        :meth:`pending_windows` gave them; one attributed again since stays pending)."""
        with self._tx("recording issued windows", write=True) as conn:
            _windows.mark_issued(conn, self.tenant, windows)

    def order_windows(self, orders: Iterable[str]) -> dict[str, list[tuple[float, float]]]:
        """Per order: (window start, last step end) of the windows it has energy in."""
        with self._tx("reading the windows of orders") as conn:
            return _windows.order_windows(conn, self.tenant, orders)

    def order_last_end(self, orders: Iterable[str]) -> dict[str, float]:
        """Per order: the end of its last stored step [epoch s]."""
        with self._tx("reading the last steps of orders") as conn:
            return _windows.order_last_end(conn, self.tenant, orders)

    def ingest_spans(self, after: int = 0) -> list[tuple[int, float, float]]:
        """(id, earliest, latest time) of every event batch stored after span id ``after``."""
        with self._tx("reading ingest spans") as conn:
            return _windows.spans_after(conn, self.tenant, after)

    def issue_footprints(self, fps: Sequence[Footprint], signer: Signer) -> list[Footprint]:
        """Issue ``fps`` (as :meth:`issue_footprint`, one after the other) in one
        transaction: all or none, in a constant number of statements."""
        if not fps:
            return []
        # canonicalised and signed before the write lock (another process writes
        # meanwhile); inside, only checked against the store, made again if it changed
        with self._tx(f"reading the versions of {len(fps)} footprints") as conn:
            found = _footprints.plan(conn, fps, self.tenant)
        try:
            ready = _footprints.prepare(fps, found, signer, self.tenant)
        except StoreError:
            ready = None  # raised again in the transaction, if the store still says so
        with self._tx(f"issuing {len(fps)} footprints", write=True) as conn:
            self._lock_orders(conn, {fp.order for fp in fps})
            return _footprints.issue_many(conn, fps, signer, self.tenant, ready)

    def _lock_orders(self, conn: sa.Connection, orders: set[str]) -> None:
        """PostgreSQL: one issuer per order at a time (transaction advisory locks, taken
        in order id order, all in one statement)."""
        if conn.dialect.name != "postgresql":
            return
        keys = [f"carbontwin footprint {self.tenant}/{o}" for o in sorted(orders)]
        conn.execute(
            sa.text(
                "SELECT count(pg_advisory_xact_lock(hashtext(k))) "
                "FROM unnest(CAST(:keys AS text[])) AS k"  # in the array's order
            ),
            {"keys": keys},
        )

    def count_events_upto(
        self, limit: int, start: float | None = None, end: float | None = None
    ) -> int:
        """Stored rows of all event tables, counted up to ``limit`` (a read of at most
        ``limit`` index entries, however many are stored); with ``start`` and ``end``
        [epoch s], the rows whose time lies in ``[start, end)``."""
        n = 0
        with self._tx("counting events") as conn:
            for k in _events.KINDS:
                if n >= limit:
                    break
                where = [k.table.c.tenant == self.tenant]
                if start is not None and end is not None:
                    t = k.table.c[k.time]
                    where += [t >= start, t < end]
                sub = (
                    sa.select(sa.literal(1))
                    .select_from(k.table)
                    .where(*where)
                    .limit(limit - n)
                    .subquery()
                )
                n += int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())
        return min(n, limit)

    def count_events(self) -> dict[str, int]:
        """Stored rows per event table."""
        with self._tx("counting events") as conn:
            return {
                k.table.name: int(
                    conn.execute(
                        sa.select(sa.func.count())
                        .select_from(k.table)
                        .where(k.table.c.tenant == self.tenant)
                    ).scalar_one()
                )
                for k in _events.KINDS
            }

    # --- orders ------------------------------------------------------------------

    def save_orders(self, orders: Iterable[Order]) -> int:
        """Insert or replace ``orders`` (by id) in one transaction; return how many."""
        rows = [
            {
                "tenant": self.tenant,
                "id": o.id,
                "product": o.product,
                "quantity": float(o.quantity),
                "release": _footprints.aware(o.release, f"order {o.id!r} release"),
                "due": _footprints.aware(o.due, f"order {o.id!r} due"),
            }
            for o in orders
        ]
        if not rows:
            return 0
        with self._tx(f"saving {len(rows)} orders", write=True) as conn:
            stmt = _upsert(
                conn.dialect.name,
                OrderRow.__table__,
                ["tenant", "id"],
                ["product", "quantity", "release", "due"],
            )
            conn.execute(stmt, rows)
        return len(rows)

    def list_orders(self) -> list[Order]:
        """Every stored order, by release time then id."""
        with self._tx("listing orders") as conn:
            rows = conn.execute(
                sa.select(
                    OrderRow.id, OrderRow.product, OrderRow.quantity, OrderRow.release, OrderRow.due
                )
                .where(OrderRow.tenant == self.tenant)
                .order_by(OrderRow.release, OrderRow.id)
            ).all()
        return [Order(r.id, r.product, float(r.quantity), r.release, r.due) for r in rows]

    def get_order(self, order_id: str) -> Order:
        """The stored order ``order_id``."""
        with self._tx(f"reading order {order_id!r}") as conn:
            r = conn.execute(
                sa.select(
                    OrderRow.id, OrderRow.product, OrderRow.quantity, OrderRow.release, OrderRow.due
                ).where(OrderRow.tenant == self.tenant, OrderRow.id == order_id)
            ).first()
        if r is None:
            msg = f"no order {order_id!r} in the store"
            raise NotFoundError(msg, field="order")
        return Order(r.id, r.product, float(r.quantity), r.release, r.due)

    def orders_by_id(self, order_ids: Iterable[str]) -> list[Order]:
        """The stored orders among ``order_ids`` (unknown ids left out), by id."""
        ids = sorted(set(order_ids))
        out: list[Order] = []
        with self._tx("reading orders") as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(
                        OrderRow.id,
                        OrderRow.product,
                        OrderRow.quantity,
                        OrderRow.release,
                        OrderRow.due,
                    ).where(OrderRow.tenant == self.tenant, OrderRow.id.in_(ids[i : i + 500]))
                ).all()
                out += [Order(r.id, r.product, float(r.quantity), r.release, r.due) for r in rows]
        return sorted(out, key=lambda o: o.id)

    # --- footprints ----------------------------------------------------------------

    def issue_footprint(self, fp: Footprint, signer: Signer) -> Footprint:
        """Issue ``fp``: stamp ``issued_at``, give it its version, sign it, store it for good.

        The first footprint of an order is version 1. A later one is version
        latest + 1 and replaces the latest: set ``fp.replaces`` to the latest
        id, or leave it ``None`` and the store fills it in. Replacing an older
        version, or re-issuing an id, raises :class:`StoreError`.

        ``signer`` signs the footprint as issued (RFC 8785 JSON, Ed25519, see
        ``carbontwin.plugins.signing.Signer``) once, here; the signature and the
        key are stored with it and an entry is appended to the hash-chained
        issuance log, in the same transaction. Issued rows are never updated
        or deleted (database triggers reject both, and TRUNCATE on PostgreSQL).

        Returns
        -------
        Footprint
            ``fp`` as issued (version, replaces, issued_at set).
        """
        with self._tx(f"issuing the footprint of order {fp.order!r}", write=True) as conn:
            self._lock_orders(conn, {fp.order})
            return _footprints.issue(conn, fp, signer, self.tenant)

    def withdraw_footprint(self, order: str, signer: Signer, reason: str) -> Footprint:
        """Withdraw ``order``'s footprint: issue a new version with status Deprecated.

        The withdrawal carries the figures of the version it replaces and
        ``reason`` among its flags; nothing stored is changed or removed.
        """
        from carbontwin.twin.footprint import DEPRECATED, WITHDRAWN

        latest = self.latest_footprint(order)
        if latest is None:
            msg = f"order {order!r} has no issued footprint to withdraw"
            raise NotFoundError(msg, field="order")
        if latest.status == DEPRECATED:
            msg = (
                f"the footprint of order {order!r} is already withdrawn (version {latest.version})"
            )
            raise StoreError(msg, field="order")
        withdrawal = latest.successor(
            replace(latest, status=DEPRECATED, flags=(*latest.flags, f"{WITHDRAWN}{reason}"))
        )
        return self.issue_footprint(withdrawal, signer)

    def reinstate_footprint(self, order: str, signer: Signer, reason: str) -> Footprint:
        """Undo a withdrawal of ``order``'s footprint: issue a new Active version with the
        figures and flags the withdrawn one had, ``reason`` in its lineage
        (``reinstated``). The withdrawal stays on record; issuing treats the new version
        like the one withdrawn (the same inputs issue nothing new)."""
        from carbontwin.twin.footprint import ACTIVE, WITHDRAWN

        latest = self.latest_footprint(order)
        if latest is None:
            msg = f"order {order!r} has no issued footprint to reinstate"
            raise NotFoundError(msg, field="order")
        if not latest.withdrawal_reason:
            msg = (
                f"the footprint of order {order!r} is not withdrawn (version {latest.version} "
                f"is {latest.status})"
            )
            raise StoreError(msg, field="order")
        again = latest.successor(
            replace(
                latest,
                status=ACTIVE,
                flags=tuple(f for f in latest.flags if not f.startswith(WITHDRAWN)),
                lineage={**latest.lineage, "reinstated": reason},
            )
        )
        return self.issue_footprint(again, signer)

    def stored_footprint(self, footprint_id: str) -> StoredFootprint:
        """The signed document of ``footprint_id`` exactly as stored, with its key and
        log entry, and what does not hold for the row (see :class:`StoredFootprint`)."""
        from carbontwin.twin.store.models import IssuanceLogRow, SigningKeyRow

        try:
            fid = _footprints.canonical_uuid(footprint_id, "footprint id")
        except StoreError:
            msg = f"no footprint {footprint_id!r} in the store (footprint ids are UUIDs)"
            raise NotFoundError(msg, field="id") from None
        with self._tx(f"reading footprint {fid}") as conn:
            row = conn.execute(
                sa.select(
                    F.id,
                    F.order_id,
                    F.version,
                    F.product,
                    F.co2e_kg,
                    F.payload,
                    F.signature,
                    F.key_id,
                ).where(F.tenant == self.tenant, F.id == fid)
            ).first()
            if row is None:
                msg = f"no footprint {fid} in the store"
                raise NotFoundError(msg, field="id")
            pem = conn.execute(
                sa.select(SigningKeyRow.public_key_pem).where(
                    SigningKeyRow.tenant == self.tenant, SigningKeyRow.key_id == row.key_id
                )
            ).scalar_one_or_none()
            entry = conn.execute(
                sa.select(IssuanceLogRow.seq, IssuanceLogRow.document_sha256).where(
                    IssuanceLogRow.tenant == self.tenant, IssuanceLogRow.footprint_id == fid
                )
            ).first()
        doc = _footprints.signed_document(row.payload, row.signature)
        problems = _audit.row_problems(row, {}, None)
        if entry is None:
            problems.append(f"footprint {fid} is not in the issuance log")
        elif _footprints.sha256_hex(doc) != entry.document_sha256:
            problems.append(
                f"footprint {fid} differs from the one logged at issuance (log entry {entry.seq})"
            )
        return StoredFootprint(doc, pem, None if entry is None else int(entry.seq), tuple(problems))

    def audit(self, verify: Verifier | None = None) -> AuditReport:
        """Check the issuance log's hash chain and every stored footprint against it.

        ``verify(signed_document, public_key_pem) -> (valid, reason)`` checks
        each stored signature (``carbontwin.plugins.signing.verify_pem``); without
        it signatures are not checked. See :mod:`carbontwin.twin.store._audit`.
        """
        with self._tx("auditing the issuance log") as conn:
            return _audit.audit(conn, verify, self.tenant)

    def get_footprint(self, footprint_id: str) -> Footprint:
        """The issued footprint ``footprint_id``."""
        try:
            fid = _footprints.canonical_uuid(footprint_id, "footprint id")
        except StoreError:
            msg = f"no footprint {footprint_id!r} in the store (footprint ids are UUIDs)"
            raise NotFoundError(msg, field="id") from None
        fps = self._footprints(sa.select(F.payload).where(F.id == fid))
        if not fps:
            msg = f"no footprint {fid} in the store"
            raise NotFoundError(msg, field="id")
        return fps[0]

    def footprint_head(
        self, footprint_id: str | None = None, *, order: str | None = None
    ) -> FootprintHead | None:
        """Is footprint ``footprint_id`` (or ``order``'s newest version) current, and which
        factory version is the newest? One indexed query that reads no payload; ``None``
        when there is no such footprint (also for ids that are no UUID).

        What a cache of renderings keys on (see :class:`FootprintHead`).
        """
        if (footprint_id is None) == (order is None):
            msg = "give footprint_id or order"
            raise StoreError(msg, field="footprint_id")
        if footprint_id is not None:
            try:
                footprint_id = _footprints.canonical_uuid(footprint_id, "footprint id")
            except StoreError:
                return None
        with self._tx("reading a footprint's head") as conn:
            return _footprints.head(conn, self.tenant, footprint_id=footprint_id, order=order)

    def footprint_versions(self, order: str) -> list[Footprint]:
        """Every issued version of ``order``'s footprint, oldest first."""
        return self._footprints(sa.select(F.payload).where(F.order_id == order).order_by(F.version))

    def latest_footprint(self, order: str) -> Footprint | None:
        """The newest version of ``order``'s footprint, or ``None``."""
        fps = self._footprints(
            sa.select(F.payload).where(F.order_id == order).order_by(F.version.desc()).limit(1)
        )
        return fps[0] if fps else None

    def latest_footprints(self, orders: Iterable[str]) -> dict[str, Footprint]:
        """The newest footprint version of each of ``orders`` that has one."""
        ids = sorted(set(orders))
        out: dict[str, Footprint] = {}
        with self._tx("reading footprints") as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                newest = (
                    sa.select(F.order_id, sa.func.max(F.version).label("v"))
                    .where(F.tenant == self.tenant, F.order_id.in_(chunk))
                    .group_by(F.order_id)
                    .subquery()
                )
                stmt = sa.select(F.payload).join(
                    newest,
                    sa.and_(
                        F.tenant == self.tenant,
                        F.order_id == newest.c.order_id,
                        F.version == newest.c.v,
                    ),
                )
                for p in conn.execute(stmt).scalars():
                    fp = Footprint.from_dict(p)
                    out[fp.order] = fp
        return out

    def list_footprints(
        self, limit: int | None = None, offset: int = 0, **filters: Any
    ) -> list[Footprint]:
        """Issued footprints, oldest issue first, filtered.

        Filters: ``order``, ``product``, ``factory`` (equal); ``since`` and
        ``until`` (datetimes: the reference period overlaps ``[since, until)``);
        ``min_co2e_kg``, ``max_co2e_kg``; ``latest_only=True`` keeps only each
        order's newest version.
        """
        stmt = _footprints.select_filtered(filters, self.tenant)
        stmt = stmt.order_by(F.issued_at, F.order_id, F.version).offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        return self._footprints(stmt)

    def publish_footprint(self, footprint_id: str) -> datetime:
        """Publish footprint ``footprint_id`` (an explicit act): its public page and JSON
        answer without a token from now on. Publishing again changes nothing; returns
        when it was first published."""
        fid = self.get_footprint(footprint_id).id
        with self._tx(f"publishing footprint {fid}", write=True) as conn:
            when = conn.execute(
                sa.select(PublicationRow.published_at).where(
                    PublicationRow.tenant == self.tenant, PublicationRow.footprint_id == fid
                )
            ).scalar()
            if when is None:
                when = datetime.now(UTC)
                conn.execute(
                    sa.insert(PublicationRow).values(
                        tenant=self.tenant, footprint_id=fid, published_at=when
                    )
                )
        return when if when.tzinfo else when.replace(tzinfo=UTC)

    def published_at(self, footprint_id: str) -> datetime | None:
        """When footprint ``footprint_id`` was published, or ``None`` (not published)."""
        try:
            fid = _footprints.canonical_uuid(footprint_id, "footprint id")
        except StoreError:
            return None
        with self._tx("reading publications") as conn:
            when = conn.execute(
                sa.select(PublicationRow.published_at).where(
                    PublicationRow.tenant == self.tenant, PublicationRow.footprint_id == fid
                )
            ).scalar()
        return None if when is None else (when if when.tzinfo else when.replace(tzinfo=UTC))

    def publisher(self, footprint_id: str) -> str | None:
        """The tenant that published footprint ``footprint_id``, or ``None`` (not published).

        The one read across tenants: publishing made the footprint public, and the
        public page finds whose it is here before it reads it as that tenant.
        """
        try:
            fid = _footprints.canonical_uuid(footprint_id, "footprint id")
        except StoreError:
            return None
        with self._tx("reading publications") as conn:
            tenant = conn.execute(
                sa.select(PublicationRow.tenant).where(PublicationRow.footprint_id == fid)
            ).scalar()
        return None if tenant is None else str(tenant)

    def _footprints(self, stmt: sa.Select[Any]) -> list[Footprint]:
        stmt = stmt.where(F.tenant == self.tenant)
        with self._tx("reading footprints") as conn:
            payloads = conn.execute(stmt).scalars().all()
        return [Footprint.from_dict(p) for p in payloads]

    # --- factor series -----------------------------------------------------------------

    def save_factor_series(self, series: SeriesLike) -> int:
        """Store an hourly factor series under (name, version); return its row id.

        A (name, version) is stored once: saving the same values again is a
        no-op, other values under a stored version raise :class:`StoreError`.
        """
        with self._tx(f"saving factor series {series.name!r}", write=True) as conn:
            return _series.save(conn, series, self.tenant)

    def load_factor_series(self, name: str, version: str | None = None) -> HourlySeries:
        """The stored series ``name`` at ``version`` (default: the newest saved)."""
        from carbontwin.twin.factors import HourlySeries

        with self._tx(f"loading factor series {name!r}") as conn:
            row = _series.find(conn, name, version, self.tenant)
            if row is None:
                at = "" if version is None else f" version {version!r}"
                msg = f"no factor series {name!r}{at} in the store"
                raise NotFoundError(msg, field="name")
            t, v, filled = _series.points(conn, row.id, self.tenant)
            name_, version_, source = str(row.name), str(row.version), str(row.source)
        return HourlySeries(
            t_start=t, values=v, name=name_, version=version_, source=source, filled=filled
        )

    def factor_series(self) -> list[tuple[str, str, str]]:
        """(name, version, source) of every stored factor series, by name then age."""
        with self._tx("listing factor series") as conn:
            rows = conn.execute(
                sa.select(FactorSeriesRow.name, FactorSeriesRow.version, FactorSeriesRow.source)
                .where(FactorSeriesRow.tenant == self.tenant)
                .order_by(FactorSeriesRow.name, FactorSeriesRow.id)
            ).all()
        return [(str(r.name), str(r.version), str(r.source)) for r in rows]


def _upsert(dialect: str, table: Any, key: list[str], update: list[str]) -> sa.Insert:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
        return stmt.on_conflict_do_update(
            index_elements=key, set_={c: stmt.excluded[c] for c in update}
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table)
    return lite.on_conflict_do_update(
        index_elements=key, set_={c: lite.excluded[c] for c in update}
    )
