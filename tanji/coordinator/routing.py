"""Routing and merging (DESIGN §2 steps 3 and 4): a buyer's REQUESTs towards its suppliers and
its DECLARATION of them; one MERGED_REQUEST per (supplier, product) once every buyer naming it
has declared, carrying the sum of their weights and their signed requests.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.context import CalcContext
from tanji.coordinator.faults import crash_point
from tanji.coordinator.registry import lease_alive
from tanji.coordinator.states import CalcState, PairState, move_pair
from tanji.coordinator.transactions import Core, check_length, reopen
from tanji.he import tasks as he_sum
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

if TYPE_CHECKING:
    from tanji.coordinator.leases import Leases

MT = epb.MessageType
#: a buyer that will never declare (again): its suppliers need not wait for it
GONE = (PairState.DEAD.value, PairState.SKIPPED.value)


def check_bindings(ctx: CalcContext, opened: env.Opened) -> None:
    """A party's message to a running calculation names its key, parameters and factor set."""
    b, calc = opened.body, ctx.calc
    if ctx.state != CalcState.RUNNING and b.message_type != MT.MESSAGE_TYPE_ATTESTATION:
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, f"calculation {calc.id} is {calc.state}")
    if b.key_fingerprint != calc.key_fingerprint:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_KEY,
                      f"{opened.type_name} names another public key than calculation {calc.id}'s")
    if b.ckks_params_hash != calc.params_hash:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_PARAMETERS, f"{opened.type_name} names other CKKS parameters")
    if b.factor_set_hash != ctx.request.body.factor_set_hash:
        raise Refusal(cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH, f"{opened.type_name} names another factor set")


