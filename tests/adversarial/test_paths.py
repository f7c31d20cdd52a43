"""A calculation id is a name, never a file path (issue #11, item 3).

Attack: a requester (or a coordinator) picks the calculation id. `../../../../<elsewhere>/PWNED`
made the key holder write its secret key outside its key folder; `./<id>` named the file of
another calculation's key, which was overwritten and could no longer decrypt. Now one id grammar
(tanji.protocol.identity) is checked at every entry — the coordinator (start, every envelope,
the readers), the key holder, the node — and no key file is named from the id; a key file is
created exclusively and never through a link.

The coordinator is a real process (the id crosses the wire); the key holder and the node run
in this process with real CKKS keys and real signatures, only their dial-out stubs replaced by
recorders (plumbing). The refusals are asserted by code.
"""
from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from tanji.keyholder.daemon import KeyHolder
from tanji.keyholder.store import KeyedCalculation, KeyHolderStore
from tanji.node.daemon import Node
from tanji.node.importer import import_files
from tanji.node.policy import Policy
from tanji.node.store import Handled, NodeStore
from tanji.protocol import envelope as env
from tanji.protocol.federation import Federation, ListedParty
from tanji.protocol.signing import SigningKey
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.harness.bare import BareCoordinator
from tests.harness.paths import EXAMPLES

MT = epb.MessageType
TRAVERSAL = "../../elsewhere/PWNED"
NODE_ORG = "pack-assembler"


def fresh_id() -> str:
    """What `tanji calc start` generates."""
    return uuid.uuid4().hex + os.urandom(8).hex()


# ---------------------------------------------------------------- the key holder, in this process

class CoordinatorRecorder:
    """The coordinator's object, key and result services as far as the key holder uses them."""

    def __init__(self):
        self.objects, self.announced, self.submitted = {}, [], []

    def StatObject(self, request, timeout=None):
        return opb.StatObjectResponse(complete=request.object_hash in self.objects)

    def PushObject(self, request, timeout=None):
        self.objects[request.object_hash] = self.objects.get(request.object_hash, b"") + request.data
        done = len(self.objects[request.object_hash]) == request.total_size
        return opb.PushObjectResponse(complete=done, received_bytes=len(self.objects[request.object_hash]))

    def PublishKey(self, request, timeout=None):
        self.announced.append(request.key_announcement)
        return kpb.PublishKeyResponse(outcome=cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED))

    def SubmitResult(self, request, timeout=None):
        self.submitted.append(env.parse_unverified(request.result))
        return kpb.SubmitResultResponse(outcome=cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED))

    def PushMessages(self, request, timeout=None):  # a refusal to key a calculation is pushed like a party's
        self.submitted.extend(env.parse_unverified(e) for e in request.envelopes)
        return npb.PushMessagesResponse(outcomes=[cpb.PushOutcome(status=cpb.PUSH_STATUS_ACCEPTED)
                                                  for _ in request.envelopes])


KEYS = {p: SigningKey.generate() for p in ("coordinator", "keyholder", "a", NODE_ORG)}
FEDERATION = Federation({p: ListedParty(p, {"coordinator": "coordinator", "keyholder": "key_holder"}.get(p, "node"),
                                        k.public_raw) for p, k in KEYS.items()})


def calculation_request(cid: str, depth: int = 1, sender: str = "a") -> epb.Envelope:
    b = env.new_body(MT.MESSAGE_TYPE_CALCULATION_REQUEST, calculation_id=cid, sender=sender, receiver="coordinator")
    r = b.calculation_request
    r.target_organisation, r.key_holder, r.depth_bound = sender, "keyholder", depth
    r.products.add(product_id="P", lifetime_energy_kwh=1000.0)
    r.deadline.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    return env.seal(b, KEYS[sender])


@pytest.fixture
def key_holder(tmp_path):
    kh = KeyHolder("keyholder", KeyHolderStore(tmp_path / "kh"), KEYS["keyholder"], FEDERATION,
                   grpc.insecure_channel("127.0.0.1:9"))
    kh.client.key_holder_service = kh.client.node_service = cast(Any, CoordinatorRecorder())
    yield kh
    kh.pool.shutdown()


def recorder(kh) -> CoordinatorRecorder:
    return kh.client.key_holder_service


def row(kh, cid: str) -> KeyedCalculation | None:
    with kh.store.sessions() as s:
        return s.get(KeyedCalculation, cid)


def key_files(kh) -> list[Path]:
    return sorted(kh.store.keys.iterdir())


