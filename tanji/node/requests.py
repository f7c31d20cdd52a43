"""The request handler: the node's own calculation (it answers its target with w = 1) and the
merged requests the coordinator routes to it — each admitted only under the supplier's policy,
applied to the buyers' signed identities (DESIGN §2 "Trust model"): approved customers, a
minimum number of contributors, a rate limit per (root requester, product), and, for its own
calculation, the quantities it committed to."""
from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta

from tanji.infra.runtime import utcnow
from tanji.node import evidence
from tanji.node.answering import answer
from tanji.node.site import Site
from tanji.node.store import Handled
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
    check_commitment(site, opened)
    evidence.keep(site.store, opened)
    answer(site, opened, req.products[0].product_id, parts=None, depth_remaining=req.depth_bound)


def check_commitment(site: Site, opened: env.Opened) -> None:
    """Our own calculation: the quantities we are about to send must be the ones committed to.

    `tanji calc start` wrote the salt and the bill of materials it committed to; a node
    whose data changed since (or a request carrying another commitment) refuses by name."""
    req = opened.payload
    try:
        product = site.data.model.product(req.products[0].product_id)
    except KeyError:
        return  # answer() refuses the unknown product by name
    kept = commitment.load(site.state, opened.body.calculation_id)
    if not req.quantity_commitment or kept is None:
        raise Refusal(cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED,
                      f"no quantity commitment for {opened.body.calculation_id} in {commitment.folder(site.state)}")
    if commitment.commit(kept.salt, commitment.bill_of_materials(product)) != req.quantity_commitment:
        raise Refusal(cpb.REFUSAL_CODE_COMMITMENT_MISMATCH,
                      f"{site.org}/{product.id}: the quantities in the imported data (version {site.version}) "
                      "are not the ones the requester committed to")


def on_merged_request(site: Site, opened: env.Opened) -> None:
    if opened.body.sender != COORDINATOR_ID:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "merged requests come from the coordinator only")
    mr = opened.payload
    if mr.supplier != site.org:
        raise Refusal(cpb.REFUSAL_CODE_WRONG_RECEIVER, f"request for {mr.supplier!r}")
    refused = sorted({r.buyer for p in mr.parts for r in p.requests if not site.policy.approves(r.buyer, site.org)})
    if refused:
        raise Refusal(cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED,
                      f"{site.org} has not approved {', '.join(refused)} as a customer of {mr.product_id}")
    check_contributors(site, mr)
    check_rate_limit(site, opened.body.calculation_id)
    parts = [(p.quantity_unit, p.weight_object_hash) for p in mr.parts]
    evidence.keep(site.store, opened)  # its Enc(w) is kept until the calculation ends: a fallback needs it
    answer(site, opened, mr.product_id, parts=parts, depth_remaining=mr.depth_remaining)


def check_contributors(site: Site, mr: epb.MergedRequest) -> None:
    """The minimum-contributors policy: every buyer merged here requested at least N inputs.

    A buyer naming this product as its only input (or one of too few) would learn this
    node's footprint from the total (DESIGN.md "Trust model"); the coordinator states each
    buyer's fan-out without naming the other suppliers."""
    need = site.policy.min_contributors
    if need is None:
        return
    buyers = {r.buyer for p in mr.parts for r in p.requests}
    fan_out = {f.buyer: f.inputs for f in mr.buyer_fan_out}
    short = sorted(b for b in buyers if b != site.org and fan_out.get(b, 0) < need)
    if short:
        raise Refusal(cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS,
                      f"{site.org} answers {mr.product_id} only for a buyer with at least {need} inputs; "
                      + ", ".join(f"{b} has {fan_out.get(b, 0)}" for b in short))


def _blocks_of(s, cid: str) -> Counter[tuple[str, str]]:
    """(root requester, product) of every slot block of a calculation's signed request."""
    req = evidence.calculation_request(s, cid)
    if req is None:
        return Counter()
    return Counter((req.body.sender, b.product_id) for b in req.payload.products)


def check_rate_limit(site: Site, cid: str) -> None:
    """At most N per (root requester, root product) in the window, every batch block counted: a
    batch naming one product k times is k figures of it, as k calculations would be. A merged
    request this node refused used nothing."""
    if site.policy.rate_limit is None:
        return
    limit, days = site.policy.rate_limit
    since = utcnow() - timedelta(days=days)
    with site.store.sessions() as s:
        wanted = Counter({k: n for k, n in _blocks_of(s, cid).items() if k[0] != site.org})
        if not wanted:
            return
        used: Counter[tuple[str, str]] = Counter()
        seen = set()
        for h in s.query(Handled).filter(Handled.kind == MERGED_REQUEST, Handled.refusal_code.is_(None)):
            at = h.handled_at if h.handled_at.tzinfo else h.handled_at.replace(tzinfo=UTC)
            if at >= since and h.calculation_id not in seen and h.calculation_id != cid:
                seen.add(h.calculation_id)
                used.update(_blocks_of(s, h.calculation_id))
    for (requester, product), n in sorted(wanted.items()):
        if used[(requester, product)] + n > limit:
            raise Refusal(cpb.REFUSAL_CODE_RATE_LIMITED,
                          f"{site.org} answers at most {limit} calculation(s) of {requester}/{product} in "
                          f"{days:g} day(s); {used[(requester, product)]} already"
                          + (f", and this one asks for {n} batch blocks of it" if n > 1 else ""))
