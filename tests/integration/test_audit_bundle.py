"""The audit bundle of a real demo run verifies; each way of tampering with it is named.

The tampering plays a malicious coordinator (it holds the coordinator's key and re-signs
the manifest), a misbehaving node (its own key), or an outsider (no key at all)."""
import copy
import hashlib
import json
import subprocess
import sys

import pytest

from tanji.audit.verify import verify_bundle
from tanji.protocol import envelope as env
from tanji.protocol import merkle
from tanji.protocol.bundle import MANIFEST_TAG, pack, unpack
from tanji.protocol.federation import Federation, ListedParty, sign_list
from tanji.protocol.signing import SigningKey
from tanji.v1 import envelope_pb2 as epb
from tests.harness import envelopes as E
from tests.harness.paths import EXAMPLES

pytestmark = pytest.mark.integration
MT = epb.MessageType


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLES / "nmc811-pack"), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = out / "state"
    return {"out": out, "bundle": (out / "bundle.tar").read_bytes(),
            "anchor": bytes.fromhex((state / "registry" / "anchor.pub").read_text().strip()),
            "key": lambda party: SigningKey.load_or_create(state / party / "envelope-key.pem")}


class Tamper:
    def __init__(self, run):
        self.run = run
        self.files = unpack(run["bundle"])

    def envelopes(self, mt=None):
        out = []
        for name in sorted(n for n in self.files if n.startswith("envelopes/")):
            opened = env.parse_unverified(epb.Envelope.FromString(self.files[name]))
            if mt is None or opened.body.message_type == mt:
                out.append((name, opened))
        return out

    def put_envelope(self, name, envelope):
        self.files[name] = envelope.SerializeToString()

    def edit_envelope(self, name, opened, edit, signer):
        """`opened` with its body changed by `edit`, signed again by `signer`'s own key, under `name`."""
        self.put_envelope(name, E.edited(opened.envelope, self.run["key"](signer), edit))

    def resign_manifest(self):
        """What a malicious coordinator can do: re-list every file and sign the manifest again."""
        manifest = json.loads(self.files["manifest.json"])
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(self.files.items())
                             if n not in ("manifest.json", "manifest.sig")}
        self.files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
        self.files["manifest.sig"] = self.run["key"]("coordinator").sign(MANIFEST_TAG, self.files["manifest.json"])

    def verify(self):
        return verify_bundle(pack(self.files), self.run["anchor"])


def failed(report) -> dict[str, str]:
    return {c.name: c.detail for c in report.failed()}


def test_the_demo_bundle_verifies_and_the_cli_says_so(run):
    report = verify_bundle(run["bundle"], run["anchor"])
    assert report.ok, failed(report)
    assert {c.name for c in report.checks} >= {"trust anchor", "manifest signature", "manifest covers every file",
                                                "signatures", "one calculation", "completeness",
                                                "inclusion in the log", "aggregation re-executed",
                                                "key holder's result"}
    anchor = run["out"] / "state" / "registry" / "anchor.pub"
    proc = subprocess.run([sys.executable, "-m", "tanji", "audit", "verify", str(run["out"] / "bundle.tar"),
                           "--trust", str(anchor), "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_flipped_byte_in_a_contribution_ciphertext(run):
    t = Tamper(run)
    _, c = t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION)[0]
    name = f"objects/{c.payload.ciphertext_hash.hex()}"
    data = bytearray(t.files[name])
    data[len(data) // 2] ^= 0x01
    t.files[name] = bytes(data)
    assert "manifest covers every file" in failed(t.verify())      # an outsider
    t.resign_manifest()                                              # the coordinator itself
    assert "aggregation re-executed" in failed(t.verify())


def test_dropped_contribution(run):
    t = Tamper(run)
    name, c = [e for e in t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION) if e[1].body.sender == "graphite-anode"][0]
    del t.files[name]
    t.resign_manifest()
    f = failed(t.verify())
    assert "completeness" in f and "aggregation re-executed" in f


def test_duplicated_contribution(run):
    t = Tamper(run)
    name, c = [e for e in t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION) if e[1].body.sender == "graphite-anode"][0]
    t.put_envelope(name.replace(".pb", "-dup.pb"),
                   E.with_fields(c.envelope, run["key"]("graphite-anode"), message_id=b"\x02" * 16))
    t.resign_manifest()
    assert "completeness" in failed(t.verify())


def test_contribution_from_another_calculation(run):
    t = Tamper(run)
    name, c = t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION)[0]
    t.edit_envelope(name, c, lambda b: setattr(b, "calculation_id", "another-calculation-0000000000000000"),
                    c.body.sender)
    t.resign_manifest()
    assert "one calculation" in failed(t.verify())


