"""An append-only transparency log in the style of RFC 6962 / RFC 9162.

Leaves and interior nodes are hashed with distinct prefixes (0x00, 0x01), so a
leaf can never pass for a node; inclusion proofs show an envelope is in the log
under a signed tree head, consistency proofs show a later head extends an
earlier one — a truncated or rewritten history cannot.

Everything here is pure (no database, no I/O). The list functions (`root`,
`inclusion_proof`, `consistency_proof`) take the leaf *hashes* of a whole tree
and cost O(n) hashes per call; `MerkleLog` keeps every complete subtree hash as
leaves are appended, so its root and proofs cost O(log² n) hashes each.

Conventions beyond the RFC text (the RFCs leave them open):

* old_size == 0: `consistency_proof` returns [] — every tree extends the empty
  one and there is nothing to prove. `verify_consistency(0, n, old, new, [])`
  is true only if `old` is the empty-tree hash SHA-256(""); it says nothing
  about `new`, which the caller must check some other way (a signed head).
* old_size == new_size: the proof is []; it verifies only if the two roots are
  equal (and equal to SHA-256("") when the size is 0).
* old_size > new_size, a negative size or an index outside the tree: the proof
  generators raise `LogError`; the verifiers return False.
* The verifiers also return False for a hash, root or proof element that is not
  32 bytes, or a size or index that is not an int.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tanji.errors import TanjiError
from tanji.protocol.signing import BadSignature, SigningKey, verify

TREE_HEAD_TAG = "tanji/v1/tree-head"
HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_U64_MAX = (1 << 64) - 1


class LogError(TanjiError):
    """A tree head or proof does not verify, or a proof was asked of a tree that cannot give it."""


# ---------------------------------------------------------------- hashing (RFC 6962 §2.1)
def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_size(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_hash(x: object) -> bool:
    return isinstance(x, (bytes, bytearray)) and len(x) == HASH_SIZE


class _Levels:
    """Every complete, aligned subtree hash of a growing tree.

    levels[h][i] is the Merkle Tree Hash of leaves [i·2^h, (i+1)·2^h); level h
    holds ⌊size / 2^h⌋ entries. Appending a leaf adds at most log₂ n nodes.
    """

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @classmethod
    def of(cls, leaf_hashes: Sequence[bytes]) -> _Levels:
        t = cls()
        t.levels[0] = list(leaf_hashes)
        below = t.levels[0]
        while len(below) > 1:
            above = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            t.levels.append(above)
            below = above
        return t

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def push(self, h: bytes) -> None:
        level = 0
        self.levels[0].append(h)
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            if len(self.levels) == level + 1:
                self.levels.append([])
            self.levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def mth(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for 0 ≤ lo < hi ≤ size.

        Every range the RFC recursion visits inside a tree [0, n) is either a
        complete aligned subtree (one lookup) or splits into one plus a
        smaller such range, so this costs O(log n) hashes there.
        """
        n = hi - lo
        if n & (n - 1) == 0 and lo % n == 0:
            h = n.bit_length() - 1
            return self.levels[h][lo >> h]
        k = _split(n)
        return node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))


