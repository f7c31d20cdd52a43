"""What the coordinator's health service and metrics read from its database: ready means the
database answers and its schema is at the migrations' head (a replica started against a database
another replica has not migrated yet is not ready); calculations are counted by state at scrape time.
"""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tanji.coordinator import db, migrations
from tanji.coordinator.storage import Storage
from tanji.infra import health, telemetry


def database_ready(engine: Engine, head: str) -> bool:
    """The database answers and stands at migration `head`."""
    with engine.connect() as conn:
        return migrations.current(conn) == head


def calculations_by_state(storage: Storage) -> dict[str, float]:
    with storage.sessions() as s:
        rows = s.execute(select(db.Calculation.state, func.count()).group_by(db.Calculation.state))
        return {state.removeprefix("CALCULATION_STATE_").lower(): float(n) for state, n in rows}


def watch(storage: Storage) -> None:
    """Wire the coordinator's storage to the health service (SERVING) and the metrics (latency, states)."""
    head = migrations.head()
    telemetry.time_statements(storage.engine)
    telemetry.register_gauge(telemetry.GaugeOf("tanji_calculations", "calculations by state (this database)",
                                               "state", lambda: calculations_by_state(storage)))
    health.ready_when(lambda: database_ready(storage.engine, head))
