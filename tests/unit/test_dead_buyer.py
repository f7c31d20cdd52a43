"""A buyer declared dead after pushing a request but before declaring it: its buyers' fallback
covers its whole subtree, so its stray request must not weight the supplier too (that supplier
would be counted twice). Chain: a buys B from b and C from c; b buys C from c."""
from datetime import timedelta

from tanji.coordinator import db
from tanji.he import tasks as he_tasks
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness.world import statuses

MT = epb.MessageType


def _request(world, sender, receiver, product, ct, answers):
    return world.request(sender, receiver, product, ct, answers, depth_remaining=1)


def test_a_dead_buyers_undeclared_request_is_left_out_of_the_merge(world):
    world.register("a", ["A"], [("A", "b", "B"), ("A", "c", "C")])
    world.register("b", ["B"], [("B", "c", "C")])
    world.register("c", ["C"], [])
    assert world.start(depth=2)[0].status == cpb.PUSH_STATUS_ACCEPTED
    assert world.publish_key(keys=he_tasks.keygen(2)).status == cpb.PUSH_STATUS_ACCEPTED
    pub = world.keyed.public_context
    contribution, (to_b, to_c), _, _ = he_tasks.answer(pub, None, [10.0, 1, 0, 0, 5, 15, 0, 0], 0, [2.0, 3.0])
    (req_b, _), (req_c, _) = (_request(world, "a", "b", "B", to_b, world.request_hash),
                              _request(world, "a", "c", "C", to_c, world.request_hash))
    pushed = world.c.push("a", [req_b, req_c, world.declaration("a", world.request_hash, req_b, req_c),
                                world.contribution("a", "A", contribution, world.request_hash)])
    assert statuses(pushed) == ["ACCEPTED"] * 4
    (merged_b,) = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    # b pushes its request to c, then dies before declaring it
    _, (b_to_c,), _, _ = he_tasks.answer(pub, [(to_b, 1.0)], [1.0] * 6 + [0, 0], 0, [5.0])
    stray, _ = _request(world, "b", "c", "C", b_to_c, merged_b.hash)
    assert statuses(world.c.push("b", [stray])) == ["ACCEPTED"]
    with world.c.sessions.begin() as s:
        s.get(db.Party, "b").lease_expires_at = db.now() - timedelta(seconds=1)
    world.c.sweep_leases()
    (merged_c,) = [m for m in world.inbox("c") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    buyers = [r.buyer for p in merged_c.payload.parts for r in p.requests]
    assert buyers == ["a"], "the dead buyer's undeclared request weights c a second time"
    assert [(f.buyer, f.inputs) for f in merged_c.payload.buyer_fan_out] == [("a", 2)]
