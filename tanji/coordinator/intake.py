"""Every envelope a party pushes: verified, checked against its calculation, handed to the handler
of its message type, stored exactly once. A party's REFUSAL of something it was sent fails the
calculation, naming the party and its code.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.context import CalcContext
from tanji.coordinator.states import require_open
from tanji.coordinator.transactions import REFUSALS, Core, accepted, as_refusal, outcome
from tanji.protocol import envelope as env
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

if TYPE_CHECKING:
    from tanji.coordinator.leases import Leases

log = logging.getLogger("tanji.coordinator")
MT = epb.MessageType
Handler = Callable[[object, CalcContext, env.Opened], None]


class Intake:
    def __init__(self, core: Core, handlers: dict[int, Handler]):
        """`handlers`: message type -> handler(session, calculation context, opened envelope)."""
        self.core = core
        self.handlers = {**handlers, MT.MESSAGE_TYPE_REFUSAL: self.on_refusal}
        self.contests: Leases | None = None  # wired by the service: a supplier contesting its death notice

    def push(self, party_id: str, envelopes: list[epb.Envelope]) -> list[cpb.PushOutcome]:
        return [self.push_one(party_id, e) for e in envelopes]

    def push_one(self, party_id: str, envelope: epb.Envelope) -> cpb.PushOutcome:
        h = env.message_hash(envelope)
        with self.core.lock:
            with self.core.sessions() as s:
                if s.get(db.StoredEnvelope, h) is not None:
                    return outcome(h, cpb.PUSH_STATUS_ALREADY_ACCEPTED)
            try:
                opened = self.core.verify(envelope)
                if opened.body.sender != party_id:
                    raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "envelope sender is not the pushing party")
                if opened.body.receiver != COORDINATOR_ID and opened.body.message_type != MT.MESSAGE_TYPE_REQUEST:
                    raise Refusal(cpb.REFUSAL_CODE_WRONG_RECEIVER,
                                  f"{opened.type_name} must be addressed to the coordinator")
                with self.core.transaction() as s:
                    ctx = CalcContext.load(s, opened.body.calculation_id, lock=True)
                    if s.get(db.StoredEnvelope, h) is not None:  # accepted meanwhile (a retry through another replica)
                        return outcome(h, cpb.PUSH_STATUS_ALREADY_ACCEPTED)
                    handler = self.handlers.get(opened.body.message_type)
                    if handler is None:
                        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, f"{opened.type_name} is not pushed by a party")
                    if self.contests is not None and self.contests.is_contest(s, opened):
                        handler = self.contests.on_contest  # stored and logged in any state (decision 0010)
                    else:
                        require_open(ctx.calc)
                    if s.scalar(select(db.StoredEnvelope.hash).where(
                            db.StoredEnvelope.sender == opened.body.sender,
                            db.StoredEnvelope.message_id == opened.body.message_id)) is not None:
                        raise Refusal(cpb.REFUSAL_CODE_REPLAY, "message id already used by this sender")
                    handler(s, ctx, opened)
            except REFUSALS as exc:
                exc = as_refusal(exc)
                if exc.code != cpb.REFUSAL_CODE_MISSING_OBJECT:  # a missing object is an upload not yet done
                    log.warning("refused %s from %s: %s", h.hex()[:12], party_id, exc.message)
                return outcome(h, cpb.PUSH_STATUS_REFUSED, exc.code, exc.message)
            return accepted(h)

    # ------------------------------------------------------------ a party's refusal
    def on_refusal(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        """A REFUSAL from a party of the calculation, of something it was sent: the calculation fails."""
        calc, sender, answers = ctx.calc, opened.body.sender, opened.body.answers_hash
        orgs = {p.org for p in self.core.pairs(s, calc.id)}
        if sender not in {calc.requester, calc.key_holder, *calc.auditors, *orgs}:
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{sender!r} is not a party of calculation {calc.id}")
        if not _was_sent(s, ctx, sender, answers):
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                          f"the refusal from {sender!r} answers nothing calculation {calc.id} sent it")
        r = opened.payload
        self.core.store(s, opened)
        ctx.fail(r.code, r.message, sender)


def _was_sent(s, ctx: CalcContext, party: str, h: bytes) -> bool:
    """`h` is an envelope of this calculation that went to `party`: through its inbox, or, for the
    key holder, in its work (the calculation request, the aggregate)."""
    calc = ctx.calc
    if party == calc.key_holder and h in (calc.request_hash, calc.aggregate_hash):
        return True
    return s.scalar(select(db.Delivery.sequence)
                    .join(db.StoredEnvelope, db.Delivery.envelope_hash == db.StoredEnvelope.hash)
                    .where(db.Delivery.party == party, db.Delivery.envelope_hash == h,
                           db.StoredEnvelope.calculation_id == calc.id).limit(1)) is not None
