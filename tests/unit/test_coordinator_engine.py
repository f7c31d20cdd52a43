"""The coordinator's protocol engine in-process, with real signatures and real CKKS ciphertexts:
what it accepts, and every refusal a misbehaving party can cause.

Every test runs on SQLite and on PostgreSQL (the `postgresql` variants start a server, so they are
`integration`): the same suite against both stores."""
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import open_storage
from tanji.coordinator.transactions import Limits
from tanji.he import tasks as he_tasks
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb

MT = epb.MessageType
FS_HASH = hashlib.sha256(b"factor set").digest()
#: no lease runs out while a test works on a loaded machine; tests of dead suppliers expire one explicitly
LEASE_SECONDS = 3600.0
#: node b's own footprint of B, per kg
SUPPLIER_OWN = [3.0, 0, 0, 0, 3.0, 4.5, 0, 0]


class World:
    """A coordinator, a key holder and two nodes: buyer 'a' (A buys B) and supplier 'b'."""

    def __init__(self, tmp_path, database: str | None = None):
        self.keys = {p: SigningKey.generate() for p in ("coordinator", "keyholder", "a", "b", "c")}
        roles = {"coordinator": "coordinator", "keyholder": "key_holder"}
        self.federation = Federation({p: ListedParty(p, roles.get(p, "node"), k.public_raw)
                                      for p, k in self.keys.items()})
        self.storage = open_storage(tmp_path, database)  # PostgreSQL: objects in the database
        self.objects = self.storage.objects
        self.c = self.replica()
        self.register("a", ["A"], [("A", "b", "B")])
        self.register("b", ["B"], [])

    def replica(self) -> Coordinator:
        """Another coordinator process on the same database, as far as the engine can tell."""
        return Coordinator.started(db.session_factory(self.storage.engine), self.objects, self.keys["coordinator"],
                                   self.federation, Limits(lease_seconds=LEASE_SECONDS))

    def register(self, org, products, edges):
        body = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender=org, receiver="coordinator")
        body.registration.organisation_id = org
        body.registration.envelope_public_key = self.keys[org].public_raw
        body.registration.product_ids.extend(products)
        for bp, s, sp in edges:
            body.registration.supply_edges.add(buyer_product=bp, supplier=s, supplier_product=sp)
        return self.c.register(env.seal(body, self.keys[org]))

    def body(self, mt, sender, cid, receiver="coordinator"):
        b = env.new_body(mt, calculation_id=cid, sender=sender, receiver=receiver)
        b.factor_set_hash = FS_HASH
        b.method_profile.name, b.method_profile.version = "miit-2025", "1"
        if getattr(self, "keys_", None) is not None:
            b.key_fingerprint, b.ckks_params_hash = self.keys_.key_fingerprint, self.keys_.params_hash
        return b

    def start(self, product="A", depth=1, cid="calc-0000000000000001"):
        b = self.body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "a", cid)
        r = b.calculation_request
        r.target_organisation = "a"
        r.products.add(product_id=product, lifetime_energy_kwh=1000.0)
        r.depth_bound, r.batch_size, r.key_holder, r.factor_set_id = depth, 1, "keyholder", "fs"
        r.deadline.FromDatetime(datetime.now(UTC) + timedelta(minutes=5))
        sealed = env.seal(b, self.keys["a"])
        self.request_hash = env.message_hash(sealed)
        return self.c.start(sealed)

    def publish_key(self, cid="calc-0000000000000001", keys=None):
        self.keys_ = keys or he_tasks.keygen(1)
        ctx_hash = self.objects.put(self.keys_.public_context)
        b = self.body(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT, "keyholder", cid)
        b.answers_hash = self.request_hash
        ka = b.key_announcement
        ka.key_fingerprint, ka.ckks_params_hash = self.keys_.key_fingerprint, self.keys_.params_hash
        ka.preset, ka.context_object_hash, ka.transit_level = self.keys_.preset, ctx_hash, self.keys_.transit_level
        return self.c.publish_key(env.seal(b, self.keys["keyholder"]))

    def answer_root(self, cid="calc-0000000000000001", own=(10.0, 1, 0, 0, 5, 15, 0, 0), q=2.0):
        """Node a's answer to its own calculation: REQUEST to b, DECLARATION, CONTRIBUTION."""
        contribution, (request,), _, _ = he_tasks.answer(self.keys_.public_context, None, list(own), 1, [q])
        self.request_ct = request
        r_hash = self.objects.put(request)
        b = self.body(MT.MESSAGE_TYPE_REQUEST, "a", cid, receiver="b")
        b.answers_hash = self.request_hash
        b.object_hashes.append(r_hash)
        b.request.supplier, b.request.product_id, b.request.quantity_unit = "b", "B", "kg"
        b.request.depth_remaining, b.request.weight_object_hash = 0, r_hash
        req_env = env.seal(b, self.keys["a"])
        d = self.body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "a", cid)
        d.answers_hash = self.request_hash
        d.declaration.requests.add(supplier="b", product_id="B", quantity_unit="kg", weight_object_hash=r_hash,
                                   request_hash=env.message_hash(req_env))
        self.contribution_env = self.contribution("a", "A", contribution, self.request_hash, cid)
        return self.c.push("a", [req_env, env.seal(d, self.keys["a"]), self.contribution_env])

    def contribution(self, org, product, ct, answers, cid="calc-0000000000000001"):
        digest = self.objects.put(ct)
        b = self.body(MT.MESSAGE_TYPE_CONTRIBUTION, org, cid)
        b.answers_hash = answers
        b.object_hashes.append(digest)
        b.contribution.product_id, b.contribution.ciphertext_hash = product, digest
        return env.seal(b, self.keys[org])

    def inbox(self, party, mt=None):
        return [o for o in (env.parse_unverified(e) for _, e in self.c.pull_messages(party, 0))
                if mt is None or o.body.message_type == mt]

    def answer_supplier(self, cid="calc-0000000000000001"):
        """Node b's answer to its merged request: an empty DECLARATION and its CONTRIBUTION."""
        (merged,) = self.inbox("b", MT.MESSAGE_TYPE_MERGED_REQUEST)
        ct, *_ = he_tasks.answer(self.keys_.public_context, [(self.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
        d = self.body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "b", cid)
        d.answers_hash = merged.hash
        d.declaration.SetInParent()
        return self.c.push("b", [env.seal(d, self.keys["b"]), self.contribution("b", "B", ct, merged.hash)])

    def attest(self, cid="calc-0000000000000001"):
        """The auditor (requester a) attests the aggregate."""
        agg = self.inbox("a", MT.MESSAGE_TYPE_AGGREGATE)[-1]
        b = self.body(MT.MESSAGE_TYPE_ATTESTATION, "a", cid)
        b.answers_hash = agg.hash
        b.attestation.output_ciphertext_hash = agg.payload.output_ciphertext_hash
        b.attestation.contribution_hashes.extend(agg.payload.contribution_hashes)
        return self.c.push("a", [env.seal(b, self.keys["a"])])

    def key_holder_answer(self, mt, cid="calc-0000000000000001", code=cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO):
        """The key holder's RESULT, or its REFUSAL withholding the result (`code`)."""
        agg = self.inbox("a", MT.MESSAGE_TYPE_AGGREGATE)[-1]
        b = self.body(mt, "keyholder", cid, receiver="a")
        if mt == MT.MESSAGE_TYPE_RESULT:
            b.answers_hash = agg.hash
            b.result.result_json = b"{}"
        else:
            b.answers_hash = self.request_hash
            b.refusal.code, b.refusal.message = code, "slot 7 is not zero (detected, result withheld)"
        return self.c.submit_result(env.seal(b, self.keys["keyholder"]))

    def run_to_decryption(self):
        """Start, key, both answers and the attestation: the calculation awaits its decryption."""
        assert self.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
        assert self.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
        assert statuses(self.answer_root()) == ["ACCEPTED"] * 3
        assert statuses(self.answer_supplier()) == ["ACCEPTED"] * 2
        assert statuses(self.attest()) == ["ACCEPTED"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def world(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    w = World(tmp_path, url)
    yield w
    w.storage.engine.dispose()


def statuses(outcomes):
    return [cpb.PushStatus.Name(o.status).removeprefix("PUSH_STATUS_") for o in outcomes]


def test_a_whole_calculation_in_process(world):
    assert world.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
    assert world.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
    assert statuses(world.answer_root()) == ["ACCEPTED"] * 3
    merged = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    assert len(merged) == 1 and merged[0].payload.product_id == "B"
    ct, *_ = he_tasks.answer(world.keys_.public_context, [(world.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
    d = world.body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "b", "calc-0000000000000001")
    d.answers_hash = merged[0].hash
    d.declaration.SetInParent()
    pushed = world.c.push("b", [env.seal(d, world.keys["b"]), world.contribution("b", "B", ct, merged[0].hash)])
    assert statuses(pushed) == ["ACCEPTED", "ACCEPTED"]
    # complete: the auditor (requester) gets both contributions and the aggregate — a supplier gets neither
    kinds = [m.type_name for m in world.inbox("a")]
    assert kinds.count("MESSAGE_TYPE_CONTRIBUTION") == 2 and kinds[-1] == "MESSAGE_TYPE_AGGREGATE"
    assert "MESSAGE_TYPE_CONTRIBUTION" not in [m.type_name for m in world.inbox("b")]
    agg = world.inbox("a")[-1].payload
    total = he_tasks.decrypt(world.keys_.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
    expected = [10 + 2 * 3.0, 1, 0, 0, 5 + 2 * 3.0, 15 + 2 * 4.5, 1, 0]
    assert total[:slots.WIDTH] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_unknown_supplier_product_fails_at_start_naming_it(world):
    world.register("a", ["A"], [("A", "b", "NOPE")])
    out, _ = world.start()
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PRODUCT
    assert out.message == "organisation 'b' serves no product 'NOPE' (named by a/A)"
    world.register("a", ["A"], [("A", "ghost", "G")])
    out, _ = world.start(cid="calc-0000000000000002")
    assert "no node serves organisation 'ghost'" in out.message


def test_replay_duplicate_and_bad_signature_are_refused(world):
    world.start()
    world.publish_key()
    world.answer_root()
    # the same bytes again: acknowledged, not counted twice
    assert statuses(world.c.push("a", [world.contribution_env])) == ["ALREADY_ACCEPTED"]
    # a second, different contribution to the same request
    ct, *_ = he_tasks.answer(world.keys_.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    dup = world.c.push("a", [world.contribution("a", "A", ct, world.request_hash)])[0]
    assert dup.code == cpb.REFUSAL_CODE_DUPLICATE and "already contributed" in dup.message
    # a replayed message id with a fresh signature
    body = epb.EnvelopeBody.FromString(world.contribution_env.body)
    body.contribution.record_commitment = b"x" * 32
    replay = world.c.push("a", [env.seal(body, world.keys["a"])])[0]
    assert replay.code == cpb.REFUSAL_CODE_REPLAY
    # a flipped signature bit
    body = epb.EnvelopeBody.FromString(world.contribution_env.body)
    body.message_id = b"n" * 16
    fresh = env.seal(body, world.keys["a"])
    forged = epb.Envelope(body=fresh.body, signature=bytes([fresh.signature[0] ^ 1]) + fresh.signature[1:])
    out = world.c.push("a", [forged])[0]
    assert out.code == cpb.REFUSAL_CODE_BAD_SIGNATURE and "signature does not verify" in out.message
    # signed by another party's key
    out = world.c.push("a", [env.seal(body, world.keys["c"])])[0]
    assert out.code == cpb.REFUSAL_CODE_BAD_SIGNATURE


def test_ciphertexts_under_another_key_or_parameters_are_refused(world):
    world.start()
    world.publish_key()
    world.answer_root()
    merged = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST][0]
    other = he_tasks.keygen(1)                    # another calculation's key, same preset
    ct, *_ = he_tasks.answer(other.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    out = world.c.push("b", [world.contribution("b", "B", ct, merged.hash)])[0]
    assert out.code == cpb.REFUSAL_CODE_WRONG_KEY, out.message
    deeper = he_tasks.keygen(5)                   # another parameter set
    ct, *_ = he_tasks.answer(deeper.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    out = world.c.push("b", [world.contribution("b", "B", ct, merged.hash)])[0]
    assert out.code == cpb.REFUSAL_CODE_WRONG_PARAMETERS, out.message
    out = world.c.push("b", [world.contribution("b", "B", b"\x00garbage" * 100, merged.hash)])[0]
    assert out.code == cpb.REFUSAL_CODE_MALFORMED, out.message
    # an envelope naming another key fingerprint is refused before its ciphertext is read
    body = epb.EnvelopeBody.FromString(world.contribution("b", "B", ct, merged.hash).body)
    body.key_fingerprint = b"\x01" * 32
    out = world.c.push("b", [env.seal(body, world.keys["b"])])[0]
    assert out.code == cpb.REFUSAL_CODE_WRONG_KEY


def test_a_contribution_that_answers_nothing_is_refused(world):
    world.start()
    world.publish_key()
    ct, *_ = he_tasks.answer(world.keys_.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    out = world.c.push("b", [world.contribution("b", "B", ct, b"\x07" * 32)])[0]
    assert out.code == cpb.REFUSAL_CODE_UNEXPECTED and "answers no request sent to it" in out.message


def test_registration_must_use_the_listed_key(world):
    body = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender="a", receiver="coordinator")
    body.registration.organisation_id = "a"
    body.registration.envelope_public_key = world.keys["c"].public_raw
    out = world.c.register(env.seal(body, world.keys["c"]))
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY and "not its listed key" in out.message


def test_two_sends_of_the_same_request_differ_in_bytes():
    """A node answering the same request twice (a retry bypassing its store) sends other bytes:
    q·Enc(w) + Enc(0) is re-randomised, so nobody can test guesses of q against it."""
    keys = he_tasks.keygen(1)
    own = [1.0, 2.0, 0, 0, 1.0, 4.5, 0, 0]
    c1, (r1,), *_ = he_tasks.answer(keys.public_context, None, own, 0, [2.5])
    c2, (r2,), *_ = he_tasks.answer(keys.public_context, None, own, 0, [2.5])
    assert r1 != r2 and c1 != c2 and len(r1) == len(r2)
    assert hashlib.sha256(r1).digest() != hashlib.sha256(r2).digest()


def test_a_supplier_whose_lease_expired_is_declared_dead_and_its_late_answer_refused(world):
    world.start()
    world.publish_key()
    world.answer_root()
    merged = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST][0]
    with world.c.sessions.begin() as s:
        s.get(db.Party, "b").lease_expires_at = db.now() - timedelta(seconds=1)
    world.c.sweep_leases()
    notices = [m for m in world.inbox("a") if m.body.message_type == MT.MESSAGE_TYPE_DEAD_SUPPLIER]
    assert len(notices) == 1 and notices[0].body.sender == "coordinator"
    assert (notices[0].payload.supplier, notices[0].payload.product_id) == ("b", "B")
    # the supplier comes back too late
    ct, *_ = he_tasks.answer(world.keys_.public_context, [(world.request_ct, 1.0)], [1.0] * 6 + [0, 0], 0, [])
    late = world.c.push("b", [world.contribution("b", "B", ct, merged.hash)])[0]
    assert late.code == cpb.REFUSAL_CODE_DECLARED_DEAD and "declared dead" in late.message
    # the buyer answers with its fallback: q · Enc(w) ⊙ fallback, one warning
    fallback = [7.0, 0, 0, 0, 0, 28.0, 0, 0]
    ct, *_ = he_tasks.answer(world.keys_.public_context, [(world.request_ct, 1.0)], fallback, 1, [])
    digest = world.objects.put(ct)
    body = world.body(MT.MESSAGE_TYPE_FALLBACK_CONTRIBUTION, "a", "calc-0000000000000001")
    body.answers_hash = notices[0].hash
    body.object_hashes.append(digest)
    f = body.fallback_contribution
    f.supplier, f.product_id, f.ciphertext_hash, f.request_hash = "b", "B", digest, notices[0].body.answers_hash
    assert statuses(world.c.push("a", [env.seal(body, world.keys["a"])])) == ["ACCEPTED"]
    assert world.c.status("calc-0000000000000001").dead_suppliers == 1
    agg = [m for m in world.inbox("a") if m.body.message_type == MT.MESSAGE_TYPE_AGGREGATE][0].payload
    total = he_tasks.decrypt(world.keys_.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
    # own(A) = 10 + 1 in stages, w_B = 2: fallback 2 × 7 = 14 raw material, 2 warnings in all
    assert total[:slots.WIDTH] == pytest.approx([10 + 14, 1, 0, 0, 5, 15 + 56, 2, 0], rel=1e-6, abs=1e-6)


def test_two_replicas_carry_one_calculation_between_them(world):
    """Start on one replica, key and answers through the other, the supplier back on the first:
    the same aggregate as on one coordinator, one log with every envelope once, in order."""
    first, second = world.c, world.replica()
    assert world.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
    world.c = second
    assert world.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
    assert statuses(world.answer_root()) == ["ACCEPTED"] * 3
    merged = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    world.c = first
    ct, *_ = he_tasks.answer(world.keys_.public_context, [(world.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
    d = world.body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, "b", "calc-0000000000000001")
    d.answers_hash = merged[0].hash
    d.declaration.SetInParent()
    contribution = world.contribution("b", "B", ct, merged[0].hash)
    assert statuses(first.push("b", [env.seal(d, world.keys["b"]), contribution])) == ["ACCEPTED", "ACCEPTED"]
    assert statuses(second.push("b", [contribution])) == ["ALREADY_ACCEPTED"]  # the retry reached the other one
    agg = [m for m in world.inbox("a") if m.body.message_type == MT.MESSAGE_TYPE_AGGREGATE][0].payload
    total = he_tasks.decrypt(world.keys_.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
    assert total[:slots.WIDTH] == pytest.approx([16, 1, 0, 0, 11, 24, 1, 0], rel=1e-6, abs=1e-6)
    with world.c.sessions() as s:
        leaves = list(s.scalars(select(db.LogLeaf).order_by(db.LogLeaf.index)))
        stored = set(s.scalars(select(db.StoredEnvelope.hash)))
        assert [leaf.index for leaf in leaves] == list(range(len(leaves)))
        assert {leaf.envelope_hash for leaf in leaves} == stored
        assert s.get(db.LogHead, 1).size == len(leaves)
    head, proofs = second.prove_inclusion([contribution_hash := env.message_hash(contribution)])
    assert head.tree_size == len(leaves) and proofs[0][0] == contribution_hash and proofs[0][1] is not None


@pytest.mark.integration
def test_replicas_under_concurrent_starts_lose_nothing_and_keep_the_limit(tmp_path, postgres_url):
    """20 starts by one requester at once through two replicas (8 threads): exactly the open-calculation
    limit is accepted (starts take turns on the requester's row), the key holder reading its queue
    meanwhile never skips an item committed after a later one, and the log is gapless."""
    world = World(tmp_path, postgres_url)
    replicas = [world.c, world.replica()]
    limit = world.c.limits.max_open_calculations
    envelopes = []
    for n in range(limit + 4):
        b = world.body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, "a", f"calc-{n:016d}")
        r = b.calculation_request
        r.target_organisation, r.depth_bound, r.batch_size, r.key_holder, r.factor_set_id = "a", 1, 1, "keyholder", "fs"
        r.products.add(product_id="A", lifetime_energy_kwh=1000.0)
        envelopes.append(env.seal(b, world.keys["a"]))
    seen, cursor, done = [], 0, threading.Event()

    def read_queue():
        nonlocal cursor
        while True:
            last = done.is_set()
            for item in replicas[1].pull_work("keyholder", cursor):
                seen.append(item["request"].body)
                cursor = item["sequence"]
            if last:
                return
            time.sleep(0.005)

    reader = threading.Thread(target=read_queue)
    reader.start()
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: replicas[i % 2].start(envelopes[i])[0], range(len(envelopes))))
    done.set()
    reader.join()
    accepted = [o for o in outcomes if o.status == cpb.PUSH_STATUS_ACCEPTED]
    refused = [o for o in outcomes if o.status == cpb.PUSH_STATUS_REFUSED]
    assert len(accepted) == limit and len(refused) == 4
    assert all(o.code == cpb.REFUSAL_CODE_RATE_LIMITED for o in refused)
    started = [e.body for e, o in zip(envelopes, outcomes, strict=True) if o.status == cpb.PUSH_STATUS_ACCEPTED]
    assert sorted(seen) == sorted(started)
    with world.c.sessions() as s:
        assert list(s.scalars(select(db.LogLeaf.index).order_by(db.LogLeaf.index))) == list(range(limit))
        assert s.get(db.LogHead, 1).size == limit
    world.storage.engine.dispose()


@pytest.mark.integration
def test_replicas_starting_together_list_every_party_once(tmp_path, postgres_url):
    """Four coordinators starting at once on an empty database each add the federation's parties
    if missing: they take turns, so none fails on a row another one inserted."""
    keys = {p: SigningKey.generate() for p in ("coordinator", "keyholder", "a", "b")}
    fed = Federation({p: ListedParty(p, "node", k.public_raw) for p, k in keys.items()})
    storage = open_storage(tmp_path, postgres_url)
    errors = []

    def start():
        try:
            Coordinator.started(db.session_factory(storage.engine), storage.objects, keys["coordinator"], fed)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with storage.sessions() as s:
        assert sorted(s.scalars(select(db.Party.id))) == sorted(keys)
    storage.engine.dispose()
