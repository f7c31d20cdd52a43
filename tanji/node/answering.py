"""Answering a request: own(p) here, in plaintext, then only ciphertexts leave (DESIGN §2 step 3).

The contribution Enc(w) ⊙ own(p) + Enc(n·e6); for each federated input q·Enc(w) + Enc(0)
towards its supplier; the signed declaration of the requests emitted; and the salted local
record the contribution commits to — stored in one transaction before anything is pushed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os

from tanji.he import tasks as he_work
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import own
from tanji.methodology.formats.nodedata import FederatedInput, Product
from tanji.node import outbox
from tanji.node.keys import announcement, binding, layout, require_key
from tanji.node.site import Site
from tanji.node.store import CalcRecord, Handled
from tanji.protocol import envelope as env
from tanji.protocol import limits, messages
from tanji.protocol.identity import COORDINATOR_ID
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.node")
MT = epb.MessageType


def requested_inputs(product: Product) -> list[tuple[int, FederatedInput]]:
    """(index, input) of the inputs a product requests: a zero quantity names no supplier, so a
    buyer that zeroes inputs has fewer contributors — which suppliers' policies can refuse."""
    return [(j, inp) for j, inp in enumerate(product.inputs) if inp.quantity > 0]


def answer(site: Site, opened: env.Opened, product_id: str, parts, depth_remaining: int) -> None:
    cid = opened.body.calculation_id
    ck = require_key(site, cid)
    ka = announcement(ck)
    for field, mine, code in (("key_fingerprint", ka.payload.key_fingerprint, cpb.REFUSAL_CODE_WRONG_KEY),
                              ("ckks_params_hash", ka.payload.ckks_params_hash, cpb.REFUSAL_CODE_WRONG_KEY),
                              ("factor_set_hash", ka.body.factor_set_hash, cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH)):
        if getattr(opened.body, field) != mine and opened.body.message_type != MT.MESSAGE_TYPE_CALCULATION_REQUEST:
            raise Refusal(code, f"request names another {field} than the calculation's")
    try:
        product = site.data.model.product(product_id)
    except KeyError:
        raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PRODUCT, f"{site.org} serves no product {product_id!r}") from None
    try:
        profile = profiles.get(ka.body.method_profile.name)
    except ValueError as exc:
        raise Refusal(cpb.REFUSAL_CODE_METHOD_MISMATCH, str(exc)) from None
    if requested_inputs(product) and depth_remaining == 0:
        raise Refusal(cpb.REFUSAL_CODE_DEPTH_EXCEEDED,
                      f"{site.org}/{product_id} has federated inputs but the declared depth bound is exhausted")
    part = own(product, site.org, site.data.model.organisation.country, site.factors.by_id, profile)
    weighted = (part.vector * slots.WEIGHTED).tolist()
    n_warnings = int(part.vector[slots.WARNINGS])
    scaled_parts = weights(site, cid, product, parts)
    qs = [inp.quantity for _, inp in requested_inputs(product)]
    width, citation = layout(site, cid)
    cited = sorted(citation[f] for f in part.cited) if citation else []
    try:
        answered = site.compute(he_work.answer, ck.context, scaled_parts, weighted, n_warnings, qs, width, cited)
    except he_work.OutOfLevels as exc:
        raise Refusal(cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS, f"{site.org}/{product_id}: {exc}") from None
    except he_work.HEError as exc:
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED, f"{site.org}/{product_id}: {exc}") from None
    _emit(site, opened, product, part, answered, depth_remaining)


def weights(site: Site, cid: str, product, parts) -> list[tuple[bytes, float]] | None:
    """Enc(w) per quantity unit with the factor converting that unit to the product's own."""
    if parts is None:  # the requester's own target: w = 1, the key holder's Enc(1) where it made one
        ka = announcement(require_key(site, cid)).payload
        if not ka.unit_weight_object_hash:
            return None
        return [(site.pull(cid, ka.unit_weight_object_hash, limits.MAX_CIPHERTEXT_BYTES), 1.0)]
    out = []
    for unit, digest in parts:
        try:
            c = units.factor(unit, product.unit)
        except units.UnitMismatch as exc:
            raise Refusal(cpb.REFUSAL_CODE_UNIT_MISMATCH,
                          f"quantity of {site.org}/{product.id} (sold per {product.unit!r}): {exc}") from None
        out.append((site.pull(cid, digest, limits.MAX_CIPHERTEXT_BYTES), c))
    return out


