"""The `tanji` command: one Typer app that mounts each role's subcommands.

Exit codes: 0 ok, 2 bad input (a file, a product or a graph that cannot be
calculated), 1 anything unexpected.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler

from tanji.protocol import limits
from tanji.errors import TanjiError
from tanji.infra.runtime import open_channel

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="tanji (碳迹): privacy-preserving federated carbon footprint of battery packs")
stderr = Console(stderr=True)


def fail(exc: Exception) -> None:
    """Print the error on stderr and exit 2 (bad input), or the error's own code (1: the machine,
    e.g. a full or read-only store)."""
    stderr.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(getattr(exc, "exit_code", 2))


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", envvar="TANJI_CONFIG",
                                                   help="TOML file of option defaults, e.g. [node.serve] org = \"cell-co\"")] = None,
) -> None:
    """Options come from the command line, then TANJI_* environment variables, then --config."""
    if config is not None:
        import tomllib

        try:
            ctx.default_map = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            fail(TanjiError(f"{config}: cannot read the configuration: {exc}"))
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
    from tanji.methodology.graph import parse_target, reference_result
    from tanji.methodology.loader import load_data_dir

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


coordinator_app = typer.Typer(no_args_is_help=True, help="the coordinator service")
node_app = typer.Typer(no_args_is_help=True, help="an organisation's on-prem node")
keyholder_app = typer.Typer(no_args_is_help=True, help="the key holder service")
calc_app = typer.Typer(no_args_is_help=True, help="start and follow calculations (requester)")
app.add_typer(coordinator_app, name="coordinator")
app.add_typer(node_app, name="node")
app.add_typer(keyholder_app, name="keyholder")
app.add_typer(calc_app, name="calc")

StateOpt = Annotated[Path, typer.Option("--state", envvar="TANJI_STATE", help="this party's state folder")]
FederationOpt = Annotated[Path, typer.Option("--federation", envvar="TANJI_FEDERATION", help="the federation list (parties and keys)")]
CoordinatorOpt = Annotated[str, typer.Option("--coordinator", envvar="TANJI_COORDINATOR", help="coordinator address host:port")]
TLSOpt = Annotated[Optional[Path], typer.Option("--tls", envvar="TANJI_TLS", help="folder with ca.crt, ID.crt, ID.key from `tanji pki` (mutual TLS); without it the connection is plain (loopback demo only)")]


@coordinator_app.command("serve")
def coordinator_serve(
    state: StateOpt,
    federation: FederationOpt,
    listen: Annotated[str, typer.Option("--listen", envvar="TANJI_LISTEN", help="host:port (port 0 picks a free one)")] = "127.0.0.1:7300",
    port_file: Annotated[Optional[Path], typer.Option("--port-file", help="write the bound port here once listening")] = None,
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL", help="SQLAlchemy URL, e.g. postgresql://USER@HOST/DB (replicas share one); default: SQLite in the state folder")] = None,
    lease_seconds: Annotated[float, typer.Option("--lease-seconds", envvar="TANJI_LEASE_SECONDS", help="a party silent this long is dead")] = 20.0,
    tls: TLSOpt = None,
    max_open_calculations: Annotated[int, typer.Option("--max-open-calculations", envvar="TANJI_MAX_OPEN_CALCULATIONS", min=1, help="calculations one requester may have open at once")] = limits.MAX_OPEN_CALCULATIONS_PER_PARTY,
    max_objects_per_calculation: Annotated[int, typer.Option("--max-objects-per-calculation", envvar="TANJI_MAX_OBJECTS_PER_CALCULATION", min=1, help="objects one party may upload for one calculation")] = limits.MAX_OBJECTS_PER_CALCULATION,
) -> None:
    """Run the coordinator: routes requests, sums ciphertexts, never holds a key."""
    import signal
    import threading

    from tanji.coordinator.engine import COORDINATOR_ID, Coordinator, Limits
    from tanji.coordinator.server import deadline_sweeper, serve
    from tanji.protocol.federation import Federation
    from tanji.protocol.signing import SigningKey

    try:
        fed = Federation.load(federation)
    except TanjiError as exc:
        fail(exc)
    state.mkdir(parents=True, exist_ok=True)
    key = SigningKey.load_or_create(state / "envelope-key.pem")
    listed = fed.key_of(COORDINATOR_ID)
    if listed is not None and listed != key.public_raw:
        fail(TanjiError(f"{state / 'envelope-key.pem'}: not the coordinator key that {federation} lists; every "
                        "coordinator replica signs with that one key (give each replica a copy)"))
    storage = _open_coordinator_storage(state, database)
    coord = Coordinator(storage.sessions, storage.objects, key, fed,
                        Limits(lease_seconds=lease_seconds, max_open_calculations=max_open_calculations,
                               max_objects_per_calculation=max_objects_per_calculation))
    tls_files = None
    if tls is not None:
        from tanji.protocol.pki import TLSFiles

        try:
            tls_files = TLSFiles(tls / "ca.crt", tls / "coordinator.crt", tls / "coordinator.key")
        except TanjiError as exc:
            fail(exc)
    server = serve(coord, listen, storage.staging, tls_files)
    stop = threading.Event()
    deadline_sweeper(coord, stop)
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(str(server.bound_port))
        tmp.replace(port_file)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()


def _open_coordinator_storage(state: Path, database: Optional[str], wait_seconds: float = 60.0):
    """The coordinator's storage, migrated to the head; waits for a database that is still starting."""
    import time

    from tanji.coordinator.dbguard import is_outage
    from tanji.coordinator.storage import open_storage

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return open_storage(state, database)
        except Exception as exc:  # noqa: BLE001 - only an unreachable database is waited for
            if not is_outage(exc):
                raise
            if time.monotonic() > deadline:
                stderr.print(f"error: the coordinator database is unreachable after {wait_seconds:.0f} s: "
                             f"{str(getattr(exc, 'orig', exc)).strip()}")
                raise typer.Exit(1)
            time.sleep(1.0)


