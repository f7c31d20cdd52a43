"""`tanji coordinator …`: the coordinator service and its database."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import FederationOpt, InsecureOpt, StateOpt, TLSOpt, TrustOpt, announce_transport, fail
from tanji.cli.ops import HealthListenOpt, LogFormatOpt, MetricsListenOpt, start_ops
from tanji.errors import TanjiError
from tanji.protocol import limits

coordinator_app = typer.Typer(no_args_is_help=True, help="the coordinator service")
DatabaseOpt = Annotated[str | None, typer.Option(
    "--database", envvar="TANJI_DATABASE_URL",
    help="SQLAlchemy URL, e.g. postgresql://USER@HOST/DB (replicas share one); default: SQLite in the state folder")]


@coordinator_app.command("serve")
def coordinator_serve(
    state: StateOpt,
    federation: FederationOpt,
    listen: Annotated[str, typer.Option(
        "--listen", envvar="TANJI_LISTEN", help="host:port (port 0 picks a free one)")] = "127.0.0.1:7300",
    port_file: Annotated[Path | None, typer.Option(
        "--port-file", help="write the bound port here once listening")] = None,
    database: DatabaseOpt = None,
    lease_seconds: Annotated[float, typer.Option(
        "--lease-seconds", envvar="TANJI_LEASE_SECONDS", help="a party silent this long is dead")] = 20.0,
    tls: TLSOpt = None,
    max_open_calculations: Annotated[int, typer.Option(
        "--max-open-calculations", envvar="TANJI_MAX_OPEN_CALCULATIONS", min=1,
        help="calculations one requester may have open at once")] = limits.MAX_OPEN_CALCULATIONS_PER_PARTY,
    max_objects_per_calculation: Annotated[int, typer.Option(
        "--max-objects-per-calculation", envvar="TANJI_MAX_OBJECTS_PER_CALCULATION", min=1,
        help="objects one party may upload for one calculation")] = limits.MAX_OBJECTS_PER_CALCULATION,
    insecure: InsecureOpt = False,
    trust: TrustOpt = None,
    health_listen: HealthListenOpt = "127.0.0.1:0",
    metrics_listen: MetricsListenOpt = None,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the coordinator: routes requests, sums ciphertexts, never holds a key."""
    from tanji.coordinator.daemon import serve

    announce_transport(listen, tls, insecure, listening=True)
    start_ops("coordinator", "coordinator", state, health_listen, metrics_listen, log_format)
    try:
        serve(state, federation, listen=listen, port_file=port_file, database=database, lease_seconds=lease_seconds,
              tls_dir=tls, max_open_calculations=max_open_calculations,
              max_objects_per_calculation=max_objects_per_calculation, insecure=insecure, trust=trust)
    except TanjiError as exc:
        fail(exc)


@coordinator_app.command("migrate")
def coordinator_migrate(
    state: StateOpt,
    database: DatabaseOpt = None,
    sql: Annotated[bool, typer.Option(
        "--sql", help="print the SQL of every migration instead of running it (for a DBA)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Upgrade the coordinator database to the current schema (`serve` also does it on start)."""
    from alembic import command

    from tanji.coordinator import db, migrations
    from tanji.coordinator.daemon import open_coordinator_storage

    url = database or db.sqlite_url(state / "coordinator.db")
    if sql:
        command.upgrade(migrations.config(url=db.normalise_url(url)), "head", sql=True)
        return
    state.mkdir(parents=True, exist_ok=True)
    try:
        storage = open_coordinator_storage(state, database)
    except TanjiError as exc:
        fail(exc)
    with storage.engine.connect() as conn:
        url = storage.engine.url.render_as_string(hide_password=True)
        revision = migrations.current(conn)
        if as_json:
            import json

            print(json.dumps({"database": url, "revision": revision, "head": migrations.head()}))
        else:
            print(f"{url}: schema at revision {revision}")
    storage.engine.dispose()
