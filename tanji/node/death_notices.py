"""A dead-supplier notice that names this node (DESIGN §2 step 7, decision 0010).

The coordinator delivers every notice to the supplier it names as well as to the buyer that
answers it with a fallback. A supplier that held a lease the coordinator granted at the moment
the notice says it was declared dead (the heartbeat answers carry when each lease was granted
and when it expires, on the coordinator's clock) was alive: it contests the notice with a signed
REFUSAL (REFUSAL_CODE_DECLARED_DEAD) answering it. The coordinator stores and logs the contest
in any state of the calculation; one still open fails naming the supplier, and a bundle whose
fallback rests on a contested notice fails `tanji audit verify`. A supplier that held no lease
then (it was down, or restarted since) acknowledges the notice: noted in its ledger, nothing sent.
"""
from __future__ import annotations

import logging
from datetime import UTC

from tanji.node.site import Site
from tanji.node.store import Handled
from tanji.protocol import envelope as env
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb

log = logging.getLogger("tanji.node")


def names_us(site: Site, opened: env.Opened) -> bool:
    """The notice names this node as the dead supplier (the buyer it answers is another party)."""
    return opened.payload.supplier == site.org and opened.body.receiver != site.org


def on_notice_about_us(site: Site, opened: env.Opened) -> None:
    """Contest the notice (a Refusal the node answers with) if we held a lease when declared dead,
    else acknowledge it."""
    ds = opened.payload
    declared = ds.declared_at.ToDatetime(tzinfo=UTC)
    when = declared.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if site.client.held_lease_at(declared):
        raise Refusal(cpb.REFUSAL_CODE_DECLARED_DEAD,
                      f"{site.org} held a lease the coordinator granted when it declared {ds.supplier}/"
                      f"{ds.product_id} dead at {when}: the notice is contested")
    with site.store.sessions.begin() as s:
        s.add(Handled(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                      outcome=f"declared dead at {when} for {ds.product_id}; acknowledged (no lease held then)"))
    log.warning("%s: declared dead in %s at %s (acknowledged: this process held no lease then)", site.org,
                opened.body.calculation_id[:8], when)
