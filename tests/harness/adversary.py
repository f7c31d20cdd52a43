"""The attacker's workbench: a small federation under mutual TLS, and the parties a test plays.

`AdversarialFederation` runs a coordinator that can be told to deviate (`evil_coordinator`,
honest until told), the real key holder, and real node processes for the chain of
`tests.harness.data.write_attack_chain`. The test process owns every party's key files and
certificates, so it can act as any party: `Impostor` plays a listed party with that party's
own envelope key and certificate, `Supplier` is the leaf supplier `mallory` (computing its
honest answer with the node's own code, sending whatever the test makes it send), and the
listed key holder `keyholder-2` exists only to be played by a test.
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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc

from tanji.cli import requester
from tanji.cli.demo import Processes
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
from tanji.protocol.messages import Binding
from tanji.protocol.refusals import code_name
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import envelopes as E
from tests.harness import keys
from tests.harness.data import MALLORY, write_attack_chain
from tests.harness.keys import COORDINATOR, KEY_HOLDER
from tests.harness.paths import ROOT
from tests.harness.processes import wait_for_file

MT = epb.MessageType
S = rpb.CalculationState
NODES = ("pack", "cells", "cathode", "bms-co", "rogue")  # real node processes
KEY_HOLDER_2 = "keyholder-2"                            # listed, played by a test
INTRUDER = "intruder"                                   # a CA certificate, not on the federation list
ROLES = {KEY_HOLDER_2: "key_holder"}


class Impostor:
    """A party played from the test process with that party's own envelope key and certificate:
    it pulls the party's inbox and pushes whatever the test makes it sign."""

    def __init__(self, fed: AdversarialFederation, party: str):
        self.fed, self.party = fed, party
        self.key = fed.key(party)
        self.stub = ngrpc.NodeServiceStub(fed.channel(party))
        self.cursor = 0
        self.received: dict[bytes, env.Opened] = {}

    def register(self, products: Iterable[str] = (), key: SigningKey | None = None) -> cpb.PushOutcome:
        """Register with `key` (default: the party's own) as the key the coordinator should know."""
        key = key or self.key
        sealed = E.registration(self.party, key, products)
        return self.stub.Register(npb.RegisterRequest(registration=sealed), timeout=30).outcome

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

    def push_object(self, cid: str, data: bytes, kind: opb.ObjectKind = opb.OBJECT_KIND_CIPHERTEXT) -> bytes:
        return push_object(self.stub, self.party, cid, data, kind)

    def push(self, *envelopes: epb.Envelope) -> list[cpb.PushOutcome]:
        resp = self.stub.PushMessages(npb.PushMessagesRequest(party_id=self.party, envelopes=list(envelopes)),
                                      timeout=60)
        return list(resp.outcomes)

    def contribution(self, ka: env.Opened, answers: bytes, product: str, ciphertext: bytes,
                     key: SigningKey | None = None) -> epb.Envelope:
        """A CONTRIBUTION carrying `ciphertext` (pushed first as an object), bound to the calculation
        the way an honest node binds it (by its accepted key announcement)."""
        cid = ka.body.calculation_id
        digest = self.push_object(cid, ciphertext)
        payload = epb.Contribution(product_id=product, ciphertext_hash=digest, record_commitment=os.urandom(32))
        return E.seal(payload, key or self.key, sender=self.party, cid=cid, binding=Binding.of(key_announcement=ka),
                      answers=answers, objects=[digest])

    def declaration(self, ka: env.Opened, answers: bytes) -> epb.Envelope:
        """A leaf's declaration: it requests nothing."""
        return E.seal(E.declared(), self.key, sender=self.party, cid=ka.body.calculation_id,
                      binding=Binding.of(key_announcement=ka), answers=answers)


