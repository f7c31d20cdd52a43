"""Fuzzing the envelope parser and the coordinator engine behind it.

* `tanji.protocol.envelope.parse` / `open_envelope` on random bytes and on byte-mutated valid envelopes of
  every message type: an envelope is opened or refused with `EnvelopeRefused` (a wire refusal
  code), nothing else.
* The coordinator engine in-process (real SQLite, real CKKS): valid envelopes of a running
  calculation, mutated field by field and **re-signed with the sender's own key** (so they pass
  the signature and reach the protocol logic), pushed through the entry point their RPC uses.
  Every outcome is a PushOutcome — accepted, or refused with a code and a message — never an
  exception (which gRPC would turn into UNKNOWN).
"""
from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanji.coordinator import db
from tanji.coordinator.service import Coordinator
from tanji.he import tasks as he_tasks
from tanji.infra.objectstore import ObjectStore
from tanji.protocol import envelope as env
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.fuzz import FAST, SLOW
from tests.fuzz.protofuzz import byte_mutations, mutate

MT = epb.MessageType
FS_HASH = hashlib.sha256(b"factor set").digest()
PARTIES = ("coordinator", "keyholder", "a", "b", "c")


class World:
    """A coordinator engine with one RUNNING calculation (a/A buys b/B), a second one awaiting its
    key, and a valid envelope of every type a party pushes — the fuzzer's seeds."""

    def __init__(self, root):
        self.keys = {p: SigningKey.generate() for p in PARTIES}
        roles = {"coordinator": "coordinator", "keyholder": "key_holder"}
        self.federation = Federation({p: ListedParty(p, roles.get(p, "node"), k.public_raw)
                                      for p, k in self.keys.items()})
        self.objects = ObjectStore(root / "objects")
        self.c = Coordinator.started(db.session_factory(db.make_engine(db.sqlite_url(root / "c.db"))), self.objects,
                                     self.keys["coordinator"], self.federation)
        self.seeds: dict[str, epb.Envelope] = {}
        self.seeds["registration"] = self.registration("a", ["A"], [("A", "b", "B")])
        assert self.c.register(self.seeds["registration"]).status == cpb.PUSH_STATUS_ACCEPTED
        assert self.c.register(self.registration("b", ["B"], [])).status == cpb.PUSH_STATUS_ACCEPTED
        self.keys_ = he_tasks.keygen(1)
        self.cid, self.request = self.start()
        self.seeds["calculation_request"] = self.calculation_request()[1]
        self.seeds["key_announcement"] = self.announcement(self.cid, self.request)
        assert self.c.publish_key(self.seeds["key_announcement"]).status == cpb.PUSH_STATUS_ACCEPTED
        cid2, request2 = self.start()
        self.seeds["key_announcement_2"] = self.announcement(cid2, request2)  # its calculation awaits a key
        answer = he_tasks.answer(self.keys_.public_context, [(self.keys_.unit_weight, 1.0)],
                                 [1.0, 2, 0, 0, 1, 2, 0, 0], 0, [2.0], self.keys_.width)
        self.request_object = self.objects.put(answer.requests[0])
        self.contribution_object = self.objects.put(answer.contribution)
        self.seeds["request"] = self.request_env()
        self.seeds["declaration"] = self.declaration()
        self.seeds["contribution"] = self.contribution()
        self.seeds["fallback_contribution"] = self.fallback()
        self.seeds["attestation"] = self.attestation()
        self.seeds["refusal"] = self.refusal()
        self.seeds["result"] = self.result()
        self.strings = ["a", "b", "c", "A", "B", "keyholder", "coordinator", self.cid, cid2, "miit-2025", "kg", ""]
        self.blobs = [self.request_hash, env.message_hash(request2), self.request_object, self.contribution_object,
                      self.keys_.key_fingerprint, self.keys_.params_hash, FS_HASH, b""]

    # ------------------------------------------------------------------ seeds
    def body(self, mt, sender, cid, receiver="coordinator"):
        b = env.new_body(mt, calculation_id=cid, sender=sender, receiver=receiver)
        b.factor_set_hash = FS_HASH
        b.method_profile.name, b.method_profile.version = "miit-2025", "1"
        if getattr(self, "keys_", None) is not None:
            b.key_fingerprint, b.ckks_params_hash = self.keys_.key_fingerprint, self.keys_.params_hash
        return b

    def registration(self, org, products, edges):
        b = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender=org, receiver="coordinator")
        b.registration.organisation_id = org
        b.registration.envelope_public_key = self.keys[org].public_raw
        b.registration.product_ids.extend(products)
        for bp, s, sp in edges:
            b.registration.supply_edges.add(buyer_product=bp, supplier=s, supplier_product=sp)
        return env.seal(b, self.keys[org])

    def calculation_request(self):
        cid = os.urandom(16).hex()
        b = self.body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "a", cid)
        r = b.calculation_request
        r.target_organisation = "a"
        r.products.add(product_id="A", lifetime_energy_kwh=1000.0)
        r.depth_bound, r.batch_size, r.key_holder, r.factor_set_id = 1, 1, "keyholder", "fs"
        r.deadline.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
        r.quantity_commitment = os.urandom(32)
        return cid, env.seal(b, self.keys["a"])

    def start(self):
        cid, sealed = self.calculation_request()
        out, got = self.c.start(sealed)
        assert out.status == cpb.PUSH_STATUS_ACCEPTED and got == cid, out.message
        self.request_hash = env.message_hash(sealed)
        return cid, sealed

    def announcement(self, cid, request):
        ctx = self.objects.put(self.keys_.public_context)
        unit = self.objects.put(self.keys_.unit_weight)
        b = self.body(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, "keyholder", cid)
        b.answers_hash = env.message_hash(request)
        b.object_hashes.extend([ctx, unit])
        ka = b.key_announcement
        ka.key_fingerprint, ka.ckks_params_hash = self.keys_.key_fingerprint, self.keys_.params_hash
        ka.preset, ka.context_object_hash, ka.transit_level = self.keys_.preset, ctx, self.keys_.transit_level
        ka.width, ka.unit_weight_object_hash = self.keys_.width, unit
        return env.seal(b, self.keys["keyholder"])

    def request_env(self):
        b = self.body(MT.MESSAGE_TYPE_REQUEST, "a", self.cid, receiver="b")
        b.answers_hash = env.message_hash(self.request)
        b.object_hashes.append(self.request_object)
        r = b.request
        r.supplier, r.product_id, r.quantity_unit, r.depth_remaining = "b", "B", "kg", 0
        r.weight_object_hash = self.request_object
        return env.seal(b, self.keys["a"])

    def declaration(self):
        b = self.body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "a", self.cid)
        b.answers_hash = env.message_hash(self.request)
        b.declaration.requests.add(supplier="b", product_id="B", quantity_unit="kg",
                                   weight_object_hash=self.request_object,
                                   request_hash=env.message_hash(self.seeds["request"]))
        return env.seal(b, self.keys["a"])

    def contribution(self):
        b = self.body(MT.MESSAGE_TYPE_CONTRIBUTION, "a", self.cid)
        b.answers_hash = env.message_hash(self.request)
        b.object_hashes.append(self.contribution_object)
        b.contribution.product_id, b.contribution.ciphertext_hash = "A", self.contribution_object
        b.contribution.record_commitment = os.urandom(32)
        return env.seal(b, self.keys["a"])

    def fallback(self):
        b = self.body(MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION, "a", self.cid)
        b.answers_hash = os.urandom(32)
        b.object_hashes.append(self.contribution_object)
        f = b.fallback_contribution
        f.supplier, f.product_id, f.ciphertext_hash = "b", "B", self.contribution_object
        f.request_hash = env.message_hash(self.seeds["request"])
        return env.seal(b, self.keys["a"])

    def attestation(self):
        b = self.body(MT.MESSAGE_TYPE_ATTESTATION, "a", self.cid)
        b.answers_hash = os.urandom(32)
        b.attestation.output_ciphertext_hash = self.contribution_object
        b.attestation.contribution_hashes.append(env.message_hash(self.seeds["contribution"]))
        return env.seal(b, self.keys["a"])

    def refusal(self):
        b = self.body(MT.MESSAGE_TYPE_REFUSAL, "b", self.cid)
        b.answers_hash = os.urandom(32)
        b.refusal.code, b.refusal.message = cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED, "not approved"
        return env.seal(b, self.keys["b"])

    def result(self):
        b = self.body(MT.MESSAGE_TYPE_RESULT, "keyholder", self.cid, receiver="a")
        b.answers_hash = os.urandom(32)
        b.result.result_json = b"{}"
        return env.seal(b, self.keys["keyholder"])

    # ------------------------------------------------------------------ the attack
    def resign(self, body: epb.EnvelopeBody, seed: epb.Envelope) -> epb.Envelope:
        """Sign the mutated body with the seed sender's key, under the seed type's domain tag."""
        seed_body = env.parse_unverified(seed).body
        key = self.keys[seed_body.sender]
        body.signer_key_fingerprint = env.key_fingerprint(key.public_raw)
        raw = body.SerializeToString()
        return epb.Envelope(body=raw, signature=key.sign(env.domain_tag(seed_body.message_type), raw))

    def submit(self, seed_name: str, envelope: epb.Envelope) -> list[cpb.PushOutcome]:
        """Through the engine entry the seed's RPC uses (what coordinator/server.py calls)."""
        mt = env.parse_unverified(self.seeds[seed_name]).body.message_type
        if mt == MT.MESSAGE_TYPE_REGISTRATION:
            return [self.c.register(envelope)]
        if mt == MT.MESSAGE_TYPE_CALCULATION_REQUEST:
            return [self.c.start(envelope)[0]]
        if mt == MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT:
            return [self.c.publish_key(envelope)]
        if mt == MT.MESSAGE_TYPE_RESULT:
            return [self.c.submit_result(envelope)]
        return self.c.push(env.parse_unverified(self.seeds[seed_name]).body.sender, [envelope])


