"""Aggregation and attestation (DESIGN §2 steps 5 and 6): each reached product's CONTRIBUTION,
accepted once; the homomorphic sum in a fixed order once every one has answered (or its buyers
answered for it); the auditors' ATTESTATIONs of that sum, after which the key holder may decrypt.
"""
from __future__ import annotations

import logging

from sqlalchemy import and_, func, or_, select

from tanji.coordinator import db
from tanji.coordinator.context import CalcContext
from tanji.coordinator.routing import Routing, check_bindings
from tanji.coordinator.states import CalcState, PairState, move_pair
from tanji.coordinator.transactions import Core, reopen
from tanji.coordinator.transparency import TransparencyLog
from tanji.he import tasks as he_sum
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.coordinator")
#: what an auditor needs, besides the contributions, to check that a calculation is complete
EVIDENCE = ("MESSAGE_TYPE_REQUEST", "MESSAGE_TYPE_MERGED_REQUEST", "MESSAGE_TYPE_DECLARATION_OF_REQUESTS",
            "MESSAGE_TYPE_DEAD_SUPPLIER")


def _known(h: bytes | None) -> bytes:
    """A hash the calculation's state says is set."""
    assert h is not None
    return h


class Aggregation:
    def __init__(self, core: Core, routing: Routing, transparency: TransparencyLog):
        self.core, self.routing, self.transparency = core, routing, transparency

    def on_contribution(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        check_bindings(ctx, opened)
        pair = self.routing.answered_pair(s, ctx, opened)
        c = opened.payload
        if c.product_id != pair.product:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "contribution names another product than its request")
        if pair.contribution_hash is not None:
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE, f"{pair.org}/{pair.product} already contributed to {ctx.id}")
        if list(opened.body.object_hashes) != [c.ciphertext_hash]:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the contribution ciphertext")
        ctx.ciphertext(self.core.objects, c.ciphertext_hash, transit=True)
        self.core.store(s, opened)
        pair.contribution_hash = opened.hash
        move_pair(pair, PairState.ANSWERED)
        s.flush()
        self.maybe_aggregate(s, ctx)

    def maybe_aggregate(self, s, ctx: CalcContext) -> None:
        """When every reached product has answered once (or its buyers answered for it), sum."""
        if ctx.state != CalcState.RUNNING:
            return
        calc, objects = ctx.calc, self.core.objects
        if self._unsettled(s, calc.id):
            return
        pairs = sorted(self.core.pairs(s, calc.id), key=lambda p: (p.org, p.product))
        fallbacks = sorted(s.scalars(select(db.CalcFallback).where(db.CalcFallback.calculation_id == calc.id)),
                           key=lambda f: (f.buyer, f.supplier, f.product, f.request_hash))
        answered_for = {f.request_hash for f in fallbacks}
        for p in pairs:
            if p.state == PairState.SKIPPED.value:
                continue
            if p.state == PairState.DEAD.value:
                if any(r.hash not in answered_for for r in self.routing.requests_for(s, ctx, (p.org, p.product))):
                    return
            elif not (p.contribution_hash and p.declaration_hash):
                return
        live = [p for p in pairs if p.state == PairState.ANSWERED.value]
        hashes = [_known(p.contribution_hash) for p in live] + [f.hash for f in fallbacks]
        contributions = [reopen(s, h) for h in hashes]
        total = he_sum.add_all(ctx.public_context(objects),
                               [objects.get(c.payload.ciphertext_hash) for c in contributions], ctx.width)
        out = objects.put(total)
        agg = epb.Aggregate(output_ciphertext_hash=out, contribution_hashes=hashes,
                            declaration_hashes=[_known(p.declaration_hash) for p in live],
                            dead_supplier_hashes=sorted({f.dead_supplier_hash for f in fallbacks}))
        body = messages.aggregate(agg, calculation_id=calc.id, sender=COORDINATOR_ID, receiver=calc.key_holder,
                                  binding=ctx.binding, answers=calc.request_hash, objects=[out])
        opened = self.core.seal(s, body)
        self.transparency.issue_tree_head(s)
        calc.aggregate_hash = opened.hash
        ctx.move(CalcState.AWAITING_ATTESTATION)
        evidence = list(s.scalars(select(db.StoredEnvelope.hash).where(
            db.StoredEnvelope.calculation_id == calc.id, db.StoredEnvelope.message_type.in_(EVIDENCE))
            .order_by(db.StoredEnvelope.received_at, db.StoredEnvelope.hash)))
        for auditor in calc.auditors:
            for h in evidence:  # the auditor checks completeness before it attests (tanji.protocol.completeness)
                self.core.deliver(s, auditor, h)
            for h in hashes:  # the auditor re-executes from the signed contributions
                self.core.deliver(s, auditor, h)
            self.core.deliver(s, auditor, opened.hash)
        log.info("calculation %s complete: %d contributions and %d fallbacks summed",
                 calc.id[:8], len(live), len(fallbacks))

    @staticmethod
    def _unsettled(s, cid: str) -> int:
        """Pairs still to answer or declare, counted in the database: each contribution asks, so
        this must not load every pair (a dead pair's fallbacks are checked only once it is 0)."""
        waiting = (PairState.WAITING.value, PairState.DISPATCHED.value)
        return s.scalar(select(func.count()).select_from(db.CalcPair).where(
            db.CalcPair.calculation_id == cid,
            or_(db.CalcPair.state.in_(waiting),
                and_(db.CalcPair.state == PairState.ANSWERED.value,
                     or_(db.CalcPair.declaration_hash.is_(None), db.CalcPair.contribution_hash.is_(None))))))

    def on_attestation(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        a, calc = opened.payload, ctx.calc
        if ctx.state != CalcState.AWAITING_ATTESTATION:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, f"calculation {calc.id} is {calc.state}")
        if opened.body.sender not in calc.auditors:
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{opened.body.sender!r} is not an auditor of {calc.id}")
        agg = reopen(s, _known(calc.aggregate_hash)).payload
        if opened.body.answers_hash != calc.aggregate_hash or a.output_ciphertext_hash != agg.output_ciphertext_hash:
            raise Refusal(cpb.REFUSAL_CODE_HASH_MISMATCH, "attestation is of another aggregate")
        self.core.store(s, opened)
        s.add(db.Attestation(hash=opened.hash, calculation_id=calc.id, auditor=opened.body.sender))
        s.flush()
        n = s.scalar(select(func.count()).select_from(db.Attestation).where(db.Attestation.calculation_id == calc.id))
        if n >= calc.min_attestations:
            ctx.move(CalcState.AWAITING_DECRYPTION)
            self.core.work(s, calc.key_holder, "decrypt", calc.id)
