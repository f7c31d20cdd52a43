"""`tanji node …`: an organisation's on-prem node."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tanji.cli.common import (
    CoordinatorOpt,
    FederationOpt,
    InsecureOpt,
    StateOpt,
    TLSOpt,
    TrustOpt,
    announce_transport,
    calculation_arg,
    client_channel,
    fail,
    stderr,
)
from tanji.cli.ops import HealthListenOpt, LogFormatOpt, MetricsListenOpt, start_ops
from tanji.errors import TanjiError

node_app = typer.Typer(no_args_is_help=True, help="an organisation's on-prem node")

@node_app.command("serve")
def node_serve(
    org: Annotated[str, typer.Option("--org", envvar="TANJI_ORG", help="this node's organisation id")],
    state: StateOpt,
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    data: Annotated[Path | None, typer.Option("--data", help="node-data file to import before serving")] = None,
    factors: Annotated[Path | None, typer.Option("--factors", help="the factor set the data refers to")] = None,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
    answer_everyone: Annotated[bool, typer.Option(
        "--answer-everyone", help="serve without a policy.toml: answer every buyer that reaches this node "
                                  "(without it, a node with no policy refuses to serve)")] = False,
    trust: TrustOpt = None,
    health_listen: HealthListenOpt = "127.0.0.1:0",
    metrics_listen: MetricsListenOpt = None,
    log_format: LogFormatOpt = "text",
) -> None:
    """Import (optionally), register and answer requests from local data. Dials out; never listens."""
    from tanji.node.daemon import serve
    from tanji.node.policy import POLICY_FILE

    if (data is None) != (factors is None):
        fail(TanjiError("--data and --factors go together"))
    announce_transport(coordinator, tls, insecure, listening=False)
    start_ops("node", org, state, health_listen, metrics_listen, log_format)
    if answer_everyone and not (state / POLICY_FILE).exists():
        stderr.print(f"--answer-everyone: {state / POLICY_FILE} is absent; this node answers every buyer",
                     style="yellow", highlight=False, markup=False, soft_wrap=True)
    try:
        serve(org, state, federation, coordinator, data, factors, tls, insecure=insecure,
              answer_everyone=answer_everyone, trust=trust)
    except TanjiError as exc:
        fail(exc)


@node_app.command("import")
def node_import(
    state: StateOpt,
    data: Annotated[Path, typer.Option("--data", help="node-data file (tanji.node-data/1) or workbook (.xlsx)")],
    factors: Annotated[Path, typer.Option("--factors", help="factor set (tanji.factor-set/1)")],
) -> None:
    """Validate and import a node-data file or supplier workbook (.xlsx); a refused file changes nothing.
    Ends with the organisation's own figure per product and every warning (as `node preview`)."""
    from tanji.cli.supplier_cmd import import_node_file
    from tanji.node.policy import load_policy

    try:
        ceilings = load_policy(state).ceilings
    except TanjiError as exc:
        fail(exc)
    import_node_file(state / "node.db", data, factors, ceilings)


@node_app.command("audit-export")
def node_audit_export(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    state: StateOpt,
    out: Annotated[Path, typer.Option("--out", help="opening file to write (raw data: hand over on site only)")],
) -> None:
    """Export the opening of this node's contributions to a calculation, for an on-site check."""
    from tanji.node.opening import write_opening

    calculation = calculation_arg(calculation)
    try:
        size = write_opening(state, calculation, out)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out} ({size} bytes) — it holds raw data: hand it over on site, never send it",
                 highlight=False)


@node_app.command("ledger")
def node_ledger(
    state: StateOpt,
    coordinator: Annotated[str | None, typer.Option("--coordinator", envvar="TANJI_COORDINATOR",
                                                    help="ask the coordinator each calculation's state")] = None,
    org: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="this node's party id")] = "",
    federation: Annotated[Path | None, typer.Option("--federation", envvar="TANJI_FEDERATION",
                                                    help="with --coordinator: verify the log proofs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Every calculation that used this node's data: requester, product, time, key holder, state,
    and (with --coordinator and --federation) how many of the envelopes it sent the coordinator's log proves."""
    import grpc
    from rich.table import Table

    from tanji.cli import requester
    from tanji.node.ledger import ledger
    from tanji.node.store import NodeStore
    from tanji.v1 import requester_pb2 as rpb

    if not (state / "node.db").is_file():  # never an empty store made where none was
        fail(TanjiError(f"{state / 'node.db'}: no node database here (tanji node import makes it)"))
    entries = ledger(NodeStore(state / "node.db"))
    if coordinator:
        from tanji.node.ledger import cross_check
        from tanji.protocol.federation import Federation
        from tanji.protocol.identity import COORDINATOR_ID
        from tanji.v1 import node_pb2_grpc as ngrpc

        channel = client_channel(coordinator, tls, org, insecure)
        if federation is not None:
            try:
                cross_check(entries, ngrpc.NodeServiceStub(channel), org,
                            Federation.load(federation).key_of(COORDINATOR_ID) or b"\0" * 32)
            except TanjiError as exc:
                fail(exc)
        for e in entries:
            try:
                st = requester.status(channel, org, e.calculation)
                e.state = rpb.CalculationState.Name(st.state).removeprefix("CALCULATION_STATE_").lower()
            except grpc.RpcError as exc:
                e.state = f"coordinator: {exc.code().name.lower()}"
    if as_json:
        import json as _json

        typer.echo(_json.dumps([{**{k: v for k, v in e.__dict__.items() if k != "sent"}, "sent": len(e.sent)}
                                for e in entries], indent=2))
        return
    table = Table(title=f"usage ledger ({len(entries)} calculations)")
    for col in ("calculation", "requester", "product", "first seen", "key holder", "answered", "state", "in log"):
        table.add_column(col)
    for e in entries:
        logged = "not checked" if e.logged is None else f"{e.logged}/{len(e.sent)}"
        table.add_row(e.calculation[:12], e.requester, e.product, e.first_seen[:19], e.key_holder,
                      "; ".join(e.answered), e.state, logged)
    Console().print(table)
