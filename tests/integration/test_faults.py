"""Faults in real processes: the coordinator killed (SIGKILL) mid-calculation and restarted on
its state resumes to the same result, with everything it had committed still there; a node killed
mid-request and restarted does not count twice."""
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from tanji.cli import requester
from tanji.cli.demo import Processes, _wait_for, onboard
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import requester_pb2 as rpb
from tests.chaingen import write_chain
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.integration
S = rpb.CalculationState
TARGET = ("pack-assembler", "PACK-NMC811-80")
LEASE = 60.0


class Federation:
    """A local federation the test can hurt: one process per party, state on disk."""

    def __init__(self, tmp_path, policies: dict[str, str] | None = None, data_dir: Path = EXAMPLES / "nmc811-pack",
                 target: tuple[str, str] = TARGET, fault_point: str = ""):
        self.data = load_data_dir(data_dir)
        self.data_dir, self.target = data_dir, target
        self.state = tmp_path / "state"
        self.fed_file, self.federation = onboard(self.state, self.data.nodes)
        for org, text in (policies or {}).items():
            (self.state / org / "policy.toml").write_text(text)
        self.procs = Processes(self.state)
        self.address = self.start_coordinator(fault_point=fault_point)
        self.procs.start_keyholder(self.fed_file, self.address)
        for org in self.data.nodes:
            self.start_node(org)
        for org in self.data.nodes:
            _wait_for(self.state / org / "ready", self.procs, f"{org} to register")

    def start_coordinator(self, listen: str = "127.0.0.1:0", fault_point: str = "") -> str:
        """(Re)start the coordinator on its state; `fault_point` arms coordinator/faults.py in it alone."""
        saved = os.environ.pop("TANJI_FAULT_POINT", None)
        if fault_point:
            os.environ["TANJI_FAULT_POINT"] = fault_point
        try:
            # a lease long enough that a node restarted within it is not declared dead
            return self.procs.start_coordinator(self.fed_file, listen=listen, lease_seconds=LEASE)
        finally:
            os.environ.pop("TANJI_FAULT_POINT", None)
            if saved is not None:
                os.environ["TANJI_FAULT_POINT"] = saved

    def restart_coordinator(self) -> None:
        self.start_coordinator(listen=f"127.0.0.1:{self.address.rsplit(':', 1)[1]}")

    def start_node(self, org):
        self.procs.start_node(org, self.data.nodes[org].file, self.data.factors.file, self.fed_file, self.address)

    def channel(self):
        return grpc.insecure_channel(self.address, options=limits.GRPC_OPTIONS)

    def start_calculation(self) -> str:
        org, product = self.target
        graph = build_graph(self.data, self.target)
        spec = requester.spec_for(org, self.data.nodes[org].model, self.data.factors, product,
                                  state=self.state / org, depth_bound=graph.depth(), key_holder="keyholder",
                                  deadline_seconds=600)
        return requester.start(self.channel(), SigningKey.load_or_create(self.state / org / "envelope-key.pem"), spec)

    def wait(self, cid, predicate, timeout=600):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                st = requester.status(self.channel(), self.target[0], cid)
                if predicate(st):
                    return st
            except grpc.RpcError:
                pass  # the coordinator is restarting
            time.sleep(0.1)
        raise AssertionError(f"timed out; last state {S.Name(st.state)}, answered {st.requests_answered}")

    def result(self, cid) -> dict:
        return json.loads(requester.result(self.channel(), self.target[0], cid, self.federation))

    def reap_coordinator(self, timeout: float = 600) -> int:
        """Wait for a coordinator armed with a fault point to die; clear its process group."""
        proc = self.procs.procs.pop("coordinator")
        code = proc.wait(timeout=timeout)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return code


