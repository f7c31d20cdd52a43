"""`tanji simulate` on the command line; the run itself is `tanji.cli.simulation`, imported only
when the command runs (it pulls in gRPC and the demo's machinery, which every other `tanji`
command would otherwise pay for at start-up)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tanji.cli.common import DataDirArg, fail, stderr
from tanji.errors import TanjiError


def simulate(
    data_dir: DataDirArg,
    product: Annotated[list[str], typer.Option(
        "--product", help="target as ORG/PRODUCT; repeated: one requester's catalogue in one pass")],
    out: Annotated[Path, typer.Option("--out", help="output folder: result.json, metrics.json, state/<party>/")] = \
        Path("out/simulate"),
    workers: Annotated[int | None, typer.Option(
        "--workers", help="pool processes hosting the nodes (default: the cores)")] = None,
    deadline: Annotated[float, typer.Option("--deadline", help="calculation deadline in seconds")] = 3600.0,
) -> None:
    """Run a whole federation of many organisations on this machine: coordinator and key holder as
    processes, every node hosted in a pool of N worker processes (loopback, no TLS); writes OUT/result.json."""
    try:
        from tanji.cli.simulation import run_simulate

        run_simulate(data_dir, product, out, Console(), workers, deadline)
    except TanjiError as exc:
        fail(exc)
    except KeyboardInterrupt:
        stderr.print("interrupted: every process was stopped")
        raise typer.Exit(130) from None
