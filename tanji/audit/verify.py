"""`tanji audit verify BUNDLE --trust ANCHOR`: is the declared total exactly the aggregate of
complete, signed contributions? Needs no key and no network — the bundle and the anchor.

Every check is named; a failed check never stops the others, so the report lists
every problem. Completeness, the merged requests and the homomorphic aggregation are
re-executed byte for byte by the procedure the auditor ran before it attested
(`tanji.protocol.reexecution`).
"""
from __future__ import annotations

import json

from tanji.audit import trusted
from tanji.audit.report import Check, Report
from tanji.audit.trusted import TrustedBundle
from tanji.errors import TanjiError
from tanji.protocol import fallbacks, merkle, reexecution
from tanji.protocol.identity import COORDINATOR_ID
from tanji.v1 import envelope_pb2 as epb

__all__ = ["Check", "Report", "verify_bundle"]
MT = epb.MessageType


def verify_bundle(data: bytes, anchor: bytes) -> Report:
    report = Report()
    b = trusted.load(data, anchor, report)
    if b is None:
        return report
    found = _reexecute(b)
    _check_structure(b, report, found[reexecution.COMPLETENESS])
    _check_log(b, report)
    _check_aggregation(b, report, found)
    _check_result(b, report)
    return report


def _reexecute(b: TrustedBundle) -> dict[str, reexecution.Finding]:
    """Every check of the re-execution, by name: a report names every problem. Every object it
    reads (the context too) is checked against its name."""
    keys = b.of(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    context = b.files.get(f"objects/{keys[0].payload.context_object_hash.hex()}") if len(keys) == 1 else None
    findings = reexecution.reexecute(b.envelopes.values(), context, b.fetch, where="in the bundle",
                                     summed_only=False)
    return {f.check: f for f in findings}


def _check_structure(b: TrustedBundle, report: Report, complete: reexecution.Finding) -> None:
    """Hash links and completeness: every declared request answered exactly once, nothing extra."""
    problems = []
    reqs = b.of(MT.MESSAGE_TYPE_CALCULATION_REQUEST)
    kas = b.of(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    if len(reqs) != 1 or len(kas) != 1:
        report.add("hash links", False,
                   f"{len(reqs)} calculation requests and {len(kas)} key announcements (need 1 each)")
        return
    req, ka = reqs[0], kas[0]
    m = b.manifest
    expect = {"requester": req.body.sender, "key_holder": req.payload.key_holder,
              "key_fingerprint": ka.payload.key_fingerprint.hex(),
              "ckks_params_hash": ka.payload.ckks_params_hash.hex(), "preset": ka.payload.preset,
              "product": f"{req.payload.target_organisation}/{req.payload.products[0].product_id}"}
    for k, v in expect.items():
        if m.get(k) != v:
            problems.append(f"manifest {k} {m.get(k)!r} disagrees with the signed envelopes ({v!r})")
    if m.get("factor_set", {}).get("sha256") != req.body.factor_set_hash.hex():
        problems.append("manifest factor set hash disagrees with the calculation request")
    if ka.body.sender != req.payload.key_holder or ka.body.answers_hash != req.hash:
        problems.append("key announcement is not the named key holder's answer to the request")
    report.add("manifest matches the signed envelopes", not problems, "; ".join(problems))
    report.add(complete.check, complete.ok, complete.detail)


def _head(doc: dict) -> tuple[merkle.TreeHead, bytes]:
    return (merkle.TreeHead(log_id=doc["log_id"], tree_size=doc["tree_size"], root=bytes.fromhex(doc["root"]),
                            timestamp_ms=doc["timestamp_ms"]), bytes.fromhex(doc["signature"]))


def _signed_head(doc: dict, key: bytes | None, what: str) -> merkle.TreeHead:
    """A tree head of the coordinator's log under the coordinator's listed key (LogError otherwise)."""
    head, sig = _head(doc)
    if head.log_id != COORDINATOR_ID:
        raise merkle.LogError(f"the {what} is of log {head.log_id!r}, not the coordinator's")
    if key is None:
        raise merkle.LogError("the federation list gives no key to the coordinator's role")
    merkle.verify_tree_head(head, sig, key)
    return head


def _check_log(b: TrustedBundle, report: Report) -> None:
    key = trusted.coordinator_key(b.fed)
    try:
        log = json.loads(b.files["log.json"])
        head = _signed_head(log["tree_head"], key, "tree head")
        report.add("signed tree head", True, f"log size {head.tree_size}")
    except (KeyError, ValueError, TypeError, TanjiError) as exc:
        report.add("signed tree head", False, str(exc))
        return
    bad, index = [], {}
    for h in b.order:
        entry = log["leaves"].get(h.hex())
        if entry is None or not merkle.verify_inclusion(merkle.leaf_hash(h), entry["index"], head.tree_size,
                                                        [bytes.fromhex(x) for x in entry["proof"]], head.root):
            bad.append(b.envelopes[h].type_name.removeprefix("MESSAGE_TYPE_").lower() + " " + h.hex()[:12])
        else:
            index[h] = entry["index"]
    report.add("inclusion in the log", not bad, f"not proven in the signed head: {', '.join(bad)}" if bad else
               f"{len(b.order)} envelopes proven")
    try:  # required: a head the coordinator signed before, which the exported head must extend
        if "earlier_head" not in log or "consistency" not in log:
            raise merkle.LogError("the bundle holds no earlier tree head and consistency proof")
        old = _signed_head(log["earlier_head"], key, "earlier tree head")
        aggs = [h for h in b.order if b.envelopes[h].body.message_type == MT.MESSAGE_TYPE_AGGREGATE]
        if not (0 < old.tree_size <= head.tree_size) or any(index.get(h, old.tree_size) >= old.tree_size
                                                           for h in aggs):
            raise merkle.LogError(f"the earlier head (size {old.tree_size}) does not cover the aggregate")
        ok = merkle.verify_consistency(old.tree_size, head.tree_size, old.root, head.root,
                                       [bytes.fromhex(x) for x in log["consistency"]])
        report.add("log consistency", ok, f"the head of size {head.tree_size} extends the earlier head of size "
                   f"{old.tree_size}" if ok else
                   f"the head of size {head.tree_size} does not extend the earlier head of size {old.tree_size}")
    except (KeyError, ValueError, TypeError, TanjiError) as exc:
        report.add("log consistency", False, str(exc))


def _check_aggregation(b: TrustedBundle, report: Report, found: dict[str, reexecution.Finding]) -> None:
    """The aggregate the bundle names is the one re-executed, then attested."""
    aggs = b.of(MT.MESSAGE_TYPE_AGGREGATE)
    problems = []
    answers = found.get(reexecution.ANSWERS)
    if answers is not None:
        report.add(answers.check, answers.ok, answers.detail)
    if len(aggs) == 1:
        order = [bytes.fromhex(h) for h in json.loads(b.files["aggregation.json"])["order"]]
        if order != list(aggs[0].payload.contribution_hashes):
            problems.append("aggregation.json order differs from the signed aggregate")
    merged = found.get(reexecution.MERGED_REQUESTS)
    if merged is not None:
        report.add(merged.check, merged.ok, merged.detail)
    summed = found[reexecution.AGGREGATION]
    report.add(summed.check, summed.ok and not problems, "; ".join(problems + [summed.detail]))
    if len(aggs) == 1:
        agg = aggs[0]
        atts = [a for a in b.of(MT.MESSAGE_TYPE_ATTESTATION) if a.body.answers_hash == agg.hash
                and a.payload.output_ciphertext_hash == agg.payload.output_ciphertext_hash]
        report.add("attested", bool(atts), f"{len(atts)} attestation(s) of this aggregate")


def _check_result(b: TrustedBundle, report: Report) -> None:
    results = b.of(MT.MESSAGE_TYPE_RESULT)
    reqs = b.of(MT.MESSAGE_TYPE_CALCULATION_REQUEST)
    aggs = b.of(MT.MESSAGE_TYPE_AGGREGATE)
    if len(results) != 1 or len(reqs) != 1 or len(aggs) != 1:
        report.add("key holder's result", False, f"{len(results)} results in the bundle")
        return
    res, req = results[0], reqs[0]
    problems = []
    if res.body.sender != req.payload.key_holder:
        problems.append(f"result signed by {res.body.sender!r}, not the key holder {req.payload.key_holder!r}")
    if res.body.answers_hash != aggs[0].hash:
        problems.append("the result does not answer this aggregate")
    if b.files.get("result.json") != res.payload.result_json:
        problems.append("result.json differs from the key holder's signed result")
    items = list(req.payload.products)
    docs = list(res.payload.batch_results_json) or [res.payload.result_json]
    if len(docs) != len(items) or docs[0] != res.payload.result_json:
        problems.append(f"{len(docs)} result documents for {len(items)} products")
        docs = []
    taken = fallbacks.taken(b.envelopes.values(), aggs[0].payload.contribution_hashes)
    for i, (item, raw) in enumerate(zip(items, docs, strict=False)):
        where = "" if len(items) == 1 else f"results/{item.product_id}.json: "
        if len(items) > 1 and b.files.get(f"results/{item.product_id}.json") != raw:
            problems.append(f"{where}differs from the key holder's signed result")
        try:
            doc = json.loads(raw)
            problems += [where + p for p in _document_problems(doc, item, b.manifest.get("calculation"))]
            if doc["product"] != f"{req.payload.target_organisation}/{item.product_id}":
                problems.append(f"{where}the result names another product")
            named = [t.as_json() for t in taken if t.in_block(i)]
            if doc.get("fallbacks") != named:
                problems.append(f"{where}the result names fallbacks {doc.get('fallbacks')}, the aggregate sums {named}")
            if i == 0:
                report.summary = {k: doc[k] for k in ("calculation", "product", "method", "total_kgco2e",
                                                      "per_kwh_kgco2e", "warnings_count")}
                report.summary["fallbacks"] = [t.as_json() for t in taken]
            if len(items) > 1:
                report.summary.setdefault("products", []).append(
                    {k: doc[k] for k in ("product", "total_kgco2e", "per_kwh_kgco2e", "warnings_count")})
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"{where}result is not a tanji.result/1 document: {exc}")
    report.add("key holder's result", not problems, "; ".join(problems))


def _document_problems(doc: dict, item, calculation: str | None) -> list[str]:
    """What is wrong with one released document against the product the request declared."""
    problems = []
    precision = doc["precision"] or 0.0
    tol = 10 * max(precision, 1e-12) * abs(doc["total_kgco2e"]) + 1e-9
    if doc["lifetime_energy_kwh"] is None:  # a product footprint: 0 kWh requested, no per-kWh figures
        if item.lifetime_energy_kwh != 0 or doc["per_kwh_kgco2e"] is not None:
            problems.append("a product footprint released for a declaration, or with per-kWh figures")
    elif doc["lifetime_energy_kwh"] != item.lifetime_energy_kwh:
        problems.append("lifetime energy differs from the declared one")
    elif abs(doc["per_kwh_kgco2e"] * doc["lifetime_energy_kwh"] - doc["total_kgco2e"]) > tol:
        problems.append("per-kWh figure does not follow from the total and the lifetime energy")
    if abs(sum(doc["stages_kgco2e"].values()) - doc["total_kgco2e"]) > tol:
        problems.append("stages do not add up to the total")
    if doc["calculation"] != calculation:
        problems.append("the result names another calculation")
    return problems
