"""The attacker's workbench: a small federation under mutual TLS, and the tools to attack it.

One federation serves the whole suite (`federation`, session scope): a coordinator that can be
told to deviate (`evil_coordinator.py`, honest until told), the real key holder, and real node
processes for a small chain. The test process owns every party's key files and certificates,
so it can act as any party: `Impostor` plays the supplier `mallory` (and can play any listed
party), and the listed key holder `keyholder-2` exists only to be played by a test.

    pack/PACK   <- cells/CELL <- cathode/CAM       (cathode approves only cells and pack)
                <- bms-co/BMS
                <- cathode/CAM (a second buyer of CAM: its request is a merged sum)
    pack/PACK-M <- bms-co/BMS, mallory/PART        (mallory: played by the test)
    rogue/ROGUE-PACK <- cathode/CAM                (a requester cathode has not approved)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from tanji.cli import requester
from tanji.cli.demo import Processes, _wait_for
from tanji.he import tasks as he_tasks
from tanji.infra import lifeline
from tanji.infra.runtime import open_channel
from tanji.infra.transfer import pull_object, push_object
from tanji.methodology import profiles, slots, units
from tanji.methodology.footprint import own
from tanji.methodology.graph import build_graph, reference_result
from tanji.methodology.loader import load_data_dir
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.federation import Federation, ListedParty, sign_list
from tanji.protocol.pki import init_ca, issue
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.builders import MIIT, factors_doc, node_doc, product_doc, write_dir
from tests.conftest import ROOT

MT = epb.MessageType
S = rpb.CalculationState
NODES = ("pack", "cells", "cathode", "bms-co", "rogue")   # real node processes
MALLORY = "mallory"                                     # a supplier the test plays
KEY_HOLDER, KEY_HOLDER_2 = "keyholder", "keyholder-2"   # keyholder-2: listed, played by a test
INTRUDER = "intruder"                                   # a CA certificate, not on the federation list


def electricity(kwh, region="east"):
    return {"kind": "electricity", "amount": kwh, "unit": "kWh", "model": "regional_grid", "region": region}


def material(factor, amount, unit):
    return {"kind": "material", "factor": factor, "amount": amount, "unit": unit}


def bought(supplier, product, quantity, unit):
    return {"supplier": supplier, "product": product, "quantity": quantity, "unit": unit}


def write_chain(folder: Path) -> Path:
    """The small chain above, in the formats of ../shared/FORMATS.md (depth 2: the smallest preset)."""
    gas = {"kind": "fuel", "factor": "fuel.natural_gas", "amount": 3.0, "unit": "m3"}
    return write_dir(
        folder, factors_doc(),
        node_doc("pack", [
            product_doc("PACK", unit="piece", stage="manufacturing", declaration=MIIT,
                        activities=[electricity(100.0), material("material.steel", 50.0, "kg")],
                        inputs=[bought("cells", "CELL", 100, "piece"), bought("bms-co", "BMS", 1, "piece"),
                                bought("cathode", "CAM", 2.0, "kg")]),
            product_doc("PACK-M", unit="piece", stage="manufacturing", declaration=MIIT, activities=[gas],
                        inputs=[bought("bms-co", "BMS", 1, "piece"), bought(MALLORY, "PART", 3.0, "kg")])]),
        node_doc("cells", [product_doc("CELL", unit="piece", stage="manufacturing", activities=[electricity(2.0)],
                                       inputs=[bought("cathode", "CAM", 0.4, "kg")])]),
        node_doc("cathode", [product_doc("CAM", activities=[electricity(10.0, "east"), gas,
                                                             material("material.nickel", 0.8, "kg")])]),
        node_doc("bms-co", [product_doc("BMS", unit="piece", stage="manufacturing",
                                        activities=[material("material.bms", 1, "piece")])]),
        node_doc("rogue", [product_doc("ROGUE-PACK", unit="piece", stage="manufacturing", declaration=MIIT,
                                       activities=[material("material.steel", 10.0, "kg")],
                                       inputs=[bought("cathode", "CAM", 5.0, "kg"),
                                               bought("bms-co", "BMS", 1, "piece")])]),
        node_doc(MALLORY, [product_doc("PART", activities=[material("material.steel", 1.0, "kg")])]),
    )


class Impostor:
    """A party played from the test process with that party's own envelope key and certificate:
    it pulls the party's inbox and pushes whatever the test makes it sign."""

    def __init__(self, fed: AdversarialFederation, party: str):
        self.fed, self.party = fed, party
        self.key = fed.key(party)
        self.stub = ngrpc.NodeServiceStub(fed.channel(party))
        self.cursor = 0
        self.received: dict[bytes, env.Opened] = {}

    def register(self, products=(), key: SigningKey | None = None) -> cpb.PushOutcome:
        key = key or self.key
        body = env.new_body(MT.MESSAGE_TYPE_REGISTRATION, calculation_id="", sender=self.party, receiver="coordinator")
        body.registration.organisation_id = self.party
        body.registration.envelope_public_key = key.public_raw
        body.registration.roles.append(cpb.PARTY_ROLE_NODE)
        body.registration.product_ids.extend(products)
        return self.stub.Register(npb.RegisterRequest(registration=env.seal(body, key)), timeout=30).outcome

    def pull(self) -> None:
        while True:
            resp = self.stub.PullMessages(npb.PullMessagesRequest(party_id=self.party, ack_cursor=self.cursor),
                                          timeout=30)
            for m in resp.messages:
                opened = env.open_envelope(m.envelope, self.fed.federation.key_of)
                self.received[opened.hash] = opened
                self.cursor = m.sequence
            if not resp.more:
                return

    def wait_for(self, cid: str, mt: int, timeout: float = 300) -> env.Opened:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.pull()
            for o in self.received.values():
                if o.body.calculation_id == cid and o.body.message_type == mt:
                    return o
            time.sleep(0.2)
        raise AssertionError(f"{self.party} got no {MT.Name(mt)} for {cid}")

    def object(self, cid: str, digest: bytes) -> bytes:
        return pull_object(self.stub, self.party, cid, digest, limits.MAX_CONTEXT_BYTES)

    def push_object(self, cid: str, data: bytes) -> bytes:
        return push_object(self.stub, self.party, cid, data, opb.OBJECT_KIND_CIPHERTEXT)

    def push(self, *envelopes: epb.Envelope) -> list[cpb.PushOutcome]:
        resp = self.stub.PushMessages(npb.PushMessagesRequest(party_id=self.party, envelopes=list(envelopes)),
                                      timeout=60)
        return list(resp.outcomes)

    def body(self, ka: env.Opened, mt: int, answers: bytes) -> epb.EnvelopeBody:
        """A body bound to the calculation the way an honest node binds it (tanji.node.daemon._bind)."""
        body = env.new_body(mt, calculation_id=ka.body.calculation_id, sender=self.party, receiver="coordinator")
        body.key_fingerprint, body.ckks_params_hash = ka.payload.key_fingerprint, ka.payload.ckks_params_hash
        body.factor_set_hash = ka.body.factor_set_hash
        body.method_profile.CopyFrom(ka.body.method_profile)
        body.answers_hash = answers
        return body

    def contribution(self, ka: env.Opened, answers: bytes, product: str, ciphertext: bytes,
                     key: SigningKey | None = None) -> epb.Envelope:
        """A CONTRIBUTION carrying `ciphertext` (pushed first as an object)."""
        digest = self.push_object(ka.body.calculation_id, ciphertext)
        body = self.body(ka, MT.MESSAGE_TYPE_CONTRIBUTION, answers)
        body.object_hashes.append(digest)
        body.contribution.product_id, body.contribution.ciphertext_hash = product, digest
        body.contribution.record_commitment = os.urandom(32)
        return env.seal(body, key or self.key)

    def declaration(self, ka: env.Opened, answers: bytes) -> epb.Envelope:
        body = self.body(ka, MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, answers)
        body.declaration.SetInParent()  # a leaf declares no request
        return env.seal(body, self.key)


