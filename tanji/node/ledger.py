"""`tanji node ledger`: every calculation that used this node's data, from its own records.

For each calculation: the root requester and product (from the signed calculation
request the coordinator delivered), when this node answered, which of its products,
the key holder, and — asked of the coordinator when an address is given — whether
the total was decrypted (released or withheld).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from tanji.node.store import Handled, NodeStore, Outbox, Received
from tanji.protocol import envelope as env
from tanji.v1 import envelope_pb2 as epb

#: the requests a node answers with its data (other handled envelopes show only when refused)
ANSWERED = ("MESSAGE_TYPE_MERGED_REQUEST", "MESSAGE_TYPE_CALCULATION_REQUEST", "MESSAGE_TYPE_DEAD_SUPPLIER")


@dataclass
class LedgerEntry:
    calculation: str
    requester: str = "?"
    product: str = "?"
    key_holder: str = "?"
    first_seen: str = ""
    answered: list[str] = field(default_factory=list)
    state: str = "unknown"
    #: envelopes this node sent for the calculation, and how many the coordinator's log proves
    sent: list[bytes] = field(default_factory=list)
    logged: int | None = None


def ledger(store: NodeStore) -> list[LedgerEntry]:
    entries: dict[str, LedgerEntry] = {}
    with store.sessions() as s:
        for h in s.scalars(select(Handled).order_by(Handled.handled_at)):
            e = entries.setdefault(h.calculation_id, LedgerEntry(h.calculation_id, first_seen=h.handled_at.isoformat()))
            if h.kind in ANSWERED or h.refused:
                e.answered.append(h.outcome)
        for o in s.scalars(select(Outbox).where(Outbox.pushed.is_(True))):
            if o.calculation_id in entries:
                entries[o.calculation_id].sent.append(o.hash)
        for r in s.scalars(select(Received).where(Received.kind == "MESSAGE_TYPE_CALCULATION_REQUEST")):
            req = env.reopen(epb.Envelope(body=r.body, signature=r.signature))  # verified when it was kept
            used = entries.get(r.calculation_id)
            if used is not None:
                used.requester = req.body.sender
                org = req.payload.target_organisation
                used.product = ", ".join(f"{org}/{i.product_id}" for i in req.payload.products)
                used.key_holder = req.payload.key_holder
    return list(entries.values())


def cross_check(entries: list[LedgerEntry], stub, party: str, coordinator_key: bytes) -> None:
    """Ask the coordinator to prove every envelope this node sent is in its log; verify each proof."""
    from tanji.protocol import limits, merkle
    from tanji.v1 import node_pb2 as npb

    hashes = [h for e in entries for h in e.sent]
    resp = stub.ProveInclusion(npb.ProveInclusionRequest(party_id=party, envelope_hashes=hashes),
                               timeout=limits.RPC_TIMEOUT_SECONDS)
    th = resp.tree_head
    head = merkle.TreeHead(log_id=th.log_id, tree_size=th.tree_size, root=th.root, timestamp_ms=th.timestamp_ms)
    merkle.verify_tree_head(head, th.signature, coordinator_key)  # LogError if not the coordinator's
    proven = {p.envelope_hash for p in resp.proofs
              if p.found and merkle.verify_inclusion(merkle.leaf_hash(p.envelope_hash), p.index, head.tree_size,
                                                     list(p.path), head.root)}
    for e in entries:
        e.logged = sum(h in proven for h in e.sent)
