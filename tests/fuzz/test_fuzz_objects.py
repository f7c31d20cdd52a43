"""Fuzzing the object/chunk transfer on both ends.

* The coordinator's PushObject/StatObject/PullObject handlers (coordinator/server.py), in-process
  over a real engine and object store, fed random sequences of chunk requests: each call answers
  or aborts with a named status, never raises; whatever enters the store is named by its hash;
  nothing staged ever exceeds the size the upload announced.
* The client side (tanji/infra/transfer.py) against a hostile coordinator that answers with fuzzed
  responses: a download returns exactly the object or raises TransferError; an upload ends or
  raises TransferError — and both terminate (a coordinator cannot keep a node busy forever).

The gRPC context and stub here are plain stand-ins for the transport (no encryption is involved).
"""
from __future__ import annotations

import hashlib
import os

import grpc
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tanji.coordinator.server import NodeServicer
from tanji.infra.transfer import TransferError, pull_object, push_object
from tanji.protocol import limits
from tanji.v1 import common_pb2 as cpb
from tanji.v1 import objects_pb2 as opb
from tests.harness.fuzzing import FAST, SLOW
from tests.harness.seeds import SeededWorld

ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.DATA_LOSS, grpc.StatusCode.PERMISSION_DENIED}
MAX_CALLS = 5_000


class Aborted(Exception):
    def __init__(self, code, details):
        self.code, self.details = code, details


class Context:
    """The part of grpc.ServicerContext the handlers use: plain loopback, abort raises."""

    def auth_context(self):
        return {}

    def abort(self, code, details):
        raise Aborted(code, details)


@pytest.fixture(scope="module")
def servicer(tmp_path_factory):
    world = SeededWorld(tmp_path_factory.mktemp("fuzz-objects"))
    yield world, NodeServicer(world.c, tmp_path_factory.mktemp("staging"))
    world.close()


BLOBS = [b"", b"x", os.urandom(limits.MIN_CHUNK_BYTES + 5), os.urandom(3 * limits.MIN_CHUNK_BYTES)]


@st.composite
def chunk_requests(draw, world):
    blob = draw(st.sampled_from(BLOBS))
    digest = draw(st.sampled_from([hashlib.sha256(blob).digest(), os.urandom(32), b"", b"\x00" * 31]))
    total = draw(st.sampled_from([len(blob), len(blob) + 1, max(0, len(blob) - 1), 0, 2**64 - 1,
                                  limits.MAX_CIPHERTEXT_BYTES + 1]) | st.integers(0, 2**20))
    offset = draw(st.sampled_from([0, limits.MIN_CHUNK_BYTES, len(blob), 2**64 - 1]) | st.integers(0, len(blob) + 2))
    size = draw(st.sampled_from([len(blob) - offset, limits.MIN_CHUNK_BYTES, 1, 0]) | st.integers(0, len(blob)))
    data = blob[offset:offset + max(0, size)] if draw(st.booleans()) else draw(st.binary(max_size=64))
    return opb.PushObjectRequest(
        party_id=draw(st.sampled_from(["a", "b", "nobody", ""])),
        calculation_id=draw(st.sampled_from([world.cid, "no-such-calculation", ""])),
        object_hash=digest, kind=draw(st.sampled_from([1, 2, 0, 7])), total_size=total, offset=offset, data=data)


def serve_calls(world, svc: NodeServicer, data) -> None:
    for request in data.draw(st.lists(chunk_requests(world), min_size=1, max_size=8), label="requests"):
        which = data.draw(st.sampled_from(["push", "push", "stat", "pull"]), label="call")
        try:
            if which == "push":
                resp = svc.PushObject(request, Context())
                assert resp.received_bytes <= request.total_size or resp.complete
            elif which == "stat":
                svc.StatObject(opb.StatObjectRequest(party_id=request.party_id, object_hash=request.object_hash),
                               Context())
            else:
                pull = opb.PullObjectRequest(party_id=request.party_id, object_hash=request.object_hash,
                                             offset=request.offset, max_bytes=request.total_size % 2**32)
                resp = svc.PullObject(pull, Context())
                assert len(resp.data) <= limits.CHUNK_BYTES
        except Aborted as exc:
            assert exc.code in ALLOWED and exc.details, (exc.code, exc.details)
    for digest in svc.c.objects.all_hashes():  # the store holds only objects named by their bytes
        assert hashlib.sha256(svc.c.objects.get(digest)).digest() == digest
    for part in svc.staging.folder.glob("*.part"):  # tanji.coordinator.storage.FileStaging
        assert part.stat().st_size <= limits.MAX_CONTEXT_BYTES


@FAST
@given(data=st.data())
def test_fuzz_object_upload_handlers(servicer, data):
    world, svc = servicer
    serve_calls(world, svc, data)


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_object_upload_handlers_long(servicer, data):
    world, svc = servicer
    serve_calls(world, svc, data)


# ---------------------------------------------------------------------------- client side
class Exhausted(grpc.RpcError):
    pass


