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
from dataclasses import dataclass

from tanji.he import tasks as he_work
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import own
from tanji.methodology.formats.nodedata import FederatedInput, Product
from tanji.node import outbox
from tanji.node.keys import announcement, batch_blocks, binding, layout, require_key
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


def _checked(site: Site, opened: env.Opened, product_ids: list[str], depth_remaining: int):
    """(accepted key, method profile, products) for answering `product_ids`, or a named refusal."""
    ck = require_key(site, opened.body.calculation_id)
    ka = announcement(ck)
    for field, mine, code in (("key_fingerprint", ka.payload.key_fingerprint, cpb.REFUSAL_CODE_WRONG_KEY),
                              ("ckks_params_hash", ka.payload.ckks_params_hash, cpb.REFUSAL_CODE_WRONG_KEY),
                              ("factor_set_hash", ka.body.factor_set_hash, cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH)):
        if getattr(opened.body, field) != mine and opened.body.message_type != MT.MESSAGE_TYPE_CALCULATION_REQUEST:
            raise Refusal(code, f"request names another {field} than the calculation's")
    products = []
    for product_id in product_ids:
        try:
            products.append(site.data.model.product(product_id))
        except KeyError:
            raise Refusal(cpb.REFUSAL_CODE_UNKNOWN_PRODUCT, f"{site.org} serves no product {product_id!r}") from None
    try:
        profile = profiles.get(ka.body.method_profile.name)
    except ValueError as exc:
        raise Refusal(cpb.REFUSAL_CODE_METHOD_MISMATCH, str(exc)) from None
    for product in products:
        if requested_inputs(product) and depth_remaining == 0:
            raise Refusal(cpb.REFUSAL_CODE_DEPTH_EXCEEDED,
                          f"{site.org}/{product.id} has federated inputs but the declared depth bound is exhausted")
    return ck, profile, products


def _compute(site: Site, label: str, *args) -> he_work.Answer:
    try:
        return site.compute(he_work.answer, *args)
    except he_work.OutOfLevels as exc:
        raise Refusal(cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS, f"{site.org}/{label}: {exc}") from None
    except he_work.HEError as exc:
        raise Refusal(cpb.REFUSAL_CODE_MALFORMED, f"{site.org}/{label}: {exc}") from None


def answer(site: Site, opened: env.Opened, product_id: str, parts, depth_remaining: int,
           blocks: tuple[int, ...] = ()) -> None:
    """Answer one product: the requester's one target (`parts` None: w = 1) or a merged request.
    `blocks`: the batch blocks the buyers' signed requests say it reaches (() = every block)."""
    cid = opened.body.calculation_id
    ck, profile, (product,) = _checked(site, opened, [product_id], depth_remaining)
    part = own(product, site.org, site.data.model.organisation.country, site.factors.by_id, profile)
    weighted = (part.vector * slots.WEIGHTED).tolist()
    n_warnings = int(part.vector[slots.WARNINGS])
    scaled_parts = weights(site, cid, product, parts)
    qs = [inp.quantity for _, inp in requested_inputs(product)]
    width, citation = layout(site, cid)
    cited = sorted(citation[f] for f in part.cited) if citation else []
    answered = _compute(site, product_id, ck.context, scaled_parts, weighted, n_warnings, qs, width, cited,
                        batch_blocks(site, cid), blocks or None)
    sent = [Emitted(product.id, j, inp, blocks) for j, inp in requested_inputs(product)]
    record = local_record(site, product.id, part.vector.tolist(), part.warnings, sorted(part.cited))
    _emit(site, opened, product.id, sent, answered, depth_remaining, record, part.warnings)


def answer_targets(site: Site, opened: env.Opened, product_ids: list[str], depth_remaining: int) -> None:
    """The requester's own calculation: its target, or a batch of targets (DESIGN §6) answered in
    one step — own(P_b) in block b; one request per (supplier, product, unit) with each target's q in
    its block and naming the blocks it reaches — so one contribution and one declaration carry the
    whole catalogue (decision 0019)."""
    if len(product_ids) == 1:
        answer(site, opened, product_ids[0], parts=None, depth_remaining=depth_remaining)
        return
    cid = opened.body.calculation_id
    ck, profile, products = _checked(site, opened, product_ids, depth_remaining)
    k = batch_blocks(site, cid)
    if k != len(products):
        raise Refusal(cpb.REFUSAL_CODE_SLOT_LAYOUT_MISMATCH,
                      f"the key holds {k} product blocks; the request names {len(products)} products")
    country = site.data.model.organisation.country
    parts = [own(p, site.org, country, site.factors.by_id, profile) for p in products]
    weighted = [x for part in parts for x in (part.vector * slots.WEIGHTED).tolist()]
    counts = [int(part.vector[slots.WARNINGS]) for part in parts]
    width, citation = layout(site, cid)
    cited_ids = sorted(set().union(*(part.cited for part in parts)))
    cited = sorted(citation[f] for f in cited_ids) if citation else []
    sent, qs = [], []
    for members in batch_requests(products).values():  # one request per (supplier, product, unit)
        b0, j0, first = members[0]
        q = [0.0] * k
        for b, _, inp in members:
            q[b] += inp.quantity
        sent.append(Emitted(products[b0].id, j0, first, tuple(sorted({b for b, _, _ in members}))))
        qs.append(q)
    answered = _compute(site, product_ids[0], ck.context, weights(site, cid, products[0], None), weighted, counts,
                        qs, width, cited, k)
    warnings = [w for part in parts for w in part.warnings]
    record = local_record(site, products[0].id, [x for part in parts for x in part.vector.tolist()], warnings,
                          cited_ids, batch=product_ids)
    _emit(site, opened, products[0].id, sent, answered, depth_remaining, record, warnings)


