"""`tanji audit check-node BUNDLE OPENING`: on site, tie a supplier's raw data to the very
ciphertext that was summed.

For each contribution in the opening: the salted record matches the commitment in
the signed contribution; the raw files match the hashes the record names; own(p)
is recomputed from them with the node's own code (tanji.methodology), multiplied into the Enc(w)
the node received, plus the fresh R it kept — and the result must hash to the
contribution's ciphertext in the bundle.
"""
from __future__ import annotations

import hashlib
import json

from tanji.audit.verify import Report
from tanji.errors import TanjiError
from tanji.he import tasks as he_tasks
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import fallback, own
from tanji.methodology.loader import parse_factor_set, parse_node_data
from tanji.protocol import envelope as env
from tanji.protocol.bundle import BundleFormatError, unpack
from tanji.protocol.federation import Federation, check_list
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


def check_node(bundle: bytes, opening: bytes, anchor: bytes | None = None) -> Report:
    report = Report()
    try:
        b, o = unpack(bundle), unpack(opening)
        manifest, index = json.loads(b["manifest.json"]), json.loads(o["opening.json"])
    except (BundleFormatError, KeyError, ValueError) as exc:
        report.add("files", False, str(exc))
        return report
    fed = Federation.parse(b["federation.json"])
    if anchor is not None:
        try:
            check_list(b["federation.json"], b["federation.sig"], anchor, "the bundle's federation list")
            report.add("trust anchor", True)
        except TanjiError as exc:
            report.add("trust anchor", False, str(exc))
            return report
    envelopes = {}
    for name, data in b.items():
        if name.startswith("envelopes/"):
            opened = env.parse_unverified(epb.Envelope.FromString(data))
            envelopes[opened.hash] = opened
    ka = next(e for e in envelopes.values() if e.body.message_type == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    context = b[f"objects/{ka.payload.context_object_hash.hex()}"]
    profile = profiles.get(manifest["method"]["name"])
    report.add("same calculation", index.get("calculation") == manifest.get("calculation"),
               f"opening of {index.get('calculation')!r}, bundle of {manifest.get('calculation')!r}")
    keyed = (context, ka.payload.width or slots.WIDTH, ka.payload.unit_weight_object_hash)
    for entry in index["entries"]:
        _check_entry(entry, o, b, envelopes, keyed, profile, fed, report)
    return report


def _check_entry(entry, o, b, envelopes, keyed, profile, fed, report) -> None:
    context, width, unit_weight = keyed
    h = entry["contribution"]
    label = f"{entry['product']}" + (f" (fallback for {entry['fallback_of']})" if entry.get("fallback_of") else "")
    c = envelopes.get(bytes.fromhex(h))
    if c is None or c.body.message_type not in (MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION):
        report.add(f"{label}: contribution in the bundle", False, f"no contribution {h[:16]}… in the bundle")
        return
    try:
        env.check_signature(c, fed.key_of(c.body.sender) or b"\0" * 32)
        report.add(f"{label}: contribution in the bundle", True, f"signed by {c.body.sender}")
    except env.EnvelopeRefused as exc:
        report.add(f"{label}: contribution in the bundle", False, str(exc))
        return
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
        if entry.get("fallback_of"):
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
        bound = [hashlib.sha256(ct).digest() for ct in cts] == [p.weight_object_hash for p in parts]
        report.add(f"{label}: Enc(w) is the request it received", bound)
        factors_c = [units.factor(p.quantity_unit, product.unit) for p in parts]
    else:  # the requester's own target: w = 1, the key holder's Enc(1) (older calculations: the requester's own)
        factors_c = [1.0] * len(cts)
        if unit_weight:
            report.add(f"{label}: Enc(1) is the key holder's",
                       [hashlib.sha256(ct).digest() for ct in cts] == [unit_weight])
    weighted = (vector * slots.WEIGHTED).tolist()
    try:
        recomputed = he_tasks.recompute_contribution(context, list(zip(cts, factors_c, strict=False)), weighted,
                                                     o[f"fresh/{h}.ct"], width)
    except TanjiError as exc:
        report.add(f"{label}: Enc(w) ⊙ own(p) + R is the summed ciphertext", False, str(exc))
        return
    report.add(f"{label}: Enc(w) ⊙ own(p) + R is the summed ciphertext",
               hashlib.sha256(recomputed).digest() == c.payload.ciphertext_hash,
               "recomputed from the raw data on site")
