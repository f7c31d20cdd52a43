"""The key holder's side (DESIGN §2 steps 1 and 6): its work queue ("key" for a fresh key pair,
"decrypt" once the aggregate is attested), its KEY_ANNOUNCEMENT, its RESULT or withholding
REFUSAL, and the CITATION_REPORT that rides with a result for the factor provider.
"""
from __future__ import annotations

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.aggregation import EVIDENCE
from tanji.coordinator.context import CalcContext
from tanji.coordinator.faults import crash_point
from tanji.coordinator.states import CalcState, require_open
from tanji.coordinator.transactions import REFUSALS, Core, accepted, as_refusal, refused, reopen, stored
from tanji.coordinator.transparency import TransparencyLog
from tanji.he import tasks as he_sum
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


class KeyHolderQueue:
    def __init__(self, core: Core, transparency: TransparencyLog):
        self.core, self.transparency = core, transparency

    # ------------------------------------------------------------ the key (step 1)
    def publish_key(self, envelope: epb.Envelope) -> cpb.PushOutcome:
        try:
            opened = self.core.verify(envelope)
            if opened.body.message_type != MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT:
                raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "PublishKey takes a KEY_ANNOUNCEMENT")
            with self.core.transaction() as s:
                ctx = CalcContext.load(s, opened.body.calculation_id, lock=True)
                self._announce(s, ctx, opened)
            crash_point("key-announced")
        except REFUSALS as exc:
            return refused(envelope, as_refusal(exc))
        return accepted(opened.hash)

    def _announce(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        calc, ka, objects = ctx.calc, opened.payload, self.core.objects
        if opened.body.sender != calc.key_holder:
            raise Refusal(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, "only the calculation's key holder announces its key")
        if calc.key_announcement_hash is not None:
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE, "the calculation already has a key")
        require_open(calc)
        if opened.body.answers_hash != calc.request_hash:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "key announcement answers another request")
        req = ctx.request.payload
        if (ka.width or slots.WIDTH) != slots.calc_width(req.batch_size, req.citation_slots):
            raise Refusal(cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                          f"the key is for {ka.width} slots; the calculation needs "
                          f"{slots.calc_width(req.batch_size, req.citation_slots)}")
        context = objects.get(ka.context_object_hash)
        he_sum.check_public_context(context, ka.key_fingerprint, ka.ckks_params_hash)
        if ka.unit_weight_object_hash:
            if list(opened.body.object_hashes) != [ka.context_object_hash, ka.unit_weight_object_hash]:
                raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the context and Enc(1)")
            he_sum.load_unit_weight(context, objects.get(ka.unit_weight_object_hash), ka.width or slots.WIDTH)
        self.core.store(s, opened)
        ctx.keyed(opened)
        for org in sorted({p.org for p in self.core.pairs(s, calc.id)}):
            # each party's usage ledger names the root requester and product
            self.core.deliver(s, org, opened.hash)
            self.core.deliver(s, org, calc.request_hash)

    # ------------------------------------------------------------ the work queue
    def pull_work(self, party_id: str, after: int, limit: int = 16) -> list[dict]:
        """The key holder's work after its cursor, each item with the envelopes it needs."""
        with self.core.sessions() as s:
            rows = list(s.scalars(select(db.KeyHolderWork).where(db.KeyHolderWork.party == party_id,
                                                                 db.KeyHolderWork.sequence > after)
                                  .order_by(db.KeyHolderWork.sequence).limit(limit)))
            out = []
            for w in rows:
                calc = s.get(db.Calculation, w.calculation_id)
                item = {"sequence": w.sequence, "kind": w.kind, "request": stored(s, calc.request_hash)}
                if w.kind == "decrypt":
                    item["key_announcement"] = stored(s, calc.key_announcement_hash)
                    item["aggregate"] = stored(s, calc.aggregate_hash)
                    item["attestations"] = [stored(s, a.hash) for a in s.scalars(
                        select(db.Attestation).where(db.Attestation.calculation_id == calc.id))]
                    item["evidence"] = self._evidence(s, calc)
                out.append(item)
            return out

    @staticmethod
    def _evidence(s, calc: db.Calculation) -> list[epb.Envelope]:
        """What the auditors were given: the completeness evidence and the summed contributions, which
        the key holder re-checks itself before it decrypts (DESIGN §2 step 6)."""
        hashes = list(s.scalars(select(db.StoredEnvelope.hash).where(
            db.StoredEnvelope.calculation_id == calc.id, db.StoredEnvelope.message_type.in_(EVIDENCE))
            .order_by(db.StoredEnvelope.received_at, db.StoredEnvelope.hash)))
        if calc.aggregate_hash is not None:
            held = set(hashes)
            hashes += [h for h in reopen(s, calc.aggregate_hash).payload.contribution_hashes if h not in held]
        return [stored(s, h) for h in hashes]

    # ------------------------------------------------------------ the result (step 6)
    def submit_result(self, envelope: epb.Envelope, citation_report: epb.Envelope | None = None) -> cpb.PushOutcome:
        try:
            opened = self.core.verify(envelope)
            report = self.core.verify(citation_report) if citation_report is not None else None
            with self.core.transaction() as s:
                ctx = CalcContext.load(s, opened.body.calculation_id, lock=True)
                self._settle(s, ctx, opened, report)
                crash_point("result-uncommitted")
            crash_point("result-stored")
        except Refusal as exc:
            return refused(envelope, exc)
        return accepted(opened.hash)

    def _settle(self, s, ctx: CalcContext, opened: env.Opened, report: env.Opened | None) -> None:
        calc = ctx.calc
        if opened.body.sender != calc.key_holder:
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "only the calculation's key holder submits its result")
        if calc.result_hash is not None:
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE, "the calculation already has a result")
        if report is not None:
            check_citation_report(ctx, opened, report)
        if opened.body.message_type == MT.MESSAGE_TYPE_RESULT:
            ctx.move(CalcState.DONE)
            if report is not None:
                self.core.store(s, report)
        elif opened.body.message_type == MT.MESSAGE_TYPE_REFUSAL:
            ctx.move(CalcState.WITHHELD)  # detected by the key holder: the tampering verdict
            calc.failure_code, calc.failure_message = opened.payload.code, opened.payload.message
            calc.failure_party = opened.body.sender
        else:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "SubmitResult takes a RESULT or a REFUSAL")
        self.core.store(s, opened)
        self.transparency.issue_tree_head(s)
        calc.result_hash = opened.hash
        self.core.deliver(s, calc.requester, opened.hash)

    def citations(self, provider: str, factor_set_hash: bytes = b"") -> list[epb.Envelope]:
        """Every CITATION_REPORT addressed to `provider`, oldest first (optionally for one factor set)."""
        with self.core.sessions() as s:
            rows = s.scalars(select(db.StoredEnvelope).where(
                db.StoredEnvelope.message_type == "MESSAGE_TYPE_CITATION_REPORT",
                db.StoredEnvelope.receiver == provider).order_by(db.StoredEnvelope.received_at))
            out = [epb.Envelope(body=r.body, signature=r.signature) for r in rows]
        if factor_set_hash:
            out = [e for e in out if env.reopen(e).body.factor_set_hash == factor_set_hash]
        return out


def check_citation_report(ctx: CalcContext, result: env.Opened, report: env.Opened) -> None:
    """A CITATION_REPORT rides with its RESULT: same key holder, same aggregate, one count per slot."""
    calc, req, r = ctx.calc, ctx.request.payload, report.payload
    if (report.body.message_type != MT.MESSAGE_TYPE_CITATION_REPORT or report.body.sender != calc.key_holder
            or report.body.calculation_id != calc.id or report.body.answers_hash != calc.aggregate_hash
            or result.body.message_type != MT.MESSAGE_TYPE_RESULT):
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "the citation report does not answer this calculation's aggregate")
    if report.body.receiver != req.factor_provider or len(r.counts) != req.citation_slots:
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "the citation report names another provider or slot count")
