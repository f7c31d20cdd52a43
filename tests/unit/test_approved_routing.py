"""The coordinator routes only approved, registered edges (issue #12 item 3): a supplier's
registration says which buyers its policy.toml approves; a calculation reaching an edge whose
supplier has not approved its buyer is refused at start, naming the supplier only to a requester
that is itself that buyer."""
from tanji.v1 import common_pb2 as cpb
from tests.harness import envelopes as E

NOT_APPROVED = cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED


def register(world, org, products, edges=(), approves=None):
    out = world.c.register(E.registration(org, world.keys[org], products, edges, approves=approves))
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message


def test_a_supplier_that_has_not_approved_the_requester_is_named_to_it(world):
    register(world, "b", ["B"], approves=["somebody-else"])
    out, _ = world.start()
    assert out.code == NOT_APPROVED and "b has not approved a" in out.message
    register(world, "b", ["B"], approves=["a"])                       # approved now: routed
    out, _ = world.start(cid="calc-0000000000000002")
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message


def test_a_deeper_unapproved_edge_is_refused_without_names(world):
    register(world, "c", ["C"], approves=[])                          # approves nobody
    register(world, "b", ["B"], [("B", "c", "C")], approves=["a"])
    out, _ = world.start(depth=2)
    assert out.code == NOT_APPROVED and "c" not in out.message.split() and "b" not in out.message.split()


def test_every_edge_into_a_shared_supplier_must_be_approved(world):
    """c sells to both a and b; it approves a only: the edge b -> c refuses the calculation even
    though a -> c was reached first."""
    register(world, "c", ["C"], approves=["a"])
    register(world, "b", ["B"], [("B", "c", "C")], approves=["a"])
    register(world, "a", ["A"], [("A", "c", "C"), ("A", "b", "B")])
    out, _ = world.start(depth=2)
    assert out.code == NOT_APPROVED


def test_a_party_approving_everyone_is_routed_to_by_anyone(world):
    register(world, "c", ["C"])                                        # approves everyone (no list)
    register(world, "b", ["B"], [("B", "c", "C")])
    out, _ = world.start(depth=2)
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
