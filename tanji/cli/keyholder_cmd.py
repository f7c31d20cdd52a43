"""`tanji keyholder …`: the key holder service."""
from __future__ import annotations

from typing import Annotated

import typer

from tanji.cli.common import (
    CoordinatorOpt,
    FederationOpt,
    InsecureOpt,
    StateOpt,
    TLSOpt,
    TrustOpt,
    announce_transport,
    fail,
)
from tanji.errors import TanjiError

keyholder_app = typer.Typer(no_args_is_help=True, help="the key holder service")

@keyholder_app.command("serve")
def keyholder_serve(
    party: Annotated[str, typer.Option("--id", envvar="TANJI_KEYHOLDER_ID", help="the key holder's party id")],
    state: StateOpt,
    federation: FederationOpt,
    coordinator: CoordinatorOpt,
    tls: TLSOpt = None,
    insecure: InsecureOpt = False,
    trust: TrustOpt = None,
) -> None:
    """Run the key holder: a fresh key per calculation, one decryption of the attested total; a key is
    destroyed once its calculation ended, in any state."""
    from tanji.keyholder.daemon import serve

    announce_transport(coordinator, tls, insecure, listening=False)
    try:
        serve(party, state, federation, coordinator, tls, insecure=insecure, trust=trust)
    except TanjiError as exc:
        fail(exc)
