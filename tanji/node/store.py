"""The node's local store (SQLite through SQLAlchemy): imported data, sent envelopes, progress.

Raw data never leaves this database. Imports are versioned and atomic: a file
is validated whole before one transaction stores it, so a refused file changes
nothing and every calculation can name the exact data version it used.
Envelopes are stored before they are pushed, so a retry resends the same bytes.

A store that cannot be written — a full disk, a file-size limit, a read-only
mount, an I/O error — raises StoreError naming the store file and what failed;
the transaction is rolled back whole (SQLite WAL), so nothing half-written stays.
TANJI_NODE_STORE_READ_ONLY=1 opens the store read-only (SQLite `mode=ro`), as a
store on a read-only mount is: for inspecting a store that must not change, and
for the tests that check a refused write leaves the store as it was.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import DateTime, Integer, LargeBinary, String, inspect, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tanji.errors import TanjiError
from tanji.infra.runtime import durable_engine, private_database, utcnow

now = utcnow


class Base(DeclarativeBase):
    pass


class FactorSetRow(Base):
    __tablename__ = "factor_sets"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    file: Mapped[str] = mapped_column(String)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class DataVersion(Base):
    """One imported node-data file; the newest version is the one calculations use."""
    __tablename__ = "data_versions"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64))
    factor_set_sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    file: Mapped[str] = mapped_column(String)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Outbox(Base):
    """Every envelope this node signed, stored before it is pushed (retries resend these bytes)."""
    __tablename__ = "outbox"
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    answers: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    pushed: Mapped[bool] = mapped_column(default=False)
    #: for a REQUEST: which of our products and which of its inputs it is for
    product: Mapped[str | None] = mapped_column(String(128), nullable=True)
    input_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OutObject(Base):
    """Ciphertexts this node produced, kept until pushed (and for the on-site audit)."""
    __tablename__ = "out_objects"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Handled(Base):
    """A request (or other inbound envelope) this node has answered — never twice."""
    __tablename__ = "handled"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    data_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String, default="")
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    #: None: answered; the RefusalCode this node refused it with (REFUSAL_CODE_UNSPECIFIED, 0, for a
    #: refusal recorded before codes were kept). What the rate limit and the ledger decide by.
    refusal_code: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def refused(self) -> bool:
        return self.refusal_code is not None


class CalcKey(Base):
    """A calculation's accepted public key (signed by a listed key holder)."""
    __tablename__ = "calc_keys"
    calculation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    announcement: Mapped[bytes] = mapped_column(LargeBinary)      # the KEY_ANNOUNCEMENT envelope bytes
    context: Mapped[bytes] = mapped_column(LargeBinary)


class Cursor(Base):
    __tablename__ = "cursor"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


#: columns added after a release, each nullable, so a store written by an older node opens in place
ADDED_COLUMNS = {"handled": ["refusal_code"]}
#: how rows written before a column existed get its value, once, when it is added (an older node
#: recorded a refusal only in its outcome text, always beginning "refused")
BACKFILL = {("handled", "refusal_code"): "UPDATE handled SET refusal_code = 0 WHERE outcome LIKE 'refused%'"}


def _add_new_columns(engine) -> None:
    """The node's schema history beyond create_all: columns only ever added (nullable)."""
    with engine.begin() as con:
        for table, columns in ADDED_COLUMNS.items():
            have = {c["name"] for c in inspect(con).get_columns(table)}
            for name in columns:
                if name not in have:
                    column = Base.metadata.tables[table].c[name]
                    con.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {column.type.compile(engine.dialect)}"))
                    if (table, name) in BACKFILL:
                        con.execute(text(BACKFILL[(table, name)]))


class StoreError(TanjiError):
    """The node's store refused a write (or could not be opened): the file, what, and why."""

    exit_code = 1  # not bad input: the machine (full disk, read-only mount)

    def __init__(self, path: Path, what: str, exc: Exception, consequence: str = ""):
        self.path, self.what = path, what
        self.reason = _reason(path, exc)
        super().__init__(f"{path}: cannot {what}: {self.reason}" + (f"; {consequence}" if consequence else ""))


def _reason(path: Path, exc: Exception) -> str:
    """What SQLite's error means for an operator (sqlite3 names the error class, not the cause)."""
    orig = getattr(exc, "orig", exc)
    name = getattr(orig, "sqlite_errorname", "") or type(orig).__name__
    if name.startswith("SQLITE_READONLY"):
        return f"the store is read-only ({orig}; {name})"
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free on its disk"
        except OSError:
            free = "free space unknown"
        return (f"writing failed — the disk is full, a file-size limit was reached or the disk failed "
                f"({orig}; {name}; {free})")
    if name.startswith("SQLITE_CANTOPEN"):
        return f"the store cannot be opened ({orig}; {name})"
    return f"{orig} ({name})"


def read_only_requested() -> bool:
    return os.environ.get("TANJI_NODE_STORE_READ_ONLY", "") not in ("", "0")


class NodeStore:
    def __init__(self, path: Path, read_only: bool | None = None):
        self.path = path
        self.read_only = read_only_requested() if read_only is None else read_only
        try:
            if self.read_only:
                self.engine = durable_engine(f"sqlite:///file:{path}?mode=ro&uri=true", holds_large_blobs=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                private_database(path)  # raw data, salts, openings: readable by the node's owner only (0600)
                self.engine = durable_engine(f"sqlite:///{path}", holds_large_blobs=True)
            Base.metadata.create_all(self.engine)
            if not self.read_only:
                _add_new_columns(self.engine)
        except (OperationalError, OSError) as exc:
            raise StoreError(path, "open the node's store" + (" read-only" if self.read_only else ""), exc) from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def writing(self, what: str, consequence: str = "") -> Iterator:
        """One write transaction; a store that refuses it raises StoreError naming the file and `what`."""
        try:
            with self.sessions.begin() as s:
                yield s
        except OperationalError as exc:
            raise StoreError(self.path, what, exc, consequence) from None

    def latest_data(self) -> DataVersion | None:
        with self.sessions() as s:
            return s.scalars(select(DataVersion).order_by(DataVersion.version.desc()).limit(1)).first()

    def factor_set(self, sha256: str) -> FactorSetRow | None:
        with self.sessions() as s:
            return s.get(FactorSetRow, sha256)

    def cursor(self) -> int:
        with self.sessions() as s:
            row = s.get(Cursor, 1)
            return row.value if row else 0

    def set_cursor(self, value: int) -> None:
        with self.sessions.begin() as s:
            row = s.get(Cursor, 1)
            if row is None:
                s.add(Cursor(id=1, value=value))
            else:
                row.value = max(row.value, value)


class Received(Base):
    """Envelopes delivered to this node that it must keep (contributions it audits, results)."""
    __tablename__ = "received"
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class CalcRecord(Base):
    """The local calculation record a contribution commits to (opened on site, never sent)."""
    __tablename__ = "calc_records"
    contribution_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    calculation_id: Mapped[str] = mapped_column(String(64), index=True)
    product: Mapped[str] = mapped_column(String(128))
    data_version: Mapped[int] = mapped_column(Integer)
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    record: Mapped[bytes] = mapped_column(LargeBinary)
    warnings: Mapped[str] = mapped_column(String, default="")
    #: "supplier/product" when this record is a fallback for a dead supplier
    fallback_of: Mapped[str | None] = mapped_column(String, nullable=True)
    #: the exact fresh ciphertext R added, and the Enc(w) used (packed): the on-site opening
    fresh: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    weights: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
