"""The adversarial suite's shared federation (tests.harness.adversary): one for the session,
and one honest calculation every attack is compared with."""
from __future__ import annotations

import pytest

from tanji.v1 import requester_pb2 as rpb
from tests.harness.adversary import AdversarialFederation, assert_matches


@pytest.fixture(scope="session")
def federation(tmp_path_factory):
    fed = AdversarialFederation(tmp_path_factory.mktemp("adversarial"))
    yield fed
    fed.stop()


@pytest.fixture(scope="session")
def honest_run(federation) -> str:
    """One honest calculation of pack/PACK: the control every attack is compared with (and the
    earlier calculation that splices and replays take their material from)."""
    cid = federation.start()
    st = federation.wait(cid)
    assert st.state == rpb.CALCULATION_STATE_DONE, st.failure_message
    assert_matches(federation.result(cid), federation.expected())
    return cid
