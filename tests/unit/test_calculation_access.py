"""Who may read what of a calculation at the coordinator: the result goes to its requester,
auditors and key holder; status (state and counts, no values) to every party it reached; a
merged request tells the supplier each buyer's fan-out and nothing about the other suppliers."""
import pytest

from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness.world import CID, World

MT = epb.MessageType


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    assert w.start()[0].status == cpb.PUSH_STATUS_ACCEPTED
    assert w.publish_key().status == cpb.PUSH_STATUS_ACCEPTED
    yield w
    w.close()


def test_only_the_requester_auditors_and_key_holder_read_the_result(world):
    for party in ("a", "keyholder", ""):          # "" : in process, or plain loopback (no authentication)
        world.c.result(CID, party)
    for party in ("b", "c"):                     # a supplier of the calculation, an outsider
        with pytest.raises(Refusal) as info:
            world.c.result(CID, party)
        assert info.value.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY


def test_status_is_for_the_parties_the_calculation_reached(world):
    for party in ("a", "b", "keyholder"):
        assert world.c.status(CID, party).calculation_id == CID
    with pytest.raises(Refusal) as info:
        world.c.status(CID, "c")
    assert info.value.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY


def test_a_merged_request_states_the_buyers_fan_out_only(world):
    world.answer_root()
    (merged,) = [m for m in world.inbox("b") if m.body.message_type == MT.MESSAGE_TYPE_MERGED_REQUEST]
    assert [(f.buyer, f.inputs) for f in merged.payload.buyer_fan_out] == [("a", 1)]
    assert {r.buyer for p in merged.payload.parts for r in p.requests} == {"a"}
