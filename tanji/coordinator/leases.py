"""Leases and dead suppliers (DESIGN §2 step 7): the sweeps that declare a supplier dead when its
lease has expired while its request is out, and fail a calculation past its deadline; the signed
DEAD_SUPPLIER notices to the buyers that named it — each delivered to the supplier it names as
well, which contests it if it held a lease when declared dead (decision 0010) — their
FALLBACK_CONTRIBUTIONs, and the contests, stored and logged in any state of the calculation.

Only the sweeper (`check_deadlines`, run by the service's sweeper thread) writes here on its own
initiative; a reader never sweeps.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.aggregation import Aggregation
from tanji.coordinator.context import CalcContext
from tanji.coordinator.dbguard import is_outage
from tanji.coordinator.registry import Registry, lease_alive
from tanji.coordinator.routing import Routing, check_bindings
from tanji.coordinator.states import FINAL_NAMES, CalcState, PairState, move_pair
from tanji.coordinator.transactions import Core, reopen
from tanji.infra import telemetry
from tanji.infra.observability import event
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.coordinator")


def _passed(deadline: datetime | None, now: datetime) -> bool:
    return deadline is not None and db.aware(deadline) < now


class Leases:
    def __init__(self, core: Core, registry: Registry, routing: Routing, aggregation: Aggregation):
        self.core, self.registry, self.routing, self.aggregation = core, registry, routing, aggregation
        self._outage = False  # the database failed a sweep: grant leases again once it is back

    # ------------------------------------------------------------ the sweeper
    def check_deadlines(self) -> None:
        """One sweep: dead suppliers, then calculations past their deadline."""
        try:
            if self._outage:
                # nobody could renew a lease while the database was down: that outage is ours, not theirs
                with self.core.transaction() as s:
                    self.registry.grant_leases(s)
                self._outage = False
                log.warning("the database is back: every registered party has a fresh lease")
            self.sweep_leases()
            self.sweep_deadlines()
        except Exception as exc:
            if is_outage(exc):
                self._outage = True
            raise

    def sweep_leases(self) -> None:
        """Declare dead every supplier whose request is out while its lease has expired."""
        running = db.Calculation.state == CalcState.RUNNING.value
        with self.core.sessions() as s:
            cids = list(s.scalars(select(db.Calculation.id).where(running)))
        for cid in cids:  # one transaction per calculation: a slow one holds up no other
            with self.core.transaction() as s:
                calc = self.core.claim(s, cid, running)
                if calc is None:
                    continue
                ctx = CalcContext.of(s, calc)
                for pair in self.core.pairs(s, cid):
                    if pair.state == PairState.DISPATCHED.value and not lease_alive(s, pair.org):
                        self.declare_dead(s, ctx, pair, epb.DEATH_REASON_LEASE_EXPIRED)
                        s.flush()
                        self.routing.dispatch_ready(s, ctx)
                        self.aggregation.maybe_aggregate(s, ctx)

    def sweep_deadlines(self) -> None:
        """Fail every calculation that has not ended by its deadline, naming what was not answered."""
        active = (db.Calculation.deadline.is_not(None), db.Calculation.state.not_in(FINAL_NAMES))
        with self.core.sessions() as s:
            now = db.now()
            rows = s.execute(select(db.Calculation.id, db.Calculation.deadline).where(*active))
            cids = [cid for cid, deadline in rows if _passed(deadline, now)]
        for cid in cids:
            with self.core.transaction() as s:
                calc = self.core.claim(s, cid, *active)
                if calc is None or not _passed(calc.deadline, db.now()):
                    continue
                missing = [f"{p.org}/{p.product}" for p in self.core.pairs(s, calc.id)
                           if p.state not in (PairState.ANSWERED.value, PairState.SKIPPED.value)]
                CalcContext.of(s, calc).fail(
                    cpb.REFUSAL_CODE_DEADLINE_EXCEEDED,
                    f"deadline passed in state {calc.state}; not answered: {', '.join(missing) or 'none'}",
                    COORDINATOR_ID)

    # ------------------------------------------------------------ dead suppliers
    def declare_dead(self, s, ctx: CalcContext, pair: db.CalcPair, reason: epb.DeathReason) -> None:
        """Signed DEAD_SUPPLIER to every buyer that named the pair; each answers with its fallback."""
        move_pair(pair, PairState.DEAD)
        for r in self.routing.requests_for(s, ctx, (pair.org, pair.product)):
            notice = epb.DeadSupplier(supplier=pair.org, product_id=pair.product, reason=reason,
                                      merged_request_hash=pair.merged_request_hash or b"")
            notice.declared_at.GetCurrentTime()
            body = messages.dead_supplier(notice, calculation_id=ctx.id, sender=COORDINATOR_ID, receiver=r.buyer,
                                          binding=ctx.binding, answers=r.hash)
            h = self.core.seal(s, body).hash
            self.core.deliver(s, r.buyer, h)
            self.core.deliver(s, pair.org, h)  # the supplier named may contest it (decision 0010)
        log.warning("calculation %s: %s/%s declared dead (%s)", ctx.id[:8], pair.org, pair.product,
                    epb.DeathReason.Name(reason))
        if reason == epb.DEATH_REASON_LEASE_EXPIRED:
            telemetry.LEASE_EXPIRIES.inc()
        event("supplier.declared_dead", ctx.id, level=logging.WARNING, reason=epb.DeathReason.Name(reason))

    def on_fallback(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        """A buyer's fallback contribution, standing in for a supplier declared dead."""
        check_bindings(ctx, opened)
        fb = opened.payload
        ds_row = s.get(db.StoredEnvelope, opened.body.answers_hash)
        if (ds_row is None or ds_row.message_type != "MESSAGE_TYPE_DEAD_SUPPLIER"
                or ds_row.receiver != opened.body.sender):
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "a fallback answers a DEAD_SUPPLIER sent to its buyer")
        ds = reopen(s, ds_row.hash)
        if (ds.body.answers_hash != fb.request_hash
                or (fb.supplier, fb.product_id) != (ds.payload.supplier, ds.payload.product_id)):
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                          "the fallback names another request than the dead-supplier notice")
        if s.scalar(select(db.CalcFallback.hash).where(db.CalcFallback.request_hash == fb.request_hash)) is not None:
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE,
                          f"{opened.body.sender} already answered for {fb.supplier}/{fb.product_id}")
        if list(opened.body.object_hashes) != [fb.ciphertext_hash]:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the fallback ciphertext")
        ctx.ciphertext(self.core.objects, fb.ciphertext_hash, transit=True)
        self.core.store(s, opened)
        s.add(db.CalcFallback(hash=opened.hash, calculation_id=ctx.id, buyer=opened.body.sender, supplier=fb.supplier,
                              product=fb.product_id, request_hash=fb.request_hash, dead_supplier_hash=ds.hash))
        s.flush()
        self.aggregation.maybe_aggregate(s, ctx)

    # ------------------------------------------------------------ a supplier contesting its death
    def is_contest(self, s, opened: env.Opened) -> bool:
        """A REFUSAL (DECLARED_DEAD) of a dead-supplier notice of this calculation, by the supplier it names."""
        if (opened.body.message_type != epb.MESSAGE_TYPE_REFUSAL
                or opened.payload.code != cpb.REFUSAL_CODE_DECLARED_DEAD):
            return False
        row = s.get(db.StoredEnvelope, opened.body.answers_hash)
        return (row is not None and row.message_type == "MESSAGE_TYPE_DEAD_SUPPLIER"
                and row.calculation_id == opened.body.calculation_id
                and reopen(s, row.hash).payload.supplier == opened.body.sender)

    def on_contest(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        """Stored and logged whatever the calculation's state (its bundle then fails `audit verify`);
        a calculation still open fails, naming the supplier and the code."""
        earlier = s.scalars(select(db.StoredEnvelope.hash).where(
            db.StoredEnvelope.calculation_id == ctx.id, db.StoredEnvelope.message_type == "MESSAGE_TYPE_REFUSAL",
            db.StoredEnvelope.sender == opened.body.sender))
        if any(reopen(s, h).body.answers_hash == opened.body.answers_hash for h in earlier):
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE, f"{opened.body.sender} already contested this notice")
        self.core.store(s, opened)
        log.warning("calculation %s: %s contests being declared dead", ctx.id[:8], opened.body.sender)
        if ctx.calc.state not in FINAL_NAMES:
            ctx.fail(cpb.REFUSAL_CODE_DECLARED_DEAD, opened.payload.message, opened.body.sender)