def check_outcomes(outcomes: list[cpb.PushOutcome]) -> None:
    for o in outcomes:
        assert o.status in (cpb.PUSH_STATUS_ACCEPTED, cpb.PUSH_STATUS_ALREADY_ACCEPTED, cpb.PUSH_STATUS_REFUSED)
        if o.status == cpb.PUSH_STATUS_REFUSED:
            assert o.code != cpb.REFUSAL_CODE_UNSPECIFIED and o.message, o


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("fuzz-engine"))


SEEDS = ["registration", "calculation_request", "key_announcement", "key_announcement_2", "request", "declaration",
         "contribution", "fallback_contribution", "attestation", "refusal", "result"]


# ---------------------------------------------------------------------------- parser
def check_parse(world: World, envelope: epb.Envelope) -> None:
    for call in (env.parse_unverified, lambda e: env.open_envelope(e, world.federation.key_of)):
        try:
            opened = call(envelope)
        except env.EnvelopeRefused as exc:
            assert exc.code != cpb.REFUSAL_CODE_UNSPECIFIED and exc.message
            continue
        assert opened.payload is not None and opened.type_name.startswith("MESSAGE_TYPE_")


def envelope_bytes(world, data) -> epb.Envelope:
    seed = world.seeds[data.draw(st.sampled_from(SEEDS), label="seed")]
    body = data.draw(st.one_of(st.binary(max_size=400), byte_mutations(seed.body)), label="body")
    signature = data.draw(st.one_of(st.just(seed.signature), st.binary(max_size=80)), label="signature")
    return epb.Envelope(body=body, signature=signature)


