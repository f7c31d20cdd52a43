"""Size and resource limits (tanji/protocol/limits.py), attacked over the wire against a real coordinator.

Attacker: any listed party (or anyone who can reach the port). Each test sends what exceeds one
limit, checks the refusal's code or gRPC status, that nothing was stored, and that the coordinator process is
still alive and serving afterwards. One coordinator process serves the module; it runs with
small `--max-open-calculations` and `--max-objects-per-calculation` so the tests reach them.
The last test is a fast static check: every client stub call carries a deadline.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
from typing import Any

import grpc
import pytest

from tanji.he import _wire
from tanji.he import tasks as he_tasks
from tanji.protocol import limits
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import envelope_pb2 as epb
from tanji.v1 import key_holder_pb2 as kpb
from tanji.v1 import node_pb2 as npb
from tanji.v1 import objects_pb2 as opb
from tanji.v1 import requester_pb2 as rpb
from tests.harness import envelopes as E
from tests.harness.bare import FACTOR_SET_HASH, BareCoordinator, S
from tests.harness.paths import ROOT

integration = pytest.mark.integration
MAX_OPEN, MAX_OBJECTS = 3, 12


@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    c = BareCoordinator(tmp_path_factory.mktemp("limits"), "--max-open-calculations", str(MAX_OPEN),
                        "--max-objects-per-calculation", str(MAX_OBJECTS))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def keyed(coord):
    """A calculation of maker/P whose key the test published as the key holder: RUNNING."""
    out, cid, request = coord.maker.start("P")
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    keys = he_tasks.keygen(1)
    assert coord.keyholder.publish(coord.keyholder.announcement(request, keys)).status == cpb.PUSH_STATUS_ACCEPTED
    assert coord.maker.status(cid).state == S.CALCULATION_STATE_RUNNING
    return cid, request, keys


def rpc_error(call, *args) -> grpc.RpcError:
    """The error of `call(*args, timeout=...)` (a stub method), or of `call()` (a closure)."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=60) if args else call()
    return info.value


# ---------------------------------------------------------------------------- messages
@integration
def test_an_oversized_message_is_resource_exhausted_and_the_server_still_answers(coord):
    heartbeat = coord.raw_call("/tanji.v1.NodeService/Heartbeat")
    big = (npb.HeartbeatRequest(party_id="maker").SerializeToString()
           + b"\x12" + b"\xff\xff\xff\x02" + bytes(5 * limits.MiB))
    assert len(big) > limits.MAX_MESSAGE_BYTES
    err = rpc_error(heartbeat, big)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # the honest client refuses to send one at all (the same limit on both ends)
    request = npb.PushMessagesRequest(party_id="maker")
    request.envelopes.add(body=bytes(5 * limits.MiB))
    err = rpc_error(coord.maker.nodes.PushMessages, request)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    coord.alive()


@integration
def test_too_many_envelopes_in_one_call_are_refused_by_name(coord):
    tiny = E.seal(epb.Refusal(code=cpb.REFUSAL_CODE_UNEXPECTED), coord.maker.key, sender="maker", cid="c" * 32,
                  binding=E.requested(FACTOR_SET_HASH))
    n = limits.MAX_ENVELOPES_PER_CALL + 1
    err = rpc_error(coord.maker.nodes.PushMessages, npb.PushMessagesRequest(party_id="maker", envelopes=[tiny] * n))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # the count is what is refused: one envelope fewer is answered, each with its own outcome
    fewer = coord.maker.nodes.PushMessages(npb.PushMessagesRequest(party_id="maker", envelopes=[tiny] * (n - 1)),
                                           timeout=60)
    assert len(fewer.outcomes) == n - 1
    coord.alive()