def _root(mth: Callable[[int, int], bytes], size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else mth(0, size)


def _inclusion_path(mth: Callable[[int, int], bytes], index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, deepest sibling first."""
    if not (_is_size(index) and _is_size(size) and index < size):
        raise LogError(f"leaf {index} is not in a tree of size {size}")
    top_down = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            top_down.append(mth(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(mth(lo, lo + k))
            lo += k
    return top_down[::-1]


def _consistency_path(mth: Callable[[int, int], bytes], old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1; [] when old_size is 0 or new_size."""
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        raise LogError(f"old size {old_size} is not within the tree size {new_size}")
    if old_size in (0, new_size):
        return []
    top_down = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:  # SUBPROOF(m, D[lo:hi], complete)
        k = _split(hi - lo)
        if m <= k:
            top_down.append(mth(lo + k, hi))
            hi = lo + k
        else:
            top_down.append(mth(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        top_down.append(mth(lo, hi))
    return top_down[::-1]


# ---------------------------------------------------------------- pure functions over a list of leaf hashes
def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 6962 §2.1) over leaf hashes; the empty tree is SHA-256("")."""
    return _root(_Levels.of(leaves).mth, len(leaves))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1); LogError if out of range."""
    return _inclusion_path(_Levels.of(leaves).mth, index, len(leaves))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the first `old_size` leaves are a prefix of `leaves` (RFC 6962 §2.1.2).

    Empty for old_size 0 (every tree extends the empty one) and for old_size == len(leaves);
    LogError if old_size is negative or larger than the tree.
    """
    return _consistency_path(_Levels.of(leaves).mth, old_size, len(leaves))


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` put leaf hash `leaf` at `index` of the tree of that size and root?"""
    if not (_is_size(index) and _is_size(tree_size) and index < tree_size):
        return False
    if not (_is_hash(leaf) and _is_hash(expected_root) and all(_is_hash(p) for p in proof)):
        return False
    fn, sn, r = index, tree_size - 1, bytes(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does `proof` show the tree (new_size, new_root) extends (old_size, old_root)?

    The trivial cases (see the module docstring) are decided before the RFC
    algorithm, which itself needs 0 < old_size < new_size and a non-empty proof.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(p) for p in proof)):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root and (old_size > 0 or old_root == EMPTY_ROOT)
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = [bytes(p) for p in proof]
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, bytes(old_root))
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# ---------------------------------------------------------------- signed tree heads
@dataclass(frozen=True)
class TreeHead:
    log_id: str
    tree_size: int
    root: bytes
    timestamp_ms: int

    def encode(self) -> bytes:
        """The canonical bytes a log signs, every integer big-endian:

            u16 len(L) || L || u64 tree_size || root (32 bytes) || u64 timestamp_ms

        where L = UTF-8(log_id). The root is fixed-width, so the encoding is
        injective. LogError if a field cannot be encoded (negative or > 2^64−1
        integer, root not 32 bytes, log id longer than 65535 bytes).
        """
        if not isinstance(self.log_id, str):
            raise LogError(f"tree head log id {self.log_id!r} is not a string")
        log_id = self.log_id.encode("utf-8")
        if len(log_id) > 0xFFFF:
            raise LogError(f"tree head log id is {len(log_id)} bytes long; at most 65535 are allowed")
        for name in ("tree_size", "timestamp_ms"):
            v = getattr(self, name)
            if not (_is_size(v) and v <= _U64_MAX):
                raise LogError(f"tree head {name} {v!r} is not an integer in [0, 2^64)")
        if not _is_hash(self.root):
            raise LogError(f"tree head root is not a {HASH_SIZE}-byte hash")
        return (struct.pack(">H", len(log_id)) + log_id + struct.pack(">Q", self.tree_size) + bytes(self.root)
                + struct.pack(">Q", self.timestamp_ms))


def sign_tree_head(head: TreeHead, key: SigningKey) -> bytes:
    """Ed25519 signature over (TREE_HEAD_TAG, head.encode())."""
    return key.sign(TREE_HEAD_TAG, head.encode())


def verify_tree_head(head: TreeHead, signature: bytes, public_raw: bytes) -> None:
    """Raise LogError unless `signature` is `public_raw`'s signature over this exact head."""
    try:
        verify(public_raw, TREE_HEAD_TAG, head.encode(), signature)
    except BadSignature:
        raise LogError(f"tree head of size {head.tree_size} is not signed by log {head.log_id!r}") from None


# ---------------------------------------------------------------- an in-memory log
class MerkleLog:
    """An append-only in-memory log keeping every complete subtree hash.

    Proofs can be asked against any earlier size, so a log can answer for a
    tree head it signed before later appends.
    """

    def __init__(self) -> None:
        self._t = _Levels()

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Sequence[bytes]) -> MerkleLog:
        """A log holding these leaf hashes in order (e.g. reloaded from storage)."""
        log = cls()
        log._t = _Levels.of(leaf_hashes)
        return log

    def append(self, data: bytes) -> int:
        """Log `data` (hashed as a leaf); returns its index."""
        return self.append_leaf_hash(leaf_hash(data))

    def append_leaf_hash(self, h: bytes) -> int:
        """Log an already computed leaf hash; returns its index."""
        if not _is_hash(h):
            raise LogError(f"a leaf hash is {HASH_SIZE} bytes")
        self._t.push(bytes(h))
        return self._t.size - 1

    @property
    def size(self) -> int:
        return self._t.size

    def __len__(self) -> int:
        return self._t.size

    def leaf_hash(self, index: int) -> bytes:
        if not (_is_size(index) and index < self.size):
            raise LogError(f"leaf {index} is not in a log of size {self.size}")
        return self._t.levels[0][index]

    def _size(self, tree_size: int | None) -> int:
        if tree_size is None:
            return self.size
        if not (_is_size(tree_size) and tree_size <= self.size):
            raise LogError(f"tree size {tree_size} is not within the log size {self.size}")
        return tree_size

    def root(self, tree_size: int | None = None) -> bytes:
        """Root of the first `tree_size` leaves (default: all)."""
        return _root(self._t.mth, self._size(tree_size))

    def head(self, log_id: str, timestamp_ms: int, tree_size: int | None = None) -> TreeHead:
        size = self._size(tree_size)
        return TreeHead(log_id=log_id, tree_size=size, root=self.root(size), timestamp_ms=timestamp_ms)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        """Audit path of leaf `index` in the tree of the first `tree_size` leaves (default: all)."""
        return _inclusion_path(self._t.mth, index, self._size(tree_size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Proof that the tree of `old_size` leaves is a prefix of the one of `new_size` (default: all)."""
        return _consistency_path(self._t.mth, old_size, self._size(new_size))
