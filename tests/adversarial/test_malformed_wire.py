"""Malformed protobuf over the wire, to every RPC of the coordinator (a real process).

Attacker: anyone who can reach the port. Each method gets bytes that are not its request message
(through a generic `unary_unary` channel call: no client-side serialisation at all) and must
answer INVALID_ARGUMENT; random bytes and schema-aware mutations of a valid
request (hostile values in every field: 2^64-1 cursors, unknown enum numbers, empty or short
hashes, other parties' ids) must get an answer or a named error status — never UNKNOWN or
INTERNAL, which is what an exception escaping a handler becomes — and the process must still be
up and serving afterwards. Only the coordinator listens: nodes and the key holder dial out and
have no server to attack.
"""
from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import symbol_database
from hypothesis import given
from hypothesis import strategies as st

from tanji.v1 import key_holder_pb2, node_pb2, requester_pb2
from tests.harness.bare import BareCoordinator
from tests.harness.fuzzing import FAST, SLOW, mutate

pytestmark = pytest.mark.integration

SERVICES = [svc for pb in (node_pb2, requester_pb2, key_holder_pb2) for svc in pb.DESCRIPTOR.services_by_name.values()]
METHODS = [(f"/{svc.full_name}/{m.name}", m.input_type.full_name) for svc in SERVICES for m in svc.methods]
#: what a handler may answer with: anything but an escaped exception (UNKNOWN) or a broken server
CLEAN = set(grpc.StatusCode) - {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED}
UNDECODABLE = {
    "a truncated varint": b"\x08\xff\xff\xff",
    "a length past the end": b"\x0a\x7fabc",
    "invalid UTF-8 in a string field": b"\x0a\x02\xff\xfe",
    "wire type 7": b"\x0f",
    "field number 0": b"\x02\x00",
}


class WireCoordinator(BareCoordinator):
    """The bare coordinator with one raw (bytes in, bytes out) stub per RPC."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.calls = {path: self.raw_call(path, self.raw_channel()) for path, _ in METHODS}


@pytest.fixture(scope="module")
def coord(tmp_path_factory):
    c = WireCoordinator(tmp_path_factory.mktemp("wire"))
    yield c
    c.stop()


def call(coord, path: str, raw: bytes) -> grpc.StatusCode:
    try:
        coord.calls[path](raw, timeout=60)
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        assert exc.code() in CLEAN, f"{path}: {exc.code().name}: {exc.details()} for {raw[:120]!r}"
        return exc.code()


def test_the_suite_covers_every_rpc():
    assert len(METHODS) == 15 and all(m.startswith("/tanji.v1.") for m, _ in METHODS)


@pytest.mark.parametrize("path,_type", METHODS, ids=[p.rsplit("/", 1)[1] for p, _ in METHODS])
def test_undecodable_bytes_are_invalid_argument(coord, path, _type):
    for name, raw in UNDECODABLE.items():
        with pytest.raises(grpc.RpcError) as info:
            coord.calls[path](raw, timeout=60)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, info.value.details())
    coord.alive()


def seed(type_name: str):
    """A plausible request of the method's type: from a registered party, about a real-looking id."""
    msg = symbol_database.Default().GetSymbol(type_name)()
    for field in ("party_id", "provider_id"):
        if field in msg.DESCRIPTOR.fields_by_name:
            setattr(msg, field, "maker")
    return msg


STRINGS = ["maker", "supplier", "keyholder", "coordinator", "maker2", "", "x" * 40]
BLOBS = [b"", b"\x00" * 32, b"\x00" * 31, b"\xff" * 64]


def hostile(coord, data) -> None:
    path, type_name = data.draw(st.sampled_from(METHODS), label="method")
    if data.draw(st.booleans(), label="raw bytes"):
        raw = data.draw(st.binary(max_size=300), label="bytes")
    else:
        raw = mutate(data, seed(type_name), STRINGS, BLOBS, max_mutations=4).SerializeToString()
    call(coord, path, raw)


@FAST
@given(data=st.data())
def test_random_and_mutated_requests_get_a_clean_status(coord, data):
    hostile(coord, data)


def test_the_coordinator_survived_the_fuzzing(coord):
    """Runs after the fuzz test (file order): the process is up and serves a well-formed call."""
    coord.alive()
    assert "Traceback" not in coord.log(), coord.log()[-3000:]


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_random_and_mutated_requests_get_a_clean_status_long(coord, data):
    hostile(coord, data)
    if data.draw(st.integers(0, 99), label="check") == 0:
        coord.alive()
