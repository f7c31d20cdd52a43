"""`tanji audit …` and `tanji factors …`: the verifier's keyless checks and the factor provider's view."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tanji.cli.common import CoordinatorOpt, FederationOpt, InsecureOpt, TLSOpt, client_channel, fail
from tanji.errors import TanjiError

audit_app = typer.Typer(no_args_is_help=True, help="the verifier's keyless checks")
factors_app = typer.Typer(no_args_is_help=True, help="the factor provider's view")

@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[Path, typer.Argument(help="the audit bundle (tar)")],
    trust: Annotated[Path, typer.Option(
        "--trust", help="the federation's pinned registry key (hex), the trust anchor")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
) -> None:
    """Check a bundle: signatures, hash links, completeness, log proofs, the re-executed aggregation, the result."""
    from tanji.audit.verify import verify_bundle
    from tanji.protocol.federation import read_anchor

    try:
        anchor = read_anchor(trust)
        data = bundle.read_bytes()
    except TanjiError as exc:
        fail(exc)
    except OSError as exc:
        fail(TanjiError(f"{bundle}: cannot read: {exc.strerror}"))
    report = verify_bundle(data, anchor)
    if as_json:
        typer.echo(report.to_json())
    else:
        out = Console()
        for c in report.checks:
            mark = "[green]ok[/]  " if c.ok else "[bold red]FAIL[/]"
            out.print(f"{mark} {c.name}" + (f": {c.detail}" if c.detail else ""), highlight=False)
        if report.ok:
            out.print(f"[green]bundle verifies[/]: {report.summary}", highlight=False)
        else:
            out.print(f"[bold red]bundle does not verify[/]: {len(report.failed())} check(s) failed", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("check-node")
def audit_check_node(
    bundle: Annotated[Path, typer.Argument(help="the calculation's audit bundle")],
    opening: Annotated[Path, typer.Argument(help="the node's opening from `tanji node audit-export`")],
    trust: Annotated[Path, typer.Option(
        "--trust", help="the federation's pinned registry key (hex), the trust anchor")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable report")] = False,
) -> None:
    """On site: recompute a node's contributions from its raw data and match them to the bundle's bytes."""
    from tanji.audit.check_node import check_node
    from tanji.protocol.federation import read_anchor

    try:
        report = check_node(bundle.read_bytes(), opening.read_bytes(), read_anchor(trust))
    except TanjiError as exc:
        fail(exc)
    except OSError as exc:
        fail(TanjiError(f"cannot read: {exc}"))
    if as_json:
        typer.echo(report.to_json())
        raise typer.Exit(0 if report.ok else 1)
    out = Console()
    for c in report.checks:
        verdict = "[green]ok[/]   " if c.ok else "[bold red]FAIL[/] "
        out.print(verdict + c.name + (f": {c.detail}" if c.detail else ""), highlight=False)
    out.print("[green]opening matches the bundle[/]" if report.ok else "[bold red]opening does not match[/]")
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("statement")
def audit_statement(
    bundle: Annotated[Path, typer.Argument(help="the calculation's audit bundle (tar)")],
    trust: Annotated[Path, typer.Option(
        "--trust", help="the federation's pinned registry key (hex), the trust anchor")],
    out: Annotated[Path, typer.Option("--out", help="FILE.html or FILE.pdf")],
    opening: Annotated[list[Path] | None, typer.Option(
        "--opening", help="a node's on-site opening (`tanji node audit-export`); repeatable")] = None,
) -> None:
    """The verifier's statement to sign: what was checked, what passed, what could not be checked.

    Exit 0: written and everything verifies; 1: written, and it says what failed; 2: bad input, nothing written."""
    from tanji.documents.report_audit import read_inputs
    from tanji.documents.report_render import check_out
    from tanji.documents.statement import read_openings, write_statement

    try:
        check_out(out)
        data, anchor = read_inputs(bundle, trust)
        view = write_statement(bundle, data, anchor, read_openings(opening or []), out)
    except TanjiError as exc:
        fail(exc)
    Console(stderr=True).print(f"wrote {out}: " + ("everything verifies" if view.ok else
                                                   f"{view.failed} check(s) failed"), highlight=False)
    raise typer.Exit(0 if view.ok else 1)


@factors_app.command("citations")
def factors_citations(
    factor_set: Annotated[Path, typer.Option("--factor-set", help="your published factor set (tanji.factor-set/1)")],
    coordinator: CoordinatorOpt,
    federation: FederationOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print tanji.citations/1 JSON")] = False,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """How often each factor of your set was cited: counts per factor and version, no amounts, no citing node.

    Under mutual TLS only the certificate of the factor set's provider may ask."""
    import grpc
    from rich.console import Console
    from rich.table import Table

    from tanji.cli import citations
    from tanji.methodology.loader import load_factor_set
    from tanji.protocol.federation import Federation

    try:
        fs = load_factor_set(factor_set)
        channel = client_channel(coordinator, tls, fs.model.provider, insecure)
        tally = citations.fetch(channel, fs, Federation.load(federation))
    except TanjiError as exc:
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))
    if as_json:
        sys.stdout.write(json.dumps(tally.to_json(), indent=2) + "\n")
        return
    table = Table(title=f"{tally.provider}: {tally.factor_set_id} (sha256 {tally.factor_set_sha256[:12]}…), "
                        f"{len(tally.calculations)} calculation(s)")
    for col in ("factor", "citations", "calculations"):
        table.add_column(col, justify="left" if col == "factor" else "right")
    for fid, (n, c) in tally.factors.items():
        table.add_row(fid, str(n), str(c))
    Console().print(table)
