"""A supplier applies its policy to its buyers' own signed envelopes, not to the coordinator's word
(#11 items 1 and 5; tanji.node.buyers, tanji.node.requests).

In process, no gRPC: real Ed25519 signatures (every envelope is verified against the federation
list before the supplier keeps it, as its daemon does), real CKKS ciphertexts re-added byte for
byte, the supplier's real store. The supplier's site is reduced to what these checks use.
"""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from tanji.he import tasks as he_tasks
from tanji.node import buyers, evidence
from tanji.node.policy import Policy
from tanji.node.requests import check_contributors, check_rate_limit
from tanji.node.site import Site
from tanji.node.store import CalcKey, Handled, NodeStore
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

ROLES = {"coordinator": "coordinator", "keyholder": "key_holder", "pack": "node", "cells": "node", "cathode": "node",
         "bms": "node", "rogue": "node"}
KEYS = {p: SigningKey.generate() for p in ROLES}
FEDERATION = Federation({p: ListedParty(p, r, KEYS[p].public_raw) for p, r in ROLES.items()})
FS = cpb.MethodProfile(name="miit-2025", version="1")


@pytest.fixture(scope="module")
def ck():
    return he_tasks.keygen(1, 1)


class SupplierSite:
    """What the policy and merged-request checks use of a node's Site: its store, id, policy, the
    objects it can pull (checked against their names) and its HE step (run here)."""

    def __init__(self, root, org: str, policy: Policy):
        self.store = NodeStore(root / f"{org}.db")
        self.org, self.policy = org, policy
        self.objects: dict[bytes, bytes] = {}

    def pull(self, cid: str, digest: bytes, most: int) -> bytes:
        data = self.objects[digest]
        assert hashlib.sha256(data).digest() == digest and len(data) <= most
        return data

    def compute(self, fn, *args):
        return fn(*args)

    @property
    def site(self) -> Site:
        """This stand-in where a node's Site is taken (it has what the checks use)."""
        return cast(Site, self)

    def deliver(self, *envelopes: epb.Envelope) -> list[env.Opened]:
        """Verify each envelope against the federation list and keep it, as the node daemon does."""
        out = [env.open_envelope(e, FEDERATION.key_of) for e in envelopes]
        for o in out:
            evidence.keep(self.store, o)
        return out


