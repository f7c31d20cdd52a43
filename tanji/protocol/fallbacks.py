"""Every fallback an aggregate sums, named from the signed evidence (decision 0010).

A fallback is named by the dead supplier and its product, the buyer that answered for it, and
the supplier's tier: 1 for the requester's own suppliers; below, the depth bound of the
calculation request less the `depth_remaining` the buyer signed into the request the notice
answers — for a product reached along several paths, the deepest. The key holder names them in
the result from the evidence it re-checks; `tanji audit verify` names them in its summary and
checks the result names the same.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tanji.protocol import envelope as env
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


@dataclass(frozen=True, order=True)
class Taken:
    tier: int          #: 0 when the evidence does not say (completeness then fails anyway)
    supplier: str
    product: str
    buyer: str
    #: the batch blocks (DESIGN §6) the buyer's request reaches; () is every block
    blocks: tuple[int, ...] = field(default=(), compare=False)

    def in_block(self, b: int) -> bool:
        return not self.blocks or b in self.blocks

    def as_json(self) -> dict[str, object]:
        return {"supplier": self.supplier, "product": self.product, "buyer": self.buyer, "tier": self.tier}


def taken(envelopes: Iterable[env.Opened], summed: Iterable[bytes] | None = None) -> list[Taken]:
    """The fallbacks among `envelopes` (only those in `summed`, if given), sorted by tier."""
    envelopes = list(envelopes)
    held = {o.hash: o for o in envelopes}
    roots = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_CALCULATION_REQUEST]
    depth = roots[0].payload.depth_bound if len(roots) == 1 else None
    keep = None if summed is None else set(summed)
    out = []
    for o in envelopes:
        if o.body.message_type != MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION or (keep is not None and o.hash not in keep):
            continue
        notice = held.get(o.body.answers_hash)
        request = held.get(notice.body.answers_hash) if notice is not None else None
        tier, blocks = 0, ()
        if request is not None and request.body.message_type == MT.MESSAGE_TYPE_REQUEST:
            blocks = tuple(request.payload.blocks)
            if depth is not None:
                tier = depth - request.payload.depth_remaining
        out.append(Taken(max(tier, 0), o.payload.supplier, o.payload.product_id, o.body.sender, blocks))
    return sorted(out)
