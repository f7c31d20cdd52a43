"""Starting a calculation (DESIGN §2 step 1) and reading where one stands.

A start checks the signed request, works out every (supplier, product) pair the registered
supply edges reach from the requested product, and asks the key holder for a fresh key. The
readers (`status`, `result`, `has_calculation`) only read: they sweep nothing and grant nothing.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import cast

from sqlalchemy import func, select

from tanji.coordinator import db
from tanji.coordinator.states import FINAL_NAMES, SETTLED, CalcState, PairState
from tanji.coordinator.transactions import Core, accepted, refused, reopen, stored
from tanji.infra.observability import event
from tanji.methodology.formats.result import released_lifetime
from tanji.protocol import envelope as env
from tanji.protocol.identity import COORDINATOR_ID, ROLE_KEY_HOLDER, check_calculation_id, is_calculation_id
from tanji.protocol.refusals import Refusal, code_name, entry
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb

log = logging.getLogger("tanji.coordinator")
MT = epb.MessageType


class Calculations:
    def __init__(self, core: Core):
        self.core = core
        #: calculation -> (its pairs' count, each pair's tier): the tiers are fixed once its pairs
        #: are, so GetStatus counts states without walking the graph again (a few, newest last)
        self._tiers: dict[str, tuple[int, dict[tuple[str, str], int]]] = {}

    # ------------------------------------------------------------ start (step 1)
    def start(self, envelope: epb.Envelope) -> tuple[cpb.PushOutcome, str]:
        retried = self._already_started(envelope)
        if retried is not None:  # the same signed bytes, accepted before: a retry, whatever its age
            return retried
        try:
            opened = self.core.verify(envelope)
            if opened.body.message_type != MT.MESSAGE_TYPE_CALCULATION_REQUEST:
                raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "StartCalculation takes a CALCULATION_REQUEST")
            with self.core.transaction() as s:
                # one start at a time per requester (its open-calculation count), whichever replica
                s.get(db.Party, opened.body.sender, with_for_update=True)
                if s.get(db.StoredEnvelope, opened.hash) is not None:  # the same signed request, retried
                    return accepted(opened.hash), opened.body.calculation_id
                self._start(s, opened)
        except Refusal as exc:
            event("calculation.refused", level=logging.WARNING, code=code_name(exc.code))
            return refused(envelope, exc), ""
        event("calculation.started", opened.body.calculation_id, requester=opened.body.sender)
        return accepted(opened.hash), opened.body.calculation_id

    def _already_started(self, envelope: epb.Envelope) -> tuple[cpb.PushOutcome, str] | None:
        """A request whose exact bytes were verified and stored before starts nothing and is answered
        as accepted, even once it is older than the clock-skew window (a client retrying late)."""
        h = env.message_hash(envelope)
        with self.core.sessions() as s:
            row = s.get(db.StoredEnvelope, h)
            if row is None or row.message_type != "MESSAGE_TYPE_CALCULATION_REQUEST":
                return None
            return accepted(h), row.calculation_id

    def _start(self, s, opened: env.Opened) -> None:
        body, req = opened.body, opened.payload
        cid = body.calculation_id
        limits = self.core.limits
        check_calculation_id(cid)  # verified in Core.verify too: the id becomes a key, never a path
        if s.get(db.Calculation, cid) is not None:
            raise Refusal(cpb.REFUSAL_CODE_REPLAY, f"calculation id {cid!r} is already used")
        open_now = s.scalar(select(func.count()).select_from(db.Calculation).where(
            db.Calculation.requester == body.sender, db.Calculation.state.not_in(FINAL_NAMES)))
        if open_now >= limits.max_open_calculations:
            raise Refusal(cpb.REFUSAL_CODE_RATE_LIMITED,
                          f"{body.sender!r} already has {open_now} calculations open; the limit is "
                          f"{limits.max_open_calculations} (wait until one is done, failed or withheld)")
        if req.target_organisation != body.sender:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "a requester calculates its own products only")
        kh = self.core.federation.parties.get(req.key_holder)
        if kh is None or kh.role != ROLE_KEY_HOLDER or req.key_holder in (body.sender, COORDINATOR_ID):
            raise Refusal(cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER, f"{req.key_holder!r} is not a listed key holder")
        root, pairs = batch_pairs(s, req)  # refuses naming what no node serves
        calc = db.Calculation(id=cid, requester=body.sender, key_holder=req.key_holder,
                              state=CalcState.AWAITING_KEY.value, request_hash=opened.hash,
                              auditors=list(req.auditors) or [body.sender],
                              min_attestations=max(1, req.min_attestations),
                              deadline=req.deadline.ToDatetime(tzinfo=UTC) if req.HasField("deadline") else None)
        self.core.store(s, opened)
        s.add(calc)
        s.flush()
        for org, product in pairs:
            s.add(db.CalcPair(calculation_id=cid, org=org, product=product, is_root=(org, product) == root,
                              state=PairState.WAITING.value))
        self.core.work(s, req.key_holder, "key", cid)
        log.info("calculation %s: %s/%s, %d products reached", cid, *root, len(pairs))

    # ------------------------------------------------------------ object uploads
    def admit_upload(self, cid: str, party: str, most: int) -> None:
        """One more object `party` starts uploading for calculation `cid`: only a party of that
        calculation uploads for it, at most `most` objects, counted durably (a restart resets nothing)."""
        if not is_calculation_id(cid):
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"unknown calculation {cid!r}")
        with self.core.transaction() as s:
            calc = s.get(db.Calculation, cid)
            if calc is None:
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"unknown calculation {cid!r}")
            if party and party not in parties_of(s, calc):
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{party!r} is not a party of calculation {cid}")
            row = s.get(db.ObjectUpload, (cid, party), with_for_update=True)
            if row is None:
                row = db.ObjectUpload(calculation_id=cid, party=party, count=0)
                s.add(row)
            if row.count >= most:
                raise Refusal(cpb.REFUSAL_CODE_TOO_LARGE,
                              f"{party!r} already uploaded {most} objects for calculation {cid!r} (the limit)")
            row.count += 1

    # ------------------------------------------------------------ readers

    def status(self, cid: str, party: str | None = None) -> rpb.GetStatusResponse:
        """State and counts, for the calculation's own parties (every organisation it reached: their
        usage ledgers ask whether it was decrypted). An empty `party`: an in-process caller,
        or a plain-loopback client (no authentication there at all; under mTLS the party is the
        client certificate's). Read-only: the deadline sweeper, not a reader, moves calculations."""
        with self.core.sessions() as s:
            calc = _calculation(s, cid)
            pairs = self.core.pairs(s, cid)
            if party and party not in parties_of(s, calc):
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, f"{party!r} is not a party of calculation {cid}")
            settled = [PairState(p.state) for p in pairs if PairState(p.state) in SETTLED]
            failed_by, message = failure_view(s, calc, party or None)
            resp = rpb.GetStatusResponse(
                calculation_id=cid, state=CalcState(calc.state).wire,
                requests_declared=len(pairs), requests_answered=len(settled),
                dead_suppliers=settled.count(PairState.DEAD),
                attestations=s.scalar(select(func.count()).select_from(db.Attestation)
                                      .where(db.Attestation.calculation_id == cid)),
                failure_code=cast(cpb.RefusalCode, calc.failure_code), failure_message=message,
                failure_party=failed_by)
            resp.updated_at.FromDatetime(calc.updated_at)
            if not party or party == calc.requester:
                for tier, (declared, answered) in sorted(self._tier_progress(s, calc, pairs).items()):
                    resp.tiers.add(tier=tier, declared=declared, answered=answered)
            return resp

    def _tier_progress(self, s, calc: db.Calculation, pairs: list[db.CalcPair]) -> dict[int, tuple[int, int]]:
        known = self._tiers.get(calc.id)
        if known is None or known[0] != len(pairs):
            req = reopen(s, calc.request_hash).payload
            targets = [(req.target_organisation, i.product_id) for i in req.products]
            known = (len(pairs), tiers_of(s, pairs, targets))
            self._tiers.pop(calc.id, None)
            self._tiers[calc.id] = known
            while len(self._tiers) > 16:
                self._tiers.pop(next(iter(self._tiers)), None)
        return tier_progress(known[1], pairs)

    def result(self, cid: str, party: str | None = None) -> rpb.GetResultResponse:
        """The key holder's signed result, for the requester, its auditors and the key holder only."""
        with self.core.sessions() as s:
            calc = _calculation(s, cid)
            if party and party not in {calc.requester, calc.key_holder, *calc.auditors}:
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY,
                              f"the result of {cid} is released to its requester and auditors, not to {party!r}")
            resp = rpb.GetResultResponse(state=CalcState(calc.state).wire,
                                         calculation_request=stored(s, calc.request_hash))
            if calc.result_hash:
                resp.result.CopyFrom(stored(s, calc.result_hash))
            return resp


