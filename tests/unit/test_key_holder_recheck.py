"""The key holder's own check before its one decryption (#11 item 1; tanji.keyholder.recheck),
against evidence a requester colluding with the coordinator could hand it.

In process: real signatures, real CKKS ciphertexts re-added byte for byte. The requester `a`
names two suppliers, `b` and `c`; the coalition wants b's figure alone.
"""
from __future__ import annotations

import hashlib

import pytest

from tanji.he import tasks as he_tasks
from tanji.keyholder.recheck import recheck
from tanji.protocol import envelope as env
from tanji.protocol import messages
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

ROLES = {"coordinator": "coordinator", "keyholder": "key_holder", "a": "node", "b": "node", "c": "node"}
KEYS = {p: SigningKey.generate() for p in ROLES}
FEDERATION = Federation({p: ListedParty(p, r, KEYS[p].public_raw) for p, r in ROLES.items()})
CID = "calc-recheck-0000000000000001"
OWN = {"a": 100.0, "b": 30.0, "c": 7.0}


class Chain:
    """An honest calculation a <- {b, c}, sealed as each party seals it, and its objects."""

    def __init__(self):
        self.ck = ck = he_tasks.keygen(1, 1)
        self.objects: dict[bytes, bytes] = {}
        req = messages.calculation_request(
            epb.CalculationRequest(target_organisation="a", products=[epb.BatchItem(product_id="A")], depth_bound=1,
                                   batch_size=1, key_holder="keyholder"),
            calculation_id=CID, sender="a", receiver="coordinator",
            binding=Binding(factor_set_hash=b"\x05" * 32, method_profile=cpb.MethodProfile(name="miit-2025")))
        self.request = env.reopen(env.seal(req, KEYS["a"]))
        ka = messages.key_announcement(
            epb.KeyAnnouncement(key_fingerprint=ck.key_fingerprint, ckks_params_hash=ck.params_hash, preset=ck.preset,
                                context_object_hash=self.put(ck.public_context), width=ck.width),
            calculation_id=CID, sender="keyholder", receiver="coordinator", binding=Binding.of(self.request),
            answers=self.request.hash, objects=[])
        self.announcement = env.reopen(env.seal(ka, KEYS["keyholder"]))
        self.binding = Binding.of(self.request, self.announcement)
        root = self.request.hash
        self.requests = {s: self.seal(messages.request(
            epb.Request(supplier=s, product_id=s.upper(), quantity_unit="kg", depth_remaining=0,
                        weight_object_hash=self.put(b"weight of " + s.encode())),
            calculation_id=CID, sender="a", receiver=s, binding=self.binding, answers=root, objects=[]), "a")
            for s in ("b", "c")}
        self.declaration = self.declare("a", root, ["b", "c"])
        self.merged = {s: self.seal(messages.merged_request(
            epb.MergedRequest(supplier=s, product_id=s.upper(), parts=[epb.MergedPart(
                quantity_unit="kg", weight_object_hash=self.requests[s].payload.weight_object_hash,
                requests=[epb.RequestRef(buyer="a", request_hash=self.requests[s].hash,
                                         weight_object_hash=self.requests[s].payload.weight_object_hash)])],
                declaration_hashes=[self.declaration.hash]),
            calculation_id=CID, sender="coordinator", receiver=s, binding=self.binding, objects=[]), "coordinator")
            for s in ("b", "c")}
        self.leaves = {s: self.declare(s, self.merged[s].hash, []) for s in ("b", "c")}
        self.contributions = {"a": self.contribute("a", root)}
        self.contributions.update({s: self.contribute(s, self.merged[s].hash) for s in ("b", "c")})

    def put(self, data: bytes) -> bytes:
        digest = hashlib.sha256(data).digest()
        self.objects[digest] = data
        return digest

    def seal(self, body: epb.EnvelopeBody, party: str) -> env.Opened:
        return env.reopen(env.seal(body, KEYS[party]))

    def declare(self, party: str, answers: bytes, suppliers: list[str]) -> env.Opened:
        d = epb.Declaration()
        for s in suppliers:
            r = self.requests[s]
            d.requests.add(supplier=s, product_id=s.upper(), quantity_unit="kg",
                           weight_object_hash=r.payload.weight_object_hash, request_hash=r.hash)
        return self.seal(messages.declaration(d, calculation_id=CID, sender=party, receiver="coordinator",
                                              binding=self.binding, answers=answers), party)

    def contribute(self, party: str, answers: bytes) -> env.Opened:
        ct = he_tasks.answer(self.ck.public_context, None, [OWN[party], 0, 0, 0, 0, 0, 0, 0], 0, [],
                             self.ck.width).contribution
        c = epb.Contribution(product_id=party.upper(), ciphertext_hash=self.put(ct))
        return self.seal(messages.contribution(c, calculation_id=CID, sender=party, receiver="coordinator",
                                               binding=self.binding, answers=answers, objects=[]), party)

    def aggregate(self, summed: list[env.Opened]) -> env.Opened:
        out = self.put(he_tasks.add_all(self.ck.public_context,
                                        [self.objects[c.payload.ciphertext_hash] for c in summed], self.ck.width))
        agg = epb.Aggregate(output_ciphertext_hash=out, contribution_hashes=[c.hash for c in summed])
        return self.seal(messages.aggregate(agg, calculation_id=CID, sender="coordinator", receiver="keyholder",
                                            binding=self.binding, answers=self.request.hash, objects=[out]),
                         "coordinator")

    def check(self, evidence: list[env.Opened], summed: list[env.Opened]) -> None:
        recheck(FEDERATION, self.request, self.announcement, self.aggregate(summed),
                [o.envelope for o in evidence], lambda h, most: self.objects[h], lambda fn, *args: fn(*args))

    def honest(self) -> list[env.Opened]:
        return [*self.requests.values(), self.declaration, *self.merged.values(), *self.leaves.values(),
                *self.contributions.values()]


@pytest.fixture(scope="module")
def chain():
    return Chain()


def withheld(chain: Chain, evidence: list[env.Opened], summed: list[env.Opened]) -> int:
    with pytest.raises(Refusal) as info:
        chain.check(evidence, summed)
    return info.value.code


def test_the_honest_aggregate_passes(chain):
    chain.check(chain.honest(), list(chain.contributions.values()))


def test_b_alone_is_withheld_however_the_aggregate_lists_it(chain):
    assert withheld(chain, chain.honest(), [chain.contributions["b"]]) == cpb.REFUSAL_CODE_UNEXPECTED


def test_a_second_declaration_of_the_requesters_that_leaves_c_out_is_withheld(chain):
    """The colluding requester signs another declaration of its root naming b alone, and a root
    contribution of its own making: a complete-looking calculation of a and b. b's merged request
    names the declaration b answered under, which names c too: it must be in the evidence, and then
    the requester has two declarations of one answer."""
    forged = chain.declare("a", chain.request.hash, ["b"])
    shown = [chain.requests["b"], forged, chain.merged["b"], chain.leaves["b"], chain.contributions["a"],
             chain.contributions["b"]]
    summed = [chain.contributions["a"], chain.contributions["b"]]
    assert withheld(chain, shown, summed) == cpb.REFUSAL_CODE_UNEXPECTED
    assert withheld(chain, [*shown, chain.declaration], summed) == cpb.REFUSAL_CODE_UNEXPECTED
