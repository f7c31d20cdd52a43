"""A throwaway PostgreSQL server for tests: initdb in a temporary folder, one TCP port on 127.0.0.1,
its socket in the same folder, stopped at the end.

PostgreSQL refuses to run as root, so when the tests run as root (CI) initdb and pg_ctl run as the
`postgres` OS user (runuser, else setpriv). The binaries are found through `pg_config --bindir`, then
/usr/lib/postgresql/*/bin (newest first). Where they cannot be found the tests skip saying why,
unless TANJI_REQUIRE_POSTGRES=1 (CI), where they fail.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

REQUIRE_ENV = "TANJI_REQUIRE_POSTGRES"


class PostgresUnavailable(Exception):
    pass


def find_bindir() -> Path:
    """The folder with initdb, pg_ctl and postgres, or PostgresUnavailable naming where it looked."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30).stdout.strip()
            if out:
                candidates.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += [Path(p) for p in sorted(versions, key=lambda p: int(Path(p).parent.name)
                                            if Path(p).parent.name.isdigit() else 0, reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(os.path.realpath(initdb)).parent)
    for d in candidates:
        if all((d / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PostgresUnavailable("PostgreSQL server binaries not found (no initdb/pg_ctl/postgres via `pg_config "
                              "--bindir`, /usr/lib/postgresql/*/bin or PATH); install the `postgresql` package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl in a temporary folder; `database()` makes a fresh database and returns its URL."""

    def __init__(self, bindir: Path | None = None):
        import psycopg  # noqa: F401 - the driver the coordinator uses; missing: unavailable

        self.bindir = bindir or find_bindir()
        self.as_user: list[str] = []
        self.uid = None
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres OS user
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` OS user to run PostgreSQL as") from None
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
            if shutil.which("runuser"):
                self.as_user = ["runuser", "-u", "postgres", "--"]
            elif shutil.which("setpriv"):
                self.as_user = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]
            else:
                raise PostgresUnavailable("running as root and neither runuser nor setpriv is available")
        self.root = Path(tempfile.mkdtemp(prefix="tanji-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = _free_port()
        if self.uid is not None:
            os.chown(self.root, self.uid, self.gid)
        self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--no-locale", "--no-sync"])
        self.start()

    def _run(self, args: list[str], timeout: float = 120.0) -> None:
        proc = subprocess.run(self.as_user + args, capture_output=True, text=True, timeout=timeout, cwd=self.root,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stdout}{proc.stderr}{tail}")

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
                "-c max_connections=200")
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                   "-t", "120", "start"])

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m fast` (clients are disconnected, the server shuts down cleanly)."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "t") -> str:
        """A new, empty database (one per test); its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_or_skip():
    """A running PostgresServer; pytest.skip (or fail under TANJI_REQUIRE_POSTGRES=1) saying why not."""
    import pytest

    try:
        return PostgresServer()
    except (PostgresUnavailable, ImportError) as exc:
        why = f"PostgreSQL tests need a server: {exc}"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{why} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(why)
