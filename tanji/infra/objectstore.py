"""A content-addressed object store on disk: objects are named by the SHA-256 of their bytes.

Writes are atomic (temporary file, fsync, rename), so a crash leaves either the
whole object or nothing; reads re-check the hash, so a corrupted file is an
error, never a wrong ciphertext.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from tanji.errors import TanjiError


class ObjectMissing(TanjiError):
    pass


class ObjectCorrupt(TanjiError):
    pass


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class HeldObjects:
    """The last few objects a process fetched, by name (content hash): an object's bytes never change,
    so one fetched copy (checked against its name by whoever fetched it) serves every later reader."""

    def __init__(self, keep: int):
        self.keep = keep
        self._held: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: bytes, fetch: Callable[[], bytes]) -> bytes:
        with self._lock:
            data = self._held.get(digest)
            if data is not None:
                self._held.move_to_end(digest)
                return data
        data = fetch()
        with self._lock:
            self._held[digest] = data
            while len(self._held) > self.keep:
                self._held.popitem(last=False)
        return data


class ObjectStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: bytes) -> Path:
        if len(digest) != 32:  # a name from the wire: b"" would name the store's own folder
            raise ObjectMissing(f"{digest.hex()[:80]!r} is not an object name (a 32-byte SHA-256)")
        h = digest.hex()
        return self.root / h[:2] / h[2:]

    def has(self, digest: bytes) -> bool:
        return len(digest) == 32 and self._path(digest).is_file()

    def put(self, data: bytes) -> bytes:
        digest = sha256(data)
        path = self._path(digest)
        if path.is_file():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return digest

    def get(self, digest: bytes) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"object {digest.hex()[:16]}… is not in {self.root}") from None
        if sha256(data) != digest:
            raise ObjectCorrupt(f"object {digest.hex()[:16]}… in {self.root} does not match its hash")
        return data

    def size(self, digest: bytes) -> int:
        return self._path(digest).stat().st_size

    def all_hashes(self) -> list[bytes]:
        return [bytes.fromhex(p.parent.name + p.name) for p in self.root.glob("??/*") if not p.name.startswith(".")]
