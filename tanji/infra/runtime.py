"""What every party daemon does the same way: durable SQLite, stop signals, dialling out, and
keeping its state to itself.

Transport: plain gRPC (no TLS) only on a loopback address — the local demo and the tests. Any
other address needs mutual TLS, or `--insecure` given explicitly and announced on stderr at start
(`plain_transport`); a client dials a non-loopback coordinator without TLS only under the same
`--insecure` (docs/decisions/0011-calculation-ids-and-key-lifecycle.md).

State: a party's state folder is 0700 and the files holding raw data, salts, openings and keys
are 0600 (`private_folder`, `private_database`, `write_private`), whatever the umask.
"""
from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import os
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import grpc
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from tanji.errors import TanjiError


def utcnow() -> datetime:
    return datetime.now(UTC)


def he_worker_context() -> multiprocessing.context.BaseContext:
    """How a party starts its HE worker process: spawned, never forked. The party already runs
    gRPC threads, and gRPC does not support fork(): a forked child can abort in gRPC's fork
    handlers (seen as `epoll_wait error: Bad file descriptor`, SIGABRT)."""
    return multiprocessing.get_context("spawn")


def durable_engine(url: str, *, holds_large_blobs: bool = False) -> Engine:
    """A SQLAlchemy engine; on SQLite with WAL and synchronous=FULL, so a commit survives a crash.

    `holds_large_blobs`: the store writes and reads megabyte rows (a node's ciphertexts). Python's
    sqlite3 keeps prepared statements with their bound and fetched values, so each cached statement
    that touched a 2.6 MB ciphertext held a copy of it for the connection's life (measured: 2.8 MB
    per store; 2.9 GB for a pool process hosting 500 nodes). Such a store prepares each statement
    afresh instead (microseconds against the milliseconds of its homomorphic steps)."""
    args = {"cached_statements": 0} if holds_large_blobs and url.startswith("sqlite") else {}
    engine = create_engine(url, future=True, connect_args=args)
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


def open_channel(address: str, tls_dir=None, party: str | None = None, insecure: bool = False) -> grpc.Channel:
    """A channel to the coordinator: mutual TLS with this party's certificate when `tls_dir` is
    given (ca.crt, PARTY.crt, PARTY.key), else plain — to a loopback address, or to any other only
    when `insecure` (PlainTransportRefused otherwise)."""
    from tanji.infra.telemetry import counted_channel
    from tanji.protocol import limits

    if tls_dir is None:
        plain_transport(address, insecure=insecure, listening=False)
        return counted_channel(grpc.insecure_channel(address, options=limits.GRPC_OPTIONS))
    from pathlib import Path

    from tanji.protocol.pki import TLSFiles

    d = Path(tls_dir)
    tls = TLSFiles(d / "ca.crt", d / f"{party}.crt", d / f"{party}.key")
    return counted_channel(grpc.secure_channel(address, tls.channel_credentials(), options=limits.GRPC_OPTIONS))


# ---------------------------------------------------------------- plain transport
class PlainTransportRefused(TanjiError):
    """Plain gRPC to or on an address other than loopback, without --insecure."""
    exit_code = 2


def is_loopback(address: str) -> bool:
    """Is `address` (host:port, [v6]:port, a gRPC target such as dns:///host:port or unix:path)
    this machine only? A name other than localhost is not looked up: it counts as remote."""
    target = address.strip()
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme):]
            break
    if target.startswith("["):
        host = target[1:target.find("]")] if "]" in target else target[1:]
    elif target.count(":") == 1:
        host = target.rsplit(":", 1)[0]
    else:
        host = target  # a bare IPv6 address, or a host without a port
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (every interface), 0.0.0.0, a host name


def plain_transport(address: str, *, insecure: bool, listening: bool) -> str:
    """Check that plain gRPC may be used on `address`; the notice a daemon prints at start.

    Loopback: allowed. Anything else: only when `insecure` (the operator's explicit --insecure),
    else PlainTransportRefused."""
    where = "listening on" if listening else "dialling"
    if is_loopback(address):
        return f"plain gRPC without TLS, {where} loopback {address} (local demo and tests only)"
    if not insecure:
        raise PlainTransportRefused(
            f"{where} {address} without TLS: plain gRPC is for loopback addresses only. Give --tls with "
            "this party's certificates, or --insecure to run unauthenticated and unencrypted on purpose")
    return (f"INSECURE: plain gRPC without TLS, {where} {address} (--insecure): anyone who reaches it "
            "reads and acts as any party the coordinator cannot authenticate")


# ---------------------------------------------------------------- private state
def _narrow(path: Path, mode: int) -> None:
    """chmod `path` to `mode`; a file or folder this process does not own (a volume mounted for it, whose
    owner set its mode) keeps its mode, with a warning."""
    try:
        os.chmod(path, mode)
    except PermissionError:
        logging.getLogger("tanji").warning("%s is not this process's own: its mode %o is kept", path,
                                           path.stat().st_mode & 0o777)


def private_folder(path: Path) -> Path:
    """Create `path` (and its parents) and make it readable by its owner only (0700)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _narrow(path, 0o700)
    return path


def private_database(path: Path) -> None:
    """An SQLite file readable by its owner only: created 0600 before SQLite opens it (SQLite gives its
    -wal and -shm files the database file's mode), an existing one and its companions narrowed to 0600."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except FileExistsError:
        pass
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
                      path.with_name(path.name + "-journal")):
        if companion.exists() and not companion.is_symlink():
            _narrow(companion, 0o600)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` readable by its owner only (0600): a temporary file, fsynced, then renamed."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