@coordinator_app.command("migrate")
def coordinator_migrate(
    state: StateOpt,
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL", help="SQLAlchemy URL; default: SQLite in the state folder")] = None,
    sql: Annotated[bool, typer.Option("--sql", help="print the SQL of every migration instead of running it (for a DBA)")] = False,
) -> None:
    """Upgrade the coordinator database to the current schema (`serve` also does it on start)."""
    from alembic import command

    from tanji.coordinator import db, migrations

    url = database or db.sqlite_url(state / "coordinator.db")
    if sql:
        command.upgrade(migrations.config(url=db.normalise_url(url)), "head", sql=True)
        return
    state.mkdir(parents=True, exist_ok=True)
    storage = _open_coordinator_storage(state, database)
    with storage.engine.connect() as conn:
        print(f"{storage.engine.url.render_as_string(hide_password=True)}: schema at revision {migrations.current(conn)}")
    storage.engine.dispose()


@node_app.command("serve")
def node_serve(
    org: Annotated[str, typer.Option("--org", envvar="TANJI_ORG", help="this node's organisation id")],
    state: StateOpt,
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    data: Annotated[Optional[Path], typer.Option("--data", help="node-data file to import before serving")] = None,
    factors: Annotated[Optional[Path], typer.Option("--factors", help="the factor set the data refers to")] = None,
    tls: TLSOpt = None,
) -> None:
    """Import (optionally), register and answer requests from local data. Dials out; never listens."""
    from tanji.node.daemon import serve

    if (data is None) != (factors is None):
        fail(TanjiError("--data and --factors go together"))
    try:
        serve(org, state, federation, coordinator, data, factors, tls)
    except TanjiError as exc:
        fail(exc)


