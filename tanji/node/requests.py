"""The request handler: the node's own calculation (it answers its target with w = 1) and the
merged requests the coordinator routes to it — each admitted only under the supplier's policy,
applied to the buyers' signed identities and declarations (DESIGN §2 "Trust model", step 4):
approved customers, a minimum number of distinct contributing organisations, a rate limit per
(root requester, supplier product), and, for its own calculation, the quantities it committed to."""
from __future__ import annotations

from datetime import UTC, timedelta

from tanji.infra.runtime import utcnow
from tanji.node import buyers, evidence
from tanji.node.answering import answer, answer_targets
from tanji.node.keys import accepted_key, announcement, check_key_holder
from tanji.node.site import Site
from tanji.node.store import Handled, Received
from tanji.protocol import commitment
from tanji.protocol import envelope as env
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MERGED_REQUEST = epb.MessageType.Name(epb.MESSAGE_TYPE_MERGED_REQUEST)


def on_calculation_request(site: Site, opened: env.Opened) -> None:
    """Our own calculation: answer the target product with w = 1."""
    if opened.body.sender != site.org:
        evidence.keep(site.store, opened)  # another party's calculation that reaches us: for the usage ledger
        return
    req = opened.payload
    check_key_holder(site, opened)
    check_commitment(site, opened)
    evidence.keep(site.store, opened)
    answer_targets(site, opened, [item.product_id for item in req.products], depth_remaining=req.depth_bound)


def check_commitment(site: Site, opened: env.Opened) -> None:
    """Our own calculation: the quantities we are about to send must be the ones committed to.

    `tanji calc start` wrote the salt and the bill of materials it committed to; a node
    whose data changed since (or a request carrying another commitment) refuses by name."""
    req = opened.payload
    try:
        products = [site.data.model.product(item.product_id) for item in req.products]
    except KeyError:
        return  # answer_targets() refuses the unknown product by name
    kept = commitment.load(site.state, opened.body.calculation_id)
    if not req.quantity_commitment or kept is None:
        raise Refusal(cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED,
                      f"no quantity commitment for {opened.body.calculation_id} in {commitment.folder(site.state)}")
    if commitment.commit(kept.salt, commitment.batch_bill(products)) != req.quantity_commitment:
        raise Refusal(cpb.REFUSAL_CODE_COMMITMENT_MISMATCH,
                      f"{site.org}/{', '.join(p.id for p in products)}: the quantities in the imported data "
                      f"(version {site.version}) are not the ones the requester committed to")


def on_merged_request(site: Site, opened: env.Opened) -> None:
    """Answer a merged request only as the buyers' own signed envelopes support it (tanji.node.buyers):
    the policy applies to the signed identities and declarations, and the merged Enc(w) is re-added
    from the buyers' ciphertexts before anything is computed from this node's data."""
    if opened.body.sender != COORDINATOR_ID:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "merged requests come from the coordinator only")
    mr = opened.payload
    cid = opened.body.calculation_id
    if mr.supplier != site.org:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_RECEIVER, f"request for {mr.supplier!r}")
    request = signed_calculation_request(site, cid)
    if request is None:  # without it, neither the key holder nor the requester can be pinned
        raise Refusal(cpb.REFUSAL_CODE_MISSING_OBJECT, f"the signed calculation request of {cid} was not delivered")
    check_key_holder(site, request)
    requester = request.body.sender
    contributors = buyers.signed_buyers(site, opened, requester)
    refused = sorted(b for b in contributors if not site.policy.approves(b, site.org))
    if refused:
        raise Refusal(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED,
                      f"{site.org} has not approved {', '.join(refused)} as a customer of {mr.product_id}")
    check_contributors(site, mr.product_id, contributors)
    check_rate_limit(site, cid, mr.product_id)
    buyers.check_weights(site, opened)
    parts = [(p.quantity_unit, p.weight_object_hash) for p in mr.parts]
    evidence.keep(site.store, opened)  # its Enc(w) is kept until the calculation ends: a fallback needs it
    answer(site, opened, mr.product_id, parts=parts, depth_remaining=mr.depth_remaining,
           blocks=buyers.signed_blocks(site, opened))


def signed_calculation_request(site: Site, cid: str) -> env.Opened | None:
    """The calculation's signed request as delivered — the one the accepted key announcement answers
    (the key holder signed its hash), so nobody can pass off another request under the same id."""
    key = accepted_key(site, cid)
    pinned = announcement(key).body.answers_hash if key is not None else None
    with site.store.sessions() as s:
        rows = s.query(Received).filter(Received.calculation_id == cid,
                                        Received.kind == evidence.CALCULATION_REQUEST).all()
        found = [evidence.reopen(r) for r in rows]
    found = [o for o in found if pinned is None or o.hash == pinned]
    return found[0] if found else None


def check_contributors(site: Site, product: str, contributors: dict[str, int]) -> None:
    """The minimum-contributors policy: every buyer merged here names at least N distinct
    organisations in its signed declaration — this one included, the buyer and the requester not
    (tanji.node.buyers). A buyer naming this product as its only input, or beside its own dummy
    product, would learn this node's footprint from the total (DESIGN.md "Trust model")."""
    need = site.policy.min_contributors
    if need is None:
        return
    short = sorted(b for b, n in contributors.items() if b != site.org and n < need)
    if short:
        raise Refusal(cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS,
                      f"{site.org} answers {product} only for a buyer with at least {need} inputs; "
                      + ", ".join(f"{b} has {contributors[b]}" for b in short)
                      + " (distinct organisations other than the buyer and the requester, from its signed declaration)")


def _calculation_of(s, cid: str) -> tuple[str, int] | None:
    """(root requester, batch blocks) of a calculation's signed request; None if never delivered."""
    req = evidence.calculation_request(s, cid)
    if req is None:
        return None
    return req.body.sender, max(1, len(req.payload.products))


def check_rate_limit(site: Site, cid: str, product: str) -> None:
    """At most N calculations per (root requester, this supplier product) in the window, whatever
    the root product is called, every batch block counted: a batch naming k products is k figures,
    as k calculations would be. A merged request this node refused used nothing.

    A limit bounds how often one requester can read a total holding this product; it does not
    prevent differencing: two calculations that differ in one quantity still give their difference."""
    if site.policy.rate_limit is None:
        return
    limit, days = site.policy.rate_limit
    since = utcnow() - timedelta(days=days)
    request = signed_calculation_request(site, cid)
    if request is None or request.body.sender == site.org:  # none (refused before), or our own calculation
        return
    requester, n = request.body.sender, max(1, len(request.payload.products))
    with site.store.sessions() as s:
        used, seen = 0, set()
        for h in s.query(Handled).filter(Handled.kind == MERGED_REQUEST, Handled.refusal_code.is_(None)):
            at = h.handled_at if h.handled_at.tzinfo else h.handled_at.replace(tzinfo=UTC)
            if at < since or h.calculation_id == cid:
                continue
            row = s.get(Received, h.hash)
            answered = evidence.reopen(row).payload.product_id if row is not None else product  # unknown: counted
            past = _calculation_of(s, h.calculation_id)
            if answered == product and past is not None and past[0] == requester and \
                    (h.calculation_id, answered) not in seen:
                seen.add((h.calculation_id, answered))
                used += past[1]
    if used + n > limit:
        raise Refusal(cpb.REFUSAL_CODE_RATE_LIMITED,
                      f"{site.org} answers at most {limit} calculation(s) of {requester} using {site.org}/{product} "
                      f"in {days:g} day(s); {used} already"
                      + (f", and this one asks for {n} batch blocks" if n > 1 else ""))
