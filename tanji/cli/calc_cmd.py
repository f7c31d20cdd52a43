"""`tanji calc …`: start and follow calculations (the requester), export bundles."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tanji.cli import follow
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
FollowOpt = Annotated[bool, typer.Option(
    "--follow", help="after starting: show each change of phase until the calculation ends")]
TimeoutOpt = Annotated[float | None, typer.Option(
    "--timeout", min=0, help="with --follow/--watch/--wait: stop waiting after this many seconds (exit 3)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output (one JSON object a line)")]


def own_product(product: str, org: str) -> str:
    """PRODUCT, or ORG/PRODUCT naming this node's own organisation (the one spelling of a target)."""
    if "/" not in product:
        return product
    named, _, rest = product.partition("/")
    if named != org or not rest:
        fail(TanjiError(f"--product {product!r}: a requester calculates its own products ({org}/PRODUCT)"))
    return rest


def status_once(channel, party: str, calculation: str):
    """GetStatus; an unreachable coordinator or an unknown calculation is a one-line error (exit 2)."""
    import grpc

    from tanji.cli import requester

    try:
        return requester.status(channel, party, calculation)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))


def follow_until_end(channel, party: str, calculation: str, timeout: float | None, as_json: bool) -> None:
    """Show each change of phase with the seconds elapsed until the end; exit with its code."""
    st = follow.follow(lambda: status_once(channel, party, calculation),
                       lambda s, elapsed: typer.echo(follow.line(s, elapsed, as_json)), timeout)
    raise typer.Exit(follow.exit_code(st))

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
    follow: FollowOpt = False,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a calculation of one of this node's products (a declaration or a product footprint); prints its id.
    --follow: then show its phase until it ends (exit 0 done, 3 pending at --timeout, 4 failed, 5 withheld)."""

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
        product = own_product(product, nd.org)
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
    typer.echo(json.dumps({"calculation_id": cid}) if as_json else cid)
    if follow:
        follow_until_end(channel, nd.org, cid, timeout, as_json)


@calc_app.command("status")
def calc_status(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    coordinator: CoordinatorOpt,
    party: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="your party id")] = "",
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
    watch: Annotated[bool, typer.Option(
        "--watch", help="show each change of phase until the calculation ends (exit code as --follow)")] = False,
    timeout: TimeoutOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a calculation's state and progress (counts only, never values)."""
    calculation = calculation_arg(calculation)
    channel = client_channel(coordinator, tls, party, insecure)
    if watch:
        follow_until_end(channel, party, calculation, timeout, as_json)
    typer.echo(follow.line(status_once(channel, party, calculation), as_json=as_json))


@calc_app.command("result")
def calc_result(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    coordinator: CoordinatorOpt,
    federation: FederationOpt,
    party: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="your party id")] = "",
    out: Annotated[Path | None, typer.Option("--out", help="write tanji.result/1 here instead of stdout")] = None,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
    wait: Annotated[bool, typer.Option("--wait", help="wait until the calculation ends")] = False,
    timeout: TimeoutOpt = None,
) -> None:
    """Fetch the key holder's signed result (its signature is checked) and print or write it.
    Exit 3 while the calculation is pending (or --wait ran past --timeout), 4 failed, 5 withheld."""
    import grpc

    from tanji.cli import requester
    from tanji.protocol.federation import Federation

    calculation = calculation_arg(calculation)
    channel = client_channel(coordinator, tls, party, insecure)
    st = status_once(channel, party, calculation) if not wait else follow.follow(
        lambda: status_once(channel, party, calculation), lambda s, e: stderr.print(follow.line(s, e), highlight=False,
                                                                                   markup=False), timeout)
    if st.state not in (follow.S.CALCULATION_STATE_DONE, follow.S.CALCULATION_STATE_WITHHELD):
        stderr.print(follow.line(st), highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(follow.exit_code(st))
    try:  # withheld: the key holder's signed refusal, checked, says why
        data = requester.result(channel, party, calculation, Federation.load(federation))
    except TanjiError as exc:
        if st.state == follow.S.CALCULATION_STATE_WITHHELD and isinstance(exc, requester.CalculationFailed):
            stderr.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(follow.EXIT_WITHHELD) from None
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))
    if out is None:
        sys.stdout.write(data.decode())
    else:
        try:
            out.write_bytes(data)
        except OSError as exc:
            fail(TanjiError(f"{out}: cannot write the result: {exc.strerror}"))


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