@node_app.command("import")
def node_import(
    state: StateOpt,
    data: Annotated[Path, typer.Option("--data", help="node-data file (tanji.node-data/1)")],
    factors: Annotated[Path, typer.Option("--factors", help="factor set (tanji.factor-set/1)")],
) -> None:
    """Validate and import a node-data file; a refused file changes nothing."""
    from tanji.node.importer import import_files
    from tanji.node.policy import load_policy
    from tanji.node.store import NodeStore

    try:
        nd, fs, version = import_files(NodeStore(state / "node.db"), data, factors, load_policy(state).ceilings)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"imported {nd.org}: {len(nd.model.products)} products, data version {version} "
                 f"(factor set {fs.model.id})", highlight=False)


@keyholder_app.command("serve")
def keyholder_serve(
    party: Annotated[str, typer.Option("--id", envvar="TANJI_KEYHOLDER_ID", help="the key holder's party id")],
    state: StateOpt,
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    tls: TLSOpt = None,
) -> None:
    """Run the key holder: a fresh key per calculation, one decryption of the attested total."""
    from tanji.keyholder.daemon import serve

    try:
        serve(party, state, federation, coordinator, tls)
    except TanjiError as exc:
        fail(exc)


@calc_app.command("start")
def calc_start(
    state: Annotated[Path, typer.Option("--state", envvar="TANJI_STATE", help="the requester node's state folder")],
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    product: Annotated[str, typer.Option("--product", help="one of this node's products with a declaration")],
    depth: Annotated[int, typer.Option("--depth", help="declared depth bound: tiers of suppliers below the product")],
    key_holder: Annotated[str, typer.Option("--key-holder", envvar="TANJI_KEY_HOLDER", help="party id of the key holder")] = "keyholder",
    deadline: Annotated[float, typer.Option("--deadline", help="seconds until the calculation must be complete")] = 600.0,
    tls: TLSOpt = None,
) -> None:
    """Start a calculation of one of this node's products; prints the calculation id."""

    from tanji.node.importer import load_current
    from tanji.node.store import NodeStore
    from tanji.protocol.signing import SigningKey
    from tanji.cli import requester

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
                                  key_holder=key_holder, deadline_seconds=deadline)
        channel = open_channel(coordinator, tls, nd.org)
        cid = requester.start(channel, SigningKey.load_or_create(state / "envelope-key.pem"), spec)
    except TanjiError as exc:
        fail(exc)
    typer.echo(cid)


@calc_app.command("status")
def calc_status(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    coordinator: CoordinatorOpt,
    party: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="your party id")] = "",
    tls: TLSOpt = None,
) -> None:
    """Show a calculation's state and progress (counts only, never values)."""
    import grpc
    from google.protobuf.json_format import MessageToJson

    from tanji.cli import requester

    channel = open_channel(coordinator, tls, party)
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
    out: Annotated[Optional[Path], typer.Option("--out", help="write tanji.result/1 here instead of stdout")] = None,
    tls: TLSOpt = None,
) -> None:
    """Fetch the key holder's signed result (its signature is checked) and print or write it."""
    import grpc

    from tanji.protocol.federation import Federation
    from tanji.cli import requester

    channel = open_channel(coordinator, tls, party)
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
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL")] = None,
) -> None:
    """Export a finished calculation's audit bundle (run at the coordinator; FEDERATION.sig must sit beside FEDERATION)."""
    from tanji.coordinator.bundle import write_bundle

    try:
        write_bundle(state, calculation, federation, out, database)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out}", highlight=False)


factors_app = typer.Typer(no_args_is_help=True, help="the factor provider's view")
app.add_typer(factors_app, name="factors")


@factors_app.command("citations")
def factors_citations(
    factor_set: Annotated[Path, typer.Option("--factor-set", help="your published factor set (tanji.factor-set/1)")],
    coordinator: CoordinatorOpt,
    federation: FederationOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print tanji.citations/1 JSON")] = False,
    tls: TLSOpt = None,
) -> None:
    """How often each factor of your set was cited: counts per factor and version, no amounts, no citing node.

    Under mutual TLS only the certificate of the factor set's provider may ask."""
    import grpc
    from rich.console import Console
    from rich.table import Table

    from tanji.protocol.federation import Federation
    from tanji.methodology.loader import load_factor_set
    from tanji.cli import citations

    try:
        fs = load_factor_set(factor_set)
        channel = open_channel(coordinator, tls, fs.model.provider)
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


