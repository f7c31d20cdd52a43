"""`tanji pki …` and `tanji federation …`: certificates and onboarding."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import TanjiError

pki_app = typer.Typer(no_args_is_help=True, help="the federation's certificates for mutual TLS")
federation_app = typer.Typer(no_args_is_help=True, help="onboarding a federation")

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
    host: Annotated[list[str] | None, typer.Option(
        "--host", help="DNS name or IP the party is reached at (servers)")] = None,
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


@federation_app.command("init")
def federation_init(
    join_requests: Annotated[list[Path], typer.Argument(help="the parties' join-request.json files")],
    registry: Annotated[Path, typer.Option("--dir", help="the registry folder (created if absent)")],
) -> None:
    """Onboard several parties at once: `tanji registry init` if needed, then `tanji registry add` of
    each join request. It reads join requests only — no key, no node data."""
    from tanji.cli.registry_cmd import passphrase
    from tanji.protocol.membership import RegistryDir

    secret = passphrase(None)
    try:
        reg = RegistryDir(registry, secret) if (registry / "registry-key.pem").exists() \
            else RegistryDir.init(registry, secret)
        for request in join_requests:
            reg.add(request)
        fed = reg.federation()
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"federation list version {fed.version} of {len(fed.parties)} parties: {reg.list_file}; "
                 f"certificates in {registry / 'issued'}; trust anchor {reg.anchor_file}", highlight=False)