class Calculation:
    """One calculation as the supplier receives it: the requester's signed request, the key holder's
    announcement (accepted by the supplier), and helpers that seal what buyers and the coordinator send."""

    def __init__(self, site: SupplierSite, ck, cid: str, requester: str = "pack", roots=("PACK",), keyed=True):
        self.site, self.ck, self.cid = site, ck, cid
        body = messages.calculation_request(
            epb.CalculationRequest(target_organisation=requester, products=[epb.BatchItem(product_id=p) for p in roots],
                                   depth_bound=2, batch_size=len(roots), key_holder="keyholder"),
            calculation_id=cid, sender=requester, receiver="coordinator",
            binding=Binding(factor_set_hash=b"\x05" * 32, method_profile=FS))
        self.request = site.deliver(env.seal(body, KEYS[requester]))[0]
        ka = messages.key_announcement(
            epb.KeyAnnouncement(key_fingerprint=ck.key_fingerprint, ckks_params_hash=ck.params_hash, preset=ck.preset,
                                context_object_hash=hashlib.sha256(ck.public_context).digest(), width=ck.width,
                                unit_weight_object_hash=self.put(ck.unit_weight)),
            calculation_id=cid, sender="keyholder", receiver="coordinator", binding=Binding.of(self.request),
            answers=self.request.hash, objects=[])
        self.announcement = env.reopen(env.seal(ka, KEYS["keyholder"]))
        self.binding = Binding.of(self.request, self.announcement)
        if keyed:
            with site.store.sessions.begin() as s:
                s.add(CalcKey(calculation_id=cid, announcement=self.announcement.envelope.SerializeToString(),
                              context=ck.public_context))

    def put(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        self.site.objects[digest] = data
        return digest

    def weight(self, q: float) -> bytes:
        """A buyer's q · Enc(w) + Enc(0) (w = 1, re-randomised), as an object the supplier can pull."""
        return self.put(he_tasks.answer(self.ck.public_context, None, [0.0] * 8, 0, [q], self.ck.width).requests[0])

    def buyer(self, buyer: str, inputs: list[tuple[str, str]], q: float = 2.0,
              answers: bytes | None = None) -> dict[tuple[str, str], epb.Envelope]:
        """`buyer` answers (the calculation request, by default) naming `inputs` (supplier, product):
        its REQUESTs (each q · Enc(w)) and, last, its DECLARATION of them. {(supplier, product): REQUEST}
        and the declaration under the key ("declaration", buyer)."""
        answers = answers or self.request.hash
        out, declared = {}, epb.Declaration()
        for supplier, product in inputs:
            digest = self.weight(q)
            sealed = env.seal(messages.request(
                epb.Request(supplier=supplier, product_id=product, quantity_unit="kg", depth_remaining=1,
                            weight_object_hash=digest),
                calculation_id=self.cid, sender=buyer, receiver=supplier, binding=self.binding, answers=answers,
                objects=[digest]), KEYS[buyer])
            out[(supplier, product)] = sealed
            declared.requests.add(supplier=supplier, product_id=product, quantity_unit="kg", weight_object_hash=digest,
                                  request_hash=env.message_hash(sealed))
        out[("declaration", buyer)] = env.seal(messages.declaration(
            declared, calculation_id=self.cid, sender=buyer, receiver="coordinator", binding=self.binding,
            answers=answers), KEYS[buyer])
        return out

    def merged(self, product: str, requests: list[epb.Envelope], weight: bytes | None = None,
               fan_out: int = 0, refs: list[tuple[str, bytes, bytes]] | None = None,
               named: list[bytes] | None = None) -> env.Opened:
        """The coordinator's MERGED_REQUEST to the site for `product`, summing `requests` (or naming
        `weight` instead, and `refs` (buyer, request hash, weight hash) instead of the requests'),
        naming the buyers' declarations the supplier holds that list them (or `named`)."""
        opened = [env.reopen(r) for r in requests]
        cts = [self.site.objects[o.payload.weight_object_hash] for o in opened]
        if weight is None:
            weight = cts[0] if len(cts) == 1 else he_tasks.add_all(self.ck.public_context, cts, self.ck.width)
        mr = epb.MergedRequest(supplier=self.site.org, product_id=product, depth_remaining=1)
        part = mr.parts.add(quantity_unit="kg", weight_object_hash=self.put(weight))
        for buyer, h, w in refs if refs is not None else [(o.body.sender, o.hash, o.payload.weight_object_hash)
                                                          for o in opened]:
            part.requests.add(buyer=buyer, request_hash=h, weight_object_hash=w)
            mr.buyer_fan_out.add(buyer=buyer, inputs=fan_out)   # the coordinator's word: never trusted
        listed = {r.request_hash for r in part.requests}
        mr.declaration_hashes.extend(named if named is not None else [
            o.hash for o in evidence.of_calculation(self.site.store, self.cid)
            if o.body.message_type == epb.MESSAGE_TYPE_DECLARATION_OF_REQUESTS
            and any(d.request_hash in listed for d in o.payload.requests)])
        body = messages.merged_request(mr, calculation_id=self.cid, sender="coordinator", receiver=self.site.org,
                                       binding=self.binding, objects=[part.weight_object_hash])
        return env.reopen(env.seal(body, KEYS["coordinator"]))


def admit(site: SupplierSite, merged: env.Opened, requester: str = "pack") -> dict[str, int]:
    """The supplier's checks before it answers, in its order (tanji.node.requests.on_merged_request)."""
    contributors = buyers.signed_buyers(site.site, merged, requester)
    check_contributors(site.site, merged.payload.product_id, contributors)
    buyers.check_weights(site.site, merged)
    return contributors


def refused(site, merged, requester="pack") -> int:
    with pytest.raises(Refusal) as info:
        admit(site, merged, requester)
    return info.value.code


# ---------------------------------------------------------------- minimum contributors (item 5)

def test_a_dummy_product_of_the_requesters_own_is_no_contributor(tmp_path, ck):
    """10 × cells' product and 1 × a dummy product of the requester's own: two inputs, one
    contributor besides the requester. The coordinator claims a fan-out of 5: not believed."""
    site = SupplierSite(tmp_path, "cells", Policy(min_contributors=2))
    calc = Calculation(site, ck, "calc-dummy")
    sent = calc.buyer("pack", [("cells", "CELL"), ("pack", "DUMMY")], q=10.0)
    site.deliver(sent[("cells", "CELL")], sent[("declaration", "pack")])
    assert refused(site, calc.merged("CELL", [sent[("cells", "CELL")]], fan_out=5)) == \
        cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS


def test_several_products_of_one_supplier_count_once(tmp_path, ck):
    site = SupplierSite(tmp_path, "cells", Policy(min_contributors=2))
    calc = Calculation(site, ck, "calc-twice")
    sent = calc.buyer("pack", [("cells", "CELL"), ("cells", "CELL-B")])
    site.deliver(sent[("cells", "CELL")], sent[("declaration", "pack")])
    assert refused(site, calc.merged("CELL", [sent[("cells", "CELL")]], fan_out=2)) == \
        cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS


def test_the_requester_is_no_contributor_further_down(tmp_path, ck):
    """A tier-2 supplier: its buyer (cells) names it and a product of the requester (pack)."""
    site = SupplierSite(tmp_path, "cathode", Policy(min_contributors=2))
    calc = Calculation(site, ck, "calc-tier2")
    sent = calc.buyer("cells", [("cathode", "CAM"), ("pack", "FOIL")], answers=b"\x01" * 32)
    site.deliver(sent[("cathode", "CAM")], sent[("declaration", "cells")])
    merged = calc.merged("CAM", [sent[("cathode", "CAM")]])
    assert buyers.signed_buyers(site.site, merged, "pack") == {"cells": 1}
    assert refused(site, merged) == cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS


def test_two_distinct_other_organisations_are_enough(tmp_path, ck):
    site = SupplierSite(tmp_path, "cells", Policy(min_contributors=2))
    calc = Calculation(site, ck, "calc-two")
    sent = calc.buyer("pack", [("cells", "CELL"), ("bms", "BMS"), ("pack", "DUMMY")])
    site.deliver(sent[("cells", "CELL")], sent[("declaration", "pack")])
    assert admit(site, calc.merged("CELL", [sent[("cells", "CELL")]])) == {"pack": 2}


# ---------------------------------------------------------------- the merged request itself (item 1)

def test_the_key_holders_enc1_in_place_of_the_buyers_weight_is_refused(tmp_path, ck):
    """The isolation attack: the coordinator hands the supplier Enc(1) (the key holder's, public)
    naming a real buyer and its real request. Re-added, the buyer's request is another ciphertext."""
    site = SupplierSite(tmp_path, "cathode", Policy())
    calc = Calculation(site, ck, "calc-enc1")
    sent = calc.buyer("cells", [("cathode", "CAM"), ("bms", "BMS")], answers=b"\x01" * 32)
    site.deliver(sent[("cathode", "CAM")], sent[("declaration", "cells")])
    forged = calc.merged("CAM", [sent[("cathode", "CAM")]], weight=ck.unit_weight, fan_out=5)
    assert refused(site, forged) == cpb.REFUSAL_CODE_HASH_MISMATCH
    honest = calc.merged("CAM", [sent[("cathode", "CAM")]])
    assert admit(site, honest) == {"cells": 2}


def test_a_buyer_whose_signed_request_was_not_delivered_is_refused(tmp_path, ck):
    site = SupplierSite(tmp_path, "cathode", Policy())
    calc = Calculation(site, ck, "calc-made-up")
    sent = calc.buyer("cells", [("cathode", "CAM")], answers=b"\x01" * 32)
    site.deliver(sent[("declaration", "cells")])        # the request itself never arrives
    assert refused(site, calc.merged("CAM", [sent[("cathode", "CAM")]])) == cpb.REFUSAL_CODE_MISSING_OBJECT
    unit = calc.put(ck.unit_weight)                     # a buyer and request the coordinator made up
    made_up = calc.merged("CAM", [sent[("cathode", "CAM")]], weight=ck.unit_weight,
                          refs=[("cells", b"\x09" * 32, unit)])
    assert refused(site, made_up) == cpb.REFUSAL_CODE_MISSING_OBJECT


def test_a_merged_request_misstating_the_signed_request_is_refused(tmp_path, ck):
    site = SupplierSite(tmp_path, "cathode", Policy())
    calc = Calculation(site, ck, "calc-misstated")
    sent = calc.buyer("cells", [("cathode", "CAM")], answers=b"\x01" * 32)
    request = site.deliver(sent[("cathode", "CAM")], sent[("declaration", "cells")])[0]
    unit = calc.put(ck.unit_weight)
    for refs in ([("cells", request.hash, unit)],                                 # the buyer's ciphertext is not Enc(1)
                 [("bms", request.hash, request.payload.weight_object_hash)],     # nor is it bms's request
                 [("cells", request.hash, request.payload.weight_object_hash)] * 2):  # nor counted twice
        merged = calc.merged("CAM", [sent[("cathode", "CAM")]], refs=refs)
        assert refused(site, merged) == cpb.REFUSAL_CODE_UNEXPECTED
    other = calc.buyer("cells", [("cathode", "CAM-B")], answers=b"\x01" * 32)       # a request for another product
    site.deliver(other[("cathode", "CAM-B")], other[("declaration", "cells")])
    assert refused(site, calc.merged("CAM", [other[("cathode", "CAM-B")]])) == cpb.REFUSAL_CODE_UNEXPECTED


def test_a_request_without_its_signed_declaration_is_refused(tmp_path, ck):
    site = SupplierSite(tmp_path, "cathode", Policy())
    calc = Calculation(site, ck, "calc-undeclared")
    sent = calc.buyer("cells", [("cathode", "CAM")], answers=b"\x01" * 32)
    site.deliver(sent[("cathode", "CAM")])
    assert refused(site, calc.merged("CAM", [sent[("cathode", "CAM")]])) == cpb.REFUSAL_CODE_MISSING_OBJECT


def test_a_declaration_the_merged_request_does_not_name_is_not_used(tmp_path, ck):
    """The supplier's contribution answers the merged request, which names the declarations it was
    checked under: the key holder later insists on exactly those (tanji.keyholder.recheck)."""
    site = SupplierSite(tmp_path, "cathode", Policy())
    calc = Calculation(site, ck, "calc-unnamed")
    sent = calc.buyer("cells", [("cathode", "CAM")], answers=b"\x01" * 32)
    site.deliver(sent[("cathode", "CAM")], sent[("declaration", "cells")])
    assert refused(site, calc.merged("CAM", [sent[("cathode", "CAM")]], named=[])) == cpb.REFUSAL_CODE_MISSING_OBJECT


def test_two_buyers_weights_are_re_added_byte_for_byte(tmp_path, ck):
    site = SupplierSite(tmp_path, "cathode", Policy(min_contributors=2))
    calc = Calculation(site, ck, "calc-two-buyers")
    by_pack = calc.buyer("pack", [("cathode", "CAM"), ("cells", "CELL")], q=2.0)
    by_cells = calc.buyer("cells", [("cathode", "CAM"), ("bms", "BMS")], q=0.4, answers=b"\x01" * 32)
    both = [by_cells[("cathode", "CAM")], by_pack[("cathode", "CAM")]]
    site.deliver(*both, by_pack[("declaration", "pack")], by_cells[("declaration", "cells")])
    assert admit(site, calc.merged("CAM", both)) == {"cells": 2, "pack": 1 + 1}
    doubled = he_tasks.add_all(ck.public_context, [site.objects[env.reopen(both[0]).payload.weight_object_hash]] * 2
                               + [site.objects[env.reopen(both[1]).payload.weight_object_hash]], ck.width)
    assert refused(site, calc.merged("CAM", both, weight=doubled)) == cpb.REFUSAL_CODE_HASH_MISMATCH


# ---------------------------------------------------------------- rate limit per (requester, supplier product)

def answered(site: SupplierSite, calc: Calculation, product: str, at: datetime | None = None,
             code: int | None = None) -> None:
    """The supplier answered (or, with `code`, refused) a merged request of `calc` for `product`."""
    sent = calc.buyer(calc.request.body.sender, [(site.org, product)])
    merged = calc.merged(product, [sent[(site.org, product)]])
    site.deliver(merged.envelope)
    with site.store.sessions.begin() as s:
        s.add(Handled(hash=merged.hash, calculation_id=calc.cid, kind="MESSAGE_TYPE_MERGED_REQUEST",
                      outcome="answered", refusal_code=code, handled_at=at or datetime.now(UTC)))


def test_renaming_the_root_product_does_not_reset_the_limit(tmp_path, ck):
    site = SupplierSite(tmp_path, "cells", Policy(rate_limit=(2, 1.0)))
    answered(site, Calculation(site, ck, "calc-1", roots=("PACK",), keyed=False), "CELL")
    answered(site, Calculation(site, ck, "calc-2", roots=("PACK-RENAMED",), keyed=False), "CELL")
    Calculation(site, ck, "calc-3", roots=("PACK-RENAMED-AGAIN",))
    with pytest.raises(Refusal) as info:
        check_rate_limit(site.site, "calc-3", "CELL")
    assert info.value.code == cpb.REFUSAL_CODE_RATE_LIMITED


def test_the_limit_counts_only_this_requester_this_product_this_window_and_answers(tmp_path, ck):
    site = SupplierSite(tmp_path, "cells", Policy(rate_limit=(2, 1.0)))
    answered(site, Calculation(site, ck, "calc-1", keyed=False), "CELL")
    answered(site, Calculation(site, ck, "calc-2", keyed=False), "CELL-B")                    # another product
    answered(site, Calculation(site, ck, "calc-3", requester="rogue", keyed=False), "CELL")   # another requester
    answered(site, Calculation(site, ck, "calc-4", keyed=False), "CELL",
             at=datetime.now(UTC) - timedelta(days=2))                                        # outside the window
    answered(site, Calculation(site, ck, "calc-5", keyed=False), "CELL",
             code=cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS)                                      # refused: used nothing
    Calculation(site, ck, "calc-6")
    check_rate_limit(site.site, "calc-6", "CELL")                                                  # the second of two
    Calculation(site, ck, "calc-7", roots=("PACK", "PACK-2"))                                 # a batch of two
    with pytest.raises(Refusal) as info:
        check_rate_limit(site.site, "calc-7", "CELL")
    assert info.value.code == cpb.REFUSAL_CODE_RATE_LIMITED


def test_the_limit_is_keyed_on_the_request_the_key_holder_answered(tmp_path, ck):
    """A second calculation request under the same id, signed by another party, does not move the
    count to that party: the supplier takes the request whose hash the accepted key answers."""
    site = SupplierSite(tmp_path, "cells", Policy(rate_limit=(1, 1.0)))
    answered(site, Calculation(site, ck, "calc-1", keyed=False), "CELL")
    Calculation(site, ck, "calc-2", requester="rogue", keyed=False)   # delivered first, not the keyed one
    Calculation(site, ck, "calc-2")
    with pytest.raises(Refusal) as info:
        check_rate_limit(site.site, "calc-2", "CELL")
    assert info.value.code == cpb.REFUSAL_CODE_RATE_LIMITED