@integration
def test_an_oversized_envelope_is_refused_in_every_rpc_that_carries_one(coord):
    huge = E.registration("maker", coord.maker.key, ["P" * 100] * (limits.MAX_ENVELOPE_BYTES // 100 + 1))
    assert limits.MAX_ENVELOPE_BYTES < len(huge.body) < limits.MAX_MESSAGE_BYTES
    calls = [(coord.maker.nodes.Register, npb.RegisterRequest(registration=huge)),
             (coord.maker.nodes.PushMessages, npb.PushMessagesRequest(party_id="maker", envelopes=[huge])),
             (coord.maker.requester.StartCalculation, rpb.StartCalculationRequest(calculation_request=huge)),
             (coord.keyholder.work.PublishKey, kpb.PublishKeyRequest(key_announcement=huge)),
             (coord.keyholder.work.SubmitResult, kpb.SubmitResultRequest(result=huge))]
    for call, request in calls:
        err = rpc_error(call, request)
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, call
    # the registration was not replaced by the huge one: maker still serves P only
    assert coord.query("SELECT product FROM served_products WHERE org = 'maker'") == [("P",)]
    coord.alive()


@integration
def test_batch_caps_of_pull_calls(coord):
    """A party asking for a billion items gets at most the per-call cap (no huge response)."""
    pulled = coord.maker.nodes.PullMessages(npb.PullMessagesRequest(party_id="maker", max_messages=10**9), timeout=60)
    assert len(pulled.messages) <= limits.MAX_ENVELOPES_PER_CALL
    work = coord.keyholder.work.PullWork(kpb.PullWorkRequest(party_id="keyholder", max_items=10**9), timeout=60)
    assert len(work.items) <= limits.MAX_WORK_ITEMS_PER_CALL
    n = limits.MAX_PROOF_HASHES_PER_CALL + 1
    err = rpc_error(coord.maker.nodes.ProveInclusion, npb.ProveInclusionRequest(party_id="maker",
                                                                                 envelope_hashes=[b"\0" * 32] * n))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    coord.alive()


# ---------------------------------------------------------------------------- objects
def push_chunk(coord, cid, data: bytes, total: int, offset: int = 0, digest: bytes | None = None,
               kind: opb.ObjectKind = opb.OBJECT_KIND_CIPHERTEXT, party="supplier"):
    return coord.supplier.nodes.PushObject(opb.PushObjectRequest(
        party_id=party, calculation_id=cid, object_hash=digest or hashlib.sha256(data).digest(), kind=kind,
        total_size=total, offset=offset, data=data), timeout=60)


@integration
def test_object_uploads_beyond_the_size_and_chunk_limits_are_refused_and_nothing_is_stored(coord, keyed):
    cid = keyed[0]
    before = coord.stored_files()
    cases: list[tuple[str, dict[str, Any], grpc.StatusCode]] = [
        ("ciphertext above its limit", dict(data=b"x" * 10, total=limits.MAX_CIPHERTEXT_BYTES + 1),
         grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("context above its limit", dict(data=b"x" * 10, total=limits.MAX_CONTEXT_BYTES + 1,
                                         kind=opb.OBJECT_KIND_PUBLIC_CONTEXT), grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("chunk above its limit", dict(data=b"x" * (limits.CHUNK_BYTES + 1), total=2 * limits.CHUNK_BYTES),
         grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("tiny chunks (a huge chunk count)", dict(data=b"x" * 1000, total=limits.MIN_CHUNK_BYTES * 10),
         grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("a chunk past the announced size", dict(data=b"x" * 100, total=50), grpc.StatusCode.INVALID_ARGUMENT),
        ("bytes that do not match the object's name", dict(data=b"x" * 100, total=100, digest=b"\x01" * 32),
         grpc.StatusCode.DATA_LOSS),
        ("an unknown object kind", dict(data=b"x", total=1, kind=opb.OBJECT_KIND_UNSPECIFIED),
         grpc.StatusCode.INVALID_ARGUMENT),
        ("a short object name", dict(data=b"x", total=1, digest=b"\x01" * 31), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for name, kwargs, code in cases:
        err = rpc_error(functools.partial(push_chunk, coord, cid, **kwargs))
        assert (err.code(), name) == (code, name), (name, err.details())
    assert coord.stored_files() == before  # nothing stored, nothing left in staging
    coord.alive()


@integration
def test_objects_per_party_and_calculation_are_bounded(coord, keyed):
    cid = keyed[0]
    # the supplier has uploaded nothing whole for this calculation yet (the refusals above stored nothing,
    # but each started upload counts: that is what the limit bounds)
    accepted = 0
    while True:
        data = os.urandom(64)
        try:
            coord.supplier.push_object(cid, data)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            break
        accepted += 1
        assert accepted <= MAX_OBJECTS
    assert 1 <= accepted <= MAX_OBJECTS
    # the refused object is not stored; another party's quota and an object already held are unaffected
    assert not coord.holds_object(data)
    coord.maker.push_object(cid, os.urandom(64))
    coord.supplier.push_object(cid, keyed[2].public_context, opb.OBJECT_KIND_PUBLIC_CONTEXT)  # already held
    # uploads for a calculation that does not exist are refused (else fresh ids would dodge the count)
    err = rpc_error(lambda: push_chunk(coord, "no-such-calculation-0000", b"y" * 10, 10))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    coord.alive()


@integration
def test_only_the_calculations_parties_upload_objects_for_it(coord, keyed):
    """maker2 is listed but not a party of maker's calculation: its upload is refused by name and
    nothing is staged; the count of those who may upload is kept in the coordinator's database."""
    err = rpc_error(lambda: coord.maker2.push_object(keyed[0], os.urandom(64)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert coord.query("SELECT COUNT(*) FROM object_uploads WHERE party = 'maker2'") == [(0,)]
    coord.maker.push_object(keyed[0], os.urandom(64))
    assert coord.query(f"SELECT count FROM object_uploads WHERE calculation_id = '{keyed[0]}' "
                       "AND party = 'maker'")[0][0] >= 1


# ---------------------------------------------------------------------------- calculations
@integration
def test_open_calculations_per_requester_are_bounded(coord):
    """maker2 may have MAX_OPEN calculations open; the next is refused by name until one ends."""
    started = []
    for _ in range(MAX_OPEN):
        out, cid, _ = coord.maker2.start("P2", deadline_seconds=4)
        assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
        started.append(cid)
    out, _, _ = coord.maker2.start("P2")
    assert out.status == cpb.PUSH_STATUS_REFUSED and out.code == cpb.REFUSAL_CODE_RATE_LIMITED
    # another requester is not affected
    other, _, _ = coord.maker.start("P", deadline_seconds=4)
    assert other.status == cpb.PUSH_STATUS_ACCEPTED, other.message
    # once the open ones miss their deadline (nobody keys them) they are failed, and maker2 may start again
    for cid in started:
        st = coord.wait(coord.maker2, cid, lambda st: st.state == S.CALCULATION_STATE_FAILED)
        assert st.state == S.CALCULATION_STATE_FAILED and st.failure_code == cpb.REFUSAL_CODE_DEADLINE_EXCEEDED
    out, _, _ = coord.maker2.start("P2")
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    coord.alive()


# ---------------------------------------------------------------------------- ciphertexts and contexts
def contribution(coord, cid, request, keys, ciphertext: bytes):
    return coord.maker.contribution(request, keys, "P", ciphertext)


@integration
def test_malformed_ciphertexts_are_refused_by_name_without_crashing(coord, keyed):
    cid, request, keys = keyed
    honest = he_tasks.answer(keys.public_context, [(keys.unit_weight, 1.0)], [1.0, 2, 3, 4, 1, 2, 0, 0], 0, [],
                             keys.width).contribution
    header, seal = _wire.unpack_ciphertext(honest)
    flipped = bytearray(honest)
    flipped[_wire.HEADER_SIZE + 2] ^= 0xFF      # SEAL's header: version/compression byte
    cases = {
        "random bytes of the right size": os.urandom(len(honest)),
        "random bytes": os.urandom(1000),
        "too short": honest[:50],
        "oversized (a valid ciphertext, padded to 2 MiB)": honest + bytes(2 * limits.MiB),
        "without its padding": honest[:_wire.HEADER_SIZE + len(seal)],
        "truncated": honest[:len(honest) // 2],
        "a flipped byte in SEAL's header": bytes(flipped),
        "a header announcing more bytes than follow": honest[:76] + (10**8).to_bytes(4, "big") + honest[80:],
        "another width": _wire.pack_ciphertext(_wire.CiphertextHeader(header.level, 9, header.param_hash,
                                                                      header.key_fingerprint), seal, len(honest)),
    }
    for name, data in cases.items():
        (out,) = coord.maker.push(contribution(coord, cid, request, keys, data))
        assert out.status == cpb.PUSH_STATUS_REFUSED, name
        assert out.code == cpb.REFUSAL_CODE_MALFORMED, (name, out.message)
        coord.alive()
    # an object above the ciphertext limit never even reaches the store
    err = rpc_error(lambda: push_chunk(coord, cid, b"\0" * 10, limits.MAX_CIPHERTEXT_BYTES + 1, party="maker"))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # the control: the honest ciphertext in the same envelope is accepted, so the refusals above were
    # about the ciphertext bytes, not about the envelope around them
    (out,) = coord.maker.push(contribution(coord, cid, request, keys, honest))
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    coord.alive()


@integration
def test_malformed_public_contexts_are_refused_by_name_without_crashing(coord):
    out, cid, request = coord.maker.start("P")
    assert out.status == cpb.PUSH_STATUS_ACCEPTED, out.message
    keys = he_tasks.keygen(1)
    secret_ctx = keys.secret_context
    flipped = bytearray(keys.public_context)
    flipped[len(flipped) // 2] ^= 0x55
    cases = {
        "random bytes": (os.urandom(4096), cpb.REFUSAL_CODE_MALFORMED),
        "truncated": (keys.public_context[: len(keys.public_context) // 3], cpb.REFUSAL_CODE_MALFORMED),
        "the secret context": (secret_ctx, cpb.REFUSAL_CODE_MALFORMED),
        "a flipped byte in the public key": (bytes(flipped), None),
        "empty": (b"", cpb.REFUSAL_CODE_MALFORMED),
    }
    for name, (data, code) in cases.items():
        out = coord.keyholder.publish(coord.keyholder.announcement(request, keys, context=data))
        assert out.status == cpb.PUSH_STATUS_REFUSED, name
        if code is not None:
            assert out.code == code, (name, out.message)
        else:  # SEAL may or may not parse it; either way it is not the announced key
            assert out.code in (cpb.REFUSAL_CODE_MALFORMED, cpb.REFUSAL_CODE_WRONG_KEY), (name, out.message)
        coord.alive()
    err = rpc_error(lambda: push_chunk(coord, cid, b"\0" * 10, limits.MAX_CONTEXT_BYTES + 1,
                                       kind=opb.OBJECT_KIND_PUBLIC_CONTEXT, party="keyholder"))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert coord.maker.status(cid).state == S.CALCULATION_STATE_AWAITING_KEY  # nothing was accepted
    # the control: the genuine context is accepted
    assert coord.keyholder.publish(coord.keyholder.announcement(request, keys)).status == cpb.PUSH_STATUS_ACCEPTED
    coord.alive()


# ---------------------------------------------------------------------------- deadlines (static)
RPC_METHODS = {"Register", "Heartbeat", "PullMessages", "PushMessages", "StatObject", "PushObject", "PullObject",
               "ProveInclusion", "StartCalculation", "GetStatus", "GetResult", "GetCitations", "PullWork",
               "PublishKey", "SubmitResult"}


def test_every_client_stub_call_in_the_product_code_carries_a_deadline():
    """Grep by syntax tree: a stub call without `timeout=` could hang a daemon forever."""
    from tanji.v1 import key_holder_pb2, node_pb2, requester_pb2

    declared = {m.name for pb in (node_pb2, requester_pb2, key_holder_pb2)
                for svc in pb.DESCRIPTOR.services_by_name.values() for m in svc.methods}
    assert declared == RPC_METHODS, "a new RPC: add it here"
    missing, calls = [], 0
    for folder in ("tanji",):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "v1" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in (*RPC_METHODS, "future")):  # `stub.Method.future(...)`: a held call
                    calls += 1
                    if not any(k.arg == "timeout" for k in node.keywords):
                        missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}")
    assert calls >= 15, calls  # the walk found the stub calls at all
    assert not missing, "stub calls without a deadline: " + ", ".join(missing)
