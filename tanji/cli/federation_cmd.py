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
    data_dir: Annotated[Path, typer.Argument(
        help="folder with the factor set and one node-data file per organisation")],
    state: Annotated[Path, typer.Option("--state", help="root folder: one sub-folder per party")],
    tls: Annotated[bool, typer.Option(
        "--tls/--no-tls", help="also create the federation CA and every party's certificate")] = True,
    host: Annotated[list[str] | None, typer.Option("--host", help="name or IP the coordinator is reached at")] = None,
) -> None:
    """Onboard every party once: envelope keys, the registry-signed federation list, supplier
    policies, and (with --tls) the CA and each party's certificate in STATE/<party>/tls/."""
    import shutil

    from tanji.cli.demo import COORDINATOR, KEY_HOLDER, onboard, write_policies
    from tanji.methodology.loader import load_data_dir
    from tanji.protocol.pki import init_ca, issue

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
    certificates = ", certificates in <party>/tls/" if tls else ""
    stderr.print(f"federation of {len(data.nodes)} organisations in {state}: list {fed_file}, "
                 f"trust anchor {state / 'registry' / 'anchor.pub'}{certificates}", highlight=False)