def _emit(site: Site, opened: env.Opened, product, part, answered: he_work.Answer, depth_remaining: int) -> None:
    """Seal every envelope of this answer and store them, their objects and the record in one
    transaction; pushing follows."""
    cid = opened.body.calculation_id
    bound = binding(site, cid)
    requests: list[tuple[epb.Envelope, int]] = []   # (sealed REQUEST, input index)
    objects: list[tuple[bytes, bytes]] = []
    declared = epb.Declaration()
    for (index, inp), ct in zip(requested_inputs(product), answered.requests, strict=False):
        digest = hashlib.sha256(ct).digest()
        objects.append((digest, ct))
        request = epb.Request(supplier=inp.supplier, product_id=inp.product, quantity_unit=inp.unit,
                              depth_remaining=depth_remaining - 1, weight_object_hash=digest)
        sealed = env.seal(messages.request(request, calculation_id=cid, sender=site.org, receiver=inp.supplier,
                                           binding=bound, answers=opened.hash, objects=[digest]), site.key)
        requests.append((sealed, index))
        declared.requests.add(supplier=inp.supplier, product_id=inp.product, quantity_unit=inp.unit,
                              weight_object_hash=digest, request_hash=env.message_hash(sealed))
    body = messages.declaration(declared, calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID,
                                binding=bound, answers=opened.hash)
    body.object_hashes.extend(d.weight_object_hash for d in declared.requests)
    declaration = env.seal(body, site.key)
    c_digest = hashlib.sha256(answered.contribution).digest()
    objects.append((c_digest, answered.contribution))
    salt = os.urandom(32)
    record = local_record(site, product.id, part.vector.tolist(), part.warnings, sorted(part.cited))
    contribution = env.seal(messages.contribution(
        epb.Contribution(product_id=product.id, ciphertext_hash=c_digest,
                         record_commitment=hashlib.sha256(salt + record).digest()),
        calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID, binding=bound, answers=opened.hash,
        objects=[c_digest]), site.key)
    with site.store.sessions.begin() as s:
        for digest, content in objects:
            outbox.queue_ciphertext(s, cid, digest, content)
        for sealed, index in requests:
            outbox.queue(s, cid, opened.hash, sealed, product=product.id, input_index=index)
        outbox.queue(s, cid, opened.hash, declaration)
        h = outbox.queue(s, cid, opened.hash, contribution)
        s.add(CalcRecord(contribution_hash=h, calculation_id=cid, product=product.id, data_version=site.version,
                         salt=salt, record=record, warnings="\n".join(part.warnings), fresh=answered.fresh,
                         weights=pack_weights(answered.weights)))
        s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name, data_version=site.version,
                      outcome=f"answered {product.id}: {len(requests)} requests sent"))
    log.info("%s answered %s for %s: contribution + %d requests", site.org, product.id, cid[:8], len(requests))


def local_record(site: Site, product_id: str, vector: list[float], warnings: list[str], cited: list[str],
                 **extra) -> bytes:
    """The local calculation record a contribution commits to: which data, which factors, own(p)."""
    return json.dumps({"organisation": site.org, "product": product_id, "data_version": site.version,
                       "data_sha256": site.data.sha256, "factor_set_sha256": site.factors.sha256,
                       "vector": vector, "warnings": warnings, "cited": cited, **extra}, sort_keys=True).encode()


def pack_weights(weights: list[tuple[bytes, float]]) -> bytes:
    """The Enc(w) ciphertexts a contribution used, with their unit factors, in one blob."""
    from tanji.protocol.bundle import pack

    files = {f"{i:03d}.ct": ct for i, (ct, _) in enumerate(weights)}
    files["factors.json"] = json.dumps([c for _, c in weights]).encode()
    return pack(files)
