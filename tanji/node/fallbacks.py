"""Answering for a dead supplier (DESIGN §2 step 7): the buyer that named it still holds its
Enc(w) and answers q·Enc(w) ⊙ fallback(p) with the input's fallback factor, signed. A notice
naming this node itself as the dead supplier goes to tanji.node.death_notices."""
from __future__ import annotations

import hashlib
import logging
import os

import numpy as np

from tanji.he import tasks as he_work
from tanji.methodology import slots
from tanji.methodology.footprint import OwnFootprint, fallback
from tanji.node import evidence, outbox
from tanji.node.answering import batch_requests, local_record, pack_weights, weights
from tanji.node.buyers import signed_blocks
from tanji.node.death_notices import names_us, on_notice_about_us
from tanji.node.keys import batch_blocks, binding, layout, require_key
from tanji.node.site import Site
from tanji.node.store import CalcRecord, Handled, Outbox
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.node")


def on_dead_supplier(site: Site, opened: env.Opened) -> None:
    """Answer for a supplier the coordinator declared dead: q·Enc(w) ⊙ fallback(p), signed."""
    if opened.body.sender != COORDINATOR_ID:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PARTY, "dead-supplier notices come from the coordinator only")
    if names_us(site, opened):  # we are the supplier it declares dead: contest or acknowledge
        on_notice_about_us(site, opened)
        return
    cid, ds = opened.body.calculation_id, opened.payload
    with site.store.sessions() as s:
        mine = s.query(Outbox).filter(Outbox.hash == opened.body.answers_hash).one_or_none()
    if mine is None or mine.product is None or mine.input_index is None:
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "the notice names no request of this node")
    answered = evidence.kept(site.store, mine.answers)
    product = site.data.model.product(mine.product)
    inp = product.inputs[mine.input_index]
    label = f"{site.org}/{product.id}"
    if inp.fallback_factor is None:
        raise Refusal(cpb.REFUSAL_CODE_DECLARED_DEAD,
                      f"supplier {ds.supplier}/{ds.product_id} is dead and {label} inputs[{mine.input_index}] "
                      "has no fallback_factor")
    if answered is None or answered.body.message_type != epb.MESSAGE_TYPE_MERGED_REQUEST:  # our own target: w = 1
        parts = None
    else:
        parts = [(p.quantity_unit, p.weight_object_hash) for p in answered.payload.parts]
    scaled = weights(site, cid, product, parts)
    ck = require_key(site, cid)
    width, citation = layout(site, cid)
    k = batch_blocks(site, cid)
    warnings: int | list[int] = 1
    warn_blocks: tuple[int, ...] | None = None
    extra: dict = {}
    if parts is None and k > 1 and answered is not None:  # a batch's request stands for inputs of several targets
        fb, weighted, warnings, extra = batch_fallback(site, answered, inp)
    else:
        fb = fallback(inp, mine.input_index, label, site.factors.by_id)
        weighted = (fb.vector * slots.WEIGHTED).tolist()
        if parts is not None and answered is not None:
            warn_blocks = signed_blocks(site, answered) or None
    cited = sorted(citation[f] for f in fb.cited) if citation else []
    result = site.compute(he_work.answer, ck.context, scaled, weighted, warnings, [], width, cited, k, warn_blocks)
    ct = result.contribution
    digest = hashlib.sha256(ct).digest()
    salt = os.urandom(32)
    record = local_record(site, product.id, fb.vector.tolist(), fb.warnings, sorted(fb.cited),
                          fallback_for=f"{ds.supplier}/{ds.product_id}", input_index=mine.input_index, **extra)
    payload = epb.FallbackContribution(supplier=ds.supplier, product_id=ds.product_id, ciphertext_hash=digest,
                                       record_commitment=hashlib.sha256(salt + record).digest(),
                                       request_hash=opened.body.answers_hash)
    sealed = env.seal(messages.fallback_contribution(
        payload, calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID, binding=binding(site, cid),
        answers=opened.hash, objects=[digest]), site.key)
    with site.store.sessions.begin() as s:
        outbox.queue_ciphertext(s, cid, digest, ct)
        h = outbox.queue(s, cid, opened.hash, sealed)
        s.add(CalcRecord(contribution_hash=h, calculation_id=cid, product=product.id, data_version=site.version,
                         salt=salt, record=record, warnings="\n".join(fb.warnings),
                         fallback_of=f"{ds.supplier}/{ds.product_id}", fresh=result.fresh,
                         weights=pack_weights(result.weights)))
        s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name,
                      outcome=f"fallback for {ds.supplier}/{ds.product_id}"))
    log.warning("%s answered for dead supplier %s/%s with fallback factor %s", label, ds.supplier, ds.product_id,
                inp.fallback_factor)


def batch_fallback(site: Site, request: env.Opened, inp) -> tuple[OwnFootprint, list[float], list[int], dict]:
    """A batch's fallback for one dead (supplier, product, unit): the requester sent one request for
    the inputs of every target naming it (tanji.node.answering.batch_requests), so each target's
    inputs fall back in its own block — Σ fallback(p) there, one warning each. Returns (every block's
    figures side by side, weighted per block, warnings per block, what the record adds)."""
    targets = [item.product_id for item in request.payload.products]
    members = batch_requests([site.data.model.product(p) for p in targets])[(inp.supplier, inp.product, inp.unit)]
    blocks = [slots.zeros() for _ in targets]
    out = OwnFootprint(vector=slots.zeros())
    for b, j, member in members:
        label = f"{site.org}/{targets[b]}"
        if member.fallback_factor is None:
            raise Refusal(cpb.REFUSAL_CODE_DECLARED_DEAD,
                          f"supplier {inp.supplier}/{inp.product} is dead and {label} inputs[{j}] "
                          "has no fallback_factor")
        fb = fallback(member, j, label, site.factors.by_id)
        blocks[b] += fb.vector
        out.warnings += fb.warnings
        out.cited |= fb.cited
    out.vector = np.concatenate(blocks)
    weighted = [x for block in blocks for x in (block * slots.WEIGHTED).tolist()]
    counts = [int(round(block[slots.WARNINGS])) for block in blocks]
    return out, weighted, counts, {"batch_fallback": [[b, targets[b], j] for b, j, _ in members]}