class HostileStub:
    """A coordinator answering with the responses it is given, then failing the call."""

    def __init__(self, stats, pushes, pulls):
        self.stats, self.pushes, self.pulls, self.calls = list(stats), list(pushes), list(pulls), 0
        self.pushes_default: opb.PushObjectResponse | None = None   # answered once the queue is empty
        self.pulls_default: opb.PullObjectResponse | None = None

    def _next(self, queue, default):
        self.calls += 1
        assert self.calls <= MAX_CALLS, "the client does not stop calling a hostile coordinator"
        if queue:
            return queue.pop(0)
        if default is None:
            raise Exhausted()
        return default

    def StatObject(self, request, timeout=None):
        return self._next(self.stats, None)

    def PushObject(self, request, timeout=None):
        return self._next(self.pushes, self.pushes_default)

    def PullObject(self, request, timeout=None):
        return self._next(self.pulls, self.pulls_default)


OBJECT = os.urandom(3 * limits.MIN_CHUNK_BYTES + 17)
DIGEST = hashlib.sha256(OBJECT).digest()


@st.composite
def pull_responses(draw):
    total = draw(st.sampled_from([len(OBJECT), len(OBJECT) + 1, 0, len(OBJECT) * 2, limits.MAX_CIPHERTEXT_BYTES + 1])
                 | st.integers(0, 2 * len(OBJECT)))
    out, offset = [], 0
    for _ in range(draw(st.integers(0, 6))):
        size = draw(st.sampled_from([limits.MIN_CHUNK_BYTES, 1, 0, len(OBJECT)]) | st.integers(0, len(OBJECT)))
        data = OBJECT[offset:offset + size] if draw(st.booleans()) else draw(st.binary(max_size=32))
        out.append(opb.PullObjectResponse(object_hash=DIGEST, total_size=draw(st.just(total) | st.integers(0, 2**20)),
                                          offset=offset, data=data))
        offset += len(data)
    repeat = draw(st.sampled_from([None, opb.PullObjectResponse(total_size=total, data=b"y"),
                                   opb.PullObjectResponse(total_size=total, data=OBJECT[:1])]))
    return out, repeat


def download(responses) -> None:
    pulls, repeat = responses
    stub = HostileStub([], [], pulls)
    stub.pulls_default = repeat
    try:
        got = pull_object(stub, "a", "calc", DIGEST, limits.MAX_CIPHERTEXT_BYTES)
    except (TransferError, Exhausted):
        return
    assert got == OBJECT


@st.composite
def push_exchanges(draw):
    stat = opb.StatObjectResponse(complete=draw(st.booleans()),
                                  received_bytes=draw(st.sampled_from([0, 1, len(OBJECT), len(OBJECT) + 5, 2**64 - 1])
                                                      | st.integers(0, 2 * len(OBJECT))))
    acknowledged = st.integers(0, 2 * len(OBJECT)) | st.sampled_from([2**64 - 1])
    pushes = [opb.PushObjectResponse(received_bytes=draw(acknowledged), complete=draw(st.booleans()))
              for _ in range(draw(st.integers(0, 6)))]
    repeat = draw(st.sampled_from([None, "creep"]))
    return stat, pushes, repeat


class CreepingPushes(HostileStub):
    """Acknowledges one more byte than it was sent, forever, never complete."""

    def PushObject(self, request, timeout=None):
        if self.pushes:
            return self._next(self.pushes, None)
        self._next([], opb.PushObjectResponse())
        return opb.PushObjectResponse(received_bytes=request.offset + len(request.data) + 1)


def upload(exchange) -> None:
    stat, pushes, repeat = exchange
    stub = (CreepingPushes if repeat == "creep" else HostileStub)([stat], pushes, [])
    stub.pushes_default = None
    try:
        assert push_object(stub, "a", "calc", OBJECT, opb.OBJECT_KIND_CIPHERTEXT) == DIGEST
    except (TransferError, Exhausted):
        pass


@pytest.mark.parametrize("response, code", [
    (opb.PullObjectResponse(total_size=limits.MAX_CIPHERTEXT_BYTES + 1, data=OBJECT), cpb.REFUSAL_CODE_TOO_LARGE),
    (opb.PullObjectResponse(total_size=len(OBJECT), data=bytes(len(OBJECT))), cpb.REFUSAL_CODE_HASH_MISMATCH),
    (opb.PullObjectResponse(total_size=len(OBJECT), data=b""), cpb.REFUSAL_CODE_MALFORMED),
])
def test_a_refused_download_carries_the_code_of_what_is_wrong(response, code):
    """The node refuses the request it was answering with this code (no reading it from the text)."""
    stub = HostileStub([], [], [response])
    stub.pulls_default = None
    with pytest.raises(TransferError) as refused:
        pull_object(stub, "a", "calc", DIGEST, limits.MAX_CIPHERTEXT_BYTES)
    assert refused.value.code == code


@FAST
@given(pull_responses())
def test_fuzz_object_download_from_a_hostile_coordinator(responses):
    download(responses)


@FAST
@given(push_exchanges())
@example((opb.StatObjectResponse(received_bytes=len(OBJECT) + 5), [], "creep"))  # found: never ended
def test_fuzz_object_upload_to_a_hostile_coordinator(exchange):
    upload(exchange)


@pytest.mark.slow
@SLOW
@given(pull_responses(), push_exchanges())
def test_fuzz_object_transfer_hostile_coordinator_long(responses, exchange):
    download(responses)
    upload(exchange)
