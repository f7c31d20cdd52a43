"""`tanji audit verify BUNDLE --trust ANCHOR`: is the declared total exactly the aggregate of
complete, signed contributions? Needs no key and no network — the bundle and the anchor.

Every check is named; a failed check never stops the others, so the report lists
every problem. Completeness, the merged requests and the homomorphic aggregation are
re-executed byte for byte by the procedure the auditor ran before it attested
(`tanji.protocol.reexecution`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from tanji.errors import TanjiError
from tanji.protocol import envelope as env
from tanji.protocol import merkle, reexecution
from tanji.protocol.bundle import BUNDLE_SCHEMA, MANIFEST_TAG, BundleFormatError, unpack
from tanji.protocol.federation import Federation, UntrustedFederation, check_list
from tanji.protocol.signing import BadSignature, verify
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_json(self) -> str:
        return json.dumps({"ok": self.ok, "summary": self.summary,
                           "checks": [c.__dict__ for c in self.checks]}, indent=2)


class _Bundle:
    """The parsed bundle: files, manifest, envelopes by hash."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.manifest = json.loads(files["manifest.json"])
        self.envelopes: dict[bytes, env.Opened] = {}
        self.order: list[bytes] = []

    def of(self, mt: int) -> list[env.Opened]:
        return [o for o in self.envelopes.values() if o.body.message_type == mt]


def verify_bundle(data: bytes, anchor: bytes) -> Report:
    report = Report()
    try:
        files = unpack(data)
    except BundleFormatError as exc:
        report.add("bundle format", False, str(exc))
        return report
    for required in ("manifest.json", "manifest.sig", "federation.json", "federation.sig", "log.json",
                     "aggregation.json"):
        if required not in files:
            report.add("bundle format", False, f"missing {required}")
            return report
    b = _Bundle(files)
    fed = _check_trust(b, anchor, report)
    if fed is None:
        return report
    _check_manifest(b, fed, report)
    _check_envelopes(b, fed, report)
    found = _reexecute(b)
    _check_structure(b, report, found[reexecution.COMPLETENESS])
    _check_log(b, fed, report)
    _check_aggregation(b, report, found)
    _check_result(b, report)
    return report


def _check_trust(b: _Bundle, anchor: bytes, report: Report) -> Federation | None:
    try:
        check_list(b.files["federation.json"], b.files["federation.sig"], anchor, "the bundle's federation list")
        fed = Federation.parse(b.files["federation.json"], "federation.json")
    except (UntrustedFederation, TanjiError) as exc:
        report.add("trust anchor", False, str(exc))
        return None
    report.add("trust anchor", True, "federation list signed by the pinned registry key")
    return fed


def _check_manifest(b: _Bundle, fed: Federation, report: Report) -> None:
    coordinator = fed.key_of(b.manifest.get("coordinator", ""))
    try:
        if coordinator is None:
            raise BadSignature("the manifest names no listed coordinator")
        verify(coordinator, MANIFEST_TAG, b.files["manifest.json"], b.files["manifest.sig"])
        report.add("manifest signature", True)
    except BadSignature as exc:
        report.add("manifest signature", False, str(exc))
    report.add("manifest schema", b.manifest.get("schema") == BUNDLE_SCHEMA, f"schema {b.manifest.get('schema')!r}")
    listed = b.manifest.get("files", {})
    present = {n for n in b.files if n not in ("manifest.json", "manifest.sig")}
    missing, extra = sorted(set(listed) - present), sorted(present - set(listed))
    wrong = sorted(n for n in set(listed) & present if hashlib.sha256(b.files[n]).hexdigest() != listed[n])
    found = [f"missing {missing}" if missing else "", f"not in manifest {extra}" if extra else "",
             f"hash differs {wrong}" if wrong else ""]
    report.add("manifest covers every file", not (missing or extra or wrong), "; ".join(filter(None, found)))