class Supplier(Impostor):
    """A leaf supplier played by the test: it computes its honest answer with the node's own code
    (tanji.methodology.footprint.own, tanji.he.tasks.answer) and lets the test send something else instead."""

    def __init__(self, fed: AdversarialFederation, party: str):
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
        self.data = load_data_dir(write_attack_chain(root / "data"))
        self.state = root / "state"
        self.fed_file, self.federation = keys.onboard(
            self.state, (COORDINATOR, KEY_HOLDER, KEY_HOLDER_2, *NODES, MALLORY), ROLES)
        self.tls = keys.issue_certificates(root, (COORDINATOR, KEY_HOLDER, KEY_HOLDER_2, *NODES, MALLORY, INTRUDER),
                                           ROLES)
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
                                       "--tls", str(self.tls),
                                       # no policy.toml but cathode's: told to answer every buyer (#11 item 7)
                                       *([] if org == "cathode" else ["--answer-everyone"])])
            for org in NODES:
                wait_for_file(self.state / org / "ready", self.procs, f"{org} to register")
            self.mallory = Supplier(self, MALLORY)
            assert self.mallory.register(["PART"]).status == cpb.PUSH_STATUS_ACCEPTED
        except BaseException:
            self.procs.stop()
            raise

    #: the coordinator process this federation runs (a test may swap in another deviating one)
    coordinator_module = "tests.harness.evil_coordinator"

    def _start_coordinator(self) -> str:
        folder = self.state / COORDINATOR
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / "port"
        proc = subprocess.Popen(
            [sys.executable, "-m", self.coordinator_module, "--state", str(folder), "--federation",
             str(self.fed_file), "--port-file", str(port_file), "--tls", str(self.tls), "--lease-seconds", "3600"],
            stdout=open(folder / "log.txt", "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            env=lifeline.child_environment(PYTHONPATH=str(ROOT)), start_new_session=True)
        self.procs.procs[COORDINATOR] = proc
        return f"127.0.0.1:{wait_for_file(port_file, self.procs, 'the coordinator to listen')}"

    # ------------------------------------------------------------------ acting as a party
    def key(self, party: str) -> SigningKey:
        return keys.party_key(self.state, party)

    def channel(self, party: str) -> grpc.Channel:
        """A channel with `party`'s own client certificate."""
        return open_channel(self.address, self.tls, party)

    @contextlib.contextmanager
    def attack(self, mode: str, **params: Any) -> Iterator[None]:
        """Tell the coordinator to deviate (evil_coordinator.py) until the block ends."""
        path = self.state / COORDINATOR / "attack.json"
        path.write_text(json.dumps({"mode": mode, **params}))
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def spec(self, org: str, product: str, key_holder: str = KEY_HOLDER,
             deadline: float = 300) -> requester.CalculationSpec:
        return requester.spec_for(org, self.data.nodes[org].model, self.data.factors, product, state=self.state / org,
                                  depth_bound=build_graph(self.data, (org, product)).depth(), key_holder=key_holder,
                                  deadline_seconds=deadline)

    def start(self, org: str = "pack", product: str = "PACK", **kw: Any) -> str:
        return requester.start(self.channel(org), self.key(org), self.spec(org, product, **kw))

    def status(self, cid: str, org: str = "pack") -> rpb.GetStatusResponse:
        return requester.status(self.channel(org), org, cid)

    def wait(self, cid: str, org: str = "pack", timeout: float = 300) -> rpb.GetStatusResponse:
        """`org`'s status once final, with the failure as the coordinator's operator sees it (who refused
        and what it said, from its database): the tests name the refusing party wherever it sits;
        what each party may read of a failure is tested on `status`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            st = self.status(cid, org)
            if st.state in requester.FINAL_STATES:
                return self.operator_view(cid, st)
            self.procs.check_alive()
            time.sleep(0.2)
        raise AssertionError(f"{cid} not final after {timeout} s: {S.Name(st.state)}")

    def operator_view(self, cid: str, st: rpb.GetStatusResponse) -> rpb.GetStatusResponse:
        con = self.coordinator_db()
        try:
            party, message = con.execute("SELECT failure_party, failure_message FROM calculations WHERE id = ?",
                                         (cid,)).fetchone()
        finally:
            con.close()
        seen = rpb.GetStatusResponse()
        seen.CopyFrom(st)
        if st.failure_code:
            seen.failure_party = party
            seen.failure_message = f"{party}: {code_name(st.failure_code)}: {message}"
        return seen

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 120) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            self.procs.check_alive()
            time.sleep(0.2)
        raise AssertionError(f"not within {timeout} s")

    def result(self, cid: str, org: str = "pack") -> dict[str, Any]:
        return json.loads(requester.result(self.channel(org), org, cid, self.federation))

    def expected(self, org: str = "pack", product: str = "PACK") -> dict[str, Any]:
        """The plaintext reference of the same chain (the oracle of every honest run)."""
        return json.loads(reference_result(self.data, (org, product)).to_json())

    def log(self, party: str) -> str:
        return (self.state / party / "log.txt").read_text(errors="replace")

    def coordinator_db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.state / COORDINATOR / 'coordinator.db'}?mode=ro", uri=True)

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
        return (self.state / COORDINATOR / "objects" / h[:2] / h[2:]).read_bytes()

    def stop(self) -> None:
        self.procs.stop()


def assert_matches(result: dict[str, Any], expected: dict[str, Any], rel: float = 1e-5) -> None:
    assert abs(result["total_kgco2e"] - expected["total_kgco2e"]) <= rel * expected["total_kgco2e"]
    for stage, value in expected["stages_kgco2e"].items():
        assert abs(result["stages_kgco2e"][stage] - value) <= rel * max(value, 1.0), stage


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