class Routing:
    def __init__(self, core: Core):
        self.core = core
        self.leases: Leases | None = None  # wired by the service: a supplier due while dead is declared so

    def answered_pair(self, s, ctx: CalcContext, opened: env.Opened) -> db.CalcPair:
        """The pair whose request this message answers, sent by that pair's organisation."""
        ans, calc = opened.body.answers_hash, ctx.calc
        for pair in self.core.pairs(s, calc.id, org=opened.body.sender):
            if ((pair.is_root and ans == calc.request_hash)
                    or (pair.merged_request_hash and ans == pair.merged_request_hash)):
                if pair.state == PairState.DEAD.value:
                    raise Refusal(cpb.REFUSAL_CODE_DECLARED_DEAD,
                                  f"{pair.org}/{pair.product} was declared dead; its late answer is refused")
                return pair
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                      f"{opened.type_name} from {opened.body.sender!r} answers no request sent to it")

    # ------------------------------------------------------------ a buyer's requests (step 3)
    def on_request(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        check_bindings(ctx, opened)
        r = opened.payload
        buyer_pair = self.answered_pair(s, ctx, opened)
        if opened.body.receiver != r.supplier:
            raise Refusal(cpb.REFUSAL_CODE_WRONG_RECEIVER, "a request is addressed to the supplier it names")
        buyer_products = [t[1] for t in ctx.targets] if buyer_pair.is_root else [buyer_pair.product]
        if not any(s.get(db.SupplyEdge, (buyer_pair.org, bp, r.supplier, r.product_id)) for bp in buyer_products):
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                          f"{buyer_pair.org}/{buyer_pair.product} has no registered input {r.supplier}/{r.product_id}")
        if list(opened.body.object_hashes) != [r.weight_object_hash]:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "object_hashes must name the weight ciphertext")
        check_length("quantity unit", r.quantity_unit, 16)
        ctx.ciphertext(self.core.objects, r.weight_object_hash, transit=False)  # parses under the calculation's key
        self.core.store(s, opened)
        s.add(db.CalcRequest(hash=opened.hash, calculation_id=ctx.id, buyer=buyer_pair.org, supplier=r.supplier,
                             product=r.product_id, unit=r.quantity_unit, weight_hash=r.weight_object_hash,
                             depth_remaining=r.depth_remaining))

    def on_declaration(self, s, ctx: CalcContext, opened: env.Opened) -> None:
        check_bindings(ctx, opened)
        pair = self.answered_pair(s, ctx, opened)
        if pair.declaration_hash is not None:
            raise Refusal(cpb.REFUSAL_CODE_DUPLICATE, f"{pair.org}/{pair.product} already declared its requests")
        declared = set()
        for d in opened.payload.requests:
            req = s.get(db.CalcRequest, d.request_hash)
            if req is None or req.buyer != pair.org or req.weight_hash != d.weight_object_hash:
                raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                              f"declared request to {d.supplier}/{d.product_id} was not received")
            declared.add((d.supplier, d.product_id))
        products = [t[1] for t in ctx.targets] if pair.is_root else [pair.product]  # a batch: every target's
        registered = {(e.supplier, e.supplier_product) for e in s.scalars(select(db.SupplyEdge).where(
            db.SupplyEdge.buyer == pair.org, db.SupplyEdge.buyer_product.in_(products)))}
        if declared != registered:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                          f"{pair.org}/{pair.product} declared {sorted(declared)} but registered {sorted(registered)}")
        self.core.store(s, opened)
        pair.declaration_hash = opened.hash
        s.flush()
        self.dispatch_ready(s, ctx, sorted(declared))  # only the products it named can have become ready

    # ------------------------------------------------------------ merging (step 4)
    def buyers_of(self, s, ctx: CalcContext, key: tuple[str, str]) -> list[db.CalcPair]:
        """The calculation's pairs that buy supplier product `key`; the root pair buys for every
        target of a batch."""
        targets = set(ctx.targets)
        out: list[db.CalcPair] = []
        for e in s.scalars(select(db.SupplyEdge).where(db.SupplyEdge.supplier == key[0],
                                                       db.SupplyEdge.supplier_product == key[1])):
            buyer = s.get(db.CalcPair, (ctx.id, e.buyer, e.buyer_product))
            if buyer is None and (e.buyer, e.buyer_product) in targets:
                buyer = self.core.root_pair(s, ctx.id)
            if buyer is not None and buyer not in out:
                out.append(buyer)
        return out

    def inputs_of(self, s, ctx: CalcContext, pair: db.CalcPair) -> list[tuple[str, str]]:
        """The supplier products `pair` names as inputs (the root pair: every target's)."""
        products = [t[1] for t in ctx.targets] if pair.is_root else [pair.product]
        return sorted({(e.supplier, e.supplier_product) for e in s.scalars(select(db.SupplyEdge).where(
            db.SupplyEdge.buyer == pair.org, db.SupplyEdge.buyer_product.in_(products)))})

    def dispatch_ready(self, s, ctx: CalcContext, candidates: list[tuple[str, str]] | None = None) -> None:
        """Send one merged request to every pair whose buyers have all settled (DESIGN §2 step 4).

        A buyer is settled when it declared, or is dead or skipped (it will never declare). A
        pair all of whose buyers are dead or skipped is skipped; a supplier whose lease has
        expired when its request is due is declared dead instead (DESIGN §2 step 7).
        `candidates`: the only pairs that can have become ready (a declaration's suppliers);
        None looks at every waiting pair. A pair skipped or declared dead here settles its own
        suppliers' buyer, so they are looked at next, in turn.
        """
        if candidates is None:
            candidates = sorted((p.org, p.product) for p in self.core.pairs(s, ctx.id)
                                if not p.is_root and p.state == PairState.WAITING.value)
        while candidates:
            settled: set[tuple[str, str]] = set()
            for key in candidates:
                pair = s.get(db.CalcPair, (ctx.id, *key))
                if pair is None or pair.is_root or pair.state != PairState.WAITING.value:
                    continue
                mine = self.buyers_of(s, ctx, key)
                if not all(b.declaration_hash is not None or b.state in GONE for b in mine):
                    continue
                if not any(b.declaration_hash is not None for b in mine):
                    move_pair(pair, PairState.SKIPPED)
                    settled.update(self.inputs_of(s, ctx, pair))
                elif not lease_alive(s, key[0]):
                    assert self.leases is not None, "the service wires the leases into the routing"
                    self.leases.declare_dead(s, ctx, pair, epb.DEATH_REASON_LEASE_EXPIRED)
                    settled.update(self.inputs_of(s, ctx, pair))
                else:
                    self._dispatch(s, ctx, pair)
                s.flush()
            candidates = sorted(settled)

    def _buyer_pairs(self, s, ctx: CalcContext, reqs: list[db.CalcRequest]) -> list[db.CalcPair]:
        """Every pair of the organisations that sent `reqs`: the only ones that can declare them."""
        return [p for buyer in sorted({r.buyer for r in reqs}) for p in self.core.pairs(s, ctx.id, org=buyer)]

    def requests_for(self, s, ctx: CalcContext, key: tuple[str, str]) -> list[db.CalcRequest]:
        """The requests naming `key` that count: declared, or from a buyer that may still declare.

        A buyer declared dead after pushing requests but before declaring them is answered for
        by its own buyers' fallbacks (its whole subtree); its stray requests must not also
        weight the supplier — that would count the supplier twice."""
        reqs = list(s.scalars(select(db.CalcRequest).where(
            db.CalcRequest.calculation_id == ctx.id, db.CalcRequest.supplier == key[0],
            db.CalcRequest.product == key[1]).order_by(db.CalcRequest.buyer, db.CalcRequest.hash)))
        pairs = self._buyer_pairs(s, ctx, reqs)
        pending = {p.org for p in pairs if p.declaration_hash is None and p.state not in GONE}
        declared = {d.request_hash for p in pairs if p.declaration_hash is not None
                    for d in reopen(s, p.declaration_hash).payload.requests}
        return [r for r in reqs if r.hash in declared or r.buyer in pending]

    def _dispatch(self, s, ctx: CalcContext, pair: db.CalcPair) -> None:
        key = (pair.org, pair.product)
        reqs = self.requests_for(s, ctx, key)
        objects = self.core.objects
        mr = epb.MergedRequest(supplier=key[0], product_id=key[1], depth_remaining=min(r.depth_remaining for r in reqs))
        weights = []
        for unit in sorted({r.unit for r in reqs}):
            group = [r for r in reqs if r.unit == unit]
            if len(group) == 1:
                digest = group[0].weight_hash
            else:
                digest = objects.put(he_sum.add_all(ctx.public_context(objects),
                                                    [objects.get(r.weight_hash) for r in group], ctx.width))
                crash_point("merge-uncommitted")
            part = mr.parts.add(quantity_unit=unit, weight_object_hash=digest)
            for r in group:
                part.requests.add(buyer=r.buyer, request_hash=r.hash, weight_object_hash=r.weight_hash)
            weights.append(digest)
        for buyer, inputs in self._fan_out(s, ctx, reqs).items():  # advisory: suppliers count from declarations
            mr.buyer_fan_out.add(buyer=buyer, inputs=inputs)
        declarations = self._declarations_of(s, ctx, reqs)
        mr.declaration_hashes.extend(declarations)
        body = messages.merged_request(mr, calculation_id=ctx.id, sender=COORDINATOR_ID, receiver=key[0],
                                       binding=ctx.binding, objects=weights)
        opened = self.core.seal(s, body)
        pair.merged_request_hash = opened.hash
        move_pair(pair, PairState.DISPATCHED)
        # the buyers' own signed envelopes first: the supplier checks the merged request against them
        for h in [r.hash for r in reqs] + declarations:
            self.core.deliver(s, key[0], h)
        self.core.deliver(s, key[0], opened.hash)

    def _declarations_of(self, s, ctx: CalcContext, reqs: list[db.CalcRequest]) -> list[bytes]:
        """The buyers' signed declarations that list `reqs`, each once, in the requests' order."""
        listing = {}
        for p in self._buyer_pairs(s, ctx, reqs):
            if p.declaration_hash is not None:
                for d in reopen(s, p.declaration_hash).payload.requests:
                    listing[d.request_hash] = p.declaration_hash
        return list(dict.fromkeys(listing[r.hash] for r in reqs if r.hash in listing))

    def _fan_out(self, s, ctx: CalcContext, reqs: list[db.CalcRequest]) -> dict[str, int]:
        """Buyer -> the inputs its requesting product named in this calculation (the fewest, where
        several of its products request this one): what it could isolate from the total."""
        answered = {}

        def answers(h: bytes) -> bytes:
            if h not in answered:
                answered[h] = reopen(s, h).body.answers_hash
            return answered[h]

        out: dict[str, int] = {}
        for r in reqs:
            siblings = s.scalars(select(db.CalcRequest).where(db.CalcRequest.calculation_id == ctx.id,
                                                              db.CalcRequest.buyer == r.buyer))
            mine = answers(r.hash)
            n = len({(x.supplier, x.product) for x in siblings if answers(x.hash) == mine})
            out[r.buyer] = min(n, out.get(r.buyer, n))
        return dict(sorted(out.items()))
