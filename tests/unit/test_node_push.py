"""A node's outbox (pure plumbing, a fake coordinator stub; no processes): an upload the
coordinator refuses for good is given up and noted in the ledger instead of being retried
forever ahead of every later envelope; an unreachable coordinator is retried with the same bytes."""
import hashlib

import grpc
import pytest

from tanji.node.ledger import ledger
from tanji.node.store import Handled, Outbox, OutObject
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import objects_pb2 as opb
from tests.harness.world import offline_node

CONTENT = (b"ciphertext of calc-a", b"ciphertext of calc-b")
REFUSED = hashlib.sha256(CONTENT[0]).digest()


class Status(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class Coordinator:
    """Takes every envelope; refuses (or cannot be reached for) the object named `bad`."""

    def __init__(self, bad: bytes, error: Status | None):
        self.bad, self.error = bad, error
        self.pushed: list[str] = []

    def StatObject(self, req, timeout=None):
        if req.object_hash == self.bad:
            assert self.error is not None
            raise self.error
        return opb.StatObjectResponse(complete=True)

    def PushMessages(self, req, timeout=None):
        self.pushed.extend(epb.EnvelopeBody.FromString(e.body).calculation_id for e in req.envelopes)
        return npb.PushMessagesResponse(outcomes=[cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED)])


@pytest.fixture
def node(tmp_path):
    n = offline_node(tmp_path)
    store = n.store
    with store.sessions.begin() as s:
        for i, cid in enumerate(("calc-a", "calc-b")):
            obj = hashlib.sha256(CONTENT[i]).digest()
            body = epb.EnvelopeBody(calculation_id=cid, message_type=epb.MESSAGE_TYPE_CONTRIBUTION, object_hashes=[obj])
            s.add(Handled(hash=bytes([9, i]) * 16, calculation_id=cid, kind="MESSAGE_TYPE_MERGED_REQUEST",
                          outcome="answered"))
            s.add(Outbox(hash=bytes([7, i]) * 16, calculation_id=cid, answers=bytes([9, i]) * 16,
                         body=body.SerializeToString(), signature=b"s" * 64))
            s.add(OutObject(hash=obj, calculation_id=cid, kind=1, content=CONTENT[i]))
    yield n
    n.pool.shutdown()


def test_an_upload_refused_for_good_is_given_up_noted_and_does_not_hold_back_the_next(node):
    coord = Coordinator(REFUSED, Status(grpc.StatusCode.RESOURCE_EXHAUSTED, "object above the limit"))
    node.client.node_service = coord
    node.push_pending()
    assert coord.pushed == ["calc-b"]  # the refused one was not sent; the one after it was
    with node.store.sessions() as s:
        assert all(r.pushed for r in s.query(Outbox))
    notes = {e.calculation: e.answered for e in ledger(node.store)}
    assert notes["calc-a"] == ["answered; not delivered, the coordinator refused it: "
                               "RESOURCE_EXHAUSTED: object above the limit"]
    assert notes["calc-b"] == ["answered"]


def test_an_unreachable_coordinator_is_retried_later_with_nothing_given_up(node):
    node.client.node_service = Coordinator(REFUSED, Status(grpc.StatusCode.UNAVAILABLE, "connection refused"))
    with pytest.raises(grpc.RpcError):
        node.push_pending()
    with node.store.sessions() as s:
        assert not any(r.pushed for r in s.query(Outbox))
    node.client.node_service = coord = Coordinator(b"", None)
    node.push_pending()
    assert coord.pushed == ["calc-a", "calc-b"]


class RefusingCoordinator(Coordinator):
    """Holds every object; refuses the envelope of calc-a by rule, in its push outcome."""

    def PushMessages(self, req, timeout=None):
        if epb.EnvelopeBody.FromString(req.envelopes[0].body).calculation_id == "calc-a":
            return npb.PushMessagesResponse(outcomes=[cpb.PushOutcome(
                status=cpb.PUSH_STATUS_REFUSED, code=cpb.REFUSAL_CODE_DECLARED_DEAD, message="declared dead")])
        return super().PushMessages(req, timeout)


def test_an_envelope_refused_by_rule_is_noted_with_its_code_and_not_sent_again(node):
    node.client.node_service = coord = RefusingCoordinator(b"", None)
    node.push_pending()
    node.push_pending()
    assert coord.pushed == ["calc-b"]
    notes = {e.calculation: e.answered for e in ledger(node.store)}
    assert notes["calc-a"] == ["answered; not delivered, the coordinator refused it: "
                               "REFUSAL_CODE_DECLARED_DEAD: declared dead"]