class Supplier(Impostor):
    """A leaf supplier played by the test: it computes its honest answer with the node's own code
    (tanji.methodology.footprint.own, tanji.he.tasks.answer) and lets the test send something else instead."""

    def __init__(self, fed, party):
        super().__init__(fed, party)
        nd = fed.data.nodes[party]
        self.org = nd.model.organisation
        (self.product,) = nd.model.products

    def request(self, cid: str) -> tuple[env.Opened, env.Opened, bytes]:
        """(key announcement, merged request, public context) once the request has arrived."""
        ka = self.wait_for(cid, MT.MESSAGE_TYPE_KEY_ANNOUNCEMENT)
        merged = self.wait_for(cid, MT.MESSAGE_TYPE_MERGED_REQUEST)
        return ka, merged, self.object(cid, ka.payload.context_object_hash)

    def answer(self, ka: env.Opened, merged: env.Opened, context: bytes, scale: float = 1.0) -> he_tasks.Answer:
        """The node's answer (own(p) multiplied by `scale`: 1 is honest)."""
        part = own(self.product, self.party, self.org.country, self.fed.data.factors.by_id,
                   profiles.get(ka.body.method_profile.name))
        weights = [(self.object(ka.body.calculation_id, p.weight_object_hash),
                    units.factor(p.quantity_unit, self.product.unit))
                   for p in merged.payload.parts]
        citation = slots.citation_slots(self.fed.data.factors.by_id)
        return he_tasks.answer(context, weights, (part.vector * slots.WEIGHTED * scale).tolist(),
                               int(part.vector[slots.WARNINGS]), [], ka.payload.width,
                               sorted(citation[f] for f in part.cited))


