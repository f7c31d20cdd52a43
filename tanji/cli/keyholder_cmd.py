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
from tanji.cli.ops import HealthListenOpt, LogFormatOpt, MetricsListenOpt, start_ops
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
    health_listen: HealthListenOpt = "127.0.0.1:0",
    metrics_listen: MetricsListenOpt = None,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the key holder: a fresh key per calculation, one decryption of the attested total; a key is
    destroyed once its calculation ended, in any state."""
    from tanji.keyholder.daemon import serve

    announce_transport(coordinator, tls, insecure, listening=False)
    start_ops("key_holder", party, state, health_listen, metrics_listen, log_format)
    try:
        serve(party, state, federation, coordinator, tls, insecure=insecure, trust=trust)
    except TanjiError as exc:
        fail(exc)
