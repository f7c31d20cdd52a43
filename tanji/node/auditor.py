"""The keyless auditor (DESIGN §2 step 6, §4): before it attests an aggregate, a node that audits
the calculation (by default its requester) checks completeness from the envelopes the
coordinator delivered and re-executes the coordinator's sum from the signed contributions."""
from __future__ import annotations

import hashlib
import logging

from tanji.he import tasks as he_work
from tanji.node import evidence, outbox
from tanji.node.keys import binding, layout, require_key
from tanji.node.site import Site
from tanji.node.store import CalcKey, CalcRecord, Handled, NodeStore
from tanji.protocol import completeness, limits, messages
from tanji.protocol import envelope as env
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.node")
MT = epb.MessageType

#: envelopes an auditor keeps though they are addressed to others: the completeness evidence
EVIDENCE = (MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_MERGED_REQUEST, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS,
            MT.MESSAGE_TYPE_DEAD_SUPPLIER)


def audits(store: NodeStore, org: str, cid: str) -> bool:
    """`org` is an auditor of the calculation (by default: its requester)."""
    with store.sessions() as s:
        req = evidence.calculation_request(s, cid)
    return req is not None and org in (list(req.payload.auditors) or [req.body.sender])


def on_aggregate(site: Site, opened: env.Opened) -> None:
    """Keyless attestation: re-execute the coordinator's sum from the signed contributions."""
    if opened.body.sender != COORDINATOR_ID:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "aggregates come from the coordinator only")
    cid = opened.body.calculation_id
    agg = opened.payload
    ck = require_key(site, cid)
    ciphertexts = []
    for h in agg.contribution_hashes:
        kept = evidence.kept(site.store, h)
        if kept is None:
            raise Refusal(cpb.REFUSAL_CODE_MISSING_OBJECT, f"contribution {h.hex()[:12]} was not delivered")
        c = env.open_envelope(kept.envelope, site.key_of)
        if c.body.calculation_id != cid:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "a contribution of another calculation is in the sum")
        ciphertexts.append(site.pull(cid, c.payload.ciphertext_hash, limits.MAX_CIPHERTEXT_BYTES))
    check_complete(site, cid, ck, agg)
    total = site.compute(he_work.add_all, ck.context, ciphertexts, layout(site, cid)[0])
    if hashlib.sha256(total).digest() != agg.output_ciphertext_hash:
        raise Refusal(cpb.REFUSAL_CODE_HASH_MISMATCH, "re-executed aggregation does not match the coordinator's output")
    attestation = epb.Attestation(output_ciphertext_hash=agg.output_ciphertext_hash,
                                  contribution_hashes=agg.contribution_hashes)
    with site.store.sessions() as s:
        for rec in s.query(CalcRecord).filter(CalcRecord.calculation_id == cid):
            attestation.requester_warnings.extend(w for w in rec.warnings.split("\n") if w)
            if rec.fallback_of:
                supplier, _, supplied = rec.fallback_of.partition("/")
                attestation.requester_fallbacks.add(supplier=supplier, product_id=supplied)
    sealed = env.seal(messages.attestation(attestation, calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID,
                                           binding=binding(site, cid), answers=opened.hash), site.key)
    with site.store.sessions.begin() as s:
        outbox.queue(s, cid, opened.hash, sealed)
        s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name, outcome="attested"))
    log.info("%s attested the aggregate of %s (%d contributions)", site.org, cid[:8], len(ciphertexts))


def check_complete(site: Site, cid: str, ck: CalcKey, agg: epb.Aggregate) -> None:
    """Before attesting: every declared request answered exactly once and nothing else summed,
    and every merged request's Enc(w) the sum of its buyers' signed requests (tanji.protocol.completeness)
    — from the envelopes the coordinator delivered, each checked on receipt. A coordinator
    that drops a supplier or scales its weight is refused here, before any decryption."""
    delivered = evidence.of_calculation(site.store, cid)
    found = completeness.problems(delivered, "delivered to the auditor", agg.contribution_hashes)
    if found:
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "incomplete: " + "; ".join(found))
    width = layout(site, cid)[0]
    found = completeness.merged_weight_problems(
        [o for o in delivered if o.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST],
        lambda h: site.pull(cid, h, limits.MAX_CIPHERTEXT_BYTES),
        lambda cts: site.compute(he_work.add_all, ck.context, cts, width))
    if found:
        raise Refusal(cpb.REFUSAL_CODE_HASH_MISMATCH, "; ".join(found))
