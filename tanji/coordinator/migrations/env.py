"""Alembic environment: runs on the connection `tanji.coordinator.migrations.upgrade` passes in, or on
`sqlalchemy.url` (offline: prints the SQL for a DBA)."""
from alembic import context

from tanji.coordinator import db

config = context.config
target_metadata = db.Base.metadata


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters by copying tables
    with context.begin_transaction():
        context.run_migrations()


URL = config.get_main_option("sqlalchemy.url") or ""

if context.is_offline_mode():
    context.configure(url=db.normalise_url(URL),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run(config.attributes["connection"])
else:
    engine = db.connect(URL)
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
