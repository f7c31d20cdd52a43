"""`tanji generate-chain`: a synthetic supply chain for tests and benchmarks (tanji.methodology.synthetic)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import TanjiError


def generate_chain(
    orgs: Annotated[int, typer.Option("--orgs", help="organisations in all, the pack maker included")],
    depth: Annotated[int, typer.Option("--depth", help="tiers of suppliers below the pack")],
    fan_out: Annotated[int, typer.Option("--fan-out", help="suppliers each product buys from (next tier)")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="the same seed writes the same files")] = 0,
    out: Annotated[Path, typer.Option("--out", help="a new or empty folder")] = Path("chain"),
    packs: Annotated[int, typer.Option("--packs", help="declared pack models of the pack maker (a catalogue)")] = 1,
) -> None:
    """Write a valid synthetic chain (FORMATS 1.1): a factor set and one node-data file per
    organisation in tiers below one declared pack, sharing suppliers (a DAG), with every electricity
    model and some warnings. Prints the target to pass as --product."""
    from tanji.methodology import synthetic

    try:
        org, product = synthetic.write(synthetic.Shape(orgs, depth, fan_out, seed, packs), out)
    except (ValueError, FileExistsError) as exc:
        fail(TanjiError(str(exc)))
    stderr.print(f"wrote {orgs} organisations, {depth} tiers below the pack"
                 + (f", {packs} pack models" if packs > 1 else "") + f", to {out}", highlight=False)
    typer.echo(f"{org}/{product}")
