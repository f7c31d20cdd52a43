"""A requester retrying StartCalculation with the very bytes the coordinator already accepted is
answered as accepted with the same calculation, however old the request has become; the clock-skew
window only guards requests it has not seen."""
from tanji.v1 import common_pb2 as cpb
from tests.harness.world import CID


def test_the_same_signed_request_retried_after_the_skew_window_is_the_same_calculation(world):
    out, cid = world.start()
    assert out.status == cpb.PUSH_STATUS_ACCEPTED and cid == CID
    world.c.limits.max_clock_skew_seconds = -1  # every request is now "too old" on arrival
    again, cid_again = world.c.start(world.requests[CID])
    assert again.status == cpb.PUSH_STATUS_ACCEPTED and cid_again == CID
    other, cid_other = world.c.start(world.calculation_request("calc-00000000000000000002"))
    assert other.code == cpb.REFUSAL_CODE_REPLAY and cid_other == ""
