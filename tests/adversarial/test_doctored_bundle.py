"""A doctored audit bundle: what a coordinator (with a colluding requester) can re-sign must not
pass `tanji audit verify` or `tanji audit check-node` (issue #11 item 2).

The bundle is exported from a real calculation of the adversarial federation (real processes
under mutual TLS); each test doctors a copy of it the way the coalition would — with the
coordinator's key (manifest, tree heads, aggregates, merged requests), the requester's
(attestation) and, where the key holder would have signed what it was shown, the key holder's
(its result answers the aggregate it decrypted). Every doctored bundle is re-logged and
re-listed completely, so on the code before the fix each of them verified; each test names
the check that now fails.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from tanji.audit.check_node import check_node
from tanji.audit.verify import verify_bundle
from tanji.coordinator.bundle import write_bundle
from tanji.he import default_backend
from tanji.node.opening import export_opening
from tanji.node.store import NodeStore
from tanji.protocol import envelope as env
from tanji.protocol import merkle
from tanji.protocol.bundle import MANIFEST_TAG, pack, unpack
from tanji.protocol.identity import COORDINATOR_ID
from tanji.v1 import envelope_pb2 as epb

pytestmark = pytest.mark.integration
MT = epb.MessageType
DROPPED, COMPENSATED = "bms-co", "cathode"   # the supplier left out of the sum, the one whose object pays for it


@pytest.fixture(scope="module")
def exported(federation, honest_run, tmp_path_factory):
    """The honest calculation's bundle, its anchor and the dropped supplier's on-site opening."""
    folder = tmp_path_factory.mktemp("doctored")
    out = folder / "bundle.tar"
    write_bundle(federation.state / "coordinator", honest_run, federation.fed_file, out)
    anchor = federation.state / "registry" / "anchor.pub"
    opening = export_opening(NodeStore(federation.state / DROPPED / "node.db"), honest_run)
    (folder / "opening.tar").write_bytes(opening)
    return {"folder": folder, "bundle": out.read_bytes(), "anchor": bytes.fromhex(anchor.read_text().strip()),
            "anchor_file": anchor, "opening": opening, "key": federation.key}


def failed(report) -> dict[str, str]:
    return {c.name: c.detail for c in report.failed()}


class Doctor:
    """A copy of the bundle and everyone's keys: re-sign, re-log and re-list what was changed."""

    def __init__(self, exported):
        self.x = exported
        self.files = unpack(exported["bundle"])

    def envelopes(self, mt=None) -> list[tuple[str, env.Opened]]:
        out = []
        for name in sorted(n for n in self.files if n.startswith("envelopes/")):
            opened = env.parse_unverified(epb.Envelope.FromString(self.files[name]))
            if mt is None or opened.body.message_type == mt:
                out.append((name, opened))
        return out

    def one(self, mt, sender=None) -> tuple[str, env.Opened]:
        (found,) = [e for e in self.envelopes(mt) if sender in (None, e[1].body.sender)]
        return found

    def resign(self, name: str, opened: env.Opened, edit, signer: str | None = None) -> env.Opened:
        """Edit a copy of an envelope's body, sign it as `signer` (default its sender) and put it
        back under a name that says its new hash, as the exporter names it."""
        body = epb.EnvelopeBody.FromString(opened.envelope.body)
        edit(body)
        sealed = env.seal(body, self.x["key"](signer or opened.body.sender))
        del self.files[name]
        h = env.message_hash(sealed)
        index, kind = name.removeprefix("envelopes/").split("-")[:2]
        self.files[f"envelopes/{index}-{kind}-{h.hex()[:16]}.pb"] = sealed.SerializeToString()
        return env.parse_unverified(sealed)

    def reanswer_the_aggregate(self, new_aggregate: env.Opened) -> None:
        """What follows an aggregate re-signed: the requester attests it, the key holder's result
        and citation report answer it, aggregation.json names it."""
        agg = new_aggregate.payload
        for mt, signer in ((MT.MESSAGE_TYPE_ATTESTATION, None), (MT.MESSAGE_TYPE_RESULT, None),
                           (MT.MESSAGE_TYPE_CITATION_REPORT, None)):
            for name, opened in self.envelopes(mt):
                def edit(body, mt=mt):
                    body.answers_hash = new_aggregate.hash
                    if mt == MT.MESSAGE_TYPE_ATTESTATION:
                        body.attestation.output_ciphertext_hash = agg.output_ciphertext_hash
                self.resign(name, opened, edit, signer)
        self.files["aggregation.json"] = json.dumps({"order": [h.hex() for h in agg.contribution_hashes],
                                                     "output": agg.output_ciphertext_hash.hex()}, indent=1).encode()

    def relog(self, head_signer: str = COORDINATOR_ID, log_id: str = COORDINATOR_ID, earlier: bool = True) -> None:
        """A log of exactly the bundle's envelopes under heads signed by `head_signer` (the
        coordinator rewrites its history at will: nobody else holds its heads)."""
        hashes = [o.hash for _, o in self.envelopes()]
        tree = merkle.MerkleLog.from_leaf_hashes([merkle.leaf_hash(h) for h in hashes])
        key = self.x["key"](head_signer)

        def head(size):
            th = tree.head(log_id, 1_700_000_000_000 + size, size)
            return {"log_id": th.log_id, "tree_size": th.tree_size, "root": th.root.hex(),
                    "timestamp_ms": th.timestamp_ms, "signature": merkle.sign_tree_head(th, key).hex()}

        log = {"tree_head": head(len(hashes)),
               "leaves": {h.hex(): {"index": i, "proof": [p.hex() for p in tree.inclusion_proof(i)]}
                          for i, h in enumerate(hashes)}}
        if earlier:
            old = len(hashes) - 1
            log["earlier_head"] = head(old)
            log["consistency"] = [p.hex() for p in tree.consistency_proof(old)]
        self.files["log.json"] = json.dumps(log, indent=1).encode()

    def relist(self, signer: str = COORDINATOR_ID, name: str = COORDINATOR_ID) -> None:
        manifest = json.loads(self.files["manifest.json"])
        manifest["coordinator"] = name
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(self.files.items())
                             if n not in ("manifest.json", "manifest.sig")}
        self.files["manifest.json"] = json.dumps(manifest, indent=1, sort_keys=True).encode()
        self.files["manifest.sig"] = self.x["key"](signer).sign(MANIFEST_TAG, self.files["manifest.json"])

    def bundle(self) -> bytes:
        return pack(self.files)

    def verify(self):
        return verify_bundle(self.bundle(), self.x["anchor"])

    # ------------------------------------------------------------ ciphertexts, as the coordinator holds them
    def context(self):
        _, ka = self.one(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
        data = self.files[f"objects/{ka.payload.context_object_hash.hex()}"]
        return default_backend().load_public_context(data), ka.payload.width

    def ciphertext(self, digest: bytes):
        ctx, width = self.context()
        return ctx.deserialize(self.files[f"objects/{digest.hex()}"], width=width)


def test_the_honest_bundle_verifies_and_checks_on_site(exported):
    """The control: the same bundle, undoctored, verifies, and the supplier's opening matches it."""
    assert verify_bundle(exported["bundle"], exported["anchor"]).ok
    assert check_node(exported["bundle"], exported["opening"], exported["anchor"]).ok


def test_a_supplier_left_out_of_the_sum_hidden_by_two_swapped_objects(exported):
    """Attacker: coordinator + requester. The aggregate lists bms-co's contribution but its output
    is the sum without it (the requester attests, the key holder decrypts what was attested); in
    the bundle bms-co's object is replaced by X and cathode's by (cathode's ciphertext − X), so the
    listed contributions re-add to the output. Detected: every object must hash to its name, and
    on site bms-co's recomputed ciphertext is compared with the bundle's bytes."""
    d = Doctor(exported)
    agg_name, agg = d.one(MT.MESSAGE_TYPE_AGGREGATE)
    summed = [o for _, o in d.envelopes() if o.hash in set(agg.payload.contribution_hashes)]
    ctx, width = d.context()
    dropped = next(o for o in summed if o.body.sender == DROPPED).payload.ciphertext_hash
    paying = next(o for o in summed if o.body.sender == COMPENSATED).payload.ciphertext_hash
    kept = [o.payload.ciphertext_hash for o in summed if o.payload.ciphertext_hash != dropped]
    output = ctx.serialize(ctx.add_many([d.ciphertext(h) for h in kept]))
    x = ctx.encrypt(np.zeros(width), level=d.ciphertext(dropped).level)
    c = d.ciphertext(paying)
    c_minus_x = ctx._wrap(c._vec - x._vec, c.level, c.width)   # exact modular subtraction: no key needed
    d.files[f"objects/{dropped.hex()}"] = ctx.serialize(x)
    d.files[f"objects/{paying.hex()}"] = ctx.serialize(c_minus_x)
    del d.files[f"objects/{agg.payload.output_ciphertext_hash.hex()}"]
    out_hash = hashlib.sha256(output).digest()
    d.files[f"objects/{out_hash.hex()}"] = output

    def edit(body):
        body.aggregate.output_ciphertext_hash = out_hash
        body.object_hashes[:] = [out_hash]
    d.reanswer_the_aggregate(d.resign(agg_name, agg, edit))
    d.relog()
    d.relist()
    f = failed(d.verify())
    assert "objects bound to their hashes" in f, f
    assert dropped.hex()[:16] in f["objects bound to their hashes"]
    assert paying.hex()[:16] in f["objects bound to their hashes"]
    assert "aggregation re-executed" in f
    on_site = failed(check_node(d.bundle(), exported["opening"], exported["anchor"]))
    assert any("is the summed ciphertext" in name for name in on_site), on_site


def test_a_mislabelled_object(exported):
    """Attacker: coordinator. The key holder's Enc(1), which the requester answers its target
    with, is served as Enc(2) under the same name (nothing re-adds it, so nothing noticed)."""
    d = Doctor(exported)
    _, ka = d.one(MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
    ctx, _ = d.context()
    one = d.ciphertext(ka.payload.unit_weight_object_hash)
    d.files[f"objects/{ka.payload.unit_weight_object_hash.hex()}"] = ctx.serialize(ctx.add(one, one))
    d.relist()
    f = failed(d.verify())
    assert list(f) == ["objects bound to their hashes"], f
    assert ka.payload.unit_weight_object_hash.hex()[:16] in f["objects bound to their hashes"]


@pytest.mark.parametrize("how", ["answers another request", "names another key"])
def test_an_aggregate_that_does_not_answer_the_calculation_request(exported, how):
    """Attacker: coordinator + requester. The coordinator's aggregate (re-signed, attested, the
    result answering it) answers another message than the calculation request, or is bound to
    another key than the one announced."""
    d = Doctor(exported)
    agg_name, agg = d.one(MT.MESSAGE_TYPE_AGGREGATE)
    _, request = d.envelopes(MT.MESSAGE_TYPE_REQUEST)[0]

    def edit(body):
        if how == "answers another request":
            body.answers_hash = request.hash
        else:
            body.key_fingerprint = hashlib.sha256(b"another key").digest()
    d.reanswer_the_aggregate(d.resign(agg_name, agg, edit))
    d.relog()
    d.relist()
    f = failed(d.verify())
    assert list(f) == ["aggregate answers the request"], f


@pytest.mark.parametrize("what", ["manifest", "tree heads"])
def test_a_node_key_calling_itself_the_coordinator(exported, what):
    """Attacker: a node (bms-co) with its own key signs the manifest or the log's tree heads and
    names itself as the coordinator. Only the key listed for the coordinator's role counts."""
    d = Doctor(exported)
    if what == "manifest":
        d.relist(signer=DROPPED, name=DROPPED)
        assert "manifest signature" in failed(d.verify())
    else:
        d.relog(head_signer=DROPPED, log_id=DROPPED)
        d.relist()
        f = failed(d.verify())
        assert "signed tree head" in f, f


def test_a_bundle_without_a_consistency_proof(exported):
    """Attacker: coordinator. It leaves out the earlier head and the consistency proof, so a
    rewritten history cannot be caught by anyone holding the earlier head."""
    d = Doctor(exported)
    d.relog(earlier=False)
    d.relist()
    f = failed(d.verify())
    assert list(f) == ["log consistency"], f


def test_check_node_needs_the_trust_anchor(exported):
    """A check on site without `--trust` would believe any federation list the bundle carries."""
    folder = exported["folder"]
    (folder / "bundle.tar").write_bytes(exported["bundle"])
    cmd = [sys.executable, "-m", "tanji", "audit", "check-node", str(folder / "bundle.tar"),
           str(folder / "opening.tar")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    proc = subprocess.run([*cmd, "--trust", str(exported["anchor_file"])], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
