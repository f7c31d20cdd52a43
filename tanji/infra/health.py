"""The ports an operator's tools use: the standard gRPC health service (grpc.health.v1) and the
Prometheus metrics beside it.

Both are plain (no TLS: a probe has no client certificate) and bound to loopback unless told
otherwise (`--health-listen`, `--metrics-listen`): they say whether the daemon is ready, and
aggregates, never a party's data. SERVING means the daemon's readiness check holds — for the
coordinator "database reachable, migrations at head", for a node or key holder "registered, lease
held" — and is re-evaluated every second; until a check is set the status is NOT_SERVING
(starting). The bound addresses go to STATE/ops.json, so `tanji health --state` finds them.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from tanji.errors import TanjiError

log = logging.getLogger("tanji.health")
OPS_FILE = "ops.json"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class OpsPortTaken(TanjiError):
    """The health or metrics address cannot be bound (in use, or not this machine's)."""
    exit_code = 2


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise OpsPortTaken(f"{address!r}: not HOST:PORT")
    return host.strip("[]"), int(port)


class Ops:
    """This process's health service and metrics server, and the thread keeping the status current."""

    def __init__(self, role: str, health_listen: str, metrics_listen: str | None = None, every: float = 1.0):
        self.role = role
        self.check: Callable[[], bool] | None = None
        self.servicer = health.HealthServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, self.server)
        host, _ = _split(health_listen)
        try:
            port = self.server.add_insecure_port(health_listen)
        except RuntimeError as exc:
            raise OpsPortTaken(f"--health-listen {health_listen}: cannot listen ({exc})") from None
        self.health_address = f"{host}:{port}"
        if metrics_listen is None:  # the sibling: the next port, or a free one beside a free one
            metrics_listen = f"{host}:{port + 1 if _split(health_listen)[1] else 0}"
        m_host, m_port = _split(metrics_listen)
        try:
            self.http, _thread = start_http_server(m_port, addr=m_host)
        except OSError as exc:
            raise OpsPortTaken(f"--metrics-listen {metrics_listen}: cannot listen ({exc})") from None
        self.metrics_address = f"{m_host}:{self.http.server_port}"
        self.stop = threading.Event()
        self.every = every
        self._set(NOT_SERVING)

    def _set(self, status) -> None:
        for service in ("", f"tanji.{self.role}"):
            self.servicer.set(service, status)

    def status(self) -> bool:
        if self.check is None:
            return False
        try:
            return bool(self.check())
        except Exception as exc:  # a failing check is not ready, and says why at DEBUG
            log.debug("readiness check failed: %s", exc)
            return False

    def start(self, state: Path | None = None) -> Ops:
        self.server.start()
        if state is not None:
            path = Path(state) / OPS_FILE
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps({"role": self.role, "health": self.health_address,
                                       "metrics": self.metrics_address}) + "\n")
            tmp.replace(path)

        def watch():
            last = None
            while True:
                now = self.status()
                if now != last:
                    self._set(SERVING if now else NOT_SERVING)
                    log.info("health: %s", "SERVING" if now else "NOT_SERVING",
                             extra={"event": "health.serving" if now else "health.not_serving"})
                    last = now
                if self.stop.wait(self.every):
                    return

        threading.Thread(target=watch, name="health", daemon=True).start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.servicer.enter_graceful_shutdown()
        self.server.stop(grace=0.5)
        self.http.shutdown()


_current: Ops | None = None


def start(role: str, health_listen: str, metrics_listen: str | None, state: Path | None) -> Ops:
    """Start this process's ops ports (once); `ready_when` sets what SERVING means."""
    global _current
    if _current is None:
        _current = Ops(role, health_listen, metrics_listen).start(state)
    return _current


def ready_when(check: Callable[[], bool]) -> None:
    """What SERVING means for this daemon; nothing happens in a process without ops ports (a CLI)."""
    if _current is not None:
        _current.check = check


def query(address: str, service: str = "", timeout: float = 3.0) -> str:
    """The status a health service at `address` gives `service`: SERVING, NOT_SERVING, SERVICE_UNKNOWN,
    or UNREACHABLE when nothing answers."""
    with grpc.insecure_channel(address) as channel:
        try:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs declare no methods on HealthStub
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return "SERVICE_UNKNOWN" if exc.code() == grpc.StatusCode.NOT_FOUND else "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


def address_in(state: Path, which: str = "health") -> str:
    """The health (or metrics) address a daemon with state folder `state` wrote to STATE/ops.json."""
    path = Path(state) / OPS_FILE
    try:
        return str(json.loads(path.read_text())[which])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TanjiError(f"{path}: no {which} address ({type(exc).__name__}); is a daemon running "
                         "with this state folder?") from None