def test_the_key_holder_refuses_a_traversal_id_and_writes_nothing_outside_its_key_folder(key_holder, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    key_holder.make_key(calculation_request(TRAVERSAL))
    (refusal,) = recorder(key_holder).submitted
    assert refusal.body.message_type == MT.MESSAGE_TYPE_REFUSAL and refusal.payload.code == cpb.REFUSAL_CODE_MALFORMED
    assert not recorder(key_holder).announced and row(key_holder, TRAVERSAL) is None
    assert not any((tmp_path / "elsewhere").iterdir())          # before the fix: PWNED.secret, the secret key
    assert key_files(key_holder) == []


def test_a_second_request_under_the_same_id_never_overwrites_its_key(key_holder):
    cid = fresh_id()
    key_holder.make_key(calculation_request(cid))
    (key_file,) = key_files(key_holder)
    secret, (announcement,) = key_file.read_bytes(), recorder(key_holder).announced
    # the same id again, another request (the coordinator refuses a used id; the key holder keeps its key anyway)
    key_holder.make_key(calculation_request(cid, depth=2))
    assert key_file.read_bytes() == secret and recorder(key_holder).announced[-1] == announcement
    # `./<id>` names the same file on disk: refused by the grammar, the key untouched
    key_holder.make_key(calculation_request("./" + cid))
    assert recorder(key_holder).submitted[-1].payload.code == cpb.REFUSAL_CODE_MALFORMED
    assert key_files(key_holder) == [key_file] and key_file.read_bytes() == secret
    kept = row(key_holder, cid)
    assert kept is not None and kept.state == "keyed"


def test_a_link_planted_at_the_key_path_is_not_followed(key_holder, tmp_path):
    cid = fresh_id()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not the key holder's file\n")
    link = key_holder.store.secret_path(cid)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    key_holder.make_key(calculation_request(cid))
    assert victim.read_bytes() == b"not the key holder's file\n"   # before the fix: the secret key
    refusal = recorder(key_holder).submitted[-1]
    assert refusal.payload.code == cpb.REFUSAL_CODE_INTERNAL and not recorder(key_holder).announced
    assert row(key_holder, cid) is None


def test_destroying_a_key_never_writes_through_a_link(key_holder, tmp_path):
    cid = fresh_id()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    key_holder.store.secret_path(cid).parent.mkdir(parents=True, exist_ok=True)
    key_holder.store.secret_path(cid).symlink_to(victim)
    key_holder.store.destroy_secret(cid)
    assert victim.read_bytes() == b"precious\n" and not key_holder.store.secret_path(cid).is_symlink()


def test_key_files_and_the_key_folder_are_the_key_holders_alone(key_holder):
    key_holder.make_key(calculation_request(fresh_id()))
    (key_file,) = key_files(key_holder)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_holder.store.keys.stat().st_mode & 0o777 == 0o700
    assert (key_holder.store.keys.parent / "keyholder.db").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- the node, in this process

@pytest.fixture
def node(tmp_path):
    state = tmp_path / NODE_ORG
    store = NodeStore(state / "node.db")
    import_files(store, EXAMPLES / "nmc811-pack" / f"{NODE_ORG}.json", EXAMPLES / "nmc811-pack" / "factors.json")
    n = Node(NODE_ORG, store, KEYS[NODE_ORG], FEDERATION, grpc.insecure_channel("127.0.0.1:9"), Policy(), state=state)
    yield n
    n.pool.shutdown()


def handled(node, h: bytes) -> Handled | None:
    with node.store.sessions() as s:
        return s.get(Handled, h)


def test_the_node_refuses_a_traversal_id_by_code(node, tmp_path):
    own, merged = MT.MESSAGE_TYPE_CALCULATION_REQUEST, MT.MESSAGE_TYPE_MERGED_REQUEST
    for cid, sender in ((TRAVERSAL, NODE_ORG), ("../" + fresh_id(), "coordinator")):
        body = env.new_body(own if sender == NODE_ORG else merged, calculation_id=cid, sender=sender,
                            receiver=NODE_ORG)
        if sender == NODE_ORG:
            r = body.calculation_request
            r.target_organisation, r.key_holder, r.depth_bound = NODE_ORG, "keyholder", 4
            r.products.add(product_id="PACK-NMC811-80", lifetime_energy_kwh=1000.0)
            r.quantity_commitment = b"\x01" * 32
        else:
            body.merged_request.supplier, body.merged_request.product_id = NODE_ORG, "PACK-NMC811-80"
        sealed = env.seal(body, KEYS[sender])
        node.handle(sealed)
        done = handled(node, env.message_hash(sealed))
        assert done is not None and done.refusal_code == cpb.REFUSAL_CODE_MALFORMED, (cid, done and done.outcome)


# ---------------------------------------------------------------- the coordinator, a real process

@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    c = BareCoordinator(tmp_path_factory.mktemp("paths"))
    yield c
    c.stop()


def start_as(coord, cid: str) -> cpb.PushOutcome:
    """maker starts a calculation of P under the id `cid` (signed: the requester picks the id)."""
    sealed = coord.maker.calculation_request("P")
    body = epb.EnvelopeBody.FromString(sealed.body)
    body.calculation_id = cid
    return coord.maker.requester.StartCalculation(
        rpb.StartCalculationRequest(calculation_request=env.seal(body, coord.maker.key)), timeout=60).outcome


@pytest.mark.integration
def test_the_coordinator_refuses_every_id_outside_the_grammar_at_start(coord):
    honest = fresh_id()
    assert start_as(coord, honest).status == cpb.PUSH_STATUS_ACCEPTED
    for cid in (TRAVERSAL, "../../../../tmp/x/PWNED", "./" + honest, honest + "/..", honest.upper(),
                f"{honest}\x00", " " + honest, "calc_" + honest[:20], "-" + honest[:30], "a" * 65):
        out = start_as(coord, cid)
        assert (out.status, out.code) == (cpb.PUSH_STATUS_REFUSED, cpb.REFUSAL_CODE_MALFORMED), repr(cid)
    stored = {r[0] for r in coord.query("SELECT id FROM calculations")}
    assert stored == {honest}
    coord.alive()


@pytest.mark.integration
def test_the_coordinator_refuses_a_traversal_id_in_any_envelope_and_reader(coord):
    body = env.new_body(MT.MESSAGE_TYPE_DECLARATION_OF_REQUESTS, calculation_id=TRAVERSAL, sender="supplier",
                        receiver="coordinator")
    body.declaration.SetInParent()
    (out,) = coord.supplier.push(env.seal(body, coord.supplier.key))
    assert (out.status, out.code) == (cpb.PUSH_STATUS_REFUSED, cpb.REFUSAL_CODE_MALFORMED)
    with pytest.raises(grpc.RpcError) as info:
        coord.maker.status(TRAVERSAL)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    con = sqlite3.connect(f"file:{coord.state / 'coordinator' / 'coordinator.db'}?mode=ro", uri=True)
    try:
        assert con.execute("SELECT count(*) FROM envelopes WHERE calculation_id = ?", (TRAVERSAL,)).fetchone() == (0,)
    finally:
        con.close()
    coord.alive()


# ---------------------------------------------------------------- state files (issue #11, item 9)

def no_group_or_other(path: Path) -> bool:
    return path.lstat().st_mode & 0o077 == 0


@pytest.mark.integration
def test_after_a_demo_every_party_state_and_every_secret_file_is_its_owners_alone(tmp_path):
    """Raw data, salts, commitments, openings and keys were world-readable (0644): after a demo run,
    every party's state folder is 0700 and every file holding them is 0600."""
    import json
    import subprocess
    import sys

    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "tanji", "demo", str(EXAMPLES / "nmc811-pack"), "--product",
                           "pack-assembler/PACK-NMC811-80", "--out", str(out)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = out / "state"
    parties = [p for p in state.iterdir() if p.is_dir()]
    assert {"coordinator", "keyholder", "registry", "pack-assembler", "cathode-works"} <= {p.name for p in parties}
    assert [p.name for p in parties if not no_group_or_other(p)] == []
    secret_files = [f for pattern in ("*/node.db*", "*/keyholder.db*", "*/coordinator.db*", "*/*.pem",
                                      "*/commitments/*", "keyholder/keys/*", "*/tls/*.key")
                    for f in state.glob(pattern) if f.name != "crl.pem"]   # a CRL is published: not secret
    assert len([f for f in secret_files if f.name == "node.db"]) == 11
    assert list(state.glob("pack-assembler/commitments/*.json"))    # the requester's salt and bill of materials
    assert [str(f) for f in secret_files if not no_group_or_other(f)] == []
    assert no_group_or_other(state / "pack-assembler" / "commitments")
    calculation = json.loads((out / "result.json").read_text())["calculation"]
    opening = tmp_path / "opening.tar"
    proc = subprocess.run([sys.executable, "-m", "tanji", "node", "audit-export", calculation, "--state",
                           str(state / "cell-works"), "--out", str(opening)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert no_group_or_other(opening)                               # raw data: handed over on site only
    proc = subprocess.run([sys.executable, "-m", "tanji", "node", "audit-export", "../" + calculation, "--state",
                           str(state / "cell-works"), "--out", str(tmp_path / "other.tar")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and not (tmp_path / "other.tar").exists()   # the CLI checks the id grammar too
