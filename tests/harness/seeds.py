"""The in-process world with a valid envelope of every type a party pushes: the fuzzers' seeds.

One calculation (a/A buys b/B) is RUNNING with its key published, a second one awaits its key;
each seed is built the way its sender builds it. A fuzzer mutates a seed's body and `resign`s
it with the seed sender's own key, so it passes the signature and reaches the protocol logic;
`submit` pushes it through the entry point its RPC uses.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from tanji.he import tasks as he_tasks
from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E
from tests.harness.keys import COORDINATOR, KEY_HOLDER
from tests.harness.world import World

MT = epb.MessageType
SEEDS = ["registration", "calculation_request", "key_announcement", "key_announcement_2", "request", "declaration",
         "contribution", "fallback_contribution", "attestation", "refusal", "result"]


class SeededWorld(World):
    HOUR = timedelta(hours=1)

    def __init__(self, root: Path):
        super().__init__(root)
        self.seeds: dict[str, epb.Envelope] = {}
        self.seeds["registration"] = self.registration("a", ["A"], [("A", "b", "B")])
        assert self.c.register(self.seeds["registration"]).status == cpb.PUSH_STATUS_ACCEPTED
        self.ckks = he_tasks.keygen(1)
        self.cid = self.open_calculation()
        self.seeds["calculation_request"] = self.calculation_request(os.urandom(16).hex(), deadline=self.HOUR,
                                                                   commitment=os.urandom(32))
        self.seeds["key_announcement"] = self.announcement(self.cid)
        assert self.c.publish_key(self.seeds["key_announcement"]).status == cpb.PUSH_STATUS_ACCEPTED
        cid2 = self.open_calculation()
        self.seeds["key_announcement_2"] = self.announcement(cid2)  # its calculation awaits a key
        keys = self.keyed
        answer = he_tasks.answer(keys.public_context, [(keys.unit_weight, 1.0)], [1.0, 2, 0, 0, 1, 2, 0, 0], 0, [2.0],
                                 keys.width)
        self.request_object = self.objects.put(answer.requests[0])
        self.contribution_object = self.objects.put(answer.contribution)
        request_hash = env.message_hash(self.requests[self.cid])
        self.seeds["request"], _ = self.request("a", "b", "B", answer.requests[0], request_hash, self.cid)
        self.seeds["declaration"] = self.declaration("a", request_hash, self.seeds["request"], cid=self.cid)
        self.seeds["contribution"] = self.contribution("a", "A", answer.contribution, request_hash, self.cid,
                                                       commitment=os.urandom(32))
        self.seeds["fallback_contribution"] = self.fallback(
            "a", "b", "B", answer.contribution, os.urandom(32), env.message_hash(self.seeds["request"]), self.cid)
        attested = epb.Attestation(output_ciphertext_hash=self.contribution_object,
                                   contribution_hashes=[env.message_hash(self.seeds["contribution"])])
        self.seeds["attestation"] = E.seal(attested, self.keys["a"], sender="a", cid=self.cid,
                                           binding=self.binding(self.cid), answers=os.urandom(32))
        self.seeds["refusal"] = self.refusal("b", os.urandom(32), cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED, self.cid,
                                             message="not approved")
        self.seeds["result"] = E.seal(epb.Result(result_json=b"{}"), self.keys[KEY_HOLDER], sender=KEY_HOLDER,
                                      receiver="a", cid=self.cid, binding=self.binding(self.cid),
                                      answers=os.urandom(32))
        self.strings = ["a", "b", "c", "A", "B", KEY_HOLDER, COORDINATOR, self.cid, cid2, "miit-2025", "kg", ""]
        self.blobs = [request_hash, env.message_hash(self.requests[cid2]), self.request_object,
                      self.contribution_object, keys.key_fingerprint, keys.params_hash, E.FS_HASH, b""]

    def open_calculation(self) -> str:
        """A started calculation of a/A with a fresh id, its quantities committed."""
        cid = os.urandom(16).hex()
        out, got = self.start(cid=cid, commitment=os.urandom(32), deadline=self.HOUR)
        assert out.status == cpb.PUSH_STATUS_ACCEPTED and got == cid, out.message
        return cid

    # ------------------------------------------------------------------ the attack
    def sender_of(self, seed_name: str) -> str:
        return env.parse_unverified(self.seeds[seed_name]).body.sender

    def resign(self, body: epb.EnvelopeBody, seed: epb.Envelope) -> epb.Envelope:
        """Sign the mutated body with the seed sender's key, under the seed type's domain tag."""
        seed_body = env.parse_unverified(seed).body
        return E.resign(body, self.keys[seed_body.sender], seed_body.message_type)

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
        return self.c.push(self.sender_of(seed_name), [envelope])
