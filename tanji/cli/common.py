"""What every `tanji` subcommand shares: the error exit, stderr, and the common options."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

stderr = Console(stderr=True)


def fail(exc: Exception) -> NoReturn:
    """Print the error on stderr and exit 2 (bad input), or the error's own code (1: the machine,
    e.g. a full or read-only store)."""
    stderr.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(getattr(exc, "exit_code", 2))


StateOpt = Annotated[Path, typer.Option("--state", envvar="TANJI_STATE", help="this party's state folder")]
FederationOpt = Annotated[Path, typer.Option("--federation", envvar="TANJI_FEDERATION",
                                             help="the federation list (parties and keys)")]
TrustOpt = Annotated[Path | None, typer.Option(
    "--trust", envvar="TANJI_TRUST", help="the registry's public key the federation list must be signed by "
                                          "(default: STATE/trust-anchor.pub, installed by `join`)")]
CoordinatorOpt = Annotated[str, typer.Option("--coordinator", envvar="TANJI_COORDINATOR",
                                             help="coordinator address host:port")]
TLSOpt = Annotated[Path | None, typer.Option("--tls", envvar="TANJI_TLS",
                                             help="folder with ca.crt, ID.crt, ID.key from `tanji pki` (mutual TLS); "
                                                  "without it the connection is plain: loopback only, "
                                                  "unless --insecure")]
InsecureOpt = Annotated[bool, typer.Option(
    "--insecure", help="allow plain gRPC without TLS to or on an address other than loopback: unauthenticated and "
                       "unencrypted, announced on stderr (never for a real federation)")]


def announce_transport(address: str, tls: Path | None, insecure: bool, *, listening: bool) -> None:
    """Without TLS: refuse an address other than loopback unless --insecure (exit 2), and say on stderr
    what this party runs on; with TLS, nothing to say."""
    if tls is not None:
        return
    from tanji.infra.runtime import PlainTransportRefused, is_loopback, plain_transport

    try:
        notice = plain_transport(address, insecure=insecure, listening=listening)
    except PlainTransportRefused as exc:
        fail(exc)
    stderr.print(notice, style="bold red" if not is_loopback(address) else "yellow", highlight=False, markup=False,
                 soft_wrap=True)
DataDirArg = Annotated[Path, typer.Argument(help="folder with one factor set and one node-data file per organisation")]


def client_channel(coordinator: str, tls: Path | None, party: str | None, insecure: bool = False):
    """A client's channel to the coordinator: plain only to loopback unless --insecure (else exit 2)."""
    from tanji.infra.runtime import PlainTransportRefused, open_channel

    try:
        return open_channel(coordinator, tls, party, insecure=insecure)
    except PlainTransportRefused as exc:
        fail(exc)


def calculation_arg(value: str) -> str:
    """A calculation id given on the command line, checked against the one grammar (else exit 2)."""
    from tanji.protocol.identity import is_calculation_id

    if not is_calculation_id(value):
        fail(ValueError(f"{value!r} is not a calculation id (16 to 64 lowercase letters, digits and inner hyphens)"))
    return value
