"""Is a calculation complete? Checked from its signed envelopes alone, with no key.

Every declared request is routed exactly once (in one merged request, to a dead-supplier
notice, or in one merged request and then, its supplier dead, to a notice naming that merged
request), every merged request is answered exactly once by its supplier — with its contribution
and the declaration of the requests it made in turn — or by its buyers' fallbacks, and nothing
else is summed. It is one check of the re-execution (`tanji.protocol.reexecution`) that the
auditor runs before it attests an aggregate, so a coordinator that drops a supplier (or a whole
subtree) is refused before anything is decrypted, and that `tanji audit verify` runs again on
the bundle. A fallback resting on a dead-supplier notice its supplier contested, or next to
that supplier's own contribution to the same request, makes it incomplete (decision 0010).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType


def _label(o: env.Opened) -> str:
    return f"{o.payload.supplier}/{o.payload.product_id}"


def problems(envelopes: Iterable[env.Opened], where: str = "in the bundle",
             summed: Iterable[bytes] | None = None) -> list[str]:
    """Everything that makes the calculation incomplete, named (empty: complete).

    `envelopes`: the calculation's envelopes, one CALCULATION_REQUEST among them; `summed`: the
    message hashes the aggregate adds (None: every contribution and fallback in `envelopes`);
    `where` says where an envelope was looked for, in the messages."""
    by_type: dict[int, list[env.Opened]] = defaultdict(list)
    for o in envelopes:
        by_type[o.body.message_type].append(o)
    roots = by_type[MT.MESSAGE_TYPE_CALCULATION_REQUEST]
    if len(roots) != 1:
        return [f"{len(roots)} calculation requests {where} (need 1)"]
    req = roots[0]
    out = []
    contributions = by_type[MT.MESSAGE_TYPE_CONTRIBUTION]
    fallbacks = by_type[MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION]
    if summed is not None:
        summed = set(summed)
        contributions = [c for c in contributions if c.hash in summed]
        fallbacks = [f for f in fallbacks if f.hash in summed]
        unknown = summed - {c.hash for c in contributions + fallbacks}
        if unknown:
            out.append(f"the aggregate sums {len(unknown)} contribution(s) that are not {where}")
    requests = {o.hash: o for o in by_type[MT.MESSAGE_TYPE_REQUEST]}
    merged = {o.hash: o for o in by_type[MT.MESSAGE_TYPE_MERGED_REQUEST]}
    declarations = by_type[MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS]
    declared = set()
    for o in declarations:
        for d in o.payload.requests:
            declared.add(d.request_hash)
            if d.request_hash not in requests:
                out.append(f"{o.body.sender} declared a request to {d.supplier}/{d.product_id} that is not {where}")
            elif list(d.blocks) != list(requests[d.request_hash].payload.blocks):
                out.append(f"{o.body.sender} declared its request to {d.supplier}/{d.product_id} with other batch "
                           "blocks than the request names")
    merged_of = defaultdict(list)
    for o in merged.values():
        for part in o.payload.parts:
            for r in part.requests:
                merged_of[r.request_hash].append(o.hash)
                sent = requests.get(r.request_hash)
                if sent is not None and (
                        sent.body.sender != r.buyer or sent.payload.weight_object_hash != r.weight_object_hash
                        or (sent.payload.supplier, sent.payload.product_id, sent.payload.quantity_unit)
                        != (o.payload.supplier, o.payload.product_id, part.quantity_unit)):
                    out.append(f"merged request to {_label(o)} misstates {r.buyer}'s request")
    dead_of = {o.body.answers_hash: o for o in by_type[MT.MESSAGE_TYPE_DEAD_SUPPLIER]}
    out += _contested(dead_of.values(), by_type, where)
    for h, r in requests.items():
        via, dead = merged_of[h], dead_of.get(h)
        if dead is not None and (dead.payload.supplier, dead.payload.product_id) != (r.payload.supplier,
                                                                                      r.payload.product_id):
            out.append(f"request {r.body.sender}->{_label(r)} has a dead-supplier notice for {_label(dead)}")
        if dead is not None and via and via != [dead.payload.merged_request_hash]:
            # routed, then its supplier died: the notice names that very merged request
            out.append(f"request {r.body.sender}->{_label(r)} is declared dead against another merged request "
                       f"than the one it was routed in")
        elif len(via) > 1 or (not via and dead is None):
            out.append(f"request {r.body.sender}->{_label(r)} is routed {len(via) + (dead is not None)} times")
        if h not in declared:
            out.append(f"request {r.body.sender}->{_label(r)} was never declared by {r.body.sender}")
    answers = defaultdict(list)
    for o in contributions:
        answers[o.body.answers_hash].append(o)
    declared_for = defaultdict(list)
    for o in declarations:
        declared_for[(o.body.answers_hash, o.body.sender)].append(o)
    for target, items in answers.items():
        if target != req.hash and target not in merged:
            out.append(f"contribution from {items[0].body.sender} answers nothing {where}")
        elif len(items) > 1:
            out.append(f"{len(items)} contributions answer one request (from {items[0].body.sender})")
        elif target in merged and items[0].body.sender != merged[target].payload.supplier:
            out.append(f"{items[0].body.sender} answered a request sent to {merged[target].payload.supplier}")
        elif len(declared_for[(target, items[0].body.sender)]) != 1:
            what = f"{_label(merged[target])}" if target in merged else "its own product"
            n = len(declared_for[(target, items[0].body.sender)])
            out.append(f"{items[0].body.sender} answered {what} with {n} "
                       f"declarations of the requests it made {where} (need 1)")
    if not answers.get(req.hash):
        out.append("the requester's own product has no contribution")
    fallback_for = defaultdict(list)
    for o in fallbacks:
        fallback_for[o.body.answers_hash].append(o)
    for mh, o in merged.items():
        notices = [dead_of[r.request_hash] for p in o.payload.parts for r in p.requests if r.request_hash in dead_of]
        if not answers.get(mh) and not notices:
            out.append(f"request to {_label(o)} was never answered")
        elif answers.get(mh) and notices:  # counted twice: the supplier's figure and the fallback
            out.append(f"request to {_label(o)} was answered and also replaced by its buyers' fallbacks")
    for d in dead_of.values():  # a fallback answers the dead-supplier notice itself
        if len(fallback_for[d.hash]) != 1:
            out.append(f"dead supplier {_label(d)}: {len(fallback_for[d.hash])} fallbacks from {d.body.receiver}")
    return out


def _contested(notices: Iterable[env.Opened], by_type: dict[int, list[env.Opened]], where: str) -> list[str]:
    """A dead-supplier notice the supplier it names contested (a signed REFUSAL, DECLARED_DEAD,
    answering it), or whose supplier's own contribution to that request is at hand (summed or
    not): a fallback resting on it stands for a live supplier (decision 0010)."""
    out = []
    contests = {(o.body.answers_hash, o.body.sender) for o in by_type[MT.MESSAGE_TYPE_REFUSAL]
                if o.payload.code == cpb.REFUSAL_CODE_DECLARED_DEAD}
    answered = {(o.body.answers_hash, o.body.sender) for o in by_type[MT.MESSAGE_TYPE_CONTRIBUTION]}
    for d in notices:
        who = f"dead supplier {_label(d)} (notice to {d.body.receiver})"
        if (d.hash, d.payload.supplier) in contests:
            out.append(f"{who}: {d.payload.supplier} contests the notice, signed")
        if d.payload.merged_request_hash and (d.payload.merged_request_hash, d.payload.supplier) in answered:
            out.append(f"{who}: {d.payload.supplier}'s own contribution to that request is {where}")
    return out