audit_app = typer.Typer(no_args_is_help=True, help="the verifier's keyless checks")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    bundle: Annotated[Path, typer.Argument(help="the audit bundle (tar)")],
    trust: Annotated[Path, typer.Option("--trust", help="the federation's pinned registry key (hex), the trust anchor")],
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
    trust: Annotated[Optional[Path], typer.Option("--trust", help="the federation's pinned registry key (hex)")] = None,
) -> None:
    """On site: recompute a node's contributions from its raw data and match them to the bundle."""
    from tanji.audit.check_node import check_node
    from tanji.protocol.federation import read_anchor

    try:
        report = check_node(bundle.read_bytes(), opening.read_bytes(), read_anchor(trust) if trust else None)
    except TanjiError as exc:
        fail(exc)
    except OSError as exc:
        fail(TanjiError(f"cannot read: {exc}"))
    out = Console()
    for c in report.checks:
        out.print(("[green]ok[/]   " if c.ok else "[bold red]FAIL[/] ") + c.name + (f": {c.detail}" if c.detail else ""),
                  highlight=False)
    out.print("[green]opening matches the bundle[/]" if report.ok else "[bold red]opening does not match[/]")
    raise typer.Exit(0 if report.ok else 1)


@node_app.command("audit-export")
def node_audit_export(
    calculation: Annotated[str, typer.Argument(help="calculation id")],
    state: StateOpt,
    out: Annotated[Path, typer.Option("--out", help="opening file to write (raw data: hand over on site only)")],
) -> None:
    """Export the opening of this node's contributions to a calculation, for an on-site check."""
    from tanji.node.opening import write_opening

    try:
        size = write_opening(state, calculation, out)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {out} ({size} bytes) — it holds raw data: hand it over on site, never send it", highlight=False)


@node_app.command("ledger")
def node_ledger(
    state: StateOpt,
    coordinator: Annotated[Optional[str], typer.Option("--coordinator", envvar="TANJI_COORDINATOR", help="ask the coordinator each calculation's state")] = None,
    org: Annotated[str, typer.Option("--as", envvar="TANJI_ORG", help="this node's party id")] = "",
    federation: Annotated[Optional[Path], typer.Option("--federation", envvar="TANJI_FEDERATION", help="with --coordinator: verify the log proofs")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    tls: TLSOpt = None,
) -> None:
    """Every calculation that used this node's data: requester, product, time, key holder, state,
    and (with --coordinator and --federation) how many of the envelopes it sent the coordinator's log proves."""
    import grpc
    from rich.table import Table

    from tanji.node.ledger import ledger
    from tanji.node.store import NodeStore
    from tanji.cli import requester
    from tanji.v1 import requester_pb2 as rpb

    entries = ledger(NodeStore(state / "node.db"))
    if coordinator:
        from tanji.node.ledger import cross_check
        from tanji.protocol.federation import Federation
        from tanji.v1 import node_pb2_grpc as ngrpc

        channel = open_channel(coordinator, tls, org)
        if federation is not None:
            try:
                cross_check(entries, ngrpc.NodeServiceStub(channel), org,
                            Federation.load(federation).key_of("coordinator") or b"\0" * 32)
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


pki_app = typer.Typer(no_args_is_help=True, help="the federation's certificates for mutual TLS")
app.add_typer(pki_app, name="pki")


@pki_app.command("init")
def pki_init(folder: Annotated[Path, typer.Option("--dir", help="where the CA key and certificate go")]) -> None:
    """Create the federation CA (ca.key stays with the federation operator)."""
    from tanji.protocol.pki import init_ca

    try:
        stderr.print(f"wrote {init_ca(folder)}", highlight=False)
    except TanjiError as exc:
        fail(exc)


@pki_app.command("issue")
def pki_issue(
    party: Annotated[str, typer.Argument(help="party id (the certificate's common name)")],
    role: Annotated[str, typer.Option("--role", help="coordinator, node, key_holder or factor_provider")],
    folder: Annotated[Path, typer.Option("--dir", help="the CA folder")],
    out: Annotated[Path, typer.Option("--out", help="folder for PARTY.crt and PARTY.key")],
    host: Annotated[list[str], typer.Option("--host", help="DNS name or IP the party is reached at (servers)")] = [],
) -> None:
    """Issue a party's TLS certificate; re-issuing rotates it (calculations are unaffected)."""
    import shutil

    from tanji.protocol.pki import issue

    try:
        cert, _ = issue(folder, party, role, out, host or None)
        shutil.copyfile(folder / "ca.crt", out / "ca.crt")
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"wrote {cert} (and its key, and ca.crt) in {out}", highlight=False)


