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
from sqlalchemy import select

from tanji.node.ledger import ledger
from tanji.node.store import Handled, NodeStore
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.outcomes import assert_failed, refusal_line, unwrapped
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET
from tests.harness.processes import LocalFederation

pytestmark = pytest.mark.integration
S = rpb.CalculationState
TARGET = EXAMPLE_TARGET


def test_a_requester_zeroing_its_other_quantities_is_refused_by_the_minimum_contributors_policy(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE_CHAIN, data)
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
    assert refusal_line("cell-works", cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS) in unwrapped(proc.stderr)
    store = NodeStore(out / "state" / "cell-works" / "node.db")
    with store.sessions() as s:   # the supplier's own record of the refusal, by code ...
        refused = [h.outcome for h in s.scalars(select(Handled))
                   if h.refused and h.refusal_code == cpb.REFUSAL_CODE_TOO_FEW_CONTRIBUTORS]
    assert refused
    assert any(o in e.answered for e in ledger(store) for o in refused)   # ... in its usage ledger
    assert not (out / "result.json").exists()


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    fed = LocalFederation(tmp_path_factory.mktemp("commitment"))
    yield fed
    fed.stop()


def _start(fed, spec) -> rpb.GetStatusResponse:
    return fed.finish(fed.start_calculation(spec))


def _spec(fed):
    return fed.spec()


def test_a_calculation_without_a_quantity_commitment_is_refused_by_the_requesters_own_node(federation):
    spec = _spec(federation)
    spec.target = None                      # a requester tool that commits to nothing
    st = _start(federation, spec)
    assert_failed(st, cpb.REFUSAL_CODE_QUANTITIES_UNCOMMITTED, TARGET[0])


def test_a_bill_of_materials_changed_after_the_commitment_is_refused(federation):
    spec = _spec(federation)
    product = spec.target
    changed = product.model_copy(update={"inputs": [i.model_copy(update={"quantity": i.quantity * 2})
                                                    for i in product.inputs]})
    spec.target = changed                   # committed to doubled quantities; the node holds the real ones
    st = _start(federation, spec)
    assert_failed(st, cpb.REFUSAL_CODE_COMMITMENT_MISMATCH, TARGET[0])


def test_a_committed_calculation_on_the_same_federation_still_succeeds(federation):
    st = _start(federation, _spec(federation))     # the control: the refusals above were not the federation's fault
    assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
