"""Where the coordinator keeps its database, ciphertext objects and half-uploaded chunks.

SQLite (one coordinator process): objects are files under the state folder
(tanji.infra.objectstore) and uploads are staged there. PostgreSQL (any number of
replicas behind a load balancer): objects and chunks live in the database too,
so any replica serves what any other received and a replica keeps nothing of its
own but its key (docs/decisions/0006-postgresql-and-replicas.md).
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.expression import Executable

from tanji.coordinator import db
from tanji.errors import TanjiError
from tanji.infra.objectstore import ObjectCorrupt, ObjectMissing, ObjectStore, sha256
from tanji.infra.runtime import private_database


class ChunkPastEnd(TanjiError):
    """A chunk would make the object longer than the size its uploader declared (nothing is kept)."""


def _insert_ignoring_duplicates(dialect: str) -> Callable[..., Executable]:
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect == "postgresql":
        return lambda table, **values: postgresql.insert(table).values(**values).on_conflict_do_nothing()
    return lambda table, **values: sqlite.insert(table).values(**values).on_conflict_do_nothing()


class DatabaseObjects:
    """Content-addressed objects in the coordinator's database (the interface of ObjectStore).

    Each call is its own short transaction: an object is immutable and named by its hash, so
    storing it twice, or keeping one whose referring transaction rolled back, is harmless."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions
        self._insert = _insert_ignoring_duplicates(sessions.kw["bind"].dialect.name)

    def has(self, digest: bytes) -> bool:
        with self.sessions() as s:
            return s.scalar(select(db.StoredObject.hash).where(db.StoredObject.hash == digest)) is not None

    def put(self, data: bytes) -> bytes:
        digest = sha256(data)
        with self.sessions.begin() as s:
            s.execute(self._insert(db.StoredObject, hash=digest, size=len(data), data=data))
        return digest

    def get(self, digest: bytes) -> bytes:
        with self.sessions() as s:
            data = s.scalar(select(db.StoredObject.data).where(db.StoredObject.hash == digest))
        if data is None:
            raise ObjectMissing(f"object {digest.hex()[:16]}… is not in the coordinator database")
        data = bytes(data)
        if sha256(data) != digest:
            raise ObjectCorrupt(f"object {digest.hex()[:16]}… in the coordinator database does not match its hash")
        return data

    def size(self, digest: bytes) -> int:
        with self.sessions() as s:
            size = s.scalar(select(db.StoredObject.size).where(db.StoredObject.hash == digest))
        if size is None:
            raise ObjectMissing(f"object {digest.hex()[:16]}… is not in the coordinator database")
        return size

    def all_hashes(self) -> list[bytes]:
        with self.sessions() as s:
            return [bytes(h) for h in s.scalars(select(db.StoredObject.hash))]


class FileStaging:
    """Uploads in progress as `<hash>.part` files (one coordinator process)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def _part(self, digest: bytes) -> Path:
        return self.folder / (digest.hex() + ".part")

    def received(self, digest: bytes) -> int:
        part = self._part(digest)
        return part.stat().st_size if part.exists() else 0

    def append(self, digest: bytes, offset: int, data: bytes, total: int) -> tuple[int, bytes | None]:
        """Add a chunk at `offset` (ignored unless it continues the upload): returns the bytes held and,
        once `total` are held, the whole object (its staging is then gone)."""
        with self.lock:
            part = self._part(digest)
            have = part.stat().st_size if part.exists() else 0
            if offset != have:
                return have, None
            if have + len(data) > total:
                part.unlink(missing_ok=True)
                raise ChunkPastEnd("chunk runs past total_size")
            with open(part, "ab") as fh:
                fh.write(data)
            have += len(data)
            if have < total:
                return have, None
            whole = part.read_bytes()
            part.unlink()
            return have, whole


class DatabaseStaging:
    """Uploads in progress as rows of `object_chunks`: the next chunk may reach another replica.

    One upload of an object at a time (PostgreSQL: an advisory lock on its hash, held for the
    transaction), so two replicas receiving the same retried chunk keep it once."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions
        self.postgres = sessions.kw["bind"].dialect.name == "postgresql"
        self.lock = nullcontext() if self.postgres else threading.Lock()  # SQLite: one process, one writer

    @staticmethod
    def _held(s, digest: bytes) -> int:
        return s.scalar(select(func.coalesce(func.sum(func.length(db.ObjectChunk.data)), 0))
                        .where(db.ObjectChunk.hash == digest))

    def received(self, digest: bytes) -> int:
        with self.sessions() as s:
            return int(self._held(s, digest))

    def append(self, digest: bytes, offset: int, data: bytes, total: int) -> tuple[int, bytes | None]:
        past_end = False
        with self.lock, self.sessions.begin() as s:
            if self.postgres:
                key = int.from_bytes(hashlib.sha256(b"upload" + digest).digest()[:8], "big", signed=True)
                s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            have = int(self._held(s, digest))
            if offset != have:
                return have, None
            if have + len(data) > total:
                s.execute(delete(db.ObjectChunk).where(db.ObjectChunk.hash == digest))
                past_end = True
            else:
                s.add(db.ObjectChunk(hash=digest, offset=offset, data=data))
                have += len(data)
                if have < total:
                    return have, None
                s.flush()
                whole = b"".join(bytes(c) for c in s.scalars(
                    select(db.ObjectChunk.data).where(db.ObjectChunk.hash == digest).order_by(db.ObjectChunk.offset)))
                s.execute(delete(db.ObjectChunk).where(db.ObjectChunk.hash == digest))
        if past_end:
            raise ChunkPastEnd("chunk runs past total_size")
        return have, whole


@dataclass
class Storage:
    engine: Engine
    sessions: sessionmaker
    objects: ObjectStore | DatabaseObjects
    staging: FileStaging | DatabaseStaging

    @property
    def shared(self) -> bool:
        """Several coordinator processes may use this storage at once."""
        return db.is_shared(self.engine)


def open_storage(state: Path, database: str | None = None) -> Storage:
    """The coordinator's storage: `database` (an SQLAlchemy URL) or SQLite in `state`, migrated to
    the head; objects in the database when it is shared (PostgreSQL), else under `state`."""
    state = Path(state)
    if database is None:  # SQLite in the state folder: the coordinator's alone (0600)
        state.mkdir(parents=True, exist_ok=True)
        private_database(state / "coordinator.db")
    engine = db.make_engine(database or db.sqlite_url(state / "coordinator.db"))
    sessions = db.session_factory(engine)
    if db.is_shared(engine):
        return Storage(engine, sessions, DatabaseObjects(sessions), DatabaseStaging(sessions))
    return Storage(engine, sessions, ObjectStore(state / "objects"), FileStaging(state / "staging"))