def _calculation(s, cid: str) -> db.Calculation:
    calc = s.get(db.Calculation, check_calculation_id(cid))
    if calc is None:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_CALCULATION, f"unknown calculation {cid!r}")
    return calc


def approves(s, supplier: str, buyer: str) -> bool:
    """The supplier's last registration approves `buyer` as its customer (its own products always)."""
    if supplier == buyer:
        return True
    party = s.get(db.Party, supplier)
    return party is not None and (party.approves_everyone or s.get(db.ApprovedCustomer, (supplier, buyer)) is not None)


def not_approved(root: tuple[str, str], pair: tuple[str, str], buyer: tuple[str, str]) -> Refusal:
    log.warning("refusing a calculation of %s/%s: %s has not approved %s as a customer of %s",
                *root, pair[0], buyer[0], pair[1])
    return Refusal(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED,
                   f"{pair[0]} has not approved {buyer[0]} as a customer of {pair[1]}" if buyer == root
                   else "a supplier in this chain has not approved its buyer as a customer")


def batch_pairs(s, req) -> tuple[tuple[str, str], list[tuple[str, str]]]:
    """(root pair, every pair reached) of a calculation request: one product, or a batch of the
    requester's products (DESIGN §6), one slot block each. The first target is the root pair; it
    answers for the whole batch, so no target may lie in another target's chain (it would be
    answered twice, once as a target and once as a supplier): such a batch is refused by name."""
    items = list(req.products)
    if not items or len(items) != max(1, req.batch_size):
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED,
                      f"the request names {len(items)} products for a batch of {max(1, req.batch_size)}")
    names = [i.product_id for i in items]
    if len(set(names)) != len(names):
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED, "the batch names a product twice")
    for i, item in enumerate(items):
        try:  # a declaration (positive lifetime energy) or a product footprint (0 kWh, no declaration)
            released_lifetime(item.lifetime_energy_kwh, item.declaration_json)
        except ValueError as exc:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, f"products[{i}]: {exc}") from None
    targets = [(req.target_organisation, n) for n in names]
    graph = SupplyGraph.load(s)  # the registry's tables once, however many targets
    seen: list[tuple[str, str]] = []
    for target in targets:
        reached = graph.reachable(s, target)
        inner = [t for t in targets if t != target and t in reached]
        if inner:
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED,
                          f"{inner[0][1]} is in the supply chain of {target[1]}: calculate it in another batch")
        seen += [p for p in reached if p not in seen and (p == targets[0] or p not in targets)]
    return targets[0], seen