def assert_matches_reference(result, data_dir: Path = EXAMPLES / "nmc811-pack", target=TARGET, rel: float = 1e-5):
    ref = json.loads(reference_result(load_data_dir(data_dir), target).to_json())
    assert abs(result["total_kgco2e"] - ref["total_kgco2e"]) / ref["total_kgco2e"] < rel
    for stage, value in ref["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= rel * max(value, 1e-3 * ref["total_kgco2e"]), stage
    assert result["warnings_count"] == ref["warnings_count"]


#: coordinator tables whose rows never change once committed (primary key first)
APPEND_ONLY = {"envelopes": "hash, calculation_id, message_type, sender, receiver, body, signature",
               "log_leaves": "\"index\", envelope_hash, leaf_hash", "tree_heads": "tree_size, root, signature",
               "deliveries": "sequence, party, envelope_hash",
               "key_holder_work": "sequence, party, kind, calculation_id",
               "calc_requests": "hash, buyer, supplier, product, weight_hash", "attestations": "hash, auditor",
               "calc_fallbacks": "hash, request_hash"}
#: rows that move forward; a column set once keeps its value
PROGRESSING = {"calculations": ("id", "key_announcement_hash, context_hash, aggregate_hash, result_hash, request_hash"),
               "calc_pairs": ("calculation_id, org, product",
                              "merged_request_hash, declaration_hash, contribution_hash")}


def store_snapshot(state: Path) -> dict:
    """The coordinator's committed state: its tables (read-only) and its object store's names."""
    con = sqlite3.connect(f"file:{state / 'coordinator' / 'coordinator.db'}?mode=ro", uri=True)
    try:
        snap: dict[str, Any] = {t: {row[0]: row for row in con.execute(f"SELECT {cols} FROM {t}")}
                                for t, cols in APPEND_ONLY.items()}
        for t, (key, cols) in PROGRESSING.items():
            n = len(key.split(","))
            snap[t] = {row[:n]: row[n:] for row in con.execute(f"SELECT {key}, {cols} FROM {t}")}
    finally:
        con.close()
    snap["objects"] = {p.name for p in (state / "coordinator" / "objects").rglob("*") if p.is_file()}
    return snap


def assert_nothing_lost(before: dict, after: dict, cid: str) -> None:
    """Every row committed before the kill is still there, unchanged; the log only grew; one answer each."""
    for t in APPEND_ONLY:
        lost = {k: v for k, v in before[t].items() if after[t].get(k) != v}
        assert not lost, f"{t}: {len(lost)} committed row(s) lost or changed by the restart"
    for t in PROGRESSING:
        for k, cols in before[t].items():
            assert k in after[t], f"{t} {k} lost"
            assert all(b is None or b == a for b, a in zip(cols, after[t][k], strict=True)), \
                f"{t} {k}: a set column changed"
    assert before["objects"] <= after["objects"], "objects lost"
    leaves = sorted(after["log_leaves"].values())
    assert [leaf[0] for leaf in leaves] == list(range(len(leaves)))  # the log stays gapless and append-only
    kinds = [e[2] for e in after["envelopes"].values() if e[1] == cid]
    pairs = {k: v for k, v in after["calc_pairs"].items() if k[0] == cid}
    assert kinds.count("MESSAGE_TYPE_CONTRIBUTION") == len(pairs)  # one per product reached, none twice
    assert {v[2] for v in pairs.values()} == {e[0] for e in after["envelopes"].values()
                                              if e[1] == cid and e[2] == "MESSAGE_TYPE_CONTRIBUTION"}
    for once in ("MESSAGE_TYPE_KEY_ANNOUNCEMENT", "MESSAGE_TYPE_AGGREGATE", "MESSAGE_TYPE_RESULT"):
        assert kinds.count(once) == 1, once


@pytest.mark.parametrize("point", ["running, nothing answered", "half answered", "awaiting attestation or later"])
def test_coordinator_sigkill_mid_calculation_resumes_to_the_same_result(tmp_path, point):
    fed = Federation(tmp_path)
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
        fed.procs.stop()


@pytest.mark.parametrize("point", ["key-announced", "merge-uncommitted", "result-uncommitted", "result-stored"])
def test_coordinator_killed_at_a_fault_point_resumes_with_nothing_lost(tmp_path, point):
    """Points between two statements of one RPC (coordinator/faults.py), on a generated 7-organisation
    chain whose shared leaves make the coordinator merge requests. The store is read right after
    the kill — what was committed then — and again once the restarted coordinator has finished."""
    data_dir, target = write_chain(tmp_path / "chain", organisations=7)
    fed = Federation(tmp_path, data_dir=data_dir, target=target, fault_point=point)
    try:
        cid = fed.start_calculation()
        assert fed.reap_coordinator() == -signal.SIGKILL
        log = (fed.state / "coordinator" / "log.txt").read_text(errors="replace")
        assert f"TANJI_FAULT_POINT {point}: killing this process" in log  # died at that point, not elsewhere
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
        n = con.execute("SELECT COUNT(*) FROM envelopes "
                        "WHERE sender='cell-works' AND message_type='MESSAGE_TYPE_CONTRIBUTION'").fetchone()[0]
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
