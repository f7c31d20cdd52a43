"""Isolating one supplier's figure (#11 items 1 and 5), against real processes.

Item 1 — the coordinator and the requester collude. The coordinator sends a tier-2 supplier
(cathode) a merged request whose Enc(w) is the key holder's public Enc(1), naming a real buyer
(cells, with its genuine signed request) and a fan-out of 5, then sums that supplier's
contribution alone and keeps the aggregate from the auditor; the requester attests it with its
own key. Before #11 cathode answered (its policy ran on the coordinator's word) and the key holder
released cathode's exact own(CAM). Now cathode re-adds its buyers' signed ciphertexts and refuses
(HASH_MISMATCH), and — separately, with honest merged requests — the key holder re-runs the
completeness check itself and withholds a one-contribution aggregate the requester attested
(UNEXPECTED). The coordinator is `tests.harness.isolating_coordinator`; everyone else is an honest
real process, and the test plays the colluding requester.

Item 5 — unmodified software. The requester gives a product two inputs, 10 × cell-works' module
and 1 × a dummy product of its own, which satisfied `min_contributors = 2`; it renames its root
product (and changes one quantity) to get past a rate limit keyed on the root product. Now
contributors are distinct organisations besides the buyer and the requester, read from the
buyer's signed declaration (TOO_FEW_CONTRIBUTORS), and the limit is keyed on (requester,
supplier product) (RATE_LIMITED). A limit bounds differencing; it does not prevent it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tanji.cli import requester
from tanji.methodology import profiles
from tanji.methodology.footprint import own
from tanji.methodology.graph import build_graph
from tanji.protocol.messages import Binding
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import envelopes as E
from tests.harness.adversary import AdversarialFederation, Impostor
from tests.harness.keys import KEY_HOLDER, party_key
from tests.harness.outcomes import assert_failed
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET
from tests.harness.processes import LocalFederation

pytestmark = pytest.mark.integration
MT = epb.MessageType
S = rpb.CalculationState


# ---------------------------------------------------------------- item 1: coordinator + requester

class IsolatingFederation(AdversarialFederation):
    """The adversarial federation with the colluding coordinator (tests.harness.isolating_coordinator)."""

    coordinator_module = "tests.harness.isolating_coordinator"


@pytest.fixture(scope="module")
def colluding(tmp_path_factory):
    fed = IsolatingFederation(tmp_path_factory.mktemp("isolation"))
    yield fed
    fed.stop()


def own_total(fed, org: str, product: str) -> float:
    """A supplier's own(p) summed over the stages: what the coalition wants to read."""
    nd = fed.data.nodes[org]
    part = own(nd.model.product(product), org, nd.model.organisation.country, fed.data.factors.by_id,
               profiles.get("miit-2025"))
    return float(sum(part.vector[:4]))


