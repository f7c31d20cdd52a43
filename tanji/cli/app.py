"""The `tanji` command: one Typer app that mounts each role's subcommands.

Exit codes: 0 ok, 2 bad input (a file, a product or a graph that cannot be
calculated), 1 anything unexpected.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from tanji.cli import ops, report_cmd
from tanji.cli.audit_cmd import audit_app, factors_app
from tanji.cli.calc_cmd import calc_app
from tanji.cli.common import DataDirArg, fail, stderr
from tanji.cli.coordinator_cmd import coordinator_app
from tanji.cli.exchange_cmd import export_app, import_app
from tanji.cli.federation_cmd import federation_app, pki_app
from tanji.cli.generate_cmd import generate_chain
from tanji.cli.keyholder_cmd import keyholder_app
from tanji.cli.membership_cmd import mount, mount_customers
from tanji.cli.node_cmd import node_app
from tanji.cli.registry_cmd import registry_app
from tanji.cli.safety import SafeGroup
from tanji.cli.simulate_cmd import simulate
from tanji.cli.supplier_cmd import mount as mount_supplier_commands
from tanji.errors import TanjiError

#: a product footprint names the method whose chain-wide rules apply (FORMATS 1.1 §2)
MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="for a product without a declaration: the method whose rules apply to the whole chain "
                     "(default miit-2025); a declaration uses its own")]

app = typer.Typer(cls=SafeGroup, no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
                  help="tanji (碳迹): privacy-preserving federated carbon footprint of battery packs")
app.add_typer(coordinator_app, name="coordinator")
mount_supplier_commands(node_app)  # template, convert, check, preview (issue #16)
app.add_typer(node_app, name="node")
app.add_typer(keyholder_app, name="keyholder")
app.add_typer(calc_app, name="calc")
app.add_typer(factors_app, name="factors")
app.add_typer(audit_app, name="audit")
app.add_typer(pki_app, name="pki")
app.add_typer(federation_app, name="federation")
app.add_typer(export_app, name="export")
app.add_typer(import_app, name="import")
app.add_typer(registry_app, name="registry")
mount(node_app, "node")
mount(keyholder_app, "key_holder")
mount(coordinator_app, "coordinator")
mount_customers(node_app)
app.command("report")(report_cmd.report)
app.command("generate-chain")(generate_chain)
app.command("simulate")(simulate)
app.command("health")(ops.health)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        from tanji.protocol.identity import PROTOCOL_VERSION

        typer.echo(f"tanji {version('tanji')} (protocol {PROTOCOL_VERSION})")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="TANJI_CONFIG",
        help="TOML file of option defaults, e.g. [node.serve] org = \"cell-co\"; an unknown key is refused")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Options come from the command line, then TANJI_* environment variables, then --config."""
    if config is not None:
        from tanji.cli import config as config_file

        try:
            ctx.default_map = config_file.load(config, ctx.command)
        except TanjiError as exc:
            fail(exc)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=stderr, show_path=False)])


@app.command()
def reference(
    data_dir: DataDirArg,
    product: Annotated[str, typer.Option("--product", help="target as ORG/PRODUCT")],
    out: Annotated[Path | None, typer.Option("--out", help="write tanji.result/1 here instead of stdout")] = None,
    offline: Annotated[list[str] | None, typer.Option(
        "--offline", help="treat this organisation as dead (its buyers use their fallback factors)")] = None,
    method: MethodOpt = None,
) -> None:
    """Compute the plaintext reference footprint of PRODUCT over the supply graph in DATA_DIR: its
    declaration, or the product footprint (cradle to gate, per declared unit) of any other product."""
    from tanji.methodology.graph import parse_target, reference_result
    from tanji.methodology.loader import load_data_dir

    stderr.print("[yellow]tanji reference: plaintext reference calculation, NOT private — "
                 "this process reads every organisation's raw data.[/]", highlight=False, soft_wrap=True)
    try:
        data = load_data_dir(data_dir)
        result = reference_result(data, parse_target(product), frozenset(offline or ()), method)
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


@app.command()
def demo(
    data_dir: DataDirArg,
    out: Annotated[Path, typer.Option("--out", help="output folder: result.json and state/<party>/")],
    product: Annotated[list[str] | None, typer.Option(
        "--product", help="target as ORG/PRODUCT; repeat it for a catalogue in one pass (one organisation's)")] = None,
    every: Annotated[str | None, typer.Option(
        "--all", help="every declared product of this organisation, in one pass (OUT/results/<PRODUCT>.json)")] = None,
    deadline: Annotated[float, typer.Option("--deadline", help="calculation deadline in seconds")] = 600.0,
    depth: Annotated[int | None, typer.Option(
        "--depth", help="declared depth bound: tiers below the product (default 7, decision 0018)")] = None,
    offline: Annotated[list[str] | None, typer.Option(
        "--offline", help="start this organisation's node, then take it down before it can answer")] = None,
    database: Annotated[str | None, typer.Option(
        "--database", envvar="TANJI_DATABASE_URL",
        help="the coordinator's SQLAlchemy URL, e.g. postgresql://USER@HOST/DB "
             "(default: SQLite in its state folder)")] = None,
    method: MethodOpt = None,
    rate_limit: Annotated[int | None, typer.Option(
        "--rate-limit", min=1, help="calculations a day each supplier's policy allows one requester, every "
                                    "product of a catalogue counted (default 10)")] = None,
) -> None:
    """Run a whole federation locally (one process per party, loopback, no TLS) and write OUT/result.json
    (several products: OUT/results/<PRODUCT>.json)."""
    from tanji.cli.demo import run_demo

    try:
        run_demo(data_dir, product or [], out, Console(), deadline, depth, frozenset(offline or ()),
                 database=database, method=method, every=every, rate_limit=rate_limit)
    except TanjiError as exc:
        fail(exc)
    except KeyboardInterrupt:
        stderr.print("interrupted: every party process was stopped")
        raise typer.Exit(130) from None


if __name__ == "__main__":  # pragma: no cover
    app()