@dataclass(frozen=True)
class SupplyGraph:
    """What the registry says can be routed: the products registered nodes serve, and the supply
    edges buyers registered (buyer pair -> its suppliers' pairs)."""
    served: frozenset[tuple[str, str]]
    edges: dict[tuple[str, str], list[tuple[str, str]]]

    @classmethod
    def load(cls, s) -> SupplyGraph:
        served = frozenset((r.org, r.product) for r in s.scalars(
            select(db.ServedProduct).join(db.Party, db.Party.id == db.ServedProduct.org).where(db.Party.registered)))
        edges: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for e in s.scalars(select(db.SupplyEdge)):
            edges[(e.buyer, e.buyer_product)].append((e.supplier, e.supplier_product))
        return cls(served, edges)

    def reachable(self, s, root: tuple[str, str]) -> list[tuple[str, str]]:
        """Every (organisation, product) the registered supply edges reach from `root`; refused naming
        the first that no registered node serves, or an edge whose supplier has not approved its buyer
        (the coordinator routes only approved, registered edges). An edge below the requester's own
        suppliers is refused without names: who supplies its suppliers is not the requester's to know."""
        served, edges = self.served, self.edges
        seen: list[tuple[str, str]] = []
        stack: list[tuple[tuple[str, str], tuple[str, str] | None]] = [(root, None)]
        while stack:
            pair, buyer = stack.pop()
            if pair in seen:  # reached again through another buyer: that edge must be approved too
                if buyer is not None and not approves(s, pair[0], buyer[0]):
                    raise not_approved(root, pair, buyer)
                continue
            if pair not in served:
                org_known = any(o == pair[0] for o, _ in served)
                what = (f"organisation {pair[0]!r} serves no product {pair[1]!r}" if org_known
                        else f"no node serves organisation {pair[0]!r}")
                named = f" (named by {buyer[0]}/{buyer[1]})" if buyer else ""
                raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PRODUCT, what + named)
            if buyer is not None and not approves(s, pair[0], buyer[0]):
                raise not_approved(root, pair, buyer)
            seen.append(pair)
            stack.extend((child, pair) for child in edges.get(pair, ()))
        return seen