@FAST
@given(data=st.data())
def test_fuzz_envelope_parser(world, data):
    check_parse(world, envelope_bytes(world, data))


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_envelope_parser_long(world, data):
    check_parse(world, envelope_bytes(world, data))


# ---------------------------------------------------------------------------- engine
def attack(world: World, data) -> None:
    name = data.draw(st.sampled_from(SEEDS), label="seed")
    seed = world.seeds[name]
    body = mutate(data, epb.EnvelopeBody.FromString(seed.body), world.strings, world.blobs)
    check_outcomes(world.submit(name, world.resign(body, seed)))


def _field_edit(seed: str, edit):
    """An explicit regression example: `edit(body)` on the seed, re-signed (what the fuzzer found)."""
    return seed, edit


def _empty_object_names(body: epb.EnvelopeBody) -> None:
    body.ClearField("object_hashes")
    body.object_hashes.append(b"")
    body.contribution.ciphertext_hash = b""


REGRESSIONS = [
    # an empty object name used to make the object store read its own folder (IsADirectoryError)
    _field_edit("contribution", _empty_object_names),
    _field_edit("key_announcement_2", lambda b: setattr(b.key_announcement, "context_object_hash", b"")),
    # timestamps beyond year 9999 used to raise from Timestamp.ToDatetime
    _field_edit("contribution", lambda b: setattr(b.created_at, "seconds", 2**62)),
    _field_edit("calculation_request", lambda b: setattr(b.calculation_request.deadline, "seconds", -2**62)),
]


@pytest.mark.parametrize("seed,edit", REGRESSIONS, ids=[f"{s}-{i}" for i, (s, _) in enumerate(REGRESSIONS)])
def test_engine_regressions(world, seed, edit):
    body = epb.EnvelopeBody.FromString(world.seeds[seed].body)
    edit(body)
    check_outcomes(world.submit(seed, world.resign(body, world.seeds[seed])))


@FAST
@given(data=st.data())
def test_fuzz_engine_with_resigned_mutations(world, data):
    attack(world, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_engine_with_resigned_mutations_long(world, data):
    attack(world, data)
