"""The coordinator on PostgreSQL, in real processes: the example demo, two coordinator replicas
sharing one database, and PostgreSQL restarted in the middle of a calculation. Each ends in the
plaintext reference's result, with nothing the coordinator had committed lost."""
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from tanji.cli import requester
from tanji.cli.demo import Processes, _wait_for, onboard
from tanji.methodology.graph import build_graph
from tanji.methodology.loader import load_data_dir
from tanji.protocol import limits
from tanji.protocol.signing import SigningKey
from tanji.v1 import requester_pb2 as rpb
from tests.chaingen import write_chain
from tests.conftest import EXAMPLES
from tests.integration.test_faults import APPEND_ONLY, PROGRESSING, assert_matches_reference, assert_nothing_lost

pytestmark = pytest.mark.integration
S = rpb.CalculationState
EXAMPLE, TARGET = EXAMPLES / "nmc811-pack", ("pack-assembler", "PACK-NMC811-80")


def pg_connect(url: str):
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def pg_snapshot(url: str) -> dict:
    """The coordinator's committed tables, read in one snapshot, and its objects' names."""
    with pg_connect(url) as con:
        con.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snap: dict[str, Any] = {t: {row[0]: row for row in con.execute(f"SELECT {cols} FROM {t}")}
                                for t, cols in APPEND_ONLY.items()}
        for t, (key, cols) in PROGRESSING.items():
            n = len(key.split(","))
            snap[t] = {row[:n]: row[n:] for row in con.execute(f"SELECT {key}, {cols} FROM {t}")}
        snap["objects"] = {bytes(h).hex() for (h,) in con.execute("SELECT hash FROM objects")}
        snap["states"] = dict(con.execute("SELECT id, state FROM calculations"))
    return snap


class PgFederation:
    """A local federation whose coordinator replicas share one PostgreSQL database."""

    def __init__(self, tmp_path: Path, url: str, data_dir: Path, target, replicas: int = 1, lease: float = 6.0):
        self.data, self.data_dir, self.target, self.url = load_data_dir(data_dir), data_dir, target, url
        self.state = tmp_path / "state"
        self.fed_file, self.federation = onboard(self.state, self.data.nodes)
        self.procs = Processes(self.state)
        names = ["coordinator"] + [f"coordinator-{i + 1}" for i in range(1, replicas)]
        self.addresses = [self.procs.start_coordinator(self.fed_file, database=url, name=n, lease_seconds=lease)
                          for n in names]
        self.procs.start_keyholder(self.fed_file, self.addresses[-1])  # on the last replica
        for i, (org, nd) in enumerate(sorted(self.data.nodes.items())):  # nodes split between the replicas
            self.procs.start_node(org, nd.file, self.data.factors.file, self.fed_file,
                                  self.addresses[i % len(self.addresses)])
        for org in self.data.nodes:
            _wait_for(self.state / org / "ready", self.procs, f"{org} to register")

    def channel(self, replica: int = 0):
        return grpc.insecure_channel(self.addresses[replica], options=limits.GRPC_OPTIONS)

    def start_calculation(self, replica: int = 0) -> str:
        org, product = self.target
        spec = requester.spec_for(org, self.data.nodes[org].model, self.data.factors, product, state=self.state / org,
                                  depth_bound=build_graph(self.data, self.target).depth(), key_holder="keyholder",
                                  deadline_seconds=600)
        return requester.start(self.channel(replica), SigningKey.load_or_create(self.state / org / "envelope-key.pem"),
                               spec)

    def wait(self, cid, predicate, replica: int = 0, timeout: float = 600):
        end, st = time.monotonic() + timeout, None
        while time.monotonic() < end:
            self.procs.check_alive()  # an outage must not crash any party
            try:
                st = requester.status(self.channel(replica), self.target[0], cid)
                if predicate(st):
                    return st
            except grpc.RpcError:
                pass  # the database is down: the coordinator answers UNAVAILABLE
            time.sleep(0.1)
        raise AssertionError(f"timed out; last status {st}")

    def result(self, cid, replica: int = 0) -> dict:
        return json.loads(requester.result(self.channel(replica), self.target[0], cid, self.federation))


def test_demo_on_postgresql_matches_the_reference_and_its_bundle_verifies(tmp_path, postgres_url):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLE), "--product", "/".join(TARGET),
                           "--out", str(out), "--database", postgres_url], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_matches_reference(json.loads((out / "result.json").read_text()))
    assert not (out / "state" / "coordinator" / "objects").exists()  # ciphertexts went to the database
    with pg_connect(postgres_url) as con:
        assert con.execute("SELECT COUNT(*) FROM objects").fetchone()[0] > 0
    verify = subprocess.run([sys.executable, "-m", "tanji", "audit", "verify", str(out / "bundle.tar"), "--trust",
                             str(out / "state" / "registry" / "anchor.pub")],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_two_coordinator_replicas_on_one_database(tmp_path, postgres_url):
    """Nodes split between two replicas, the key holder on the second, the requester starting on the
    first and reading status and result from the second: the reference's result, one gapless log."""
    data_dir, target = write_chain(tmp_path / "chain", organisations=7)
    fed = PgFederation(tmp_path, postgres_url, data_dir, target, replicas=2)
    try:
        cid = fed.start_calculation(replica=0)
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES, replica=1)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert fed.result(cid, replica=1) == fed.result(cid, replica=0)
        assert_matches_reference(fed.result(cid, replica=1), data_dir, target)
        snap = pg_snapshot(postgres_url)
        assert_nothing_lost(snap, snap, cid)  # one contribution per product, one key/aggregate/result, gapless log
        fed.procs.check_alive()  # both replicas up to the end (each node dialled only its own)
    finally:
        fed.procs.stop()


def test_postgresql_restarted_mid_calculation(tmp_path, postgres_server, postgres_url):
    """`pg_ctl stop -m fast` while the example chain is half answered; down longer than a lease. The
    coordinator answers UNAVAILABLE meanwhile and stays up; once PostgreSQL is back the calculation
    finishes with the reference's result (nobody declared dead for the outage), nothing lost."""
    lease = 6.0
    fed = PgFederation(tmp_path, postgres_url, EXAMPLE, TARGET, lease=lease)
    try:
        cid = fed.start_calculation()
        fed.wait(cid, lambda st: st.requests_answered >= 6)
        before = pg_snapshot(postgres_url)
        postgres_server.stop("fast")
        try:
            assert before["states"][cid] == "CALCULATION_STATE_RUNNING"  # stopped mid-calculation
            time.sleep(1.0)
            with pytest.raises(grpc.RpcError) as down:
                requester.status(fed.channel(), TARGET[0], cid)
            assert down.value.code() == grpc.StatusCode.UNAVAILABLE, down.value.details()
            assert "database is unavailable" in (down.value.details() or "")
            time.sleep(lease + 2)  # every lease expires while the database is down
            fed.procs.check_alive()
        finally:
            postgres_server.start()
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert st.dead_suppliers == 0
        assert_matches_reference(fed.result(cid))
        assert_nothing_lost(before, pg_snapshot(postgres_url), cid)
        log = " ".join((fed.state / "coordinator" / "log.txt").read_text(errors="replace").split())  # unwrapped
        assert "the database is back: every registered party has a fresh lease" in log
    finally:
        fed.procs.stop()
