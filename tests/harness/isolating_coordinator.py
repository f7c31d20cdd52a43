"""A coordinator colluding with the requester to isolate one supplier's figure (#11 item 1).

`tests.harness.evil_coordinator` with two more attacks, run as its own process
(`python -m tests.harness.isolating_coordinator`), honest until the test writes `attack.json`:

* ``isolate`` (supplier, buyer): the MERGED_REQUEST to `supplier` carries the key holder's public
  Enc(1) — listed in every key announcement — instead of the sum of its buyers' requests, names
  only the real `buyer` (with that buyer's genuine signed request) and claims a fan-out of 5 for
  it; then the AGGREGATE sums that supplier's contribution alone, Enc(1) ⊙ own(p): decrypted, it
  is exactly own(p).
* ``lone-aggregate`` (supplier): the merged requests are honest, but the AGGREGATE sums the
  supplier's contribution alone (its output is the true sum of what it lists).

In both, the aggregate is never delivered to the auditors (the honest requester's node would
refuse it): the colluding requester attests it instead, which the test does with the requester's
own key.
"""
from __future__ import annotations

import logging

from tanji.coordinator import db
from tanji.coordinator.context import CalcContext
from tanji.coordinator.transactions import reopen
from tanji.he import tasks as he_tasks
from tanji.protocol import envelope as env
from tanji.v1 import envelope_pb2 as epb
from tests.harness import evil_coordinator
from tests.harness.evil_coordinator import EvilCore, read_attack

log = logging.getLogger("tanji.isolating-coordinator")
MT = epb.MessageType
MODES = ("isolate", "lone-aggregate")
#: the fan-out the forged merged request claims for its buyer
CLAIMED_FAN_OUT = 5


class IsolatingCore(EvilCore):
    def seal(self, s, body: epb.EnvelopeBody) -> env.Opened:
        a = read_attack(self.state)
        mode = a.get("mode")
        if mode in MODES:
            ctx = CalcContext.of(s, s.get(db.Calculation, body.calculation_id))
            if (mode == "isolate" and body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST
                    and body.merged_request.supplier == a["supplier"]):
                self._forge_weight(s, ctx, body, a["buyer"])
            if body.message_type == MT.MESSAGE_TYPE_AGGREGATE:
                self._isolate_sum(s, ctx, body, a["supplier"])
        return super().seal(s, body)

    def _forge_weight(self, s, ctx: CalcContext, body: epb.EnvelopeBody, buyer: str) -> None:
        assert ctx.calc.key_announcement_hash is not None  # merged requests follow the key
        unit = reopen(s, ctx.calc.key_announcement_hash).payload.unit_weight_object_hash  # Enc(1), public
        mr = body.merged_request
        kept = [(p.quantity_unit, r) for p in mr.parts for r in p.requests if r.buyer == buyer]
        del mr.parts[:]
        part = mr.parts.add(quantity_unit=kept[0][0], weight_object_hash=unit)
        part.requests.extend(r for _, r in kept)
        del mr.buyer_fan_out[:]
        mr.buyer_fan_out.add(buyer=buyer, inputs=CLAIMED_FAN_OUT)
        del body.object_hashes[:]
        body.object_hashes.append(unit)
        log.warning("ATTACK isolate: %s gets Enc(1) naming %s with a fan-out of %d", mr.supplier, buyer,
                    CLAIMED_FAN_OUT)

    def _isolate_sum(self, s, ctx: CalcContext, body: epb.EnvelopeBody, supplier: str) -> None:
        agg = body.aggregate
        alone = [h for h in agg.contribution_hashes if self._sender(s, h) == supplier]
        out = self.objects.put(he_tasks.add_all(ctx.public_context(self.objects), [self._ct(s, h) for h in alone],
                                                ctx.width))
        declarations = [h for h in agg.declaration_hashes if self._sender(s, h) == supplier]
        del agg.contribution_hashes[:], agg.declaration_hashes[:], body.object_hashes[:]
        agg.contribution_hashes.extend(alone)
        agg.declaration_hashes.extend(declarations)
        agg.output_ciphertext_hash = out
        body.object_hashes.append(out)
        log.warning("ATTACK %s: the aggregate of %s sums %s's contribution alone", read_attack(self.state)["mode"],
                    ctx.id[:8], supplier)

    def deliver(self, s, party: str, h: bytes) -> None:
        if (read_attack(self.state).get("mode") in MODES
                and s.get(db.StoredEnvelope, h).message_type == MT.Name(MT.MESSAGE_TYPE_AGGREGATE)):
            log.warning("ATTACK: the aggregate is kept from %s; the requester attests it", party)
            return
        super().deliver(s, party, h)


def main() -> None:
    evil_coordinator.EvilCore = IsolatingCore  # type: ignore[misc]  # the evil coordinator's process, this core
    evil_coordinator.main()


if __name__ == "__main__":
    main()