def tiers_of(s, pairs: list[db.CalcPair], targets: Sequence[tuple[str, str]] = ()) -> dict[tuple[str, str], int]:
    """Each pair's tier: the longest path from the root over the registered edges between the
    calculation's pairs (a merged request waits for its deepest buyer); a batch's `targets` all
    stand at the root."""
    keys = {(p.org, p.product): p for p in pairs}
    roots = [k for k, p in keys.items() if p.is_root]
    if not roots:
        return {}
    children: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for e in s.scalars(select(db.SupplyEdge).where(db.SupplyEdge.buyer.in_({k[0] for k in keys}))):
        buyer, supplier = (e.buyer, e.buyer_product), (e.supplier, e.supplier_product)
        buyer = roots[0] if buyer in targets else buyer
        if buyer in keys and supplier in keys:
            children[buyer].append(supplier)
    tier = {roots[0]: 0}
    for _ in range(len(keys)):  # longest paths in a DAG: at most |pairs| rounds of relaxation
        changed = False
        for buyer, kids in children.items():
            if buyer in tier:
                for kid in kids:
                    if tier.get(kid, -1) < tier[buyer] + 1:
                        tier[kid], changed = tier[buyer] + 1, True
        if not changed:
            break
    return tier


def tier_progress(tiers: dict[tuple[str, str], int], pairs: list[db.CalcPair]) -> dict[int, tuple[int, int]]:
    """Tier -> (products requested, products settled)."""
    state = {(p.org, p.product): p.state for p in pairs}
    out: dict[int, tuple[int, int]] = {}
    for k, t in tiers.items():
        declared, answered = out.get(t, (0, 0))
        out[t] = (declared + 1, answered + (PairState(state[k]) in SETTLED))
    return out


def parties_of(s, calc: db.Calculation) -> set[str]:
    """Every party of a calculation: requester, key holder, auditors and every organisation reached."""
    orgs = s.scalars(select(db.CalcPair.org).where(db.CalcPair.calculation_id == calc.id))
    return {calc.requester, calc.key_holder, *calc.auditors, *orgs}


def failure_view(s, calc: db.Calculation, reader: str | None) -> tuple[str, str]:
    """(who refused, what it said) as `reader` may see it (DESIGN "Who sees what"): the refusing
    party reads its own message; a buyer of the refusing organisation in this calculation reads who
    refused and why (it concerns that buyer's own supplier); everyone else reads the code and its
    catalogued text, with the name only where it is the coordinator's or the key holder's (public
    roles: naming them reveals nothing of the supply graph). `reader` None: in-process, or a plain
    loopback client (no authentication there at all): the whole message."""
    if not calc.failure_code:
        return "", ""
    party, code = calc.failure_party, calc.failure_code
    if not party:  # recorded before failures named their party (revision 0004): already one line
        return "", calc.failure_message if reader is None else f"{code_name(code)}: {entry(code).public}"
    whole = f"{party}: {code_name(code)}: {calc.failure_message}"
    if reader is None or reader == party:
        return party, whole
    if party in (COORDINATOR_ID, calc.key_holder):
        return party, f"{party}: {code_name(code)}: {entry(code).public}"
    buyer = s.scalar(select(func.count()).select_from(db.SupplyEdge).where(
        db.SupplyEdge.buyer == reader, db.SupplyEdge.supplier == party,
        db.SupplyEdge.supplier_product.in_(select(db.CalcPair.product).where(
            db.CalcPair.calculation_id == calc.id, db.CalcPair.org == party)),
        db.SupplyEdge.buyer_product.in_(select(db.CalcPair.product).where(
            db.CalcPair.calculation_id == calc.id, db.CalcPair.org == reader))))
    if buyer:
        return party, whole
    return "", f"{code_name(code)}: {entry(code).public}"
