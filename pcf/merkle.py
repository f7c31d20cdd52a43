"""An append-only transparency log in the style of RFC 6962 / RFC 9162.

Leaves and interior nodes are hashed with distinct prefixes (0x00, 0x01), so a
leaf can never pass for a node; inclusion proofs show an envelope is in the log
under a signed tree head, consistency proofs show a later head extends an
earlier one — a truncated or rewritten history cannot.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from pcf.errors import TanjiError
from pcf.signing import BadSignature, SigningKey, verify

TREE_HEAD_TAG = "tanji/v1/tree-head"


class LogError(TanjiError):
    """A tree head or proof does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: list[bytes]) -> bytes:
    """Merkle Tree Hash (RFC 6962 §2.1) over leaf hashes; the empty tree is SHA-256('')."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """Audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise LogError(f"leaf {index} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(leaves[:k], index) + [root(leaves[k:])]
    return inclusion_proof(leaves[k:], index - k) + [root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: list[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root(leaves[:k])]


def consistency_proof(leaves: list[bytes], old_size: int) -> list[bytes]:
    """Proof that the first `old_size` leaves are a prefix of `leaves` (RFC 6962 §2.1.2).

    Empty for old_size 0 (every tree extends the empty one) and for old_size == len(leaves).
    """
    if not 0 <= old_size <= len(leaves):
        raise LogError(f"old size {old_size} is not within the tree size {len(leaves)}")
    if old_size == 0:
        return []
    return _subproof(old_size, leaves, True)


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2."""
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path = [old_root] + path
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
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


@dataclass(frozen=True)
class TreeHead:
    log_id: str
    tree_size: int
    root: bytes
    timestamp_ms: int

    def encode(self) -> bytes:
        """Canonical bytes signed: len-prefixed UTF-8 log id, u64 size, 32-byte root, u64 time (big-endian)."""
        log_id = self.log_id.encode("utf-8")
        return struct.pack(">H", len(log_id)) + log_id + struct.pack(">Q", self.tree_size) + self.root + \
            struct.pack(">Q", self.timestamp_ms)


def sign_tree_head(head: TreeHead, key: SigningKey) -> bytes:
    return key.sign(TREE_HEAD_TAG, head.encode())


def verify_tree_head(head: TreeHead, signature: bytes, public_raw: bytes) -> None:
    try:
        verify(public_raw, TREE_HEAD_TAG, head.encode(), signature)
    except BadSignature:
        raise LogError(f"tree head of size {head.tree_size} is not signed by log {head.log_id!r}") from None
