"""The key holder's durable state: which calculations it keyed, and whether it has decrypted.

The state "decrypting" is committed (SQLite, synchronous=FULL) *before* the one
decryption, so a crash can never lead to a second decryption of a calculation.
Secret contexts live in files readable by the key holder only (folder 0700, file 0600) and are
destroyed once used or once their calculation ended in any other way (tanji.keyholder.lifecycle).
A key file is named by a digest of the calculation id, never by the id a peer chose, and is
created exclusively without following links: a second request under the same id, or a link
planted at its path, can never overwrite a key or make the key holder write elsewhere
(docs/decisions/0011-calculation-ids-and-key-lifecycle.md).
"""
from __future__ import annotations

import errno
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, LargeBinary, String, inspect, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tanji.errors import TanjiError
from tanji.infra.runtime import durable_engine, private_database, private_folder
from tanji.protocol.identity import check_calculation_id

#: what a key file's name is made from: the calculation id under a tag, hashed
KEY_FILE_TAG = b"tanji/v1/key-file\x00"
KEY_FILE_SUFFIX = ".secret"
#: a key's file: open it without following a link, never through one
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Base(DeclarativeBase):
    pass


class KeyedCalculation(Base):
    __tablename__ = "calculations"
    calculation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64))
    #: keyed -> decrypting -> released | withheld; keyed -> ended | expired (the key destroyed unused:
    #: the calculation ended at the coordinator, or its deadline passed; tanji.keyholder.lifecycle)
    state: Mapped[str] = mapped_column(String(16))
    announcement: Mapped[bytes] = mapped_column(LargeBinary)   # our signed KEY_ANNOUNCEMENT
    submitted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # our RESULT/REFUSAL
    citation_report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # our CITATION_REPORT
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 default=lambda: datetime.now(UTC))
    #: the calculation request's deadline: its key is destroyed once it passed (NULL: none given)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


#: columns added after a release, each nullable, so a store written by an older key holder opens
#: unchanged; its existing calculations read them as NULL
ADDED_COLUMNS = {"calculations": ["citation_report", "deadline"]}


def _add_new_columns(engine) -> None:
    """The key holder's whole schema history: one table, columns only ever added (nullable)."""
    with engine.begin() as con:
        for table, columns in ADDED_COLUMNS.items():
            have = {c["name"] for c in inspect(con).get_columns(table)}
            for name in columns:
                if name not in have:
                    column = Base.metadata.tables[table].c[name]
                    con.execute(text(f'ALTER TABLE {table} ADD COLUMN {name} {column.type.compile(engine.dialect)}'))


def key_file_name(cid: str) -> str:
    """The name of calculation `cid`'s key file: a digest of the id, not the id (refused outside the grammar)."""
    return hashlib.sha256(KEY_FILE_TAG + check_calculation_id(cid).encode()).hexdigest() + KEY_FILE_SUFFIX


class KeyFileTaken(TanjiError):
    """Something already sits at a key's path (a link, a file this store never recorded): not overwritten."""


class KeyHolderStore:
    def __init__(self, state: Path):
        private_folder(state)
        self.keys = state / "keys"
        if self.keys.is_symlink():
            raise TanjiError(f"{self.keys} is a link: the key folder must be the key holder's own folder")
        private_folder(self.keys)
        private_database(state / "keyholder.db")
        self.engine = durable_engine(f"sqlite:///{state / 'keyholder.db'}")
        Base.metadata.create_all(self.engine)
        _add_new_columns(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def secret_path(self, cid: str) -> Path:
        return self.keys / key_file_name(cid)

    def has_secret(self, cid: str) -> bool:
        return os.path.lexists(self.secret_path(cid))

    def key_files(self) -> list[Path]:
        """Every entry of the key folder (a key file, a leftover, anything planted there)."""
        return sorted(self.keys.iterdir())

    def write_secret(self, cid: str, data: bytes) -> None:
        """Create the key file exclusively (0600), never through a link; KeyFileTaken if its path is taken."""
        path = self.secret_path(cid)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NO_FOLLOW, 0o600)
        except FileExistsError:
            raise KeyFileTaken(f"{path.name}: something already sits at the key path of {cid}; "
                               "it is not overwritten") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def destroy_secret(self, cid: str) -> None:
        self.destroy_file(self.secret_path(cid))

    @staticmethod
    def destroy_file(path: Path) -> None:
        """Overwrite a key file with zeros, then unlink it (best effort against recovery); a link
        there is unlinked without writing through it."""
        try:
            fd = os.open(path, os.O_RDWR | NO_FOLLOW)
        except FileNotFoundError:
            return
        except IsADirectoryError:
            return  # not a key file
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.EMLINK):
                raise
            path.unlink(missing_ok=True)  # a link (ELOOP), never followed
            return
        with os.fdopen(fd, "r+b") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink(missing_ok=True)
