"""What every party daemon does the same way: durable SQLite, stop signals, dialling out."""
from __future__ import annotations

import multiprocessing
import signal
import threading
from datetime import UTC, datetime

import grpc
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine


def utcnow() -> datetime:
    return datetime.now(UTC)


def he_worker_context() -> multiprocessing.context.BaseContext:
    """How a party starts its HE worker process: spawned, never forked. The party already runs
    gRPC threads, and gRPC does not support fork(): a forked child can abort in gRPC's fork
    handlers (seen as `epoll_wait error: Bad file descriptor`, SIGABRT)."""
    return multiprocessing.get_context("spawn")


def durable_engine(url: str) -> Engine:
    """A SQLAlchemy engine; on SQLite with WAL and synchronous=FULL, so a commit survives a crash."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # pragma: no cover - runs on every new connection
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    return engine


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the daemon's loop cleanly (it finishes the message in hand)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def open_channel(address: str, tls_dir=None, party: str | None = None) -> grpc.Channel:
    """A channel to the coordinator: mutual TLS with this party's certificate when `tls_dir` is
    given (ca.crt, PARTY.crt, PARTY.key), else plain — for the loopback demo and tests only."""
    from tanji.protocol import limits

    if tls_dir is None:
        return grpc.insecure_channel(address, options=limits.GRPC_OPTIONS)
    from pathlib import Path

    from tanji.protocol.pki import TLSFiles

    d = Path(tls_dir)
    tls = TLSFiles(d / "ca.crt", d / f"{party}.crt", d / f"{party}.key")
    return grpc.secure_channel(address, tls.channel_credentials(), options=limits.GRPC_OPTIONS)
