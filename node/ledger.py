"""`tanji node ledger`: every calculation that used this node's data, from its own records.

For each calculation: the root requester and product (from the signed calculation
request the coordinator delivered), when this node answered, which of its products,
the key holder, and — asked of the coordinator when an address is given — whether
the total was decrypted (released or withheld).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from node.store import Handled, NodeStore, Received
from pcf import envelope as env
from tanji.v1 import envelope_pb2 as epb


@dataclass
class LedgerEntry:
    calculation: str
    requester: str = "?"
    product: str = "?"
    key_holder: str = "?"
    first_seen: str = ""
    answered: list[str] = field(default_factory=list)
    state: str = "unknown"


def ledger(store: NodeStore) -> list[LedgerEntry]:
    entries: dict[str, LedgerEntry] = {}
    with store.sessions() as s:
        for h in s.scalars(select(Handled).order_by(Handled.handled_at)):
            e = entries.setdefault(h.calculation_id, LedgerEntry(h.calculation_id, first_seen=h.handled_at.isoformat()))
            if h.kind in ("MESSAGE_TYPE_MERGED_REQUEST", "MESSAGE_TYPE_CALCULATION_REQUEST", "MESSAGE_TYPE_DEAD_SUPPLIER"):
                e.answered.append(h.outcome)
            elif h.outcome.startswith("refused"):
                e.answered.append(h.outcome)
        for r in s.scalars(select(Received).where(Received.kind == "MESSAGE_TYPE_CALCULATION_REQUEST")):
            req = env.parse(epb.Envelope(body=r.body, signature=r.signature))
            e = entries.get(r.calculation_id)
            if e is not None:
                e.requester = req.body.sender
                e.product = f"{req.payload.target_organisation}/{req.payload.products[0].product_id}"
                e.key_holder = req.payload.key_holder
    return list(entries.values())
