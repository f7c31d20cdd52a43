"""The buyers behind a merged request, from their own signed envelopes (DESIGN §2 step 4).

The coordinator sums the buyers' q · Enc(w) into one merged request and delivers, just before
it, each buyer's signed REQUEST and the signed DECLARATION_OF_REQUESTS that lists it. A supplier
trusts nothing in the merged request on the coordinator's word: every buyer it names must have
signed a REQUEST for this supplier, product, unit and ciphertext in this calculation; the number
of contributors a buyer brings is read from its own signed declaration; and the merged Enc(w) is
re-added here from the buyers' ciphertexts, byte for byte, before anything is answered — so a
coordinator cannot hand a supplier the key holder's Enc(1), a doubled weight, or a buyer it made up.
"""
from __future__ import annotations

import hashlib

from tanji.he import tasks
from tanji.node import evidence
from tanji.node.keys import batch_blocks, layout, require_key
from tanji.node.site import Site
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType
#: header fields a buyer's request shares with the merged request that sums it
BOUND = ("calculation_id", "key_fingerprint", "ckks_params_hash", "factor_set_hash")


def _declaration(held: dict[bytes, env.Opened], named: set[bytes], request: env.Opened) -> env.Opened | None:
    """The buyer's signed declaration that lists `request` (answering what the request answers), one
    the merged request names: so the contribution answering the merged request pins the declarations
    checked here, and nobody can show the key holder another one later (tanji.keyholder.recheck)."""
    for o in held.values():
        if (o.hash in named and o.body.message_type == MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS
                and o.body.sender == request.body.sender
                and o.body.answers_hash == request.body.answers_hash
                and any(d.request_hash == request.hash for d in o.payload.requests)):
            return o
    return None


def _check_request(merged: env.Opened, part: epb.MergedPart, ref: epb.RequestRef, req: env.Opened) -> None:
    mr, p, b = merged.payload, req.payload, req.body
    if (b.sender != ref.buyer or b.receiver != mr.supplier or p.supplier != mr.supplier
            or p.product_id != mr.product_id or p.quantity_unit != part.quantity_unit
            or p.weight_object_hash != ref.weight_object_hash
            or any(getattr(b, f) != getattr(merged.body, f) for f in BOUND)):
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                      f"the merged request to {mr.supplier}/{mr.product_id} misstates {ref.buyer}'s signed request")


def signed_buyers(site: Site, merged: env.Opened, requester: str | None) -> dict[str, int]:
    """Buyer -> contributors, for every buyer the merged request names, each checked against its
    own signed REQUEST and DECLARATION (verified against the federation list when delivered).

    A buyer's contributors are the distinct organisations its declaration names, other than the
    buyer itself and the calculation's requester (their own figures are known to them); this
    supplier counts once, however many of its products are named. Where one buyer's requests
    come from several of its products, the fewest counts. Raises a Refusal naming what is wrong."""
    mr = merged.payload
    held = {o.hash: o for o in evidence.of_calculation(site.store, merged.body.calculation_id)
            if o.body.message_type in (MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS)}
    contributors: dict[str, int] = {}
    depths, seen = [], set()
    for part in mr.parts:
        if not part.requests:
            raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "a merged request part names no buyer's request")
        for ref in part.requests:
            if ref.request_hash in seen:
                raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, f"the merged request lists {ref.buyer}'s request twice")
            seen.add(ref.request_hash)
            req = held.get(ref.request_hash)
            if req is None or req.body.message_type != MT.MESSAGE_TYPE_REQUEST:
                raise Refusal(cpb.REFUSAL_CODE_MISSING_OBJECT,
                              f"{ref.buyer}'s signed request merged here was not delivered")
            _check_request(merged, part, ref, req)
            declaration = _declaration(held, set(mr.declaration_hashes), req)
            if declaration is None:
                raise Refusal(cpb.REFUSAL_CODE_MISSING_OBJECT,
                              f"{ref.buyer}'s signed declaration of the request merged here was not delivered")
            n = contributors_in(declaration.payload, req, {ref.buyer, requester})
            contributors[ref.buyer] = min(n, contributors.get(ref.buyer, n))
            depths.append(req.payload.depth_remaining)
    if mr.depth_remaining != min(depths):
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, "the merged request's remaining depth is not its buyers' least")
    return dict(sorted(contributors.items()))


def contributors_in(declaration: epb.Declaration, request: env.Opened, known: set[str | None]) -> int:
    """The distinct organisations besides `known` (the buyer, the requester) the declaration names
    alongside `request`, counted in each batch block the request reaches and the fewest taken: a
    batch's targets name different suppliers, and a target whose only input is this product would
    isolate this node's figure in its block however many suppliers the other targets name.
    A declared entry must state the very blocks its signed request names."""
    mine = [d for d in declaration.requests if d.request_hash == request.hash]
    if not mine or list(mine[0].blocks) != list(request.payload.blocks):
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED,
                      f"{request.body.sender}'s declaration misstates the batch blocks of its request")
    blocks = set(request.payload.blocks)
    if not blocks:
        return len({d.supplier for d in declaration.requests} - known)
    return min(len({d.supplier for d in declaration.requests if not d.blocks or b in d.blocks} - known)
               for b in blocks)


def check_weights(site: Site, merged: env.Opened) -> None:
    """Each merged Enc(w) is its buyers' signed ciphertexts re-added in order, byte for byte (the
    coordinator's own addition, tanji.he.tasks.add_all, is exact and deterministic)."""
    cid, mr = merged.body.calculation_id, merged.payload
    context = require_key(site, cid).context
    width, _ = layout(site, cid)
    for part in mr.parts:
        refs = [r.weight_object_hash for r in part.requests]
        if len(refs) == 1:
            same = part.weight_object_hash == refs[0]
        else:
            try:
                total = site.compute(tasks.add_all, context,
                                     [site.pull(cid, h, limits.MAX_CIPHERTEXT_BYTES) for h in refs], width)
            except tasks.HEError as exc:
                raise Refusal(tasks.refusal_code(exc), f"a buyer's request ciphertext does not load: {exc}") from None
            same = hashlib.sha256(total).digest() == part.weight_object_hash
        if not same:
            raise Refusal(cpb.REFUSAL_CODE_HASH_MISMATCH,
                          f"the merged request to {mr.supplier}/{mr.product_id}: its Enc(w) is not the sum of its "
                          "buyers' signed requests")


def signed_blocks(site: Site, merged: env.Opened) -> tuple[int, ...]:
    """The batch blocks (DESIGN §6) whose targets reach this merged request, from its buyers' signed
    REQUESTs (checked by `signed_buyers`): their union; () is every block — a one-product
    calculation, or a buyer that names none. This node adds its warning count in those blocks only,
    so each target's count is what its own calculation would give."""
    held = {o.hash: o for o in evidence.of_calculation(site.store, merged.body.calculation_id)
            if o.body.message_type == MT.MESSAGE_TYPE_REQUEST}
    blocks: set[int] = set()
    for part in merged.payload.parts:
        for ref in part.requests:
            named = list(held[ref.request_hash].payload.blocks) if ref.request_hash in held else []
            if not named:
                return ()
            blocks.update(named)
    total = batch_blocks(site, merged.body.calculation_id)
    if any(b >= total for b in blocks):
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED,
                      f"a buyer's request names batch block {max(blocks)}; the calculation has {total}")
    return tuple(sorted(blocks))
