"""A supplier's rate limit per (root requester, supplier product) counts every batch block, whatever
the root products are called (no processes; per product and requester with signed merged requests:
tests/unit/test_signed_buyers.py; across real calculations: tests/integration/test_faults.py and
tests/adversarial/test_isolation.py)."""
import pytest

from tanji.node.policy import Policy
from tanji.node.requests import check_rate_limit
from tanji.node.store import Handled, Received
from tanji.protocol import envelope as env
from tanji.protocol.refusals import Refusal
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E
from tests.harness.world import offline_node

PACK = SigningKey.generate()


def calculation_request(cid: str, products: list[str]) -> epb.Envelope:
    asked = epb.CalculationRequest(target_organisation="pack-co", batch_size=len(products),
                                   products=[epb.BatchItem(product_id=p) for p in products])
    return E.seal(asked, PACK, sender="pack-co", cid=cid)


@pytest.fixture
def node(tmp_path):
    n = offline_node(tmp_path, policy=Policy(rate_limit=(3, 1.0)))
    yield n
    n.pool.shutdown()


def receive(node, cid: str, products: list[str], answered: bool) -> None:
    sealed = calculation_request(cid, products)
    with node.store.sessions.begin() as s:
        s.add(Received(hash=env.message_hash(sealed), calculation_id=cid, kind="MESSAGE_TYPE_CALCULATION_REQUEST",
                       body=sealed.body, signature=sealed.signature))
        if answered:  # a merged request not kept: counted against every product (it cannot be told apart)
            s.add(Handled(hash=cid.encode().ljust(32, b"."), calculation_id=cid, kind="MESSAGE_TYPE_MERGED_REQUEST",
                          outcome="answered"))


def test_every_batch_block_counts_towards_the_limit(node):
    receive(node, "calc-1", ["PACK"], answered=True)
    receive(node, "calc-2", ["PACK"], answered=True)
    receive(node, "calc-3", ["PACK", "PACK"], answered=False)  # two figures of PACK in one calculation
    with pytest.raises(Refusal) as refused:
        check_rate_limit(node.site, "calc-3", "CELL")
    assert refused.value.code == cpb.REFUSAL_CODE_RATE_LIMITED


def test_a_batch_within_the_limit_passes_whatever_its_root_is_called(node):
    receive(node, "calc-1", ["PACK", "PACK"], answered=True)  # two of three used
    receive(node, "calc-2", ["OTHER"], answered=False)
    check_rate_limit(node.site, "calc-2", "CELL")  # the third, though the root is renamed
    receive(node, "calc-3", ["OTHER"], answered=False)
    check_rate_limit(node.site, "calc-3", "CELL")  # calc-2 was not answered: the third is still free
    receive(node, "calc-4", ["OTHER", "PACK"], answered=False)
    with pytest.raises(Refusal) as refused:
        check_rate_limit(node.site, "calc-4", "CELL")  # a renamed root does not start a count of its own
    assert refused.value.code == cpb.REFUSAL_CODE_RATE_LIMITED


def test_a_refused_calculation_uses_nothing(node):
    receive(node, "calc-1", ["PACK"] * 3, answered=False)
    with node.store.sessions.begin() as s:
        s.add(Handled(hash=b"r" * 32, calculation_id="calc-1", kind="MESSAGE_TYPE_MERGED_REQUEST",
                      outcome="refused: too few contributors", refusal_code=cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS))
    receive(node, "calc-2", ["PACK"] * 3, answered=False)
    check_rate_limit(node.site, "calc-2", "CELL")
