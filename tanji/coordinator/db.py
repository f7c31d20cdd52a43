"""The coordinator's state, through SQLAlchemy: SQLite with WAL by default, PostgreSQL for production.

Holds the registry, every accepted envelope (exact bytes), delivery queues and
each calculation's routing state. It never holds a plaintext value of any node:
only ids, hashes, signatures and ciphertext object names (on PostgreSQL also the
ciphertext objects themselves, so that coordinator replicas share them).

The schema is owned by the Alembic migrations in `coordinator/migrations/`;
`make_engine` upgrades a database to their head. A change to these models needs
a new revision there (a unit test compares the models with the migration head).
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import overload

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    create_engine,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tanji.infra.runtime import durable_engine, utcnow

now = utcnow


class Base(DeclarativeBase):
    pass


class Party(Base):
    __tablename__ = "parties"
    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    registered: Mapped[bool] = mapped_column(default=False)
    #: its policy.toml names no customers: it answers every buyer (else only its ApprovedCustomer rows)
    approves_everyone: Mapped[bool] = mapped_column(default=False)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ServedProduct(Base):
    __tablename__ = "served_products"
    org: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    product: Mapped[str] = mapped_column(String(128), primary_key=True)


class SupplyEdge(Base):
    """buyer/buyer_product names supplier/supplier_product as an input (ids only)."""
    __tablename__ = "supply_edges"
    buyer: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    buyer_product: Mapped[str] = mapped_column(String(128), primary_key=True)
    supplier: Mapped[str] = mapped_column(String(63), primary_key=True)
    supplier_product: Mapped[str] = mapped_column(String(128), primary_key=True)


class StoredEnvelope(Base):
    __tablename__ = "envelopes"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    message_type: Mapped[str] = mapped_column(String(48))
    sender: Mapped[str] = mapped_column(String(63))
    receiver: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[bytes] = mapped_column(LargeBinary(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    __table_args__ = (UniqueConstraint("sender", "message_id", name="one_message_id_per_sender"),)


@overload
def aware(dt: datetime) -> datetime: ...
@overload
def aware(dt: None) -> None: ...
def aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns; they are UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class LogLeaf(Base):
    """The transparency log: every accepted envelope, append-only, in acceptance order."""
    __tablename__ = "log_leaves"
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    envelope_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeHeadRow(Base):
    """Signed tree heads the coordinator issued (each must stay consistent with the later ones)."""
    __tablename__ = "tree_heads"
    tree_size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)  # milliseconds since 1970 overflow 32 bits
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class LogHead(Base):
    """The log's one head row: its size. Appending locks it (SELECT ... FOR UPDATE), which orders the
    log, the delivery queues and the key holders' work across coordinator replicas in commit order."""
    __tablename__ = "log_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class StoredObject(Base):
    """A content-addressed object (ciphertext or public context) kept in the database, on PostgreSQL:
    every replica reads what any replica received (SQLite keeps them as files, tanji.infra.objectstore)."""
    __tablename__ = "objects"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ObjectChunk(Base):
    """A chunk of an object still being uploaded (PushObject), whichever replica received it."""
    __tablename__ = "object_chunks"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Delivery(Base):
    """A party's inbox: envelopes in the order it must see them."""
    __tablename__ = "deliveries"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(63), index=True)
    envelope_hash: Mapped[bytes] = mapped_column(ForeignKey("envelopes.hash"))


class KeyHolderWork(Base):
    __tablename__ = "key_holder_work"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    party: Mapped[str] = mapped_column(String(63), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "key" | "decrypt"
    calculation_id: Mapped[str] = mapped_column(String(64))


class Calculation(Base):
    __tablename__ = "calculations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    requester: Mapped[str] = mapped_column(String(63))
    key_holder: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(48))  # CALCULATION_STATE_AWAITING_ATTESTATION is 38
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    key_announcement_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    key_fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    params_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    context_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    transit_level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    aggregate_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    result_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    auditors: Mapped[list] = mapped_column(JSON, default=list)
    min_attestations: Mapped[int] = mapped_column(Integer, default=1)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failure_code: Mapped[int] = mapped_column(Integer, default=0)
    failure_message: Mapped[str] = mapped_column(String, default="")
    #: who refused (its message is its own): the coordinator, the key holder or an organisation
    failure_party: Mapped[str] = mapped_column(String(63), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, onupdate=now)


