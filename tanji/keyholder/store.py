"""The key holder's durable state: which calculations it keyed, and whether it has decrypted.

The state "decrypting" is committed (SQLite, synchronous=FULL) *before* the one
decryption, so a crash can never lead to a second decryption of a calculation.
Secret contexts live in files readable by the key holder only and are deleted
once used.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, LargeBinary, String, inspect, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from tanji.infra.runtime import durable_engine


class Base(DeclarativeBase):
    pass


class KeyedCalculation(Base):
    __tablename__ = "calculations"
    calculation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64))
    #: keyed -> decrypting -> released | withheld
    state: Mapped[str] = mapped_column(String(16))
    announcement: Mapped[bytes] = mapped_column(LargeBinary)   # our signed KEY_ANNOUNCEMENT
    submitted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # our RESULT/REFUSAL
    citation_report: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # our CITATION_REPORT
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 default=lambda: datetime.now(UTC))


#: columns added after a release, each nullable, so a store written by an older key holder opens
#: unchanged; its existing calculations read them as NULL
ADDED_COLUMNS = {"calculations": ["citation_report"]}


def _add_new_columns(engine) -> None:
    """The key holder's whole schema history: one table, columns only ever added (nullable)."""
    with engine.begin() as con:
        for table, columns in ADDED_COLUMNS.items():
            have = {c["name"] for c in inspect(con).get_columns(table)}
            for name in columns:
                if name not in have:
                    column = Base.metadata.tables[table].c[name]
                    con.execute(text(f'ALTER TABLE {table} ADD COLUMN {name} {column.type.compile(engine.dialect)}'))


class KeyHolderStore:
    def __init__(self, state: Path):
        self.keys = state / "keys"
        self.keys.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.engine = durable_engine(f"sqlite:///{state / 'keyholder.db'}")
        Base.metadata.create_all(self.engine)
        _add_new_columns(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def secret_path(self, cid: str) -> Path:
        return self.keys / f"{cid}.secret"

    def write_secret(self, cid: str, data: bytes) -> None:
        path = self.secret_path(cid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def destroy_secret(self, cid: str) -> None:
        path = self.secret_path(cid)
        if path.exists():
            size = path.stat().st_size
            with open(path, "r+b") as fh:  # best effort: overwrite before unlinking
                fh.write(b"\0" * size)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
