"""Faults in real processes: the coordinator killed (SIGKILL) mid-calculation and restarted on
its state resumes to the same result; a node killed mid-request and restarted does not count twice."""
import json
import sqlite3
import time

import grpc
import pytest

from pcf import limits
from pcf.graph import build_graph, reference_result
from pcf.loader import load_data_dir
from pcf.signing import SigningKey
from tanji import requester
from tanji.demo import Processes, _wait_for, onboard
from tanji.v1 import requester_pb2 as rpb
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration
S = rpb.CalculationState
TARGET = ("pack-assembler", "PACK-NMC811-80")
LEASE = 60.0


class Federation:
    """A local federation the test can hurt: one process per party, state on disk."""

    def __init__(self, tmp_path, policies: dict[str, str] | None = None):
        self.data = load_data_dir(EXAMPLES / "nmc811-pack")
        self.state = tmp_path / "state"
        self.fed_file, self.federation = onboard(self.state, self.data.nodes)
        for org, text in (policies or {}).items():
            (self.state / org / "policy.toml").write_text(text)
        self.procs = Processes(self.state)
        # a lease long enough that a node restarted within it is not declared dead
        self.address = self.procs.start_coordinator(self.fed_file, lease_seconds=LEASE)
        self.procs.start_keyholder(self.fed_file, self.address)
        for org, nd in self.data.nodes.items():
            self.start_node(org)
        for org in self.data.nodes:
            _wait_for(self.state / org / "ready", self.procs, f"{org} to register")

    def start_node(self, org):
        self.procs.start_node(org, self.data.nodes[org].file, self.data.factors.file, self.fed_file, self.address)

    def channel(self):
        return grpc.insecure_channel(self.address, options=limits.GRPC_OPTIONS)

    def start_calculation(self) -> str:
        graph = build_graph(self.data, TARGET)
        spec = requester.spec_for(TARGET[0], self.data.nodes[TARGET[0]].model, self.data.factors, TARGET[1],
                                  state=self.state / TARGET[0], depth_bound=graph.depth(), key_holder="keyholder",
                                  deadline_seconds=600)
        return requester.start(self.channel(), SigningKey.load_or_create(self.state / TARGET[0] / "envelope-key.pem"), spec)

    def wait(self, cid, predicate, timeout=600):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                st = requester.status(self.channel(), TARGET[0], cid)
                if predicate(st):
                    return st
            except grpc.RpcError:
                pass  # the coordinator is restarting
            time.sleep(0.1)
        raise AssertionError(f"timed out; last state {S.Name(st.state)}, answered {st.requests_answered}")

    def result(self, cid) -> dict:
        return json.loads(requester.result(self.channel(), TARGET[0], cid, self.federation))


def assert_matches_reference(result):
    ref = json.loads(reference_result(load_data_dir(EXAMPLES / "nmc811-pack"), TARGET).to_json())
    assert abs(result["total_kgco2e"] - ref["total_kgco2e"]) / ref["total_kgco2e"] < 1e-5
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) / value < 1e-5
    assert result["warnings_count"] == ref["warnings_count"]


@pytest.mark.parametrize("point", ["running, nothing answered", "half answered", "awaiting attestation or later"])
def test_coordinator_sigkill_mid_calculation_resumes_to_the_same_result(tmp_path, point):
    fed = Federation(tmp_path)
    try:
        cid = fed.start_calculation()
        when = {"running, nothing answered": lambda st: st.state == S.CALCULATION_STATE_RUNNING,
                "half answered": lambda st: st.requests_answered >= 6,
                "awaiting attestation or later": lambda st: st.state >= S.CALCULATION_STATE_AWAITING_ATTESTATION}[point]
        fed.wait(cid, when)
        port = fed.address.rsplit(":", 1)[1]
        fed.procs.kill("coordinator")
        fed.procs.start_coordinator(fed.fed_file, listen=f"127.0.0.1:{port}", lease_seconds=LEASE)
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert_matches_reference(fed.result(cid))
    finally:
        fed.procs.stop()


def test_node_sigkill_mid_request_resumes_without_double_counting(tmp_path):
    fed = Federation(tmp_path)
    try:
        cid = fed.start_calculation()
        fed.wait(cid, lambda st: st.state == S.CALCULATION_STATE_RUNNING)
        fed.wait(cid, lambda st: st.requests_answered >= 2)  # cell-works is busy with its module or cell
        fed.procs.kill("cell-works")  # the busiest node: two products, four requests
        time.sleep(1.0)
        fed.start_node("cell-works")
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert_matches_reference(fed.result(cid))
        con = sqlite3.connect(fed.state / "coordinator" / "coordinator.db")
        n = con.execute("SELECT COUNT(*) FROM envelopes WHERE sender='cell-works' AND message_type='MESSAGE_TYPE_CONTRIBUTION'").fetchone()[0]
        con.close()
        assert n == 2  # one per product, whatever was resent
    finally:
        fed.procs.stop()


def test_a_supplier_rate_limits_calculations_per_root_requester_and_product(tmp_path):
    fed = Federation(tmp_path, {"graphite-anode": "[rate_limit]\ncalculations = 1\ndays = 1\n"})
    try:
        first = fed.start_calculation()
        st = fed.wait(first, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        second = fed.start_calculation()
        st = fed.wait(second, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_FAILED
        assert "REFUSAL_CODE_RATE_LIMITED" in st.failure_message
        assert "graphite-anode answers at most 1 calculation(s) of pack-assembler/PACK-NMC811-80" in st.failure_message
    finally:
        fed.procs.stop()
