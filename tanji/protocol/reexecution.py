"""Re-execute an aggregate from the calculation's signed evidence, with no key.

One procedure for everyone who checks what the coordinator summed: the auditor before it
attests (tanji.node) and `tanji audit verify` on a bundle (tanji.audit.verify). From the
calculation request, the key announcement and its context, the requests, merged requests,
declarations, dead-supplier notices, contributions and fallbacks and the aggregate, it checks

* that the aggregate answers this calculation's request under its announced key (answers_hash,
  calculation, key fingerprint, parameters, factor set, method, the request's key holder);
* that the aggregate sums contributions of this calculation, each once, all at hand;
* completeness (`tanji.protocol.completeness`): every declared request answered exactly once
  and nothing else summed;
* that each merged request's Enc(w) is the sum of the buyers' signed requests it lists, re-added
  byte for byte — w + w needs no key, so a coordinator could otherwise scale a supplier's weight;
* that the contributions, re-added in the aggregate's order (`tanji.he.tasks.add_all`, exact
  and deterministic), hash to the aggregate's output ciphertext.

`reexecute` yields one named `Finding` per check, lazily and in that order: an auditor refuses
on the first failure (`first_failure`) and runs nothing after it; a bundle report takes them all.
Every object it fetches is checked against its name (SHA-256) here, whatever fetcher it is given:
bytes served under another object's name are refused, never re-added.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tanji.he import tasks
from tanji.he.errors import HEError
from tanji.methodology import slots
from tanji.protocol import completeness
from tanji.protocol import envelope as env
from tanji.protocol.ahead import in_order
from tanji.protocol.identity import COORDINATOR_ID
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType

#: the checks' names, as reports print them
ANSWERS = "aggregate answers the request"
COMPLETENESS = "completeness"
MERGED_REQUESTS = "merged requests"
AGGREGATION = "aggregation re-executed"

SUMMED = (MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION)

#: runs one HE step: `run(tasks.add_all, context, ciphertexts, width)`; a node passes its worker pool
Runner = Callable[..., Any]


class MislabelledObject(Exception):
    """Bytes fetched under an object's name that do not hash to it."""

    def __init__(self, digest: bytes):
        self.digest = digest
        super().__init__(f"object {digest.hex()[:16]}… does not hash to its name")


