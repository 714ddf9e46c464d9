"""Storage of API keys, quotes with their workflow records and history, referral decisions,
policies and renewals (SQLAlchemy 2; SQLite or PostgreSQL). The functions that read and write
quote records, history, policies and renewals are in :mod:`api.records`.

SQLite runs in WAL mode with ``synchronous=FULL`` (an acknowledged quote survives a crash) and a
busy timeout (concurrent writers wait instead of failing with 'database is locked'). The schema is
brought to this release's by the Alembic migrations in ``api/migrations`` when the service starts
(:meth:`Store.create_schema`); a store written by a newer release is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

# ``schema_info``'s version at the head. The releases before the migrations refuse a store whose
# version is above theirs (1): revision 0002 writes 2, so none of them writes to an upgraded store.
# Later revisions leave it (a release with migrations refuses a revision it does not know).
SCHEMA_VERSION = 2
ROLES = ("underwriter", "senior_underwriter", "chief_underwriter", "actuary", "admin")
KEY_PREFIX = "uwk_"
# Constraint names as PostgreSQL makes them by default, so the stores made before the migrations
# (whose constraints PostgreSQL named) and those the migrations make have the same names, and a
# later migration can name a constraint it drops.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and read back as an aware UTC datetime, on every database
    (SQLite keeps no time zone of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be time-zone aware")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class StoreError(RuntimeError):
    """The store cannot be used (for example, written by a newer version)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class SchemaInfo(Base):
    __tablename__ = "schema_info"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    principal: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class QuoteRecord(Base):
    __tablename__ = "quotes"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    principal: Mapped[str] = mapped_column(String(100), index=True)
    lab_id: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    quote: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The quote this one revises (None for a new submission's).
    parent_id: Mapped[str | None] = mapped_column(
        ForeignKey("quotes.id"), index=True, nullable=True
    )
    # The stored quote's validity and tables version, as columns a query can filter on.
    valid_until: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    tables_version: Mapped[str] = mapped_column(String())
    # The workflow record (``underwriting.workflow.QuoteRecord.to_dict()``): everything quoted,
    # the status, offer, referral, validity, parent and history. ``status`` above is its status.
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    __table_args__ = (
        UniqueConstraint("principal", "idempotency_key", name="uq_quotes_idempotency"),
        Index("ix_quotes_created_id", "created_at", "id"),
    )


class DecisionRecord(Base):
    __tablename__ = "referral_decisions"
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class QuoteEvent(Base):
    """One event of a quote's history, append-only: rows are added, never changed."""

    __tablename__ = "quote_events"
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class PolicyRecord(Base):
    """A bound quote: the policy, its period and bound premium."""

    __tablename__ = "policies"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    policy_number: Mapped[str] = mapped_column(String(32), unique=True)
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), unique=True)
    principal: Mapped[str] = mapped_column(String(100), index=True)
    lab_id: Mapped[str] = mapped_column(String(100), index=True)
    period_start: Mapped[dt.date] = mapped_column(Date())
    period_end: Mapped[dt.date] = mapped_column(Date())
    bound_premium: Mapped[float] = mapped_column(Float())
    bound_tax: Mapped[float] = mapped_column(Float())
    technical_premium: Mapped[float] = mapped_column(Float())
    currency: Mapped[str] = mapped_column(String(3))
    tables_version: Mapped[str] = mapped_column(String())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    # The policy this one renews (None for new business).
    renews_policy_id: Mapped[str | None] = mapped_column(
        ForeignKey("policies.id"), index=True, nullable=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    __table_args__ = (
        UniqueConstraint("principal", "idempotency_key", name="uq_policies_idempotency"),
        Index("ix_policies_created_id", "created_at", "id"),
    )


class RenewalRecord(Base):
    """A renewal quote of a policy, with what rate monitoring needs and its decomposition."""

    __tablename__ = "renewals"
    quote_id: Mapped[str] = mapped_column(ForeignKey("quotes.id"), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("policies.id"), index=True)
    expiring_premium: Mapped[float] = mapped_column(Float())
    expiring_technical: Mapped[float] = mapped_column(Float())
    like_for_like_technical: Mapped[float] = mapped_column(Float())
    renewal_technical: Mapped[float] = mapped_column(Float())
    rate_change: Mapped[float] = mapped_column(Float())
    # The decomposition as the API answered it (steps with paired standard errors).
    decomposition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


def hash_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh API key (shown once, stored only as a hash)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_ahead_log(cursor: Any, timeout_ms: int) -> None:
    """Put a SQLite file in WAL mode (it stays so), waiting up to ``timeout_ms`` for the file.

    Switching a new file to WAL needs it alone for a moment, and SQLite answers 'database is
    locked' at once instead of waiting: processes opening a new store together would fail.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Store:
    """The database behind the service."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000) -> None:
        self.url = url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if url.startswith("sqlite"):
            self._configure_sqlite(busy_timeout_ms)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def _configure_sqlite(self, busy_timeout_ms: int) -> None:
        @event.listens_for(self.engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            _write_ahead_log(cursor, busy_timeout_ms)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        # Take the write lock at BEGIN, so two writers queue instead of deadlocking on upgrade.
        @event.listens_for(self.engine, "connect")
        def _no_implicit_begin(connection: Any, _record: Any) -> None:
            connection.isolation_level = None

        @event.listens_for(self.engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def create_schema(self) -> None:
        """Bring the schema to this release's: ``upgrade head`` of the migrations.

        An empty database gets every table; one made before the migrations (with ``schema_info``
        version 1) is recognised and upgraded in place, keeping its rows. Services starting
        together take turns (see :func:`api.migrations.upgrade`). Raises :class:`StoreError` for
        a store written by a newer release.
        """
        # Imported here: the migrations import this module's models.
        from api import migrations

        migrations.upgrade(self.engine)

    def ping(self) -> bool:
        """Whether the store answers."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # any failure means not ready
            return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    # ------------------------------------------------------------------ keys

    def create_key(self, principal: str, role: str) -> tuple[str, ApiKey]:
        """Create a key for ``principal`` with ``role``; returns the key (shown once) and record."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not principal.strip():
            raise ValueError("principal must not be empty")
        key = new_key()
        record = ApiKey(
            id=str(uuid.uuid4()),
            key_hash=hash_key(key),
            principal=principal,
            role=role,
            created_at=now(),
            revoked_at=None,
        )
        with self.session() as session:
            session.add(record)
        return key, record

    def list_keys(self) -> list[ApiKey]:
        with self.session() as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key by id; False if there is no such active key."""
        with self.session() as session:
            record = session.get(ApiKey, key_id)
            if record is None or record.revoked_at is not None:
                return False
            record.revoked_at = now()
            return True

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self.session() as session:
            return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
