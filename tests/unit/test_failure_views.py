"""Parties see only what concerns them (issue #11 item 6): who refused, and what it said, is shown
whole to the refusing party and to its buyers in the calculation; every other party reads the code
and its catalogued text without a name. And objects are uploaded for a calculation only by its
parties, counted durably (issue #11 item 9)."""
import pytest

from tanji.protocol.refusals import Refusal, code_name, entry
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness.world import CID

MT = epb.MessageType
SECRET = "c/C costs 26.78902 kgCO2e"   # a party's own words, which may hold anything


def three_tier(world):
    """a buys B from b, b buys C from c; a's calculation of A reaches b/B and c/C; keyed."""
    world.register("c", ["C"], [])
    world.register("b", ["B"], [("B", "c", "C")])
    world.start(depth=2)
    world.publish_key()


def refuse_key(world, party: str, code: int = cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER) -> None:
    (ka,) = world.inbox(party, MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    (out,) = world.c.push(party, [world.refusal(party, ka.hash, code=code, message=SECRET)])
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message


def test_a_deep_suppliers_refusal_is_named_to_itself_and_its_buyer_only(world):
    three_tier(world)
    refuse_key(world, "c")
    code = cpb.REFUSAL_CODE_UNTRUSTED_KEY_HOLDER
    own = world.c.status(CID, "c")
    assert (own.failure_code, own.failure_party) == (code, "c") and SECRET in own.failure_message
    buyer = world.c.status(CID, "b")
    assert (buyer.failure_code, buyer.failure_party) == (code, "c") and SECRET in buyer.failure_message
    requester = world.c.status(CID, "a")   # a never learns who supplies its supplier b
    assert (requester.failure_code, requester.failure_party) == (code, "")
    assert requester.failure_message == f"{code_name(code)}: {entry(code).public}"
    assert "c" not in requester.failure_message.split() and "26" not in requester.failure_message
    assert world.c.status(CID).failure_party == "c"   # in process (the operator's own view)


def test_a_direct_suppliers_refusal_is_named_to_the_requester_that_bought_from_it(world):
    three_tier(world)
    refuse_key(world, "b")
    st = world.c.status(CID, "a")
    assert st.failure_party == "b" and SECRET in st.failure_message
    leaf = world.c.status(CID, "c")    # c is b's supplier, not its buyer: code only
    assert leaf.failure_party == "" and SECRET not in leaf.failure_message


def test_the_coordinators_own_failure_names_it_but_not_the_graph(world):
    three_tier(world)
    from datetime import timedelta

    from tanji.coordinator import db
    with world.c.sessions.begin() as s:
        s.get(db.Calculation, CID).deadline = db.now() - timedelta(seconds=1)
    world.c.check_deadlines()
    st = world.c.status(CID, "a")
    assert (st.failure_code, st.failure_party) == (cpb.REFUSAL_CODE_DEADLINE_EXCEEDED, "coordinator")
    assert "c/C" not in st.failure_message and "b/B" not in st.failure_message
    assert "c/C" in world.c.status(CID).failure_message   # the operator's view lists who did not answer


def test_objects_are_uploaded_only_by_the_calculations_parties_and_counted_durably(world):
    world.start()
    with pytest.raises(Refusal) as info:
        world.c.admit_upload(CID, "c", 3)            # c is listed but not reached by this calculation
    assert info.value.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY
    with pytest.raises(Refusal) as info:
        world.c.admit_upload("calc-0000000000000099", "a", 3)
    assert info.value.code == cpb.REFUSAL_CODE_UNKNOWN_CALCULATION
    for _ in range(3):
        world.c.admit_upload(CID, "b", 3)
    restarted = world.replica()                      # a new coordinator process on the same database
    with pytest.raises(Refusal) as info:
        restarted.admit_upload(CID, "b", 3)
    assert info.value.code == cpb.REFUSAL_CODE_TOO_LARGE
    restarted.admit_upload(CID, "a", 3)              # another party's count is its own