def attest_as_requester(fed, cid: str) -> None:
    """The colluding requester (pack) attests whatever aggregate the coordinator made, with its own key."""
    (agg,) = fed.stored(cid, MT.MESSAGE_TYPE_AGGREGATE)
    (req,) = fed.stored(cid, MT.MESSAGE_TYPE_CALCULATION_REQUEST)
    (ka,) = fed.stored(cid, MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    attestation = epb.Attestation(output_ciphertext_hash=agg.payload.output_ciphertext_hash,
                                  contribution_hashes=agg.payload.contribution_hashes)
    sealed = E.seal(attestation, fed.key("pack"), sender="pack", cid=cid, binding=Binding.of(req, ka),
                    answers=agg.hash)
    (out,) = Impostor(fed, "pack").push(sealed)
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out


def collude(fed, mode: str, **params) -> tuple[str, rpb.GetStatusResponse]:
    """Run pack/PACK while the coordinator plays `mode`; attest its aggregate if one is made."""
    with fed.attack(mode, **params):
        cid = fed.start()
        fed.wait_until(lambda: fed.status(cid).state in requester.FINAL_STATES
                       or fed.stored(cid, MT.MESSAGE_TYPE_AGGREGATE), timeout=300)
        if fed.stored(cid, MT.MESSAGE_TYPE_AGGREGATE):
            attest_as_requester(fed, cid)
        st = fed.wait(cid)
    return cid, st


def released(fed, cid: str, st: rpb.GetStatusResponse) -> str:
    """What the coalition read, if anything was released (for the assertion's message)."""
    if st.state != S.CALCULATION_STATE_DONE:
        return f"{S.Name(st.state)}: {st.failure_message}"
    return f"RELEASED {fed.result(cid)['total_kgco2e']!r}"


def test_a_forged_merged_request_of_enc1_is_refused_by_the_supplier(colluding):
    fed = colluding
    cid, st = collude(fed, "isolate", supplier="cathode", buyer="cells")
    target = own_total(fed, "cathode", "CAM")
    assert st.state == S.CALCULATION_STATE_FAILED, \
        f"{released(fed, cid, st)} — cathode's own(CAM) is {target!r}"
    assert_failed(st, cpb.REFUSAL_CODE_HASH_MISMATCH, "cathode")
    assert not fed.stored(cid, MT.MESSAGE_TYPE_CONTRIBUTION, sender="cathode")   # nothing computed from its data
    assert not fed.stored(cid, MT.MESSAGE_TYPE_AGGREGATE)
    with pytest.raises(requester.CalculationFailed):
        fed.result(cid)


def test_the_key_holder_withholds_a_one_contribution_aggregate_the_requester_attested(colluding):
    fed = colluding
    cid, st = collude(fed, "lone-aggregate", supplier="bms-co")   # pack buys 1 BMS: w = 1, the sum is own(BMS)
    target = own_total(fed, "bms-co", "BMS")
    (agg,) = fed.stored(cid, MT.MESSAGE_TYPE_AGGREGATE)
    assert len(agg.payload.contribution_hashes) == 1                  # the attack was made and attested ...
    assert st.state == S.CALCULATION_STATE_WITHHELD, \
        f"{released(fed, cid, st)} — bms-co's own(BMS) is {target!r}"
    assert st.failure_code == cpb.REFUSAL_CODE_UNEXPECTED, st.failure_message   # ... and fails completeness
    with pytest.raises(requester.CalculationFailed):
        fed.result(cid)


# ---------------------------------------------------------------- item 5: unmodified software

MODULE = ("cell-works", "MODULE-NMC811-16C")
#: cell-works: answer buyers with two distinct contributors at least, once a day per requester and product
POLICY = 'approved_customers = ["pack-assembler"]\nmin_contributors = 2\n[rate_limit]\ncalculations = 1\ndays = 1\n'


def attack_data(folder: Path) -> Path:
    """The example chain, and the requester's own products for the attacks: a dummy leaf, a product of
    10 × the module and 1 × the dummy, and its pack renamed with the module's quantity changed by one."""
    shutil.copytree(EXAMPLE_CHAIN, folder)
    path = folder / "pack-assembler.json"
    doc = json.loads(path.read_text())
    (pack,) = [p for p in doc["products"] if p["id"] == EXAMPLE_TARGET[1]]
    dummy = {"id": "DUMMY-CASE", "unit": "piece", "stage": "manufacturing", "activities": pack["activities"][2:3]}
    isolate = {**pack, "id": "PACK-ISO", "inputs": [
        {"supplier": MODULE[0], "product": MODULE[1], "quantity": 10, "unit": "piece"},
        {"supplier": "pack-assembler", "product": "DUMMY-CASE", "quantity": 1, "unit": "piece"}]}
    renamed = {**pack, "id": "PACK-NMC811-80-B", "inputs": [
        {**i, "quantity": 11} if i["supplier"] == MODULE[0] else i for i in pack["inputs"]]}
    doc["products"] += [dummy, isolate, renamed]
    path.write_text(json.dumps(doc, indent=2))
    return folder


@pytest.fixture(scope="module")
def unmodified(tmp_path_factory):
    root = tmp_path_factory.mktemp("isolation-policy")
    fed = LocalFederation(root, policies={MODULE[0]: POLICY}, data_dir=attack_data(root / "data"))
    yield fed
    fed.stop()


def run(fed: LocalFederation, product: str) -> rpb.GetStatusResponse:
    org = EXAMPLE_TARGET[0]
    spec = requester.spec_for(org, fed.data.nodes[org].model, fed.data.factors, product, state=fed.state / org,
                              depth_bound=build_graph(fed.data, (org, product)).depth(), key_holder=KEY_HOLDER,
                              deadline_seconds=600)
    cid = requester.start(fed.channel(), party_key(fed.state, org), spec)
    return fed.finish(cid)


def test_a_dummy_product_of_the_requesters_own_does_not_make_a_second_contributor(unmodified):
    st = run(unmodified, "PACK-ISO")
    assert_failed(st, cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS, MODULE[0])


def test_renaming_the_root_product_does_not_pass_the_rate_limit(unmodified):
    first = run(unmodified, EXAMPLE_TARGET[1])
    assert first.state == S.CALCULATION_STATE_DONE, first.failure_message   # the one allowed today
    second = run(unmodified, "PACK-NMC811-80-B")       # renamed, 11 modules instead of 10: the difference
    assert_failed(second, cpb.REFUSAL_CODE_RATE_LIMITED, MODULE[0])
