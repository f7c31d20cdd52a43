"""The node's outbox: every envelope it signs is stored (with the objects it names) in the same
transaction as the note that the request was handled, then pushed — the same bytes on every
retry, so re-randomisation can never turn a retry into a second contribution."""
from __future__ import annotations

import logging

from sqlalchemy import select

from tanji.infra.party_client import PartyClient, Undeliverable
from tanji.node.store import Handled, NodeStore, Outbox, OutObject
from tanji.protocol import envelope as env
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import objects_pb2 as opb

log = logging.getLogger("tanji.node")


def queue(s, cid: str, answers: bytes, sealed: epb.Envelope, product: str | None = None,
          input_index: int | None = None) -> bytes:
    """Store a sealed envelope for pushing, in the caller's transaction `s`; returns its hash.
    A REQUEST names which of our products and which of its inputs it is for (a fallback needs it)."""
    h = env.message_hash(sealed)
    s.add(Outbox(hash=h, calculation_id=cid, answers=answers, body=sealed.body, signature=sealed.signature,
                 product=product, input_index=input_index))
    return h


def queue_ciphertext(s, cid: str, digest: bytes, content: bytes) -> None:
    if s.scalar(select(OutObject.hash).where(OutObject.hash == digest)) is None:  # not its bytes: a look-up
        s.add(OutObject(hash=digest, calculation_id=cid, kind=opb.OBJECT_KIND_CIPHERTEXT, content=content))


def push_pending(store: NodeStore, client: PartyClient) -> None:
    """Push stored objects and envelopes not yet acknowledged, oldest first.

    An unreachable coordinator raises grpc.RpcError (the caller's loop retries); an upload it
    refuses for good is given up, logged and noted in the ledger — retrying the same bytes
    would fail forever and hold back every envelope queued after it."""
    with store.sessions() as s:
        rows = [(r.sequence, r.calculation_id, r.answers, r.body, r.signature)
                for r in s.query(Outbox).filter(Outbox.pushed.is_(False)).order_by(Outbox.sequence)]
    for sequence, cid, answers, body, signature in rows:
        parsed = epb.EnvelopeBody.FromString(body)
        with store.sessions() as s:
            objects = [(o.content, o.kind) for d in parsed.object_hashes if (o := s.get(OutObject, d)) is not None]
        refused = None
        try:
            client.deliver(cid, epb.Envelope(body=body, signature=signature), objects)
        except Undeliverable as exc:
            refused = exc.reason
        with store.sessions.begin() as s:
            s.get_one(Outbox, sequence).pushed = True
            if refused is not None:
                log.error("coordinator refused our %s of %s: %s", epb.MessageType.Name(parsed.message_type), cid,
                          refused)
                answered = s.get(Handled, answers)
                if answered is not None:
                    answered.outcome += f"; not delivered, the coordinator refused it: {refused}"