def test_swapped_output_ciphertext(run):
    t = Tamper(run)
    name, agg = t.envelopes(MT.MESSAGE_TYPE_AGGREGATE)[0]
    other = t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION)[0][1].payload.ciphertext_hash
    t.edit_envelope(name, agg, lambda b: setattr(b.aggregate, "output_ciphertext_hash", other), "coordinator")
    t.resign_manifest()
    f = failed(t.verify())
    assert "aggregation re-executed" in f and "key holder's result" in f


def test_forged_signature(run):
    t = Tamper(run)
    name, c = t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION)[1]
    e = epb.Envelope.FromString(t.files[name])
    t.put_envelope(name, epb.Envelope(body=e.body, signature=E.flip(e.signature, 0, 7)))
    t.resign_manifest()
    assert "signatures" in failed(t.verify())


def test_unregistered_signer(run):
    t = Tamper(run)
    name, c = t.envelopes(MT.MESSAGE_TYPE_CONTRIBUTION)[1]
    t.put_envelope(name, E.with_fields(c.envelope, SigningKey.generate(), sender="intruder"))
    t.resign_manifest()
    assert "signatures" in failed(t.verify())


def test_edited_manifest_parameter(run):
    t = Tamper(run)
    manifest = json.loads(t.files["manifest.json"])
    manifest["ckks_params_hash"] = "00" * 32
    t.files["manifest.json"] = json.dumps(manifest).encode()
    assert "manifest signature" in failed(t.verify())
    t.files["manifest.sig"] = run["key"]("coordinator").sign(MANIFEST_TAG, t.files["manifest.json"])
    assert "ckks_params_hash" in failed(t.verify())["manifest matches the signed envelopes"]


def test_edited_result(run):
    t = Tamper(run)
    doc = json.loads(t.files["result.json"])
    doc["total_kgco2e"] *= 0.9
    t.files["result.json"] = json.dumps(doc).encode()
    t.resign_manifest()
    assert "key holder's result" in failed(t.verify())


def _resign_head(t, key, doc_key, head):
    log = json.loads(t.files["log.json"])
    log[doc_key] = {"log_id": head.log_id, "tree_size": head.tree_size, "root": head.root.hex(),
                    "timestamp_ms": head.timestamp_ms, "signature": merkle.sign_tree_head(head, key).hex()}
    t.files["log.json"] = json.dumps(log).encode()


def test_truncated_log(run):
    t = Tamper(run)
    log = json.loads(t.files["log.json"])
    size = log["earlier_head"]["tree_size"]
    # the coordinator rewrites history: a head over fewer leaves than it published before
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h, _ in sorted(log["leaves"].items(), key=lambda x: x[1]["index"])]
    truncated = merkle.TreeHead(log_id="coordinator", tree_size=size - 1, root=merkle.root(leaves[:1]),
                                timestamp_ms=log["tree_head"]["timestamp_ms"])
    _resign_head(t, run["key"]("coordinator"), "tree_head", truncated)
    t.resign_manifest()
    f = failed(t.verify())
    assert "inclusion in the log" in f and "log consistency" in f


def test_inconsistent_tree_head(run):
    t = Tamper(run)
    log = json.loads(t.files["log.json"])
    old = log["earlier_head"]
    forked = merkle.TreeHead(log_id="coordinator", tree_size=old["tree_size"], root=hashlib.sha256(b"fork").digest(),
                             timestamp_ms=old["timestamp_ms"])
    _resign_head(t, run["key"]("coordinator"), "earlier_head", forked)
    t.resign_manifest()
    assert "log consistency" in failed(t.verify())


def test_missing_request(run):
    t = Tamper(run)
    name, _ = t.envelopes(MT.MESSAGE_TYPE_REQUEST)[0]
    del t.files[name]
    t.resign_manifest()
    assert "completeness" in failed(t.verify())


def test_a_bundle_resigned_throughout_with_fresh_keys_does_not_verify(run):
    t = Tamper(run)
    fed = Federation.parse(t.files["federation.json"])
    fresh = {p: SigningKey.generate() for p in fed.parties}
    t.files["federation.json"] = Federation(
        {p: ListedParty(p, fed.parties[p].role, k.public_raw) for p, k in fresh.items()}).to_json().encode()
    t.files["federation.sig"] = sign_list(t.files["federation.json"], SigningKey.generate())
    for name, opened in t.envelopes():
        t.put_envelope(name, E.resealed(opened.envelope, fresh[opened.body.sender]))
    t.run = dict(run, key=lambda party: fresh[party])
    t.resign_manifest()
    assert "trust anchor" in failed(t.verify())


