"""The `tanji` command: one Typer app that mounts each role's subcommands.

Exit codes: 0 ok, 2 bad input (a file, a product or a graph that cannot be
calculated), 1 anything unexpected.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler

from pcf.errors import TanjiError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="tanji (碳迹): privacy-preserving federated carbon footprint of battery packs")
stderr = Console(stderr=True)


def fail(exc: Exception) -> None:
    """Print a user error on stderr and exit 2."""
    stderr.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")] = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=stderr, show_path=False)])


@app.command()
def reference(
    data_dir: Annotated[Path, typer.Argument(help="folder with one factor set and one node-data file per organisation")],
    product: Annotated[str, typer.Option("--product", help="target as ORG/PRODUCT")],
    out: Annotated[Optional[Path], typer.Option("--out", help="write tanji.result/1 here instead of stdout")] = None,
    offline: Annotated[list[str], typer.Option("--offline", help="treat this organisation as dead (its buyers use their fallback factors)")] = [],
) -> None:
    """Compute the plaintext reference footprint of PRODUCT over the supply graph in DATA_DIR."""
    from pcf.graph import parse_target, reference_result
    from pcf.loader import load_data_dir

    stderr.print("[yellow]tanji reference: plaintext reference calculation, NOT private — "
                 "this process reads every organisation's raw data.[/]", highlight=False, soft_wrap=True)
    try:
        data = load_data_dir(data_dir)
        result = reference_result(data, parse_target(product), frozenset(offline))
    except TanjiError as exc:
        fail(exc)
    text = result.to_json()
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
        stderr.print(f"wrote {out}", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
