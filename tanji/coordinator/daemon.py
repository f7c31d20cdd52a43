"""The coordinator process: load the federation, check the key, open the storage (waiting for a
database that is still starting), start up, serve gRPC, sweep leases and deadlines, stop on a signal.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from tanji.coordinator import readiness
from tanji.coordinator.dbguard import is_outage
from tanji.coordinator.server import start_server
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import Storage, open_storage
from tanji.coordinator.transactions import Limits
from tanji.errors import TanjiError
from tanji.infra.runtime import plain_transport, private_folder, stop_on_signals
from tanji.protocol import limits
from tanji.protocol.federation import ANCHOR_FILE, Federation, FederationFile
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.signing import SigningKey

log = logging.getLogger("tanji.coordinator")


class DatabaseUnreachable(TanjiError):
    """The coordinator database did not answer within the start-up wait."""
    exit_code = 1  # the machine, not bad input


def open_coordinator_storage(state: Path, database: str | None, wait_seconds: float = 60.0) -> Storage:
    """The coordinator's storage, migrated to the head; waits for a database that is still starting."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return open_storage(state, database)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if time.monotonic() > deadline:
                raise DatabaseUnreachable(f"the coordinator database is unreachable after {wait_seconds:.0f} s: "
                                          f"{str(getattr(exc, 'orig', exc)).strip()}") from None
            time.sleep(1.0)


def load_key(state: Path, federation: Federation, federation_file: Path) -> SigningKey:
    """The coordinator's signing key; it must be the one the federation lists (every replica holds a copy)."""
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    listed = federation.key_of(COORDINATOR_ID)
    if listed is not None and listed != key.public_raw:
        raise TanjiError(f"{state / 'envelope-key.pem'}: not the coordinator key that {federation_file} lists; every "
                         "coordinator replica signs with that one key (give each replica a copy)")
    return key


def tls_files(tls_dir: Path | None):
    if tls_dir is None:
        return None
    from tanji.protocol.pki import TLSFiles

    return TLSFiles(tls_dir / "ca.crt", tls_dir / "coordinator.crt", tls_dir / "coordinator.key")


def deadline_sweeper(coord: Coordinator, stop: threading.Event, every: float = 1.0) -> threading.Thread:
    """Sweep leases and deadlines every `every` seconds until `stop` is set."""
    def run():
        while not stop.wait(every):
            try:
                coord.check_deadlines()
            except Exception as exc:
                if is_outage(exc):  # one line a second while the database is down, not a traceback
                    log.warning("deadline sweep: the database is unavailable (%s)", type(exc).__name__)
                else:
                    log.exception("deadline sweep failed")
    t = threading.Thread(target=run, name="deadlines", daemon=True)
    t.start()
    return t


def federation_watcher(coord: Coordinator, listed: FederationFile, stop: threading.Event,
                       every: float = 1.0) -> threading.Thread:
    """Every `every` seconds: the federation list as it is on disk, verified (FederationFile); a new
    version takes effect at once — a new party can register, a removed one is refused by name."""
    def run():
        while not stop.wait(every):
            try:
                fed = listed.current()
                if fed is not coord.core.federation:
                    coord.core.federation = fed
                    coord.registry.sync()
            except Exception:
                log.exception("federation list reload failed")
    t = threading.Thread(target=run, name="federation", daemon=True)
    t.start()
    return t


def run(coord: Coordinator, listen: str, staging, tls=None, port_file: Path | None = None,
        insecure: bool = False, listed: FederationFile | None = None) -> None:
    """Serve `coord` with its sweeper until SIGTERM/SIGINT; the bound port goes to `port_file`."""
    server, port = start_server(coord, listen, staging, tls, insecure=insecure)
    stop = threading.Event()
    deadline_sweeper(coord, stop)
    if listed is not None:
        federation_watcher(coord, listed, stop)
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)
    stop_on_signals(stop)
    stop.wait()
    server.stop(grace=2).wait()


def serve(state: Path, federation_file: Path, *, listen: str = "127.0.0.1:7300", port_file: Path | None = None,
          database: str | None = None, lease_seconds: float = 20.0, tls_dir: Path | None = None,
          max_open_calculations: int = limits.MAX_OPEN_CALCULATIONS_PER_PARTY,
          max_objects_per_calculation: int = limits.MAX_OBJECTS_PER_CALCULATION, insecure: bool = False,
          trust: Path | None = None) -> None:
    """Run the coordinator: routes requests, sums ciphertexts, never holds a key. Plain gRPC (no `tls_dir`)
    listens on loopback only, or anywhere when `insecure`."""
    if tls_dir is None:
        plain_transport(listen, insecure=insecure, listening=True)  # before anything is opened or written
    private_folder(state)
    listed = FederationFile(federation_file, trust or state / ANCHOR_FILE, state)  # signed, not older: else named
    federation = listed.federation
    key = load_key(state, federation, federation_file)
    tls = tls_files(tls_dir)
    storage = open_coordinator_storage(state, database)
    readiness.watch(storage)  # the health service's SERVING and the metrics' database figures
    coord = Coordinator.started(storage.sessions, storage.objects, key, federation,
                                Limits(lease_seconds=lease_seconds, max_open_calculations=max_open_calculations,
                                       max_objects_per_calculation=max_objects_per_calculation))
    run(coord, listen, storage.staging, tls, port_file, insecure=insecure, listed=listed)
