"""`tanji coordinator …`: the coordinator service and its database."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tanji.cli.common import FederationOpt, StateOpt, TLSOpt, fail, stderr
from tanji.errors import TanjiError
from tanji.protocol import limits

coordinator_app = typer.Typer(no_args_is_help=True, help="the coordinator service")

@coordinator_app.command("serve")
def coordinator_serve(
    state: StateOpt,
    federation: FederationOpt,
    listen: Annotated[str, typer.Option("--listen", envvar="TANJI_LISTEN", help="host:port (port 0 picks a free one)")] = "127.0.0.1:7300",
    port_file: Annotated[Optional[Path], typer.Option("--port-file", help="write the bound port here once listening")] = None,
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL", help="SQLAlchemy URL, e.g. postgresql://USER@HOST/DB (replicas share one); default: SQLite in the state folder")] = None,
    lease_seconds: Annotated[float, typer.Option("--lease-seconds", envvar="TANJI_LEASE_SECONDS", help="a party silent this long is dead")] = 20.0,
    tls: TLSOpt = None,
    max_open_calculations: Annotated[int, typer.Option("--max-open-calculations", envvar="TANJI_MAX_OPEN_CALCULATIONS", min=1, help="calculations one requester may have open at once")] = limits.MAX_OPEN_CALCULATIONS_PER_PARTY,
    max_objects_per_calculation: Annotated[int, typer.Option("--max-objects-per-calculation", envvar="TANJI_MAX_OBJECTS_PER_CALCULATION", min=1, help="objects one party may upload for one calculation")] = limits.MAX_OBJECTS_PER_CALCULATION,
) -> None:
    """Run the coordinator: routes requests, sums ciphertexts, never holds a key."""
    import signal
    import threading

    from tanji.coordinator.engine import COORDINATOR_ID, Coordinator, Limits
    from tanji.coordinator.server import deadline_sweeper, serve
    from tanji.protocol.federation import Federation
    from tanji.protocol.signing import SigningKey

    try:
        fed = Federation.load(federation)
    except TanjiError as exc:
        fail(exc)
    state.mkdir(parents=True, exist_ok=True)
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    listed = fed.key_of(COORDINATOR_ID)
    if listed is not None and listed != key.public_raw:
        fail(TanjiError(f"{state / 'envelope-key.pem'}: not the coordinator key that {federation} lists; every "
                        "coordinator replica signs with that one key (give each replica a copy)"))
    storage = _open_coordinator_storage(state, database)
    coord = Coordinator(storage.sessions, storage.objects, key, fed,
                        Limits(lease_seconds=lease_seconds, max_open_calculations=max_open_calculations,
                               max_objects_per_calculation=max_objects_per_calculation))
    tls_files = None
    if tls is not None:
        from tanji.protocol.pki import TLSFiles

        try:
            tls_files = TLSFiles(tls / "ca.crt", tls / "coordinator.crt", tls / "coordinator.key")
        except TanjiError as exc:
            fail(exc)
    server = serve(coord, listen, storage.staging, tls_files)
    stop = threading.Event()
    deadline_sweeper(coord, stop)
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(str(server.bound_port))
        tmp.replace(port_file)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()


def _open_coordinator_storage(state: Path, database: Optional[str], wait_seconds: float = 60.0):
    """The coordinator's storage, migrated to the head; waits for a database that is still starting."""
    import time

    from tanji.coordinator.dbguard import is_outage
    from tanji.coordinator.storage import open_storage

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return open_storage(state, database)
        except Exception as exc:  # noqa: BLE001 - only an unreachable database is waited for
            if not is_outage(exc):
                raise
            if time.monotonic() > deadline:
                stderr.print(f"error: the coordinator database is unreachable after {wait_seconds:.0f} s: "
                             f"{str(getattr(exc, 'orig', exc)).strip()}")
                raise typer.Exit(1)
            time.sleep(1.0)


@coordinator_app.command("migrate")
def coordinator_migrate(
    state: StateOpt,
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL", help="SQLAlchemy URL; default: SQLite in the state folder")] = None,
    sql: Annotated[bool, typer.Option("--sql", help="print the SQL of every migration instead of running it (for a DBA)")] = False,
) -> None:
    """Upgrade the coordinator database to the current schema (`serve` also does it on start)."""
    from alembic import command

    from tanji.coordinator import db, migrations

    url = database or db.sqlite_url(state / "coordinator.db")
    if sql:
        command.upgrade(migrations.config(url=db.normalise_url(url)), "head", sql=True)
        return
    state.mkdir(parents=True, exist_ok=True)
    storage = _open_coordinator_storage(state, database)
    with storage.engine.connect() as conn:
        print(f"{storage.engine.url.render_as_string(hide_password=True)}: schema at revision {migrations.current(conn)}")
    storage.engine.dispose()
