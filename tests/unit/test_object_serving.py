"""The coordinator serves an object's chunks from one read: each chunk is a call, and every call
used to read and hash the whole object again (a 2.6 MB ciphertext: three times)."""
import hashlib
import os

from tanji.coordinator.server import NodeServicer
from tanji.infra.transfer import pull_object
from tanji.protocol import limits


class PlainContext:
    def auth_context(self):
        return {}

    def abort(self, code, message):  # pragma: no cover - a refusal fails the test
        raise AssertionError(f"{code}: {message}")


class Stub:
    """The node's stub, calling the servicer directly (no server: pure plumbing)."""

    def __init__(self, servicer):
        self.servicer = servicer

    def PullObject(self, request, timeout=None):
        return self.servicer.PullObject(request, PlainContext())


def test_a_three_chunk_object_is_read_from_the_store_once_and_arrives_whole(world, tmp_path, monkeypatch):
    data = os.urandom(2 * limits.CHUNK_BYTES + 12345)
    digest = world.objects.put(data)
    reads = []
    real_get = world.objects.get

    def counted_get(digest):
        reads.append(digest)
        return real_get(digest)

    monkeypatch.setattr(world.objects, "get", counted_get)
    servicer = NodeServicer(world.c, tmp_path / "staging")
    party = "a"  # a registered party
    for _ in range(2):  # a second party pulling the same object
        assert pull_object(Stub(servicer), party, "calc", digest, limits.MAX_CIPHERTEXT_BYTES) == data
    assert reads == [digest]
    assert hashlib.sha256(data).digest() == digest