def _check_envelopes(b: _Bundle, fed: Federation, report: Report) -> None:
    bad, foreign = [], []
    cid = b.manifest.get("calculation")
    for name in sorted(n for n in b.files if n.startswith("envelopes/")):
        try:
            e = epb.Envelope.FromString(b.files[name])
            opened = env.open_envelope(e, fed.key_of)
        except Exception as exc:
            bad.append(f"{name}: {exc}")
            continue
        if opened.body.calculation_id != cid:
            foreign.append(f"{name} belongs to calculation {opened.body.calculation_id!r}")
        b.envelopes[opened.hash] = opened
        b.order.append(opened.hash)
    report.add("signatures", not bad, "; ".join(bad) or f"{len(b.envelopes)} envelopes signed by listed parties")
    report.add("one calculation", not foreign, "; ".join(foreign))


def _reexecute(b: _Bundle) -> dict[str, reexecution.Finding]:
    """Every check of the re-execution, by name: a report names every problem."""
    keys = b.of(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    context = b.files.get(f"objects/{keys[0].payload.context_object_hash.hex()}") if len(keys) == 1 else None
    findings = reexecution.reexecute(b.envelopes.values(), context, lambda h: b.files[f"objects/{h.hex()}"],
                                     where="in the bundle", summed_only=False)
    return {f.check: f for f in findings}


def _check_structure(b: _Bundle, report: Report, complete: reexecution.Finding) -> None:
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


def _check_log(b: _Bundle, fed: Federation, report: Report) -> None:
    try:
        log = json.loads(b.files["log.json"])
        head, sig = _head(log["tree_head"])
        merkle.verify_tree_head(head, sig, fed.key_of(head.log_id) or b"\0" * 32)
        report.add("signed tree head", True, f"log size {head.tree_size}")
    except (KeyError, ValueError, TanjiError) as exc:
        report.add("signed tree head", False, str(exc))
        return
    bad = []
    for h in b.order:
        entry = log["leaves"].get(h.hex())
        if entry is None or not merkle.verify_inclusion(merkle.leaf_hash(h), entry["index"], head.tree_size,
                                                        [bytes.fromhex(x) for x in entry["proof"]], head.root):
            bad.append(b.envelopes[h].type_name.removeprefix("MESSAGE_TYPE_").lower() + " " + h.hex()[:12])
    report.add("inclusion in the log", not bad, f"not proven in the signed head: {', '.join(bad)}" if bad else
               f"{len(b.order)} envelopes proven")
    if "earlier_head" in log:
        try:
            old, old_sig = _head(log["earlier_head"])
            merkle.verify_tree_head(old, old_sig, fed.key_of(old.log_id) or b"\0" * 32)
            ok = merkle.verify_consistency(old.tree_size, head.tree_size, old.root, head.root,
                                           [bytes.fromhex(x) for x in log.get("consistency", [])])
            report.add("log consistency", ok, "" if ok else
                       f"the head of size {head.tree_size} does not extend the earlier head of size {old.tree_size}")
        except (KeyError, ValueError, TanjiError) as exc:
            report.add("log consistency", False, str(exc))


def _check_aggregation(b: _Bundle, report: Report, found: dict[str, reexecution.Finding]) -> None:
    """The aggregate the bundle names is the one re-executed, then attested."""
    aggs = b.of(MT.MESSAGE_TYPE_AGGREGATE)
    problems = []
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


def _check_result(b: _Bundle, report: Report) -> None:
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
    try:
        doc = json.loads(res.payload.result_json)
        item = req.payload.products[0]
        precision = doc["precision"] or 0.0
        if doc["lifetime_energy_kwh"] != item.lifetime_energy_kwh:
            problems.append("lifetime energy differs from the declared one")
        tol = 10 * max(precision, 1e-12) * abs(doc["total_kgco2e"]) + 1e-9
        if abs(doc["per_kwh_kgco2e"] * doc["lifetime_energy_kwh"] - doc["total_kgco2e"]) > tol:
            problems.append("per-kWh figure does not follow from the total and the lifetime energy")
        stages = sum(doc["stages_kgco2e"].values())
        if abs(stages - doc["total_kgco2e"]) > tol:
            problems.append("stages do not add up to the total")
        if doc["calculation"] != b.manifest.get("calculation") or doc["product"] != b.manifest.get("product"):
            problems.append("the result names another calculation or product")
        report.summary = {k: doc[k] for k in ("calculation", "product", "method", "total_kgco2e", "per_kwh_kgco2e",
                                              "warnings_count")}
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"result is not a tanji.result/1 document: {exc}")
    report.add("key holder's result", not problems, "; ".join(problems))
