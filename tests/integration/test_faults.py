"""Faults in real processes: the coordinator killed (SIGKILL) mid-calculation and restarted on
its state resumes to the same result, with everything it had committed still there; a node killed
mid-request and restarted does not count twice."""
import signal
import sqlite3
import time

import pytest

from tanji.cli import requester
from tanji.protocol import envelope as env
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.data import write_chain
from tests.harness.outcomes import assert_failed
from tests.harness.processes import LocalFederation, assert_matches_reference, assert_nothing_lost, store_snapshot

pytestmark = pytest.mark.integration
S = rpb.CalculationState


@pytest.mark.parametrize("point", ["running, nothing answered", "half answered", "awaiting attestation or later"])
def test_coordinator_sigkill_mid_calculation_resumes_to_the_same_result(tmp_path, point):
    fed = LocalFederation(tmp_path)
    try:
        cid = fed.start_calculation()
        when = {"running, nothing answered": lambda st: st.state == S.CALCULATION_STATE_RUNNING,
                "half answered": lambda st: st.requests_answered >= 6,
                "awaiting attestation or later": lambda st: st.state >= S.CALCULATION_STATE_AWAITING_ATTESTATION}[point]
        fed.wait(cid, when)
        fed.procs.kill("coordinator")
        before = store_snapshot(fed.state)
        fed.restart_coordinator()
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert_matches_reference(fed.result(cid))
        assert_nothing_lost(before, store_snapshot(fed.state), cid)
    finally:
        fed.stop()


@pytest.mark.parametrize("point", ["key-announced", "merge-uncommitted", "result-uncommitted", "result-stored"])
def test_coordinator_killed_at_a_fault_point_resumes_with_nothing_lost(tmp_path, point):
    """Points between two statements of one RPC (coordinator/faults.py), on a generated 7-organisation
    chain whose shared leaves make the coordinator merge requests. The store is read right after
    the kill — what was committed then — and again once the restarted coordinator has finished."""
    data_dir, target = write_chain(tmp_path / "chain", organisations=7)
    fed = LocalFederation(tmp_path, data_dir=data_dir, target=target, fault_point=point)
    try:
        cid = fed.start_calculation()
        assert fed.reap_coordinator() == -signal.SIGKILL
        assert f"TANJI_FAULT_POINT {point}: killing this process" in fed.log()  # died at that point, not elsewhere
        before = store_snapshot(fed.state)
        fed.restart_coordinator()
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert_matches_reference(fed.result(cid), data_dir, target, rel=1e-6)
        assert_nothing_lost(before, store_snapshot(fed.state), cid)
        merged = [env.parse_unverified(epb.Envelope(body=e[5], signature=e[6])).payload
                  for e in store_snapshot(fed.state)["envelopes"].values() if e[2] == "MESSAGE_TYPE_MERGED_REQUEST"]
        assert len(merged) == 6  # one per supplier product: two mid-tier parts and four leaves
        assert sorted(len(m.parts[0].requests) for m in merged) == [1, 1, 1, 1, 2, 2]  # two shared leaves
    finally:
        fed.stop()


def test_node_sigkill_mid_request_resumes_without_double_counting(tmp_path):
    fed = LocalFederation(tmp_path)
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
        n = con.execute("SELECT COUNT(*) FROM envelopes "
                        "WHERE sender='cell-works' AND message_type='MESSAGE_TYPE_CONTRIBUTION'").fetchone()[0]
        con.close()
        assert n == 2  # one per product, whatever was resent
    finally:
        fed.stop()


def test_a_supplier_rate_limits_calculations_per_root_requester_and_product(tmp_path):
    fed = LocalFederation(tmp_path, {"graphite-anode": "[rate_limit]\ncalculations = 1\ndays = 1\n"})
    try:
        first = fed.start_calculation()
        st = fed.wait(first, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        second = fed.start_calculation()
        st = fed.wait(second, lambda st: st.state in requester.FINAL_STATES)
        assert_failed(st, cpb.REFUSAL_CODE_RATE_LIMITED, "graphite-anode")
    finally:
        fed.stop()