def hash_checked(fetch: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """`fetch`, refusing (MislabelledObject) bytes that are not the object asked for."""
    def checked(digest: bytes) -> bytes:
        data = fetch(digest)
        if hashlib.sha256(data).digest() != digest:
            raise MislabelledObject(digest)
        return data
    return checked


@contextmanager
def spooled(items: Iterable[bytes]) -> Iterator[list[Path]]:
    """Each item written, in order, to a private temporary folder, and its file handed on instead of
    its bytes (`tasks.add_all` reads one at a time): the sum of a thousand contributions is gigabytes
    the summing party would otherwise hold at once. The folder is gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="tanji-sum-") as folder:
        paths = []
        for n, data in enumerate(items):
            path = Path(folder) / f"{n:06d}"
            path.write_bytes(data)
            paths.append(path)
        yield paths


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    #: the wire RefusalCode an auditor refuses with when the check fails
    code: int = cpb.REFUSAL_CODE_UNSPECIFIED


def first_failure(findings: Iterable[Finding]) -> Finding | None:
    """The first failed check; stops the (lazy) re-execution there."""
    return next((f for f in findings if not f.ok), None)


def _here(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def reexecute(envelopes: Iterable[env.Opened], context: bytes | None, fetch: Callable[[bytes], bytes], *,
              where: str, summed_only: bool = True, run: Runner = _here,
              merged_weights: bool = True, fetch_ahead: int = 0, spool: bool = False) -> Iterator[Finding]:
    """Check the calculation's one aggregate against its evidence; one `Finding` per check.

    `envelopes`: the verified evidence, the aggregate and the key announcement among it (and the
    summed contributions, whatever calculation they name); `context`: the announced public
    context's bytes (None: not at hand); `fetch(object hash) -> bytes`, raising KeyError for an
    object not at hand; `where` says where things were looked for, in the details.
    `summed_only`: completeness counts only the contributions the aggregate sums (an auditor, to
    whom the coordinator may deliver anything); False: every contribution in `envelopes` counts
    and the aggregate must sum exactly those (a bundle holds what was summed, nothing else).
    `merged_weights`: False skips re-adding the merged requests' Enc(w) — the key holder, which
    holds the secret key, must never fetch a request's ciphertext (q · Enc(w) would give it w);
    each supplier re-adds its own merged Enc(w) before it answers.
    `fetch_ahead`: objects fetched at once ahead of the re-addition (`tanji.protocol.ahead.in_order`); `spool`: the
    contributions are summed from files (`spooled`), not held in memory together (a party that pulls them).
    """
    envelopes = list(envelopes)
    fetch = hash_checked(fetch)
    held = {o.hash: o for o in envelopes}
    aggregates = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_AGGREGATE]
    if len(aggregates) != 1:
        yield Finding(AGGREGATION, False, f"{len(aggregates)} aggregates {where} (need 1)", cpb.REFUSAL_CODE_UNEXPECTED)
        yield _completeness(envelopes, where, None)
        return
    agg = aggregates[0]
    yield _answers(agg, envelopes, where)
    listed = list(agg.payload.contribution_hashes)
    wrong = _summed_problems(agg, listed, held, envelopes, where, summed_only)
    if wrong:
        yield Finding(AGGREGATION, False, "; ".join(text for _, text in wrong), wrong[0][0])
    yield _completeness(envelopes, where, listed if summed_only else None)
    keys = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT]
    unusable = _context_problem(keys, context, where)
    if unusable is not None or context is None:
        if unusable is not None and not wrong:
            yield Finding(AGGREGATION, False, unusable[1], unusable[0])
        return
    width = keys[0].payload.width or slots.WIDTH
    if merged_weights:
        yield _merged_weights(envelopes, context, width, fetch, run, where, fetch_ahead)
    if not wrong:
        yield _sum(agg, [held[h] for h in listed], context, width, fetch, run, where, fetch_ahead, spool)


def _answers(agg: env.Opened, envelopes: list[env.Opened], where: str) -> Finding:
    """The aggregate answers the calculation request, bound to its announced key."""
    requests = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_CALCULATION_REQUEST]
    keys = [o for o in envelopes if o.body.message_type == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT]
    if len(requests) != 1 or len(keys) != 1:
        return Finding(ANSWERS, False, f"{len(requests)} calculation requests and {len(keys)} key announcements "
                                       f"{where} (need 1 each)", cpb.REFUSAL_CODE_UNEXPECTED)
    req, ka, a = requests[0], keys[0], agg.body
    wrong = []
    if a.answers_hash != req.hash or a.calculation_id != req.body.calculation_id:
        wrong.append((cpb.REFUSAL_CODE_UNEXPECTED, "it answers another message than the calculation request"))
    if a.receiver != req.payload.key_holder:
        wrong.append((cpb.REFUSAL_CODE_UNEXPECTED, f"it is addressed to {a.receiver!r}, not the key holder"))
    if (a.key_fingerprint, a.ckks_params_hash) != (ka.payload.key_fingerprint, ka.payload.ckks_params_hash):
        wrong.append((cpb.REFUSAL_CODE_WRONG_KEY, "it names another key or parameters than the announced ones"))
    if a.factor_set_hash != req.body.factor_set_hash or a.method_profile != req.body.method_profile:
        wrong.append((cpb.REFUSAL_CODE_FACTOR_SET_MISMATCH, "it names another factor set or method than the request"))
    if wrong:
        return Finding(ANSWERS, False, "the aggregate does not answer the calculation request: "
                       + "; ".join(text for _, text in wrong), wrong[0][0])
    return Finding(ANSWERS, True, "the aggregate answers the calculation request under the announced key")


def _context_problem(keys: list[env.Opened], context: bytes | None, where: str) -> tuple[int, str] | None:
    """(refusal code, problem) when the calculation's announced context is not at hand."""
    if len(keys) != 1:
        return cpb.REFUSAL_CODE_UNEXPECTED, f"{len(keys)} key announcements {where} (need 1)"
    if context is None:
        return cpb.REFUSAL_CODE_MISSING_OBJECT, f"the announced context is not {where}"
    if hashlib.sha256(context).digest() != keys[0].payload.context_object_hash:
        return cpb.REFUSAL_CODE_HASH_MISMATCH, "the context is not the announced one"
    return None


def _summed_problems(agg: env.Opened, listed: list[bytes], held: dict[bytes, env.Opened],
                     envelopes: list[env.Opened], where: str, summed_only: bool) -> list[tuple[int, str]]:
    """(refusal code, problem) for what the aggregate lists, before anything is re-added."""
    out: list[tuple[int, str]] = []
    if agg.body.sender != COORDINATOR_ID:
        out.append((cpb.REFUSAL_CODE_UNKNOWN_PARTY, "the aggregate is not the coordinator's"))
    if not listed:
        out.append((cpb.REFUSAL_CODE_UNEXPECTED, "the aggregate sums no contribution"))
    for h in listed:
        c = held.get(h)
        if c is None:
            out.append((cpb.REFUSAL_CODE_MISSING_OBJECT, f"contribution {h.hex()[:12]} is not {where}"))
        elif c.body.message_type not in SUMMED:
            out.append((cpb.REFUSAL_CODE_UNEXPECTED, f"the aggregate sums a {c.type_name}, not a contribution"))
        elif c.body.calculation_id != agg.body.calculation_id:
            out.append((cpb.REFUSAL_CODE_UNEXPECTED, "a contribution of another calculation is in the sum"))
    if len(set(listed)) != len(listed):
        out.append((cpb.REFUSAL_CODE_UNEXPECTED, "the aggregate sums a contribution more than once"))
    if not summed_only:
        contributions = {o.hash for o in envelopes if o.body.message_type in SUMMED}
        if set(listed) != contributions:
            out.append((cpb.REFUSAL_CODE_UNEXPECTED,
                        f"the aggregate sums {len(listed)} contributions, {len(contributions)} are {where}"))
    return out


def _completeness(envelopes: list[env.Opened], where: str, summed: list[bytes] | None) -> Finding:
    found = completeness.problems(envelopes, where, summed)
    if found:
        return Finding(COMPLETENESS, False, "incomplete: " + "; ".join(found), cpb.REFUSAL_CODE_UNEXPECTED)
    n = {mt: sum(o.body.message_type == mt for o in envelopes)
         for mt in (MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_CONTRIBUTION, MT.MESSAGE_TYPE_DEAD_SUPPLIER)}
    return Finding(COMPLETENESS, True, f"{n[MT.MESSAGE_TYPE_REQUEST]} requests, {n[MT.MESSAGE_TYPE_CONTRIBUTION]} "
                                       f"contributions, {n[MT.MESSAGE_TYPE_DEAD_SUPPLIER]} fallbacks")


def _merged_weights(envelopes: list[env.Opened], context: bytes, width: int, fetch: Callable[[bytes], bytes],
                    run: Runner, where: str, ahead: int) -> Finding:
    """Each merged request's Enc(w) is the sum of the buyers' requests it lists, in order."""
    wrong = []
    parts = [(o, part, [r.weight_object_hash for r in part.requests]) for o in envelopes
             if o.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST for part in o.payload.parts]
    try:
        with closing(in_order(fetch, [h for _, _, refs in parts if len(refs) > 1 for h in refs],
                                      ahead)) as readd:
            for o, part, refs in parts:
                if not refs:
                    ok = False
                elif len(refs) == 1:
                    ok = part.weight_object_hash == refs[0]
                else:
                    total = run(tasks.add_all, context, [next(readd) for _ in refs], width)
                    ok = hashlib.sha256(total).digest() == part.weight_object_hash
                if not ok:
                    wrong.append(f"merged request to {o.payload.supplier}/{o.payload.product_id}: "
                                 "its Enc(w) is not the sum of its buyers' requests")
    except KeyError as exc:
        return Finding(MERGED_REQUESTS, False, f"object missing {where}: {exc}", cpb.REFUSAL_CODE_MISSING_OBJECT)
    except MislabelledObject as exc:
        return Finding(MERGED_REQUESTS, False, f"{exc} {where}", cpb.REFUSAL_CODE_HASH_MISMATCH)
    except HEError as exc:
        return Finding(MERGED_REQUESTS, False, f"a request ciphertext does not load: {exc}", tasks.refusal_code(exc))
    return Finding(MERGED_REQUESTS, not wrong, "; ".join(wrong) or "each merged Enc(w) is the sum of its buyers' "
                   "signed requests", cpb.REFUSAL_CODE_HASH_MISMATCH)


def _sum(agg: env.Opened, summed: list[env.Opened], context: bytes, width: int, fetch: Callable[[bytes], bytes],
         run: Runner, where: str, ahead: int, spool: bool) -> Finding:
    """The contributions re-added in the aggregate's order hash to its output ciphertext."""
    try:
        fetched = in_order(fetch, [c.payload.ciphertext_hash for c in summed], ahead)
        if spool:
            with spooled(fetched) as paths:
                total = run(tasks.add_all, context, paths, width)
        else:
            total = run(tasks.add_all, context, list(fetched), width)
    except KeyError as exc:
        return Finding(AGGREGATION, False, f"object missing {where}: {exc}", cpb.REFUSAL_CODE_MISSING_OBJECT)
    except MislabelledObject as exc:
        return Finding(AGGREGATION, False, f"{exc} {where}", cpb.REFUSAL_CODE_HASH_MISMATCH)
    except HEError as exc:
        return Finding(AGGREGATION, False, f"a ciphertext does not load: {exc}", tasks.refusal_code(exc))
    digest, named = hashlib.sha256(total).digest(), agg.payload.output_ciphertext_hash
    sums = f"the sum of {len(summed)} ciphertexts hashes to {digest.hex()[:16]}…"
    if digest == named:
        return Finding(AGGREGATION, True, f"{sums}, as the aggregate names")
    return Finding(AGGREGATION, False, f"re-executed aggregation does not match the coordinator's output: {sums}, "
                                       f"the aggregate names {named.hex()[:16]}…", cpb.REFUSAL_CODE_HASH_MISMATCH)
