"""What the key holder releases from one decryption: one `tanji.result/1` per product block.

A calculation carries one product, or a batch of the requester's products, one slot block each
(DESIGN §6). Every block is checked on its own (slot 7, bounds, whole warning count, share and
DQR ranges: tanji.keyholder.bounds) and states the precision its own figures reached, so a batch
releases for each product exactly what that product's own calculation would — except the
citation counts, which count per calculation (one CITATION_REPORT for the whole batch).
"""
from __future__ import annotations

import numpy as np

from tanji.keyholder import bounds
from tanji.methodology import profiles, slots
from tanji.methodology.formats.result import (
    FactorSetRef,
    FallbackRef,
    build_result,
    committed_declaration,
    released_lifetime,
)
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.fallbacks import Taken
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

BUNDLE_NAME = "bundle.tar"


def documents(req: env.Opened, values: np.ndarray, precision: float, max_value: float, fallbacks: list[Taken],
              requester_warnings: list[str]) -> list[bytes]:
    """The result document of every product of the request, in its order; a Refusal (the whole
    release withheld) when any block fails its checks."""
    items = list(req.payload.products)
    cid = req.body.calculation_id
    blocks = [slots.block(values, b) for b in range(len(items))]
    for block in blocks:  # every block passes before any is released
        bounds.check_block(block, precision, max_value, cid)
    org = req.payload.target_organisation
    out = []
    for b, (item, block) in enumerate(zip(items, blocks, strict=True)):
        stated = bounds.reached_precision(values, len(items), req.payload.citation_slots, precision, cid, block=b)
        others = tuple(f"{org}/{i.product_id} " for c, i in enumerate(items) if c != b)
        try:  # FORMATS 1.1 §4: the declaration the requester signed, checked against its lifetime energy;
            # none and 0 kWh: a product footprint, released without per-kWh figures (§2)
            declaration = committed_declaration(item.declaration_json, req.body.method_profile.name,
                                                item.lifetime_energy_kwh)
            lifetime = released_lifetime(item.lifetime_energy_kwh, item.declaration_json)
        except ValueError as exc:
            where = "" if len(items) == 1 else f" (products[{b}])"
            raise Refusal(cpb.REFUSAL_CODE_MALFORMED, f"the calculation request's declaration{where}: {exc}") from None
        result = build_result(
            calculation=cid, product=f"{org}/{item.product_id}", profile=profiles.get(req.body.method_profile.name),
            factor_set=FactorSetRef(id=req.payload.factor_set_id, sha256=req.body.factor_set_hash.hex()),
            total=np.where(block < 0, 0.0, block), lifetime_energy_kwh=lifetime, precision=stated,
            fallbacks=[FallbackRef(supplier=t.supplier, product=t.product, buyer=t.buyer, tier=t.tier)
                       for t in fallbacks if t.in_block(b)],
            # the requester's own warnings, each labelled with its product: another target's are not this one's
            warnings=[w for w in requester_warnings if not w.startswith(others)] if others else requester_warnings,
            audit_bundle=BUNDLE_NAME, declared_unit=item.declared_unit or None, declaration=declaration)
        out.append(result.to_json().encode())
    return out


#: the signed envelope's header and signature beside a RESULT payload
ENVELOPE_OVERHEAD_BYTES = 4096


def check_size(result: epb.Result) -> None:
    """A RESULT must fit one envelope (the coordinator refuses a larger one, and the key is already
    spent): a catalogue whose documents do not fit is withheld by name, not lost. `calc start`
    splits catalogues so that this does not happen (tanji.cli.requester.split)."""
    if result.ByteSize() + ENVELOPE_OVERHEAD_BYTES > limits.MAX_ENVELOPE_BYTES:
        raise Refusal(cpb.REFUSAL_CODE_TOO_LARGE,
                      f"the results of {max(1, len(result.batch_results_json))} products take "
                      f"{result.ByteSize()} bytes, more than one envelope holds: calculate the catalogue "
                      "in smaller batches (result withheld)")
