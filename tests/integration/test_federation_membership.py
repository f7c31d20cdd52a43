"""Issue #12: independent companies join through the registry commands, each in its own state folder
with its own keys, over mutual TLS; a calculation reaches the reference result; a supplier joins
mid-life and its buyer reaches it; a removed party and a revoked certificate are refused by name."""
import hashlib
import json
import time
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from tanji.cli import requester
from tanji.cli.app import app
from tanji.cli.demo import Processes, closed_policy
from tanji.infra.runtime import open_channel
from tanji.methodology.graph import build_graph
from tanji.methodology.loader import load_data_dir
from tanji.node.customers import default_policy, read_customers
from tanji.protocol.federation import Federation
from tanji.protocol.signing import SigningKey
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tests.harness.data import MIIT, bought, electricity, factors_doc, material, node_doc, product_doc, write_dir
from tests.harness.processes import assert_matches_reference, wait_for_file

pytestmark = pytest.mark.integration
runner = CliRunner()
TARGET = ("pack", "PACK")


def cli(*args: str) -> str:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def chains(root: Path) -> tuple[Path, Path]:
    """v1: pack/PACK <- cell/CELL; v2: pack/PACK also buys tray/TRAY (a supplier that joins later)."""
    cell = node_doc("cell", [product_doc("CELL", unit="piece", stage="manufacturing", activities=[electricity(2.0)])])
    tray = node_doc("tray", [product_doc("TRAY", unit="piece", stage="manufacturing",
                                         activities=[material("material.steel", 5.0, "kg")])])

    def pack(*inputs):
        return node_doc("pack", [product_doc("PACK", unit="piece", stage="manufacturing", declaration=MIIT,
                                             activities=[electricity(100.0)], inputs=list(inputs))])
    v1 = write_dir(root / "v1", factors_doc(), pack(bought("cell", "CELL", 10, "piece")), cell)
    v2 = write_dir(root / "v2", factors_doc(), pack(bought("cell", "CELL", 10, "piece"),
                                                    bought("tray", "TRAY", 1, "piece")), cell, tray)
    return v1, v2