class AdversarialFederation:
    def __init__(self, root: Path):
        self.root = root
        self.data = load_data_dir(write_chain(root / "data"))
        self.state = root / "state"
        self.fed_file, self.federation = self._onboard()
        self.tls = self._pki()
        (self.state / "cathode").mkdir(parents=True, exist_ok=True)
        (self.state / "cathode" / "policy.toml").write_text('approved_customers = ["cells", "pack"]\n')
        self.procs = Processes(self.state)
        try:
            self.address = self._start_coordinator()
            self.procs.start(KEY_HOLDER, ["keyholder", "serve", "--id", KEY_HOLDER,
                                          "--state", str(self.state / KEY_HOLDER),
                                          "--federation", str(self.fed_file), "--coordinator", self.address,
                                          "--tls", str(self.tls)])
            for org in NODES:
                self.procs.start(org, ["node", "serve", "--org", org, "--state", str(self.state / org),
                                       "--federation", str(self.fed_file), "--coordinator", self.address,
                                       "--data", self.data.nodes[org].file, "--factors", self.data.factors.file,
                                       "--tls", str(self.tls)])
            for org in NODES:
                _wait_for(self.state / org / "ready", self.procs, f"{org} to register")
            self.mallory = Supplier(self, MALLORY)
            assert self.mallory.register(["PART"]).status == cpb.PUSH_STATUS_ACCEPTED
        except BaseException:
            self.procs.stop()
            raise

    # ------------------------------------------------------------------ onboarding
    def _onboard(self) -> tuple[Path, Federation]:
        """What the federation operator does once (tanji.cli.demo.onboard, with two more parties)."""
        roles = {"coordinator": "coordinator", KEY_HOLDER: "key_holder", KEY_HOLDER_2: "key_holder",
                 **{org: "node" for org in (*NODES, MALLORY)}}
        listed = {p: ListedParty(p, role, self.key(p).public_raw) for p, role in roles.items()}
        fed_file = self.state / "federation.json"
        fed_file.write_text(Federation(listed).to_json())
        registry = SigningKey.load_or_create(self.state / "registry" / "registry-key.pem")
        (self.state / "federation.sig").write_bytes(sign_list(fed_file.read_bytes(), registry))
        (self.state / "registry" / "anchor.pub").write_text(registry.public_raw.hex() + "\n")
        return fed_file, Federation.load(fed_file)

    def _pki(self) -> Path:
        ca, tls = self.root / "ca", self.root / "tls"
        init_ca(ca)
        roles = {"coordinator": "coordinator", KEY_HOLDER: "key_holder", KEY_HOLDER_2: "key_holder"}
        for party in ("coordinator", KEY_HOLDER, KEY_HOLDER_2, *NODES, MALLORY, INTRUDER):
            issue(ca, party, roles.get(party, "node"), tls, ["127.0.0.1", "localhost"])
        (tls / "ca.crt").write_bytes((ca / "ca.crt").read_bytes())
        return tls

    def _start_coordinator(self) -> str:
        folder = self.state / "coordinator"
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / "port"
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.adversarial.evil_coordinator", "--state", str(folder), "--federation",
             str(self.fed_file), "--port-file", str(port_file), "--tls", str(self.tls), "--lease-seconds", "3600"],
            stdout=open(folder / "log.txt", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            env=lifeline.child_environment(PYTHONPATH=str(ROOT)), start_new_session=True)
        self.procs.procs["coordinator"] = proc
        return f"127.0.0.1:{_wait_for(port_file, self.procs, 'the coordinator to listen')}"

    # ------------------------------------------------------------------ acting as a party
    def key(self, party: str) -> SigningKey:
        return SigningKey.load_or_create(self.state / party / "envelope-key.pem")

    def channel(self, party: str) -> grpc.Channel:
        """A channel with `party`'s own client certificate."""
        return open_channel(self.address, self.tls, party)

    @contextlib.contextmanager
    def attack(self, mode: str, **params):
        """Tell the coordinator to deviate (evil_coordinator.py) until the block ends."""
        path = self.state / "coordinator" / "attack.json"
        path.write_text(json.dumps({"mode": mode, **params}))
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def spec(self, org: str, product: str, key_holder: str = KEY_HOLDER, deadline: float = 300):
        return requester.spec_for(org, self.data.nodes[org].model, self.data.factors, product, state=self.state / org,
                                  depth_bound=build_graph(self.data, (org, product)).depth(), key_holder=key_holder,
                                  deadline_seconds=deadline)

    def start(self, org: str = "pack", product: str = "PACK", **kw) -> str:
        return requester.start(self.channel(org), self.key(org), self.spec(org, product, **kw))

    def status(self, cid: str, org: str = "pack") -> rpb.GetStatusResponse:
        return requester.status(self.channel(org), org, cid)

    def wait(self, cid: str, org: str = "pack", timeout: float = 300) -> rpb.GetStatusResponse:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(cid, org)
            if st.state in requester.FINAL_STATES:
                return st
            self.procs.check_alive()
            time.sleep(0.2)
        raise AssertionError(f"{cid} not final after {timeout} s: {S.Name(st.state)}")

    def wait_until(self, predicate, timeout: float = 120) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            self.procs.check_alive()
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout} s")

    def result(self, cid: str, org: str = "pack") -> dict:
        return json.loads(requester.result(self.channel(org), org, cid, self.federation))

    def expected(self, org: str = "pack", product: str = "PACK") -> dict:
        """The plaintext reference of the same chain (the oracle of every honest run)."""
        return json.loads(reference_result(self.data, (org, product)).to_json())

    def log(self, party: str) -> str:
        return (self.state / party / "log.txt").read_text(errors="replace")

    def coordinator_db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.state / 'coordinator' / 'coordinator.db'}?mode=ro", uri=True)

    def stored(self, cid: str, mt: int, sender: str | None = None) -> list[env.Opened]:
        """The coordinator's stored envelopes of one calculation (what a malicious operator reads)."""
        con = self.coordinator_db()
        try:
            rows = con.execute("SELECT body, signature, sender FROM envelopes "
                               "WHERE calculation_id=? AND message_type=?", (cid, MT.Name(mt))).fetchall()
        finally:
            con.close()
        return [env.parse_unverified(epb.Envelope(body=b, signature=sig))
                for b, sig, who in rows if sender in (None, who)]

    def coordinator_object(self, digest: bytes) -> bytes:
        h = digest.hex()
        return (self.state / "coordinator" / "objects" / h[:2] / h[2:]).read_bytes()


def assert_matches(result: dict, expected: dict, rel: float = 1e-5) -> None:
    assert abs(result["total_kgco2e"] - expected["total_kgco2e"]) <= rel * expected["total_kgco2e"]
    for stage, value in expected["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= rel * max(value, 1.0), stage


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@pytest.fixture(scope="session")
def federation(tmp_path_factory):
    fed = AdversarialFederation(tmp_path_factory.mktemp("adversarial"))
    yield fed
    fed.procs.stop()


@pytest.fixture(scope="session")
def honest_run(federation) -> str:
    """One honest calculation of pack/PACK: the control every attack is compared with (and the
    earlier calculation that splices and replays take their material from)."""
    cid = federation.start()
    st = federation.wait(cid)
    assert st.state == S.CALCULATION_STATE_DONE, st.failure_message
    assert_matches(federation.result(cid), federation.expected())
    return cid
