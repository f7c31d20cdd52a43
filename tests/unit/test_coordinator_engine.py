"""The coordinator's protocol engine in-process (tests.harness.world), with real signatures and
real CKKS ciphertexts: what it accepts, and every refusal a misbehaving party can cause.

Every test runs on SQLite and on PostgreSQL (the `postgresql` variants start a server, so they are
`integration`): the same suite against both stores."""
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from tanji.coordinator import db
from tanji.coordinator.service import Coordinator
from tanji.coordinator.storage import open_storage
from tanji.he import tasks as he_tasks
from tanji.methodology import slots
from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E
from tests.harness import keys
from tests.harness.world import CID, SUPPLIER_OWN, World, statuses

MT = epb.MessageType


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def world(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    w = World(tmp_path, url)
    yield w
    w.close()


def test_a_whole_calculation_in_process(world):
    assert world.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
    assert world.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
    assert statuses(world.answer_root()) == ["ACCEPTED"] * 3
    merged = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    assert len(merged) == 1 and merged[0].payload.product_id == "B"
    ct, *_ = he_tasks.answer(world.keyed.public_context, [(world.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
    answer = [world.declaration("b", merged[0].hash), world.contribution("b", "B", ct, merged[0].hash)]
    pushed = world.c.push("b", answer)
    assert statuses(pushed) == ["ACCEPTED", "ACCEPTED"]
    # complete: the auditor (requester) gets both contributions and the aggregate — a supplier gets neither
    kinds = [m.type_name for m in world.inbox("a")]
    assert kinds.count("MESSAGE_TYPE_CONTRIBUTION") == 2 and kinds[-1] == "MESSAGE_TYPE_AGGREGATE"
    assert "MESSAGE_TYPE_CONTRIBUTION" not in [m.type_name for m in world.inbox("b")]
    agg = world.inbox("a")[-1].payload
    total = he_tasks.decrypt(world.keyed.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
    expected = [10 + 2 * 3.0, 1, 0, 0, 5 + 2 * 3.0, 15 + 2 * 4.5, 1, 0]
    assert total[:slots.WIDTH] == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_unknown_supplier_product_fails_at_start_naming_it(world):
    world.register("a", ["A"], [("A", "b", "NOPE")])
    out, _ = world.start()
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PRODUCT
    assert "'NOPE'" in out.message and "a/A" in out.message  # the refusal names the product and its buyer
    world.register("a", ["A"], [("A", "ghost", "G")])
    out, _ = world.start(cid="calc-0000000000000002")
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PRODUCT
    assert "'ghost'" in out.message


def test_replay_duplicate_and_bad_signature_are_refused(world):
    world.start()
    world.publish_key()
    world.answer_root()
    # the same bytes again: acknowledged, not counted twice
    assert statuses(world.c.push("a", [world.contribution_env])) == ["ALREADY_ACCEPTED"]
    # a second, different contribution to the same request
    ct, *_ = he_tasks.answer(world.keyed.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    dup = world.c.push("a", [world.contribution("a", "A", ct, world.request_hash)])[0]
    assert dup.code == cpb.REFUSAL_CODE_DUPLICATE
    # a replayed message id with a fresh signature
    replayed = E.edited(world.contribution_env, world.keys["a"],
                        lambda b: setattr(b.contribution, "record_commitment", b"x" * 32))
    replay = world.c.push("a", [replayed])[0]
    assert replay.code == cpb.REFUSAL_CODE_REPLAY
    # a flipped signature bit
    fresh = E.with_fields(world.contribution_env, world.keys["a"], message_id=b"n" * 16)
    out = world.c.push("a", [E.forged(fresh)])[0]
    assert out.code == cpb.REFUSAL_CODE_BAD_SIGNATURE
    # signed by another party's key
    out = world.c.push("a", [E.resealed(fresh, world.keys["c"])])[0]
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
    other_key = E.with_fields(world.contribution("b", "B", ct, merged.hash), world.keys["b"],
                              key_fingerprint=b"\x01" * 32)
    out = world.c.push("b", [other_key])[0]
    assert out.code == cpb.REFUSAL_CODE_WRONG_KEY


def test_a_contribution_that_answers_nothing_is_refused(world):
    world.start()
    world.publish_key()
    ct, *_ = he_tasks.answer(world.keyed.public_context, None, [1.0] * 6 + [0, 0], 0, [])
    out = world.c.push("b", [world.contribution("b", "B", ct, b"\x07" * 32)])[0]
    assert out.code == cpb.REFUSAL_CODE_UNEXPECTED


def test_registration_must_use_the_listed_key(world):
    out = world.c.register(E.registration("a", world.keys["c"], roles=[]))  # a's name, c's key
    assert out.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY


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
    ct, *_ = he_tasks.answer(world.keyed.public_context, [(world.request_ct, 1.0)], [1.0] * 6 + [0, 0], 0, [])
    late = world.c.push("b", [world.contribution("b", "B", ct, merged.hash)])[0]
    assert late.code == cpb.REFUSAL_CODE_DECLARED_DEAD
    # the buyer answers with its fallback: q · Enc(w) ⊙ fallback, one warning
    fallback = [7.0, 0, 0, 0, 0, 28.0, 0, 0]
    ct, *_ = he_tasks.answer(world.keyed.public_context, [(world.request_ct, 1.0)], fallback, 1, [])
    fallen_back = world.fallback("a", "b", "B", ct, notices[0].hash, notices[0].body.answers_hash)
    assert statuses(world.c.push("a", [fallen_back])) == ["ACCEPTED"]
    assert world.c.status(CID).dead_suppliers == 1
    agg = [m for m in world.inbox("a") if m.body.message_type == MT.MESSAGE_TYPE_AGGREGATE][0].payload
    total = he_tasks.decrypt(world.keyed.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
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
    ct, *_ = he_tasks.answer(world.keyed.public_context, [(world.request_ct, 1.0)], SUPPLIER_OWN, 0, [])
    contribution = world.contribution("b", "B", ct, merged[0].hash)
    assert statuses(first.push("b", [world.declaration("b", merged[0].hash), contribution])) == ["ACCEPTED"] * 2
    assert statuses(second.push("b", [contribution])) == ["ALREADY_ACCEPTED"]  # the retry reached the other one
    agg = [m for m in world.inbox("a") if m.body.message_type == MT.MESSAGE_TYPE_AGGREGATE][0].payload
    total = he_tasks.decrypt(world.keyed.secret_context, world.objects.get(agg.output_ciphertext_hash))[0]
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
        envelopes.append(world.calculation_request(f"calc-{n:016d}", deadline=None))
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
    parties = keys.in_memory(("coordinator", "keyholder", "a", "b"), roles={"coordinator": "node", "keyholder": "node"})
    storage = open_storage(tmp_path, postgres_url)
    errors = []

    def start():
        try:
            Coordinator.started(db.session_factory(storage.engine), storage.objects, parties["coordinator"],
                                parties.federation)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with storage.sessions() as s:
        assert sorted(s.scalars(select(db.Party.id))) == sorted(parties.keys)
    storage.engine.dispose()
