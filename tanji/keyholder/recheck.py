"""The key holder's own check of an aggregate before its one decryption (DESIGN §2 step 6).

Attestations come from auditors the requester names — by default the requester's own node. A
requester colluding with the coordinator could attest an aggregate of one supplier's
contribution alone and have the key holder release that supplier's figure. So the key holder
does not rely on a party the requester controls: it re-runs the keyless completeness check and
the re-execution of the sum itself (tanji.protocol.reexecution, the auditor's procedure) from
the signed evidence the coordinator hands it with the work, each envelope verified against the
federation list.

It fetches the summed contributions' ciphertexts and nothing else: never a request's
q · Enc(w), which under its own key would give it w. Each supplier re-adds its merged Enc(w)
before it answers (tanji.node.buyers), so the merged-weights check is skipped here.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tanji.protocol import envelope as env
from tanji.protocol import limits, reexecution
from tanji.protocol.federation import Federation
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

log = logging.getLogger("tanji.keyholder")
MT = epb.MessageType
#: what the evidence may hold; the calculation request, the key and the aggregate are the key holder's own
EVIDENCE = (MT.MESSAGE_TYPE_REQUEST, MT.MESSAGE_TYPE_MERGED_REQUEST, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS,
            MT.MESSAGE_TYPE_DEAD_SUPPLIER, *reexecution.SUMMED)


def verified_evidence(federation: Federation, envelopes, cid: str, summed: set[bytes]) -> list[env.Opened]:
    """The evidence envelopes that verify against the federation list: of this calculation, or
    listed in the sum (a spliced contribution of another calculation is then named by the check)."""
    out = []
    for e in envelopes:
        try:
            o = env.open_envelope(e, federation.key_of)
        except env.EnvelopeRefused as exc:
            log.warning("%s: an evidence envelope does not verify (%s); left out", cid[:8], exc.message)
            continue
        if o.body.message_type in EVIDENCE and (o.body.calculation_id == cid or o.hash in summed):
            out.append(o)
    return out


def _unnamed_declarations(held: list[env.Opened]) -> list[str]:
    """Merged requests naming a buyer's declaration that is not in the evidence. A supplier answers
    only under the declarations its merged request names (tanji.node.buyers), and its contribution
    answers that merged request: so the evidence must hold them, and completeness then allows that
    buyer no other declaration — a requester cannot sign a second one that leaves suppliers out."""
    declared = {o.hash for o in held if o.body.message_type == MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS}
    return [f"the merged request to {o.payload.supplier}/{o.payload.product_id} names a declaration that is not "
            "handed to the key holder"
            for o in held if o.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST
            and any(h not in declared for h in o.payload.declaration_hashes)]


def recheck(federation: Federation, request: env.Opened, announcement: env.Opened, aggregate: env.Opened,
            evidence, pull: Callable[[bytes, int], bytes], run: Callable[..., Any]) -> None:
    """Refuse (the first failed check's code) unless the aggregate is the complete, re-executed
    sum of the calculation's signed contributions. `pull(object hash, max bytes)` fetches an object
    checked against its name; `run(fn, *args)` runs one HE step in the key holder's worker."""
    cid = request.body.calculation_id
    started = time.monotonic()
    summed = set(aggregate.payload.contribution_hashes)
    held = verified_evidence(federation, evidence, cid, summed)
    allowed = {o.payload.ciphertext_hash for o in held if o.hash in summed}

    def fetch(digest: bytes) -> bytes:
        if digest not in allowed:  # only the summed contributions' ciphertexts
            raise KeyError(digest.hex()[:12])
        return pull(digest, limits.MAX_CIPHERTEXT_BYTES)

    unnamed = _unnamed_declarations(held)
    if unnamed:
        raise Refusal(cpb.REFUSAL_CODE_UNEXPECTED, f"the key holder's own check ({reexecution.COMPLETENESS}): "
                                                   + "; ".join(unnamed))
    context = pull(announcement.payload.context_object_hash, limits.MAX_CONTEXT_BYTES)
    failed = reexecution.first_failure(reexecution.reexecute(
        [*held, request, announcement, aggregate], context, fetch, where="handed to the key holder", run=run,
        merged_weights=False, fetch_ahead=limits.FETCH_AHEAD, spool=True))
    if failed is not None:
        raise Refusal(failed.code, f"the key holder's own check ({failed.check}): {failed.detail}")
    log.info("%s: re-executed the aggregate from %d envelopes (%d contributions) in %.2f s", cid[:8], len(held),
             len(summed), time.monotonic() - started)
