"""`tanji node|keyholder|coordinator init` and `… join`, and `tanji node customers`: a party makes its
own keys and join request, installs what the registry sends back, and a supplier sees who named it."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import InsecureOpt, StateOpt, TLSOpt, client_channel, fail, stderr
from tanji.errors import TanjiError

HostOpt = Annotated[list[str] | None, typer.Option(
    "--host", help="DNS name or IP the party is reached at (its certificate names it; default loopback)")]


def _init(state: Path, party: str, role: str, host: list[str] | None) -> None:
    from tanji.protocol.joining import init_party

    try:
        path = init_party(state, party, role, host)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"keys of {party} in {state} (never leave it); send {path} to the federation operator "
                 f"(`tanji registry add {path}`)", highlight=False)


def _join(state: Path, federation: Path, signature: Path, trust: Path | None, certificate: Path | None,
          ca: Path | None) -> None:
    from tanji.protocol.joining import install

    try:
        fed = install(state, federation, signature, trust, certificate, ca)
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"installed federation list version {fed.version} ({len(fed.parties)} parties) in {state}"
                 + (", and the certificate" if certificate else ""), highlight=False)


FedOpt = Annotated[Path, typer.Option("--federation", help="the federation.json the registry sent")]
SigOpt = Annotated[Path | None, typer.Option("--signature", help="its federation.sig (default: beside it)")]
TrustOpt = Annotated[Path | None, typer.Option(
    "--trust", help="the registry's anchor.pub (pinned at the first join; later lists must verify under it)")]
CertOpt = Annotated[Path | None, typer.Option("--certificate", help="the party's ORG.crt from the registry")]
CaOpt = Annotated[Path | None, typer.Option("--ca", help="the federation CA's ca.crt")]


def mount(app: typer.Typer, role: str) -> None:
    """Add `init` and `join` to a role's command group."""
    fixed = {"coordinator": "coordinator", "key_holder": "keyholder"}.get(role)

    @app.command("init")
    def init(state: StateOpt,
             party: Annotated[str, typer.Option("--org", "--id", help="this party's id")] = fixed or "",
             host: HostOpt = None) -> None:
        """Create this party's envelope and TLS keys in its own state folder (0600) and its
        join-request.json (nothing secret) for the federation operator."""
        if not party:
            fail(TanjiError("--org: give this party's id"))
        _init(state, party, role, host)

    @app.command("join")
    def join(state: StateOpt, federation: FedOpt, signature: SigOpt = None, trust: TrustOpt = None,
             certificate: CertOpt = None, ca: CaOpt = None) -> None:
        """Install what the registry sent back — the signed list (checked against the trust anchor), the
        certificate and the CA's — after checking them; run again with a newer list to update it."""
        from tanji.protocol.federation import signature_path

        _join(state, federation, signature or signature_path(federation), trust, certificate, ca)


def mount_customers(app: typer.Typer) -> None:
    @app.command("customers")
    def customers(state: StateOpt,
                  org: Annotated[str | None, typer.Option("--org", envvar="TANJI_ORG", help="this node's id")] = None,
                  coordinator: Annotated[str | None, typer.Option(
                      "--coordinator", envvar="TANJI_COORDINATOR",
                      help="ask the coordinator now (registers this node again); else what it said last")] = None,
                  tls: TLSOpt = None, insecure: InsecureOpt = False) -> None:
        """The buyers that named this node as their supplier, and whether policy.toml approves each:
        approve a buyer by adding it to approved_customers (the node reloads the policy)."""
        from rich.console import Console
        from rich.table import Table

        from tanji.node.customers import read_customers, refresh
        from tanji.node.policy import load_policy

        try:
            if coordinator is not None:
                if not org:
                    fail(TanjiError("--org: give this node's id with --coordinator"))
                refresh(state, org, client_channel(coordinator, tls, org, insecure))
            named = read_customers(state)
            policy = load_policy(state)
        except TanjiError as exc:
            fail(exc)
        table = Table("buyer", "its product", "names your product", "approved")
        for c in named:
            ok = policy.approved_customers is None or c.buyer in policy.approved_customers
            table.add_row(c.buyer, c.buyer_product, c.supplier_product, "yes" if ok else "no")
        Console().print(table)