def test_verify_needs_the_bundle_and_the_anchor_only(run, tmp_path):
    """No key, no network: a copy of the bundle and the anchor in an empty folder suffice."""
    (tmp_path / "b.tar").write_bytes(run["bundle"])
    (tmp_path / "anchor.pub").write_text(run["anchor"].hex())
    proc = subprocess.run([sys.executable, "-m", "tanji", "audit", "verify", "b.tar", "--trust", "anchor.pub"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(EXAMPLES.parent)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bundle verifies" in proc.stdout
    copy.deepcopy(run)  # the fixture is shared: tampering above never touched its bytes


@pytest.mark.parametrize("org", ["graphite-anode", "cathode-works", "pack-assembler"])
def test_an_opening_verifies_on_site_and_an_altered_amount_does_not(run, org):
    from tanji.audit.check_node import check_node
    from tanji.node.opening import export_opening
    from tanji.node.store import NodeStore

    cid = json.loads((run["out"] / "result.json").read_text())["calculation"]
    opening = export_opening(NodeStore(run["out"] / "state" / org / "node.db"), cid)
    report = check_node(run["bundle"], opening, run["anchor"])
    assert report.ok, failed(report)
    if org == "pack-assembler":  # the requester's w = 1 is the key holder's Enc(1), named in the bundle
        assert any("Enc(1) is the key holder's" in c.name and c.ok for c in report.checks)
    files = unpack(opening)
    data_name = next(n for n in files if n.startswith("data/"))
    doc = json.loads(files[data_name])
    doc["products"][0]["activities"][0]["amount"] *= 1.01
    files[data_name] = json.dumps(doc).encode()
    f = failed(check_node(run["bundle"], pack(files), run["anchor"]))
    assert any("raw files are the ones the record names" in name for name in f)
    assert any("is the summed ciphertext" in name for name in f)


def test_each_supplier_sees_the_calculation_in_its_usage_ledger(run):
    from tanji.node.ledger import ledger
    from tanji.node.store import NodeStore

    cid = json.loads((run["out"] / "result.json").read_text())["calculation"]
    for org in ("graphite-anode", "mhp-producer", "lithium-refiner"):
        entries = {e.calculation: e for e in ledger(NodeStore(run["out"] / "state" / org / "node.db"))}
        e = entries[cid]
        assert (e.requester, e.product, e.key_holder) == ("pack-assembler", "pack-assembler/PACK-NMC811-80",
                                                          "keyholder")
        assert e.answered and all(a.startswith("answered") for a in e.answered)


def test_the_ledger_is_cross_checked_against_the_coordinators_log(run, tmp_path):
    import time

    import grpc

    from tanji.node.ledger import cross_check, ledger
    from tanji.node.store import NodeStore
    from tanji.protocol import limits
    from tanji.v1 import node_pb2_grpc as ngrpc

    state = run["out"] / "state"
    port_file = tmp_path / "port"
    coord = subprocess.Popen([sys.executable, "-m", "tanji", "coordinator", "serve",
                              "--state", str(state / "coordinator"), "--federation", str(state / "federation.json"),
                              "--listen", "127.0.0.1:0",
                              "--port-file", str(port_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = f"127.0.0.1:{port_file.read_text().strip()}"
        entries = ledger(NodeStore(state / "cathode-works" / "node.db"))
        stub = ngrpc.NodeServiceStub(grpc.insecure_channel(address, options=limits.GRPC_OPTIONS))
        coordinator_key = Federation.parse((state / "federation.json").read_bytes()).key_of("coordinator")
        assert coordinator_key is not None
        cross_check(entries, stub, "cathode-works", coordinator_key)
        assert entries and all(e.logged == len(e.sent) > 0 for e in entries)
        entries[0].sent.append(hashlib.sha256(b"an envelope the coordinator never logged").digest())
        cross_check(entries, stub, "cathode-works", coordinator_key)
        assert entries[0].logged == len(entries[0].sent) - 1
        proc = subprocess.run([sys.executable, "-m", "tanji", "node", "ledger", "--state", str(state / "cathode-works"),
                               "--coordinator", address, "--as", "cathode-works", "--federation",
                               str(state / "federation.json"), "--json"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        (row,) = json.loads(proc.stdout)
        assert (row["requester"], row["state"], row["logged"]) == ("pack-assembler", "done", row["sent"])
    finally:
        coord.terminate()
        coord.wait(timeout=30)