class Federated:
    """The operator's registry and each party's own folder under root/parties/<party>."""

    def __init__(self, root: Path):
        self.root, self.parties, self.registry = root, root / "parties", root / "registry"
        self.procs = Processes(self.parties)
        self.address = ""
        cli("registry", "init", "--dir", str(self.registry))

    def join(self, party: str, group: str) -> None:
        """The party makes its keys and request; the operator adds it; the party installs the answer."""
        state = self.parties / party
        cli(group, "init", "--state", str(state), "--org", party)
        cli("registry", "add", str(state / "join-request.json"), "--dir", str(self.registry))
        cli(group, "join", "--state", str(state), "--federation", str(self.registry / "federation.json"),
            "--trust", str(self.registry / "anchor.pub"),
            "--certificate", str(self.registry / "issued" / party / f"{party}.crt"),
            "--ca", str(self.registry / "ca.crt"))

    def distribute(self, *parties: tuple[str, str]) -> None:
        """The operator's new list reaches the parties (each installs it after checking it)."""
        for party, group in parties:
            cli(group, "join", "--state", str(self.parties / party), "--federation",
                str(self.registry / "federation.json"))
        if "coordinator" in self.procs.procs:  # it re-reads the list every second: wait until it has
            version = json.loads((self.registry / "federation.json").read_text())["version"]
            log, end = self.parties / "coordinator" / "log.txt", time.monotonic() + 60
            while f"federation list version {version}:" not in log.read_text(errors="replace"):
                assert time.monotonic() < end, f"the coordinator never loaded list version {version}"
                self.procs.check_alive()
                time.sleep(0.1)

    def serve_args(self, party: str) -> list[str]:
        state = self.parties / party
        return ["--state", str(state), "--federation", str(state / "federation.json"), "--tls", str(state / "tls")]

    def start_coordinator(self) -> None:
        port = self.parties / "coordinator" / "port"
        self.procs.start("coordinator", ["coordinator", "serve", *self.serve_args("coordinator"),
                                         "--listen", "127.0.0.1:0", "--port-file", str(port),
                                         "--lease-seconds", "3600"])
        self.address = f"127.0.0.1:{wait_for_file(port, self.procs, 'the coordinator to listen')}"

    def start_keyholder(self) -> None:
        self.procs.start("keyholder", ["keyholder", "serve", "--id", "keyholder", *self.serve_args("keyholder"),
                                       "--coordinator", self.address])

    def start_node(self, org: str, data: Path) -> None:
        (self.parties / org / "ready").unlink(missing_ok=True)
        self.procs.start(org, ["node", "serve", "--org", org, *self.serve_args(org), "--coordinator", self.address,
                               "--data", str(data / f"{org}.json"), "--factors", str(data / "factors.json")])
        wait_for_file(self.parties / org / "ready", self.procs, f"{org} to register")

    def approve_customers(self, org: str) -> list[str]:
        """As the supplier: who named me (`tanji node customers`), then approve them in policy.toml."""
        state = self.parties / org
        cli("node", "customers", "--state", str(state), "--org", org, "--coordinator", self.address,
            "--tls", str(state / "tls"))
        named = read_customers(state)
        (state / "policy.toml").write_text(default_policy(named, org))
        # the coordinator routes by the approvals the node registers: wait until it has (within a second)
        digest = hashlib.sha256((state / "policy.toml").read_bytes()).hexdigest()
        end = time.monotonic() + 60
        while time.monotonic() < end:
            marker = state / "registered-policy"
            if marker.exists() and marker.read_text().strip() == digest:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"{org} never registered its new policy")
        return sorted({c.buyer for c in named})

    def channel(self, party: str) -> grpc.Channel:
        return open_channel(self.address, self.parties / party / "tls", party)

    def calculate(self, data: Path) -> dict:
        loaded = load_data_dir(data)
        spec = requester.spec_for("pack", loaded.nodes["pack"].model, loaded.factors, "PACK",
                                  state=self.parties / "pack", depth_bound=build_graph(loaded, TARGET).depth(),
                                  key_holder="keyholder", deadline_seconds=600)
        channel = self.channel("pack")
        cid = requester.start(channel, SigningKey.load_or_create(self.parties / "pack" / "envelope-key.pem"), spec)
        end = time.monotonic() + 600
        while time.monotonic() < end:
            self.procs.check_alive()
            st = requester.status(channel, "pack", cid)
            if st.state in requester.FINAL_STATES:
                break
            time.sleep(0.2)
        assert st.state == requester.rpb.CalculationState.CALCULATION_STATE_DONE, st.failure_message
        fed = Federation.load(self.parties / "pack" / "federation.json")
        return json.loads(requester.result(channel, "pack", cid, fed))

    def refused_heartbeat(self, party: str, timeout: float = 30) -> str:
        """The coordinator's refusal of the party's channel, once the new list took effect there."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ngrpc.NodeServiceStub(self.channel(party)).Heartbeat(npb.HeartbeatRequest(party_id=party), timeout=10)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.PERMISSION_DENIED:
                    return exc.details() or ""
            time.sleep(0.3)
        raise AssertionError(f"{party} was still served after {timeout} s")


def test_parties_join_through_the_registry_and_leave_by_name(tmp_path):
    v1, v2 = chains(tmp_path / "data")
    fed = Federated(tmp_path)
    for party, group in (("coordinator", "coordinator"), ("keyholder", "keyholder"), ("pack", "node"),
                         ("cell", "node")):
        fed.join(party, group)
    everyone = [("coordinator", "coordinator"), ("keyholder", "keyholder"), ("pack", "node"), ("cell", "node")]
    fed.distribute(*everyone)  # the list that names all four
    for org in ("pack", "cell"):
        closed_policy(fed.parties, org)
    try:
        fed.start_coordinator()
        fed.start_keyholder()
        for org in ("pack", "cell"):
            fed.start_node(org, v1)
        assert fed.approve_customers("cell") == ["pack"]
        assert_matches_reference(fed.calculate(v1), v1, TARGET)

        # a new supplier joins mid-life; its buyer names it in new data and reaches it
        fed.join("tray", "node")
        fed.distribute(*everyone)
        closed_policy(fed.parties, "tray")
        fed.start_node("tray", v2)
        fed.procs.kill("pack")
        fed.start_node("pack", v2)              # re-registers the edges its new data implies
        assert fed.approve_customers("tray") == ["pack"]
        assert_matches_reference(fed.calculate(v2), v2, TARGET)

        # the operator removes the new supplier and revokes the cell maker's certificate
        cli("registry", "remove", "tray", "--dir", str(fed.registry))
        cli("registry", "revoke", "cell", "--dir", str(fed.registry))
        fed.distribute(("coordinator", "coordinator"))
        assert "'tray' is not on the federation list" in fed.refused_heartbeat("tray")
        assert "certificate of 'cell' is revoked" in fed.refused_heartbeat("cell")
        ngrpc.NodeServiceStub(fed.channel("pack")).Heartbeat(npb.HeartbeatRequest(party_id="pack"), timeout=10)
        crl = (fed.registry / "crl.pem").read_bytes()
        assert crl.startswith(b"-----BEGIN X509 CRL")
    finally:
        fed.procs.stop()


def test_a_running_coordinator_refuses_a_list_edited_or_replayed_on_disk(tmp_path):
    """#11 item 9: a list with an extra key holder and the old signature, or an older signed list, put
    where the coordinator reads it: refused by name on reload, the last good list stays in force."""
    fed = Federated(tmp_path)
    for party, group in (("coordinator", "coordinator"), ("keyholder", "keyholder"), ("cell", "node")):
        fed.join(party, group)
    older = (fed.registry / "federation.json").read_bytes(), (fed.registry / "federation.sig").read_bytes()
    cli("registry", "revoke", "cell", "--dir", str(fed.registry))
    fed.distribute(("coordinator", "coordinator"))
    state = fed.parties / "coordinator"
    listed = state / "federation.json"
    version = Federation.load(listed).version
    try:
        fed.start_coordinator()
        doc = json.loads(listed.read_text())
        doc["parties"].append({"id": "keyholder-2", "role": "key_holder", "public_key": "11" * 32})
        listed.write_text(json.dumps(doc, indent=2))                      # edited after signing
        log = state / "log.txt"
        end = time.monotonic() + 30
        while "refusing the federation list" not in log.read_text() and time.monotonic() < end:
            time.sleep(0.2)
        said = " ".join(log.read_text().split())
        assert f"{listed} (signature {listed.with_suffix('.sig')}) is not signed by" in said
        listed.write_bytes(older[0])                                      # the previous version, signed
        listed.with_suffix(".sig").write_bytes(older[1])
        end = time.monotonic() + 30
        while "older than version" not in log.read_text() and time.monotonic() < end:
            time.sleep(0.2)
        assert f"is version {version - 1}, older than version {version}" in " ".join(log.read_text().split())
        assert "certificate of 'cell' is revoked" in fed.refused_heartbeat("cell")   # still the last good list
        assert int((state / "federation-version").read_text()) == version
    finally:
        fed.procs.stop()
