"""Alembic migrations of the coordinator's database (SQLite and PostgreSQL alike).

Every coordinator process upgrades its database to the head on start (`upgrade`),
under a PostgreSQL advisory lock so replicas starting together migrate once. A
database made by the earlier `create_all` (tables, no `alembic_version`) is the
first revision's schema: it is stamped so and upgraded from there.

A model change in coordinator/db.py needs a new revision:
`python -m tanji.coordinator.migrations revision "what changed"` writes one from the
difference between the models and the current head; review it before committing.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

HERE = Path(__file__).resolve().parent
FIRST = "0001"
#: pg_advisory_xact_lock key held while migrating ("tanji" in ASCII)
ADVISORY_LOCK_KEY = 0x74616E6A69


def config(connection: Connection | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "the coordinator migrations have no head revision"
    return revision


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` in one transaction (PostgreSQL: DDL included, under a lock)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        tables = set(inspect(conn).get_table_names())
        if "calculations" in tables and "alembic_version" not in tables:
            command.stamp(config(conn), FIRST)  # made by create_all before migrations existed
        if current(conn) != head() or revision != "head":
            command.upgrade(config(conn), revision)
