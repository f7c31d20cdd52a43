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
CoordinatorOpt = Annotated[str, typer.Option("--coordinator", envvar="TANJI_COORDINATOR",
                                             help="coordinator address host:port")]
TLSOpt = Annotated[Path | None, typer.Option("--tls", envvar="TANJI_TLS",
                                             help="folder with ca.crt, ID.crt, ID.key from `tanji pki` (mutual TLS); "
                                                  "without it the connection is plain (loopback demo only)")]
DataDirArg = Annotated[Path, typer.Argument(help="folder with one factor set and one node-data file per organisation")]