federation_app = typer.Typer(no_args_is_help=True, help="onboarding a federation")
app.add_typer(federation_app, name="federation")


@federation_app.command("init")
def federation_init(
    data_dir: Annotated[Path, typer.Argument(help="folder with the factor set and one node-data file per organisation")],
    state: Annotated[Path, typer.Option("--state", help="root folder: one sub-folder per party")],
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="also create the federation CA and every party's certificate")] = True,
    host: Annotated[list[str], typer.Option("--host", help="name or IP the coordinator is reached at")] = [],
) -> None:
    """Onboard every party once: envelope keys, the registry-signed federation list, supplier
    policies, and (with --tls) the CA and each party's certificate in STATE/<party>/tls/."""
    import shutil

    from tanji.methodology.loader import load_data_dir
    from tanji.protocol.pki import init_ca, issue
    from tanji.cli.demo import COORDINATOR, KEY_HOLDER, onboard, write_policies

    try:
        data = load_data_dir(data_dir)
        fed_file, _ = onboard(state, data.nodes)
        write_policies(state, data)
        if tls:
            ca = state / "registry" / "ca"
            if not (ca / "ca.crt").exists():
                init_ca(ca)
            roles = {COORDINATOR: "coordinator", KEY_HOLDER: "key_holder", **{org: "node" for org in data.nodes}}
            for party, role in roles.items():
                out = state / party / "tls"
                issue(ca, party, role, out, (host or ["localhost", "127.0.0.1"]) + [party])
                shutil.copyfile(ca / "ca.crt", out / "ca.crt")
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"federation of {len(data.nodes)} organisations in {state}: list {fed_file}, "
                 f"trust anchor {state / 'registry' / 'anchor.pub'}" + (", certificates in <party>/tls/" if tls else ""),
                 highlight=False)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Argument(help="folder with one factor set and one node-data file per organisation")],
    product: Annotated[str, typer.Option("--product", help="target as ORG/PRODUCT")],
    out: Annotated[Path, typer.Option("--out", help="output folder: result.json and state/<party>/")],
    deadline: Annotated[float, typer.Option("--deadline", help="calculation deadline in seconds")] = 600.0,
    depth: Annotated[Optional[int], typer.Option("--depth", help="declared depth bound (default: the chain's depth)")] = None,
    offline: Annotated[list[str], typer.Option("--offline", help="start this organisation's node, then take it down before it can answer")] = [],
    database: Annotated[Optional[str], typer.Option("--database", envvar="TANJI_DATABASE_URL", help="the coordinator's SQLAlchemy URL, e.g. postgresql://USER@HOST/DB (default: SQLite in its state folder)")] = None,
) -> None:
    """Run a whole federation locally (one process per party, loopback, no TLS) and write OUT/result.json."""
    from tanji.cli.demo import run_demo

    try:
        run_demo(data_dir, product, out, Console(), deadline, depth, frozenset(offline), database=database)
    except TanjiError as exc:
        fail(exc)
    except KeyboardInterrupt:
        stderr.print("interrupted: every party process was stopped")
        raise typer.Exit(130)


if __name__ == "__main__":  # pragma: no cover
    app()
