"""`tanji registry …`: the operator's registry — the list-signing key, the CA, the signed, versioned
federation list. It reads join requests only (tanji.protocol.membership)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tanji.cli.common import fail, stderr
from tanji.errors import TanjiError

registry_app = typer.Typer(no_args_is_help=True, help="the operator's registry: who is in the federation")

DirOpt = Annotated[Path, typer.Option("--dir", envvar="TANJI_REGISTRY", help="the registry folder")]
PassphraseOpt = Annotated[Path | None, typer.Option(
    "--passphrase-file", help="file holding the passphrase of the registry and CA keys (else the "
                              "TANJI_REGISTRY_PASSPHRASE environment variable; neither: keys unencrypted)")]


def passphrase(path: Path | None) -> bytes | None:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            fail(TanjiError(f"{path}: cannot read the passphrase ({exc.strerror})"))
        if not text:
            fail(TanjiError(f"{path}: the passphrase is empty"))
        return text.encode()
    env = os.environ.get("TANJI_REGISTRY_PASSPHRASE")
    return env.encode() if env else None


def _say(reg, fed, what: str) -> None:
    stderr.print(f"{what}; federation list version {fed.version} ({len(fed.parties)} parties): "
                 f"{reg.list_file} + {reg.signature_file.name}", highlight=False)


@registry_app.command("init")
def registry_init(folder: DirOpt, passphrase_file: PassphraseOpt = None) -> None:
    """Create the registry: its list-signing key (public half: anchor.pub, every party's trust anchor),
    the federation CA and an empty signed list."""
    from tanji.protocol.membership import RegistryDir

    try:
        reg = RegistryDir.init(folder, passphrase(passphrase_file))
    except TanjiError as exc:
        fail(exc)
    stderr.print(f"registry in {folder}: trust anchor {reg.anchor_file}, CA {folder / 'ca.crt'}", highlight=False)


@registry_app.command("add")
def registry_add(
    join_request: Annotated[Path, typer.Argument(help="a party's join-request.json")],
    folder: DirOpt,
    passphrase_file: PassphraseOpt = None,
) -> None:
    """Check a join request (id, role, the CSR's signature and key), issue the party's certificate
    (issued/ORG/ORG.crt), list it and re-sign the list."""
    from tanji.protocol.membership import RegistryDir

    try:
        reg = RegistryDir(folder, passphrase(passphrase_file))
        req, fed = reg.add(join_request)
    except TanjiError as exc:
        fail(exc)
    _say(reg, fed, f"added {req.party} ({req.role}): certificate {reg.issued(req.party)}")


@registry_app.command("remove")
def registry_remove(
    party: Annotated[str, typer.Argument(help="the party to take out of the federation")],
    folder: DirOpt,
    passphrase_file: PassphraseOpt = None,
) -> None:
    """Take a party off the list (its certificate is revoked too) and re-sign."""
    from tanji.protocol.membership import RegistryDir

    try:
        reg = RegistryDir(folder, passphrase(passphrase_file))
        fed = reg.remove(party)
    except TanjiError as exc:
        fail(exc)
    _say(reg, fed, f"removed {party}")


@registry_app.command("revoke")
def registry_revoke(
    party: Annotated[str, typer.Argument(help="the party whose certificate is revoked")],
    folder: DirOpt,
    passphrase_file: PassphraseOpt = None,
) -> None:
    """Revoke a party's certificate (on the signed list and in crl.pem); it stays listed and may send a
    new join request for a new certificate."""
    from tanji.protocol.membership import RegistryDir

    try:
        reg = RegistryDir(folder, passphrase(passphrase_file))
        fed = reg.revoke(party)
    except TanjiError as exc:
        fail(exc)
    _say(reg, fed, f"revoked the certificate of {party} (crl: {folder / 'crl.pem'})")
