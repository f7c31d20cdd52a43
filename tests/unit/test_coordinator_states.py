"""The coordinator's calculation and pair states: one table of transitions, one set of final
states, and the refusals a party may send — accepted only from a party of the calculation, of
something the calculation sent it, and never over a verdict already reached."""
import os
from types import SimpleNamespace

import pytest

from tanji.coordinator import states
from tanji.coordinator.states import FINAL, CalcState, PairState
from tanji.protocol import envelope as env
from tanji.protocol.refusals import Refusal
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.outcomes import refused_by
from tests.harness.world import CID, statuses

MT = epb.MessageType
S = rpb.CalculationState


def calc(state: CalcState):
    return SimpleNamespace(id=CID, state=state.value)


def test_every_stored_name_is_a_wire_state_and_final_states_never_move():
    assert {s.wire for s in CalcState} == set(S.values()) - {S.CALCULATION_STATE_UNSPECIFIED}
    assert FINAL == {CalcState.DONE, CalcState.WITHHELD, CalcState.FAILED}
    for final in FINAL:
        for to in CalcState:
            with pytest.raises(Refusal) as info:
                states.move(calc(final), to)
            assert info.value.code == cpb.REFUSAL_CODE_UNKNOWN_CALCULATION


def test_a_calculation_moves_only_along_the_table():
    c = calc(CalcState.AWAITING_KEY)
    for to in (CalcState.RUNNING, CalcState.AWAITING_ATTESTATION, CalcState.AWAITING_DECRYPTION, CalcState.WITHHELD):
        states.move(c, to)
        assert c.state == to.value  # the name the database stores
    for state, to in ((CalcState.RUNNING, CalcState.DONE),  # no result before the attested aggregate
                      (CalcState.AWAITING_KEY, CalcState.AWAITING_ATTESTATION)):
        with pytest.raises(Refusal) as info:
            states.move(calc(state), to)
        assert info.value.code == cpb.REFUSAL_CODE_UNEXPECTED


def test_a_pair_moves_only_along_the_table():
    pair = SimpleNamespace(org="b", product="B", state=PairState.WAITING.value)
    states.move_pair(pair, PairState.DISPATCHED)
    states.move_pair(pair, PairState.DEAD)
    for to in PairState:
        with pytest.raises(Refusal):
            states.move_pair(pair, to)  # a dead supplier stays dead
    with pytest.raises(Refusal):
        states.move_pair(SimpleNamespace(org="b", product="B", state="answered"), PairState.DEAD)


# ---------------------------------------------------------------------------- a party's REFUSAL
def test_a_refusal_after_the_key_holder_withheld_the_result_leaves_the_verdict(world):
    world.run_to_decryption()
    assert world.key_holder_answer(MT.MESSAGE_TYPE_REFUSAL).status == cpb.PUSH_STATUS_ACCEPTED
    withheld = world.c.status(CID)
    assert withheld.state == S.CALCULATION_STATE_WITHHELD
    aggregate = world.inbox("a", MT.MESSAGE_TYPE_AGGREGATE)[-1]
    (out,) = world.c.push("a", [world.refusal("a", aggregate.hash, cpb.REFUSAL_CODE_HASH_MISMATCH)])
    assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_UNKNOWN_CALCULATION
    after = world.c.status(CID)
    assert after.state == S.CALCULATION_STATE_WITHHELD
    assert after.failure_code == cpb.REFUSAL_CODE_CHECK_SLOT_NONZERO == withheld.failure_code
    assert after.failure_message == withheld.failure_message


def test_a_refusal_from_outside_the_calculation_is_refused(world):
    world.start()
    world.publish_key()
    world.answer_root()
    (merged,) = world.inbox("b", MT.MESSAGE_TYPE_MERGED_REQUEST)
    (out,) = world.c.push("c", [world.refusal("c", merged.hash)])  # c is listed, but not reached
    assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_UNKNOWN_PARTY
    assert world.c.status(CID).state == S.CALCULATION_STATE_RUNNING


def test_a_refusal_must_answer_something_sent_to_its_sender(world):
    world.start()
    world.publish_key()
    world.answer_root()
    (merged,) = world.inbox("b", MT.MESSAGE_TYPE_MERGED_REQUEST)
    root = env.message_hash(world.contribution_env)  # a's CONTRIBUTION: in the calculation, never sent to b
    for answers in (os.urandom(32), root):
        (out,) = world.c.push("b", [world.refusal("b", answers)])
        assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_UNEXPECTED, out
    assert world.c.status(CID).state == S.CALCULATION_STATE_RUNNING
    # the merged request b was sent: its refusal fails the calculation, naming b and its code
    assert statuses(world.c.push("b", [world.refusal("b", merged.hash)])) == ["ACCEPTED"]
    st = world.c.status(CID)
    assert st.state == S.CALCULATION_STATE_FAILED and st.failure_code == cpb.REFUSAL_CODE_CUSTOMER_NOT_APPROVED
    assert refused_by(st) == "b"


def test_the_key_holder_may_refuse_the_request_it_was_given(world):
    world.start()
    assert statuses(world.c.push("keyholder", [world.refusal("keyholder", world.request_hash,
                                                        cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS)])) == ["ACCEPTED"]
    st = world.c.status(CID)
    assert st.state == S.CALCULATION_STATE_FAILED and st.failure_code == cpb.REFUSAL_CODE_INSUFFICIENT_LEVELS
