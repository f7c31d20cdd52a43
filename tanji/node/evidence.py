"""Envelopes the node keeps as it received them (verified on receipt, re-opened from its store).

Calculation requests (the usage ledger, the rate limit, who audits), the completeness
evidence and contributions an auditor checks, results and refusals, and the merged requests
whose Enc(w) a fallback for a dead supplier needs until the calculation ends.
"""
from __future__ import annotations

from tanji.node.store import NodeStore, Received
from tanji.protocol import envelope as env
from tanji.v1 import envelope_pb2 as epb

CALCULATION_REQUEST = epb.MessageType.Name(epb.MESSAGE_TYPE_CALCULATION_REQUEST)


def keep(store: NodeStore, opened: env.Opened) -> None:
    with store.sessions.begin() as s:
        if s.get(Received, opened.hash) is None:
            s.add(Received(hash=opened.hash, calculation_id=opened.body.calculation_id, kind=opened.type_name,
                           body=opened.envelope.body, signature=opened.envelope.signature))


def reopen(row: Received) -> env.Opened:
    return env.reopen(epb.Envelope(body=row.body, signature=row.signature))


def kept(store: NodeStore, digest: bytes) -> env.Opened | None:
    with store.sessions() as s:
        row = s.get(Received, digest)
    return reopen(row) if row is not None else None


def calculation_request(s, cid: str) -> env.Opened | None:
    """The calculation's signed request as delivered, in an open session `s`; None if never delivered."""
    row = s.query(Received).filter(Received.calculation_id == cid, Received.kind == CALCULATION_REQUEST).first()
    return reopen(row) if row is not None else None


def of_calculation(store: NodeStore, cid: str) -> list[env.Opened]:
    with store.sessions() as s:
        return [reopen(r) for r in s.query(Received).filter(Received.calculation_id == cid)]
