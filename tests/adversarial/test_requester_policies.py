"""Attacks by a requester on one supplier's figure, and the policies that stop them where the data is.

* Isolation: the requester zeroes every other quantity of its bill of materials, so the total would
  be one supplier's footprint times a known quantity. A zero quantity names no supplier, so the
  coordinator routes the request with a fan-out of one, and a supplier that demands
  `min_contributors` refuses (TOO_FEW_CONTRIBUTORS) — in its log, its ledger and the failure.
* An uncommitted or changed bill of materials: the requester's own node answers only quantities the
  requester committed to (salted hash in the signed calculation request) before the start.
Real processes: coordinator, key holder and one node per organisation.
"""
import json
import shutil
import subprocess
import sys

import pytest

from tanji.cli import requester
from tanji.methodology.graph import build_graph
from tanji.node.ledger import ledger
from tanji.node.store import NodeStore
from tanji.protocol.signing import SigningKey
from tanji.v1 import requester_pb2 as rpb
from tests.conftest import EXAMPLES
from tests.integration.test_faults import TARGET, Federation

pytestmark = pytest.mark.integration
S = rpb.CalculationState


def test_a_requester_zeroing_its_other_quantities_is_refused_by_the_minimum_contributors_policy(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLES / "nmc811-pack", data)
    pack = json.loads((data / "pack-assembler.json").read_text())
    (product,) = [p for p in pack["products"] if p["id"] == TARGET[1]]
    for inp in product["inputs"]:
        if inp["supplier"] != "cell-works":
            inp["quantity"] = 0          # the attack: only the modules are left in the bill of materials
    (data / "pack-assembler.json").write_text(json.dumps(pack, indent=2))
    out = tmp_path / "out"
    (out / "state" / "cell-works").mkdir(parents=True)
    (out / "state" / "cell-works" / "policy.toml").write_text(
        'approved_customers = ["pack-assembler", "cell-works"]\nmin_contributors = 2\n')
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(data), "--product", "/".join(TARGET),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    assert "REFUSAL_CODE_TOO_FEW_CONTRIBUTORS" in message
    assert ("cell-works answers MODULE-NMC811-16C only for a buyer with at least 2 inputs; pack-assembler has 1"
            in message)
    entries = ledger(NodeStore(out / "state" / "cell-works" / "node.db"))
    assert any("at least 2 inputs" in a for e in entries for a in e.answered)   # in the supplier's usage ledger
    assert not (out / "result.json").exists()


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    fed = Federation(tmp_path_factory.mktemp("commitment"))
    yield fed
    fed.procs.stop()


def _start(fed, spec) -> rpb.GetStatusResponse:
    cid = requester.start(fed.channel(), SigningKey.load_or_create(fed.state / TARGET[0] / "envelope-key.pem"), spec)
    return fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)


def _spec(fed):
    return requester.spec_for(TARGET[0], fed.data.nodes[TARGET[0]].model, fed.data.factors, TARGET[1],
                              state=fed.state / TARGET[0], depth_bound=build_graph(fed.data, TARGET).depth(),
                              key_holder="keyholder",
                              deadline_seconds=600)


def test_a_calculation_without_a_quantity_commitment_is_refused_by_the_requesters_own_node(federation):
    spec = _spec(federation)
    spec.target = None                      # a requester tool that commits to nothing
    st = _start(federation, spec)
    assert st.state == S.CALCULATION_STATE_FAILED
    assert "REFUSAL_CODE_QUANTITIES_UNCOMMITTED" in st.failure_message


def test_a_bill_of_materials_changed_after_the_commitment_is_refused(federation):
    spec = _spec(federation)
    product = spec.target
    changed = product.model_copy(update={"inputs": [i.model_copy(update={"quantity": i.quantity * 2})
                                                    for i in product.inputs]})
    spec.target = changed                   # committed to doubled quantities; the node holds the real ones
    st = _start(federation, spec)
    assert st.state == S.CALCULATION_STATE_FAILED
    assert "REFUSAL_CODE_COMMITMENT_MISMATCH" in st.failure_message
    assert "pack-assembler/PACK-NMC811-80: the quantities in the imported data" in st.failure_message


def test_a_committed_calculation_on_the_same_federation_still_succeeds(federation):
    st = _start(federation, _spec(federation))     # the control: the refusals above were not the federation's fault
    assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
