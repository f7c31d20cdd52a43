"""`tanji calc …`: start and follow calculations (the requester), export bundles."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import (
    CoordinatorOpt,
    FederationOpt,
    InsecureOpt,
    TLSOpt,
    calculation_arg,
    client_channel,
    fail,
    stderr,
)
from tanji.errors import TanjiError

calc_app = typer.Typer(no_args_is_help=True, help="start and follow calculations (requester)")

@calc_app.command("start")
def calc_start(
    state: Annotated[Path, typer.Option("--state", envvar="TANJI_STATE", help="the requester node's state folder")],
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    product: Annotated[str, typer.Option(
        "--product", help="one of this node's products: its declaration, or the product footprint of any other")],
    depth: Annotated[int, typer.Option("--depth", help="declared depth bound: tiers of suppliers below the product")],
    method: Annotated[str | None, typer.Option(
        "--method", help="a product footprint's chain-wide method rules (default miit-2025); "
                         "a declaration uses its own")] = None,
    key_holder: Annotated[str, typer.Option(
        "--key-holder", envvar="TANJI_KEY_HOLDER", help="party id of the key holder")] = "keyholder",
    deadline: Annotated[float, typer.Option(
        "--deadline", help="seconds until the calculation must be complete")] = 600.0,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Start a calculation of one of this node's products (a declaration or a product footprint); prints its id."""

    import grpc

    from tanji.cli import requester
    from tanji.node.importer import load_current
    from tanji.node.store import NodeStore
    from tanji.protocol.signing import SigningKey

    try:
        current = load_current(NodeStore(state / "node.db"))
        if current is None:
            raise TanjiError(f"{state}: no data imported")
        nd, fs, _ = current
        try:
            nd.model.product(product)
        except KeyError:
            raise TanjiError(f"{nd.org} has no product {product!r}") from None
        spec = requester.spec_for(nd.org, nd.model, fs, product, state=state, depth_bound=depth,
                                  key_holder=key_holder, deadline_seconds=deadline, method=method)
        channel = client_channel(coordinator, tls, nd.org, insecure)
        cid = requester.start(channel, SigningKey.load_or_create(state / "envelope-key.pem"), spec)
    except TanjiError as exc:
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{coordinator}: {exc.code().name}: {exc.details()}"))
    typer.echo(cid)


@calc_app.command("status")
def calc_status(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    coordinator: CoordinatorOpt,
    party: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="your party id")] = "",
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Show a calculation's state and progress (counts only, never values)."""
    import grpc
    from google.protobuf.json_format import MessageToJson

    from tanji.cli import requester

    calculation = calculation_arg(calculation)
    channel = client_channel(coordinator, tls, party, insecure)
    try:
        typer.echo(MessageToJson(requester.status(channel, party, calculation)))
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))


@calc_app.command("result")
def calc_result(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    coordinator: CoordinatorOpt,
    federation: FederationOpt,
    party: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="your party id")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="write tanji.result/1 here instead of stdout")] = None,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
) -> None:
    """Fetch the key holder's signed result (its signature is checked) and print or write it."""
    import grpc

    from tanji.cli import requester
    from tanji.protocol.federation import Federation

    calculation = calculation_arg(calculation)
    channel = client_channel(coordinator, tls, party, insecure)
    try:
        data = requester.result(channel, party, calculation, Federation.load(federation))
    except TanjiError as exc:
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))
    if out is None:
        sys.stdout.write(data.decode())
    else:
        out.write_bytes(data)


@calc_app.command("bundle")
def calc_bundle(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    state: Annotated[Path, typer.Option("--state", envvar="TANJI_STATE", help="the coordinator's state folder")],
    federation: FederationOpt,
    out: Annotated[Path, typer.Option("--out", help="bundle file to write")],
    database: Annotated[str | None, typer.Option("--database", envvar="TANJI_DATABASE_URL")] = None,
) -> None:
    """Export a finished calculation's audit bundle (at the coordinator; FEDERATION.sig beside FEDERATION)."""
    from tanji.coordinator.bundle import write_bundle

    calculation = calculation_arg(calculation)
    try:
        write_bundle(state, calculation, federation, out, database)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out}", highlight=False)
