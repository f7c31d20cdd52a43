"""A real coordinator process with nobody else: the test plays every other party.

For the limit and malformed-wire tests: one `tanji coordinator serve` per test module, on
loopback, with the federation's keys on disk so the test can sign as any listed party. Nothing
here is mocked: requests cross a real gRPC connection into a separate process, and `alive()`
checks that process is still running and serving.

    maker/P  <- supplier/S        (maker: the requester; the test plays the key holder too)
    maker2/P2                     (a second requester, for the open-calculations limit)
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc

from tanji.cli.demo import Processes, onboard
from tanji.he import tasks as he_tasks
from tanji.infra.transfer import push_object
from tanji.protocol import envelope as env
from tanji.protocol import limits
from tanji.protocol.messages import Binding
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import key_holder_pb2_grpc as kgrpc
from tanji.v1 import node_pb2 as npb
from tanji.v1 import node_pb2_grpc as ngrpc
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tanji.v1 import requester_pb2_grpc as rgrpc
from tests.harness import envelopes as E
from tests.harness.keys import KEY_HOLDER, party_key
from tests.harness.processes import wait_for_file

MT = epb.MessageType
S = rpb.CalculationState
#: the factor set every calculation of the bare coordinator names
FACTOR_SET_HASH = b"\x11" * 32
#: generous per-call deadline for a loaded 2-core machine
TIMEOUT = 60


class Party:
    """One listed party, played from the test process with its own envelope key."""

    def __init__(self, coord: BareCoordinator, name: str):
        self.coord, self.name = coord, name
        self.key = party_key(coord.state, name)
        self.nodes = ngrpc.NodeServiceStub(coord.channel)
        self.requester = rgrpc.RequesterServiceStub(coord.channel)
        self.work = kgrpc.KeyHolderServiceStub(coord.channel)

    def register(self, products: Iterable[str] = (), edges: Iterable[tuple[str, str, str]] = ()) -> cpb.PushOutcome:
        role = cpb.PARTY_ROLE_KEY_HOLDER if self.name == KEY_HOLDER else cpb.PARTY_ROLE_NODE
        sealed = E.registration(self.name, self.key, products, edges, roles=[role])
        return self.nodes.Register(npb.RegisterRequest(registration=sealed), timeout=TIMEOUT).outcome

    def calculation_request(self, product: str, deadline_seconds: float = 3600) -> epb.Envelope:
        cid = uuid.uuid4().hex + os.urandom(8).hex()
        payload = E.calculation(self.name, [product], deadline=timedelta(seconds=deadline_seconds),
                                min_attestations=1)
        return E.seal(payload, self.key, sender=self.name, cid=cid, binding=E.requested(FACTOR_SET_HASH))

    def start(self, product: str, deadline_seconds: float = 3600) -> tuple[cpb.PushOutcome, str, epb.Envelope]:
        sealed = self.calculation_request(product, deadline_seconds)
        resp = self.requester.StartCalculation(rpb.StartCalculationRequest(calculation_request=sealed), timeout=TIMEOUT)
        return resp.outcome, resp.calculation_id, sealed

    def status(self, cid: str) -> rpb.GetStatusResponse:
        return self.requester.GetStatus(rpb.GetStatusRequest(party_id=self.name, calculation_id=cid), timeout=TIMEOUT)

    def push_object(self, cid: str, data: bytes, kind: opb.ObjectKind = opb.OBJECT_KIND_CIPHERTEXT) -> bytes:
        return push_object(self.nodes, self.name, cid, data, kind)

    def push(self, *envelopes: epb.Envelope) -> list[cpb.PushOutcome]:
        resp = self.nodes.PushMessages(npb.PushMessagesRequest(party_id=self.name, envelopes=list(envelopes)),
                                       timeout=TIMEOUT)
        return list(resp.outcomes)

    def contribution(self, request: epb.Envelope, keys: he_tasks.Keys, product: str, ciphertext: bytes) -> epb.Envelope:
        """A CONTRIBUTION to `request`'s calculation carrying `ciphertext` (pushed first as an object),
        bound to the calculation and `keys` as a node binds it."""
        cid = env.parse_unverified(request).body.calculation_id
        digest = self.push_object(cid, ciphertext)
        requested = E.bound(request)
        keyed = Binding(requested.factor_set_hash, requested.method_profile, keys.key_fingerprint, keys.params_hash)
        payload = epb.Contribution(product_id=product, ciphertext_hash=digest, record_commitment=os.urandom(32))
        return E.seal(payload, self.key, sender=self.name, cid=cid, binding=keyed,
                      answers=env.message_hash(request), objects=[digest])

    # ---------------------------------------------------------------- as the key holder
    def announcement(self, request: epb.Envelope, keys: he_tasks.Keys, context: bytes | None = None,
                     unit_weight: bytes | None = None) -> epb.Envelope:
        """A KEY_ANNOUNCEMENT of `keys`, naming `context` (pushed first; default: the real one)."""
        opened = env.parse_unverified(request)
        cid = opened.body.calculation_id
        ctx_hash = self.push_object(cid, keys.public_context if context is None else context,
                                    opb.OBJECT_KIND_PUBLIC_CONTEXT)
        unit_hash = self.push_object(cid, keys.unit_weight if unit_weight is None else unit_weight)
        return E.seal(E.announced(keys, ctx_hash, unit_hash), self.key, sender=self.name, cid=cid,
                      binding=E.bound(request), answers=opened.hash, objects=[ctx_hash, unit_hash])

    def publish(self, announcement: epb.Envelope) -> cpb.PushOutcome:
        return self.work.PublishKey(kpb.PublishKeyRequest(key_announcement=announcement), timeout=TIMEOUT).outcome


class BareCoordinator:
    """`tanji coordinator serve` in its own process, with tight limits a test can reach."""

    ORGS = ("maker", "maker2", "supplier")

    def __init__(self, root: Path, *extra_args: str):
        self.root = root
        self.state = root / "state"
        self.fed_file, self.federation = onboard(self.state, self.ORGS)
        self.procs = Processes(self.state)
        port_file = self.state / "coordinator" / "port"
        self.procs.start("coordinator", ["coordinator", "serve", "--state", str(self.state / "coordinator"),
                                         "--federation", str(self.fed_file), "--listen", "127.0.0.1:0",
                                         "--port-file", str(port_file), "--lease-seconds", "3600", *extra_args])
        try:
            self.address = f"127.0.0.1:{wait_for_file(port_file, self.procs, 'the coordinator to listen')}"
            self.channel = grpc.insecure_channel(self.address, options=limits.GRPC_OPTIONS)
            self.maker, self.maker2, self.supplier, self.keyholder = (
                Party(self, p) for p in ("maker", "maker2", "supplier", KEY_HOLDER))
            for party, products, edges in ((self.supplier, ["S"], []), (self.maker, ["P"], [("P", "supplier", "S")]),
                                           (self.maker2, ["P2"], []), (self.keyholder, [], [])):
                out = party.register(products, edges)
                assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
        except BaseException:
            self.procs.stop()
            raise

    @property
    def process(self):
        return self.procs.procs["coordinator"]

    def raw_channel(self) -> grpc.Channel:
        """A channel with no client-side size limit: what an attacker's client would use."""
        return grpc.insecure_channel(self.address, options=[("grpc.max_send_message_length", -1),
                                                            ("grpc.max_receive_message_length", -1)])

    def raw_call(self, method: str, channel: grpc.Channel | None = None) -> grpc.UnaryUnaryMultiCallable:
        """Any method, bytes in and bytes out (no client-side serialisation at all)."""
        return (channel or self.raw_channel()).unary_unary(method)

    def alive(self) -> None:
        """The process still runs and answers a well-formed call."""
        assert self.process.poll() is None, \
            f"the coordinator exited with {self.process.returncode}:\n{self.log()[-3000:]}"
        resp = self.maker.nodes.Heartbeat(npb.HeartbeatRequest(party_id="maker"), timeout=TIMEOUT)
        assert resp.next_heartbeat_seconds == limits.HEARTBEAT_SECONDS

    def log(self) -> str:
        return (self.state / "coordinator" / "log.txt").read_text(errors="replace")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the coordinator's database (read-only, as an operator would)."""
        con = sqlite3.connect(f"file:{self.state / 'coordinator' / 'coordinator.db'}?mode=ro", uri=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def stored_files(self) -> set[str]:
        """Every file under the coordinator's object store and upload staging folder."""
        out = set()
        for folder in ("objects", "staging"):
            base = self.state / "coordinator" / folder
            if base.is_dir():
                out |= {str(p.relative_to(base.parent)) for p in base.rglob("*") if p.is_file()}
        return out

    def holds_object(self, data: bytes) -> bool:
        h = hashlib.sha256(data).hexdigest()
        return (self.state / "coordinator" / "objects" / h[:2] / h[2:]).exists()

    def wait(self, party: Party, cid: str, predicate: Callable[[rpb.GetStatusResponse], bool],
             timeout: float = 120) -> rpb.GetStatusResponse:
        end = time.monotonic() + timeout
        while True:
            st = party.status(cid)
            if predicate(st) or time.monotonic() > end:
                return st
            time.sleep(0.2)

    def stop(self) -> None:
        self.procs.stop()
