"""The coordinator on PostgreSQL, in real processes: the example demo, two coordinator replicas
sharing one database, and PostgreSQL restarted in the middle of a calculation. Each ends in the
plaintext reference's result, with nothing the coordinator had committed lost."""
import json
import subprocess
import sys
import time

import grpc
import pytest

from tanji.cli import requester
from tanji.v1 import requester_pb2 as rpb
from tests.harness.data import write_chain
from tests.harness.paths import EXAMPLE_CHAIN, EXAMPLE_TARGET
from tests.harness.processes import (
    LocalFederation,
    assert_matches_reference,
    assert_nothing_lost,
    pg_connect,
    pg_snapshot,
)

pytestmark = pytest.mark.integration
S = rpb.CalculationState
EXAMPLE, TARGET = EXAMPLE_CHAIN, EXAMPLE_TARGET
#: short leases: the outage below outlasts every one of them
LEASE = 6.0


def pg_federation(tmp_path, url: str, data_dir, target, replicas: int = 1) -> LocalFederation:
    """The coordinator replicas share one PostgreSQL database; waiting checks no party process died."""
    return LocalFederation(tmp_path, data_dir=data_dir, target=target, lease=LEASE, database=url, replicas=replicas,
                           watch=True)


def test_demo_on_postgresql_matches_the_reference_and_its_bundle_verifies(tmp_path, postgres_url):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLE), "--product", "/".join(TARGET),
                           "--out", str(out), "--database", postgres_url], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_matches_reference(json.loads((out / "result.json").read_text()))
    assert not (out / "state" / "coordinator" / "objects").exists()  # ciphertexts went to the database
    with pg_connect(postgres_url) as con:
        (count,) = con.execute("SELECT COUNT(*) FROM objects").fetchall()
        assert count[0] > 0
    verify = subprocess.run([sys.executable, "-m", "tanji", "audit", "verify", str(out / "bundle.tar"), "--trust",
                             str(out / "state" / "registry" / "anchor.pub")],
                            capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_two_coordinator_replicas_on_one_database(tmp_path, postgres_url):
    """Nodes split between two replicas, the key holder on the second, the requester starting on the
    first and reading status and result from the second: the reference's result, one gapless log."""
    data_dir, target = write_chain(tmp_path / "chain", organisations=7)
    fed = pg_federation(tmp_path, postgres_url, data_dir, target, replicas=2)
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
        fed.stop()


def test_postgresql_restarted_mid_calculation(tmp_path, postgres_server, postgres_url):
    """`pg_ctl stop -m fast` while the example chain is half answered; down longer than a lease. The
    coordinator answers UNAVAILABLE meanwhile and stays up; once PostgreSQL is back the calculation
    finishes with the reference's result (nobody declared dead for the outage), nothing lost."""
    fed = pg_federation(tmp_path, postgres_url, EXAMPLE, TARGET)
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
            time.sleep(LEASE + 2)  # every lease expires while the database is down
            fed.procs.check_alive()
        finally:
            postgres_server.start()
        st = fed.wait(cid, lambda st: st.state in requester.FINAL_STATES)
        assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
        assert st.dead_suppliers == 0
        assert_matches_reference(fed.result(cid))
        assert_nothing_lost(before, pg_snapshot(postgres_url), cid)
        log = " ".join(fed.log().split())  # unwrapped
        assert "the database is back: every registered party has a fresh lease" in log
    finally:
        fed.stop()