def weights(site: Site, cid: str, product, parts) -> list[tuple[bytes, float]] | None:
    """Enc(w) per quantity unit with the factor converting that unit to the product's own."""
    if parts is None:  # the requester's own target: w = 1, the key holder's Enc(1) where it made one
        ck = require_key(site, cid)
        ka = announcement(ck).payload
        if not ka.unit_weight_object_hash:
            return None
        # the key holder's Enc(1), checked by the one party that uses it (suppliers never pull it: at the
        # key, every node at once, its 2.4 MB and its load were on the requester's critical path)
        unit = site.pull_public(cid, ka.unit_weight_object_hash, limits.MAX_CIPHERTEXT_BYTES)
        try:
            site.compute(he_work.load_unit_weight, ck.context, unit, ka.width or slots.WIDTH)
        except he_work.HEError as exc:
            raise Refusal(he_work.refusal_code(exc), f"the key holder's Enc(1): {exc}") from None
        return [(unit, 1.0)]
    out = []
    for unit, digest in parts:
        try:
            c = units.factor(unit, product.unit)
        except units.UnitMismatch as exc:
            raise Refusal(cpb.REFUSAL_CODE_UNIT_MISMATCH,
                          f"quantity of {site.org}/{product.id} (sold per {product.unit!r}): {exc}") from None
        out.append((site.pull(cid, digest, limits.MAX_CIPHERTEXT_BYTES), c))
    return out


def batch_requests(products: list[Product]) -> dict[tuple[str, str, str], list[tuple[int, int, FederatedInput]]]:
    """(supplier, product, unit) -> the (block, input index, input) of a batch's targets it stands for:
    the requester sends one request per key, q of each target in its block (a vector request costs
    about as much as the whole contribution, so one per key, not one per target and input)."""
    out: dict[tuple[str, str, str], list[tuple[int, int, FederatedInput]]] = {}
    for b, product in enumerate(products):
        for j, inp in requested_inputs(product):
            out.setdefault((inp.supplier, inp.product, inp.unit), []).append((b, j, inp))
    return out


@dataclass(frozen=True)
class Emitted:
    """One request an answer sends: for `product`'s input `index`, reaching batch `blocks`."""
    product: str
    index: int
    input: FederatedInput
    blocks: tuple[int, ...]


def _emit(site: Site, opened: env.Opened, product_id: str, sent: list[Emitted], answered: he_work.Answer,
          depth_remaining: int, record: bytes, warnings: list[str]) -> None:
    """Seal every envelope of this answer and store them, their objects and the record in one
    transaction; pushing follows."""
    cid = opened.body.calculation_id
    bound = binding(site, cid)
    requests: list[tuple[epb.Envelope, Emitted]] = []   # (sealed REQUEST, what it is for)
    objects: list[tuple[bytes, bytes]] = []
    declared = epb.Declaration()
    for item, ct in zip(sent, answered.requests, strict=True):
        inp = item.input
        digest = hashlib.sha256(ct).digest()
        objects.append((digest, ct))
        request = epb.Request(supplier=inp.supplier, product_id=inp.product, quantity_unit=inp.unit,
                              depth_remaining=depth_remaining - 1, weight_object_hash=digest, blocks=item.blocks)
        sealed = env.seal(messages.request(request, calculation_id=cid, sender=site.org, receiver=inp.supplier,
                                           binding=bound, answers=opened.hash, objects=[digest]), site.key)
        requests.append((sealed, item))
        declared.requests.add(supplier=inp.supplier, product_id=inp.product, quantity_unit=inp.unit,
                              weight_object_hash=digest, request_hash=env.message_hash(sealed), blocks=item.blocks)
    body = messages.declaration(declared, calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID,
                                binding=bound, answers=opened.hash)
    body.object_hashes.extend(d.weight_object_hash for d in declared.requests)
    declaration = env.seal(body, site.key)
    c_digest = hashlib.sha256(answered.contribution).digest()
    objects.append((c_digest, answered.contribution))
    salt = os.urandom(32)
    contribution = env.seal(messages.contribution(
        epb.Contribution(product_id=product_id, ciphertext_hash=c_digest,
                         record_commitment=hashlib.sha256(salt + record).digest()),
        calculation_id=cid, sender=site.org, receiver=COORDINATOR_ID, binding=bound, answers=opened.hash,
        objects=[c_digest]), site.key)
    with site.store.sessions.begin() as s:
        for digest, content in objects:
            outbox.queue_ciphertext(s, cid, digest, content)
        for sealed, item in requests:
            outbox.queue(s, cid, opened.hash, sealed, product=item.product, input_index=item.index)
        outbox.queue(s, cid, opened.hash, declaration)
        h = outbox.queue(s, cid, opened.hash, contribution)
        s.add(CalcRecord(contribution_hash=h, calculation_id=cid, product=product_id, data_version=site.version,
                         salt=salt, record=record, warnings="\n".join(warnings), fresh=answered.fresh,
                         weights=pack_weights(answered.weights)))
        s.add(Handled(hash=opened.hash, calculation_id=cid, kind=opened.type_name, data_version=site.version,
                      outcome=f"answered {product_id}: {len(requests)} requests sent"))
    log.info("%s answered %s for %s: contribution + %d requests", site.org, product_id, cid[:8], len(requests))


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
