"""Mutual TLS outside the local demo: the coordinator maps the client certificate to the party."""
import subprocess
import sys
import time

import grpc
import pytest

from tanji.infra.runtime import open_channel
from tanji.protocol.pki import init_ca, issue
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tests.harness import envelopes as E
from tests.harness.keys import COORDINATOR, KEY_HOLDER, issue_certificates, onboard, party_key

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    ca = root / "ca"
    tls = issue_certificates(root, ("coordinator", "cell-co", "cam-co"))
    state = root / "state"
    fed_file, _ = onboard(state, [COORDINATOR, KEY_HOLDER, "cell-co", "cam-co"])  # a list pinning no certificate
    port_file = root / "port"
    proc = subprocess.Popen([sys.executable, "-m", "tanji", "coordinator", "serve",
                             "--state", str(state / "coordinator"), "--federation", str(fed_file),
                             "--listen", "127.0.0.1:0", "--port-file", str(port_file), "--tls", str(tls)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 120
    while not port_file.exists() and time.monotonic() < end:
        time.sleep(0.1)
    yield {"address": f"127.0.0.1:{port_file.read_text().strip()}", "tls": tls, "ca": ca, "state": state, "root": root}
    proc.terminate()
    proc.wait(timeout=30)


def register(channel, state, org):
    sealed = E.registration(org, party_key(state, org))
    return ngrpc.NodeServiceStub(channel).Register(npb.RegisterRequest(registration=sealed), timeout=30)


def test_a_party_with_its_own_certificate_is_served(coordinator):
    channel = open_channel(coordinator["address"], coordinator["tls"], "cell-co")
    assert register(channel, coordinator["state"], "cell-co").outcome.status == cpb.PUSH_STATUS_ACCEPTED
    ngrpc.NodeServiceStub(channel).Heartbeat(npb.HeartbeatRequest(party_id="cell-co"), timeout=30)


def test_a_client_without_a_certificate_is_refused(coordinator):
    channel = grpc.insecure_channel(coordinator["address"])
    with pytest.raises(grpc.RpcError) as info:
        ngrpc.NodeServiceStub(channel).Heartbeat(npb.HeartbeatRequest(party_id="cell-co"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_party_using_anothers_certificate_is_refused(coordinator):
    channel = open_channel(coordinator["address"], coordinator["tls"], "cam-co")  # cam-co's certificate ...
    with pytest.raises(grpc.RpcError) as info:  # ... pulling cell-co's inbox
        ngrpc.NodeServiceStub(channel).PullMessages(npb.PullMessagesRequest(party_id="cell-co"), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as info:  # ... or registering as cell-co
        register(channel, coordinator["state"], "cell-co")
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_certificate_from_another_ca_is_refused(coordinator, tmp_path):
    other = tmp_path / "other-ca"
    init_ca(other)
    issue(other, "cell-co", "node", tmp_path / "forged")
    (tmp_path / "forged" / "ca.crt").write_bytes((coordinator["tls"] / "ca.crt").read_bytes())
    channel = open_channel(coordinator["address"], tmp_path / "forged", "cell-co")
    with pytest.raises(grpc.RpcError) as info:
        ngrpc.NodeServiceStub(channel).Heartbeat(npb.HeartbeatRequest(party_id="cell-co"), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_rotated_certificate_works_and_the_registration_survives(coordinator):
    issue(coordinator["ca"], "cell-co", "node", coordinator["tls"])  # rotation: a new key and certificate
    channel = open_channel(coordinator["address"], coordinator["tls"], "cell-co")
    resp = ngrpc.NodeServiceStub(channel).Heartbeat(npb.HeartbeatRequest(party_id="cell-co"), timeout=30)
    assert resp.next_heartbeat_seconds > 0  # still registered: nothing was lost with the old certificate


def test_citation_reports_go_only_to_the_providers_own_certificate(coordinator):
    from tanji.v1 import requester_pb2 as rpb
    from tanji.v1 import requester_pb2_grpc as rgrpc

    channel = open_channel(coordinator["address"], coordinator["tls"], "cam-co")
    stub = rgrpc.RequesterServiceStub(channel)
    assert list(stub.GetCitations(rpb.GetCitationsRequest(provider_id="cam-co"), timeout=30).reports) == []
    with pytest.raises(grpc.RpcError) as info:      # another provider's counts
        stub.GetCitations(rpb.GetCitationsRequest(provider_id="factor-lab"), timeout=30)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
