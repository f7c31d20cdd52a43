"""The coordinator's schema is its Alembic migrations: the models must equal the migration head
(a model change without a revision fails here), an old `create_all` database is adopted, and
replicas starting together migrate once. SQLite here; the `postgresql` variants are `integration`."""
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from tanji.coordinator import db, migrations

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_url")
    return db.sqlite_url(tmp_path / "coordinator.db")


def differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.Base.metadata)


def test_the_models_equal_the_migration_head(url):
    engine = db.make_engine(url)
    try:
        assert differences(engine) == [], ("coordinator/db.py differs from the migrations' head: add a revision "
                                           "(python -m tanji.coordinator.migrations revision \"what changed\")")
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
    finally:
        engine.dispose()


def test_the_comparison_sees_a_model_change(tmp_path):
    """The check above can fail: a column the migrations do not have is reported."""
    from typing import cast

    from sqlalchemy import Column, Integer, Table

    engine = db.make_engine(db.sqlite_url(tmp_path / "c.db"))
    column = Column("extra", Integer, nullable=True)
    table = cast(Table, db.Party.__table__)
    table.append_column(column)
    try:
        assert [d[0] for d in differences(engine)] == ["add_column"]
    finally:
        table._columns.remove(column)
        engine.dispose()
    assert differences(db.make_engine(db.sqlite_url(tmp_path / "c.db"))) == []


def test_a_database_from_before_the_migrations_is_adopted(url):
    """Tables made by create_all, no alembic_version: stamped as the first revision, then upgraded;
    the log head starts at the size of the log kept so far."""
    engine = db.connect(url)
    migrations.upgrade(engine, migrations.FIRST)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        for i in range(3):
            conn.execute(text("INSERT INTO log_leaves (\"index\", envelope_hash, calculation_id, leaf_hash) "
                              "VALUES (:i, :h, 'c', :h)"), {"i": i, "h": bytes([i]) * 32})
    assert "log_head" not in inspect(engine).get_table_names()
    engine.dispose()
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
            assert conn.execute(text("SELECT size FROM log_head WHERE id = 1")).scalar_one() == 3
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_every_revision_downgrades_and_upgrades_again(tmp_path):
    engine = db.make_engine(db.sqlite_url(tmp_path / "c.db"))
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrations.upgrade(engine)
    assert differences(engine) == []
    engine.dispose()


@pytest.mark.integration
def test_replicas_starting_together_migrate_once(postgres_url):
    """Four processes' worth of make_engine at once on an empty database: one migrates (under the
    advisory lock), the others find the head."""
    errors, engines = [], []

    def start():
        try:
            engines.append(db.make_engine(postgres_url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert differences(engines[0]) == []
    for e in engines:
        e.dispose()
