"""`tanji audit check-node BUNDLE OPENING --trust ANCHOR`: on site, tie a supplier's raw data to
the very ciphertext that was summed.

The bundle passes the trust checks `tanji audit verify` runs first (tanji.audit.trusted: anchor,
coordinator-signed manifest, every object hashing to its name, every envelope signed in its
sender's role). Then, for each contribution in the opening: the salted record matches the
commitment in the signed contribution; the raw files match the hashes the record names; own(p)
is recomputed from them with the node's own code (tanji.methodology), multiplied into the Enc(w)
the node received — which must be the bytes of the bundle's request — plus the fresh R it kept,
and the result must be, byte for byte, the contribution's ciphertext in the bundle.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np

from tanji.audit import trusted
from tanji.audit.report import Report
from tanji.audit.trusted import TrustedBundle
from tanji.errors import TanjiError
from tanji.he import tasks as he_tasks
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import fallback, own
from tanji.methodology.loader import parse_factor_set, parse_node_data
from tanji.protocol.bundle import BundleFormatError, unpack
from tanji.protocol.reexecution import MislabelledObject
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


def check_node(bundle: bytes, opening: bytes, anchor: bytes) -> Report:
    report = Report()
    b = trusted.load(bundle, anchor, report)
    if b is None:
        return report
    try:
        o = unpack(opening)
        index = json.loads(o["opening.json"])
    except (BundleFormatError, KeyError, ValueError) as exc:
        report.add("opening", False, str(exc))
        return report
    kas = b.of(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    if len(kas) != 1:
        report.add("key announcement", False, f"{len(kas)} key announcements in the bundle (need 1)")
        return report
    ka = kas[0]
    try:
        context = b.object(ka.payload.context_object_hash)
        profile = profiles.get(b.manifest["method"]["name"])
    except (KeyError, MislabelledObject, ValueError, TypeError) as exc:
        report.add("key announcement", False, f"the announced context or method is not in the bundle: {exc}")
        return report
    report.add("same calculation", index.get("calculation") == b.manifest.get("calculation"),
               f"opening of {index.get('calculation')!r}, bundle of {b.manifest.get('calculation')!r}")
    keyed = (context, ka.payload.width or slots.WIDTH, ka.payload.unit_weight_object_hash)
    for entry in index["entries"]:
        _check_entry(entry, o, b, keyed, profile, report)
    return report


def _check_entry(entry: dict, o: dict[str, bytes], b: TrustedBundle, keyed: tuple, profile, report: Report) -> None:
    context, width, unit_weight = keyed
    envelopes = b.envelopes
    h = entry["contribution"]
    label = f"{entry['product']}" + (f" (fallback for {entry['fallback_of']})" if entry.get("fallback_of") else "")
    c = envelopes.get(bytes.fromhex(h))
    if c is None or c.body.message_type not in (MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION):
        report.add(f"{label}: contribution in the bundle", False, f"no signed contribution {h[:16]}… in the bundle")
        return
    report.add(f"{label}: contribution in the bundle", True, f"signed by {c.body.sender}")
    record = o[f"records/{h}.json"]
    committed = hashlib.sha256(bytes.fromhex(entry["salt"]) + record).digest() == c.payload.record_commitment
    report.add(f"{label}: record matches its commitment", committed)
    rec = json.loads(record)
    data, factors_bytes = o[entry["data"]], o[entry["factors"]]
    files_ok = (hashlib.sha256(data).hexdigest() == rec["data_sha256"]
                and hashlib.sha256(factors_bytes).hexdigest() == rec["factor_set_sha256"])
    report.add(f"{label}: raw files are the ones the record names", files_ok)
    try:
        factors = parse_factor_set(factors_bytes, entry["factors"])
        nd = parse_node_data(data, entry["data"], factors).model
        product = nd.product(entry["product"])
        if rec.get("batch"):  # the requester's batch (DESIGN §6): own(P_b) of every target, side by side
            vector = np.concatenate([own(nd.product(p), nd.organisation.id, nd.organisation.country, factors.by_id,
                                         profile).vector for p in rec["batch"]])
        elif rec.get("batch_fallback"):  # a batch's fallback: each target's inputs in its own block
            vector = _batch_fallback(nd, factors, rec["batch_fallback"], len(rec["vector"]) // slots.WIDTH)
        elif entry.get("fallback_of"):
            vector = fallback(product.inputs[rec["input_index"]], rec["input_index"],
                              f"{nd.organisation.id}/{product.id}", factors.by_id).vector
        else:
            vector = own(product, nd.organisation.id, nd.organisation.country, factors.by_id, profile).vector
    except (TanjiError, KeyError) as exc:
        report.add(f"{label}: own(p) recomputed", False, str(exc))
        return
    weights_files = unpack(o[f"weights/{h}.tar"])
    cts = [weights_files[n] for n in sorted(weights_files) if n.endswith(".ct")]
    answered = envelopes.get(c.body.answers_hash)
    if c.body.message_type == MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION:
        request = envelopes.get(answered.body.answers_hash) if answered else None
        answered = envelopes.get(request.body.answers_hash) if request else None
    if answered is not None and answered.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST:
        parts = list(answered.payload.parts)
        bound = cts == [_held(b, p.weight_object_hash) for p in parts]
        report.add(f"{label}: Enc(w) is the request it received", bound, "the bundle's bytes of the merged request")
        factors_c = [units.factor(p.quantity_unit, product.unit) for p in parts]
    else:  # the requester's own target: w = 1, the key holder's Enc(1) (older calculations: the requester's own)
        factors_c = [1.0] * len(cts)
        if unit_weight:
            report.add(f"{label}: Enc(1) is the key holder's", cts == [_held(b, unit_weight)],
                       "the bundle's bytes of the key holder's Enc(1)")
    weighted = (vector * np.tile(slots.WEIGHTED, len(vector) // slots.WIDTH)).tolist()
    try:
        recomputed = he_tasks.recompute_contribution(context, list(zip(cts, factors_c, strict=False)), weighted,
                                                     o[f"fresh/{h}.ct"], width)
    except TanjiError as exc:
        report.add(f"{label}: Enc(w) ⊙ own(p) + R is the summed ciphertext", False, str(exc))
        return
    same = (recomputed == _held(b, c.payload.ciphertext_hash)
            and hashlib.sha256(recomputed).digest() == c.payload.ciphertext_hash)
    report.add(f"{label}: Enc(w) ⊙ own(p) + R is the summed ciphertext", same,
               "recomputed from the raw data on site, equal to the bundle's bytes" if same else
               "the ciphertext recomputed on site is not the one the bundle holds under the signed hash")


def _batch_fallback(nd, factors, members: list, k: int) -> np.ndarray:
    """Σ fallback(p) of each (block, target, input index) of the record, in that target's block."""
    vector = np.zeros(slots.WIDTH * k)
    for b, target, j in members:
        product = nd.product(target)
        vector[b * slots.WIDTH:(b + 1) * slots.WIDTH] += fallback(
            product.inputs[j], j, f"{nd.organisation.id}/{product.id}", factors.by_id).vector
    return vector


def _held(b: TrustedBundle, digest: bytes) -> bytes | None:
    """The bytes the bundle holds under an object's name, bound to it (None: absent or other bytes)."""
    try:
        return b.object(digest)
    except (KeyError, MislabelledObject):
        return None
