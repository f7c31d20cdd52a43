"""The keyless auditor (DESIGN §2 step 6, §4): before it attests an aggregate, a node that audits
the calculation (by default its requester) re-executes it from the envelopes the coordinator
delivered (tanji.protocol.reexecution: completeness, merged weights, the sum)."""
from __future__ import annotations

import logging

from tanji.node import evidence, outbox
from tanji.node.keys import announcement, binding, require_key
from tanji.node.site import Site
from tanji.node.store import CalcRecord, Handled, NodeStore
from tanji.protocol import envelope as env
from tanji.protocol import limits, messages, reexecution
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
    """Keyless attestation: re-execute the coordinator's aggregate from the signed evidence
    delivered, each envelope checked on receipt; refused on the first check that fails, before
    any decryption."""
    if opened.body.sender != COORDINATOR_ID:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "aggregates come from the coordinator only")
    cid = opened.body.calculation_id
    agg = opened.payload
    ck = require_key(site, cid)
    delivered = evidence.of_calculation(site.store, cid)
    summed = [evidence.kept(site.store, h) for h in agg.contribution_hashes]
    spliced = [c for c in summed if c is not None and c.body.calculation_id != cid]  # of another calculation
    failed = reexecution.first_failure(reexecution.reexecute(
        [*delivered, *spliced, announcement(ck), opened], ck.context,
        lambda h: site.pull(cid, h, limits.MAX_CIPHERTEXT_BYTES), where="delivered to the auditor", run=site.compute,
        fetch_ahead=limits.FETCH_AHEAD, spool=True))
    if failed is not None:
        raise Refusal(failed.code, failed.detail)
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
    log.info("%s attested the aggregate of %s (%d contributions)", site.org, cid[:8], len(agg.contribution_hashes))

