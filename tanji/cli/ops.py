"""The options every daemon's `serve` shares for its operator: health and metrics ports, log format."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import fail

HealthListenOpt = Annotated[str, typer.Option(
    "--health-listen", envvar="TANJI_HEALTH_LISTEN",
    help="plain gRPC health service (grpc.health.v1) HOST:PORT; port 0 picks a free one (see STATE/ops.json)")]
MetricsListenOpt = Annotated[str | None, typer.Option(
    "--metrics-listen", envvar="TANJI_METRICS_LISTEN",
    help="Prometheus /metrics HOST:PORT (default: the health port's sibling, port + 1)")]
LogFormatOpt = Annotated[str, typer.Option(
    "--log-format", envvar="TANJI_LOG_FORMAT", help="json (one object a line) or text; level: TANJI_LOG_LEVEL")]


def start_ops(role: str, party: str, state: Path, health_listen: str, metrics_listen: str | None,
              log_format: str) -> None:
    """Logs stamped with party and role, then the health and metrics ports; a bad setting exits 2."""
    from tanji.errors import TanjiError
    from tanji.infra import health, observability
    from tanji.infra.runtime import private_folder

    try:
        observability.setup(party, role, log_format)
        private_folder(state)
        health.start(role, health_listen, metrics_listen, state)
    except TanjiError as exc:
        fail(exc)
    observability.event("started", version=_version())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tanji")
    except PackageNotFoundError:  # pragma: no cover - a checkout run without `pip install -e`
        return "unknown"


def health(
    address: Annotated[str | None, typer.Option(
        "--address", envvar="TANJI_HEALTH_ADDRESS", help="a daemon's health service HOST:PORT")] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="or: a daemon's state folder (its ops.json names the port)")] = None,
    service: Annotated[str, typer.Option(
        "--service", help="'' (the daemon), or tanji.coordinator, tanji.node, tanji.key_holder")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Ask a daemon's health service (grpc.health.v1) whether it serves: exit 0 SERVING, 3 NOT_SERVING or
    SERVICE_UNKNOWN, 1 unreachable, 2 bad input. The image's HEALTHCHECK and scripts use it."""
    import json

    from tanji.errors import TanjiError
    from tanji.infra import health as ops_health

    if (address is None) == (state is None):
        fail(TanjiError("give one of --address HOST:PORT or --state DIR"))
    try:
        target = address if address is not None else ops_health.address_in(state)  # type: ignore[arg-type]
    except TanjiError as exc:
        fail(exc)
    status = ops_health.query(target, service)
    typer.echo(json.dumps({"address": target, "service": service, "status": status}) if as_json
               else f"{target}: {status}")
    raise typer.Exit({"SERVING": 0, "UNREACHABLE": 1}.get(status, 3))