class CalcPair(Base):
    """One (supplier, product) reached by a calculation: requested once, answered once."""
    __tablename__ = "calc_pairs"
    calculation_id: Mapped[str] = mapped_column(ForeignKey("calculations.id"), primary_key=True)
    org: Mapped[str] = mapped_column(String(63), primary_key=True)
    product: Mapped[str] = mapped_column(String(128), primary_key=True)
    is_root: Mapped[bool] = mapped_column(default=False)
    #: waiting -> dispatched -> answered; or dead (lease expired: its buyers answer with fallbacks),
    #: or skipped (reachable only through dead suppliers)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    merged_request_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    declaration_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    contribution_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class ApprovedCustomer(Base):
    """A buyer a supplier's policy.toml approves, as its last registration said: the coordinator routes
    a registered edge only to a supplier that approves its buyer (issue #12)."""
    __tablename__ = "approved_customers"
    supplier: Mapped[str] = mapped_column(ForeignKey("parties.id"), primary_key=True)
    customer: Mapped[str] = mapped_column(String(63), primary_key=True)


class ObjectUpload(Base):
    """Objects a party started uploading for a calculation: durable, so a restart does not reset the
    bound (`max_objects_per_calculation`) that keeps one party from filling the object store."""
    __tablename__ = "object_uploads"
    calculation_id: Mapped[str] = mapped_column(ForeignKey("calculations.id"), primary_key=True)
    party: Mapped[str] = mapped_column(String(63), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class CalcRequest(Base):
    """A buyer's REQUEST towards a supplier product, waiting to be merged."""
    __tablename__ = "calc_requests"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    buyer: Mapped[str] = mapped_column(String(63))
    supplier: Mapped[str] = mapped_column(String(63))
    product: Mapped[str] = mapped_column(String(128))
    unit: Mapped[str] = mapped_column(String(16))
    weight_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    depth_remaining: Mapped[int] = mapped_column(Integer)


class CalcFallback(Base):
    """A buyer's fallback contribution standing in for a supplier declared dead."""
    __tablename__ = "calc_fallbacks"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    buyer: Mapped[str] = mapped_column(String(63))
    supplier: Mapped[str] = mapped_column(String(63))
    product: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    dead_supplier_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Attestation(Base):
    __tablename__ = "attestations"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    auditor: Mapped[str] = mapped_column(String(63))


def normalise_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean the psycopg (v3) driver, the one tanji installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def connect(url: str) -> Engine:
    """An engine without touching the schema. SQLite: WAL, synchronous=FULL (tanji.infra.runtime).
    PostgreSQL: connections checked before use (a restarted server costs one failed call, not a
    stuck pool), a pool sized for the server's threads, and a lock wait bounded below the RPC
    deadline so a stuck replica turns into UNAVAILABLE (clients retry), not a hung call."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return durable_engine(url)
    connect_args = {"options": "-c lock_timeout=20000"} if url.startswith("postgresql+psycopg") else {}
    return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=32, pool_timeout=20,
                         connect_args=connect_args)


def make_engine(url: str) -> Engine:
    """Connect and upgrade the schema to the migrations' head (instead of create_all)."""
    from tanji.coordinator import migrations

    engine = connect(url)
    migrations.upgrade(engine)
    return engine


def is_shared(engine: Engine) -> bool:
    """True where several coordinator processes may share the database (anything but SQLite)."""
    return engine.dialect.name != "sqlite"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
