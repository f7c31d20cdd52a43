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


def follow_quietly(channel, party: str, calculation: str, timeout: float | None) -> None:
    follow.follow(lambda: status_once(channel, party, calculation), lambda s, elapsed: None, timeout)


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
    depth: Annotated[int, typer.Option("--depth", help="declared depth bound: tiers of suppliers below the product")],
    product: Annotated[list[str] | None, typer.Option(
        "--product", help="one of this node's products: its declaration, or the product footprint of any other; "
                          "repeat it for a catalogue in one pass (one calculation, one slot block each)")] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="every declared product of this node (the whole catalogue in one pass)")] = False,
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
    """Start a calculation of this node's products (declarations or product footprints); prints its id.
    Several products (--product repeated, or --all) go in one calculation, one slot block each; more than
    the preset's slots hold are split into the fewest calculations, one id a line.
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
        products = targets_of(nd, product or [], every)
        spec = requester.batch_spec(nd.org, nd.model, fs, products, state=state, depth_bound=depth,
                                    key_holder=key_holder, deadline_seconds=deadline, method=method)
        parts = requester.split(spec)
        if len(parts) > 1:
            stderr.print(f"{len(products)} products need {len(parts)} calculations: one holds at most "
                         f"{len(parts[0].targets)} at depth {depth} beside {spec.citation_slots} citation slots",
                         highlight=False)
        channel = client_channel(coordinator, tls, nd.org, insecure)
        key = SigningKey.load_or_create(state / "envelope-key.pem")
        cids = [requester.start(channel, key, part) for part in parts]
    except TanjiError as exc:
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{coordinator}: {exc.code().name}: {exc.details()}"))
    typer.echo(json.dumps({"calculation_id": cids[0], "calculation_ids": cids}) if as_json else "\n".join(cids))
    if follow:
        for cid in cids[:-1]:  # a split catalogue: the calculations end in turn, the last one's code counts
            follow_quietly(channel, nd.org, cid, timeout)
        follow_until_end(channel, nd.org, cids[-1], timeout, as_json)


def targets_of(nd, products: list[str], every: bool) -> list[str]:
    """The products a calculation names: --product (each this node's own), or --all declared ones."""
    if every and products:
        raise TanjiError("give --product or --all, not both")
    if every:
        declared = [p.id for p in nd.model.products if p.declaration is not None]
        if not declared:
            raise TanjiError(f"{nd.org} declares no product (--all takes every product with a declaration)")
        return declared
    if not products:
        raise TanjiError("name a product (--product) or the whole catalogue (--all)")
    out = [own_product(p, nd.org) for p in products]
    for p in out:
        try:
            nd.model.product(p)
        except KeyError:
            raise TanjiError(f"{nd.org} has no product {p!r}") from None
    return out


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
    out: Annotated[Path | None, typer.Option(
        "--out", help="write tanji.result/1 here instead of stdout (a batch: a folder of results/<PRODUCT>.json)")
    ] = None,
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
        docs = requester.results(channel, party, calculation, Federation.load(federation))
    except TanjiError as exc:
        if st.state == follow.S.CALCULATION_STATE_WITHHELD and isinstance(exc, requester.CalculationFailed):
            stderr.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(follow.EXIT_WITHHELD) from None
        fail(exc)
    except grpc.RpcError as exc:
        fail(TanjiError(f"{exc.code().name}: {exc.details()}"))
    if out is None:  # a batch: a JSON array of its documents, in the request's order
        sys.stdout.write(docs[0].decode() if len(docs) == 1 else
                         "[" + ",\n".join(d.decode().strip() for d in docs) + "]\n")
        return
    try:  # one product: the file --out; a batch: --out is a folder, OUT/results/<PRODUCT>.json each
        if len(docs) == 1:
            out.write_bytes(docs[0])
        else:
            for path in requester.write_results(docs, out):
                stderr.print(f"wrote {path}", highlight=False)
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
