"""`tanji calc result` takes a result only with the signature of the key holder the calculation's
signed request names — any other listed key holder's is refused (issue #11 item 9)."""
import pytest

from tanji.cli import requester
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.identity import ROLE_KEY_HOLDER
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import envelopes as E
from tests.harness.keys import KEY_HOLDER
from tests.harness.world import CID

MT = epb.MessageType


def released(world) -> rpb.GetResultResponse:
    world.run_to_decryption()
    world.key_holder_answer(MT.MESSAGE_TYPE_RESULT)
    return world.c.result(CID, "a")


def test_the_named_key_holders_result_is_taken(world):
    resp = released(world)
    assert resp.calculation_request.body        # the coordinator returns the signed request with it
    assert requester.checked_result(resp, world.federation, CID)


def test_another_listed_key_holders_result_is_refused(world):
    resp = released(world)
    other = SigningKey.generate()   # keyholder-2: listed too, but not the one the request names
    federation = Federation({**world.federation.parties,
                             "keyholder-2": ListedParty("keyholder-2", ROLE_KEY_HOLDER, other.public_raw)})
    forged = rpb.GetResultResponse()
    forged.CopyFrom(resp)
    forged.result.CopyFrom(E.with_fields(resp.result, other, sender="keyholder-2"))
    assert "keyholder-2" in federation.key_holders()
    with pytest.raises(requester.CalculationFailed) as info:
        requester.checked_result(forged, federation, CID)
    assert "keyholder-2" in str(info.value) and KEY_HOLDER in str(info.value)


def test_a_request_of_another_calculation_or_signer_is_refused(world):
    resp = released(world)
    swapped = rpb.GetResultResponse()
    swapped.CopyFrom(resp)
    swapped.calculation_request.CopyFrom(E.with_fields(resp.calculation_request, world.keys["a"],
                                                       calculation_id="calc-0000000000000002"))
    with pytest.raises(requester.CalculationFailed):
        requester.checked_result(swapped, world.federation, CID)
