"""tanji.protocol.merkle: RFC 6962 / 9162 hashing, inclusion and consistency proofs, signed tree heads, MerkleLog."""
from __future__ import annotations

import dataclasses
import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanji.errors import TanjiError
from tanji.protocol import merkle
from tanji.protocol.signing import SigningKey

H = bytes.fromhex


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def naive_mth(data: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH over the raw entries, written out from the definition."""
    n = len(data)
    if n == 0:
        return sha(b"")
    if n == 1:
        return sha(b"\x00" + data[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:]))


def naive_path(m: int, data: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return naive_path(m, data[:k]) + [naive_mth(data[k:])]
    return naive_path(m - k, data[k:]) + [naive_mth(data[:k])]


def naive_subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)."""
    n = len(data)
    if m == n:
        return [] if b else [naive_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return naive_subproof(m, data[:k], b) + [naive_mth(data[k:])]
    return naive_subproof(m - k, data[k:], False) + [naive_mth(data[:k])]


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    return [salt + i.to_bytes(4, "big") for i in range(n)]


def hashes(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in data]


def flip(h: bytes, at: int = 0) -> bytes:
    return h[:at] + bytes([h[at] ^ 0x01]) + h[at + 1:]


# ---------------------------------------------------------------- known answers
# The certificate-transparency reference test vectors (merkle_tree_test.cc,
# transparency-dev/merkle testonly): entries, roots of their prefixes, proofs.
CT_ENTRIES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              b"\x50\x51\x52\x53\x54\x55\x56\x57", bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {  # (index, tree size 8) -> audit path
    0: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    5: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}
CT_CONSISTENCY = {  # (old size, new size) -> proof
    (1, 1): [],
    (1, 8): ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
             "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    (6, 8): ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
             "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
    (2, 5): ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
             "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"],
}


def test_hash_prefixes_and_empty_tree():
    assert merkle.root([]) == sha(b"") == merkle.EMPTY_ROOT
    assert merkle.root([]).hex() == CT_ROOTS[0]
    assert merkle.leaf_hash(b"abc") == sha(b"\x00abc")
    a, b = sha(b"a"), sha(b"b")
    assert merkle.node_hash(a, b) == sha(b"\x01" + a + b) != merkle.node_hash(b, a)
    one = merkle.leaf_hash(b"only")
    assert merkle.root([one]) == one
    assert merkle.root([one, one]) == merkle.node_hash(one, one)
    # three leaves split 2 + 1 (largest power of two smaller than 3), not 1 + 2
    l0, l1, l2 = hashes(entries(3))
    assert merkle.root([l0, l1, l2]) == merkle.node_hash(merkle.node_hash(l0, l1), l2)


def test_ct_reference_vectors():
    for n in range(len(CT_ENTRIES) + 1):
        assert merkle.root(hashes(CT_ENTRIES[:n])).hex() == CT_ROOTS[n]
    leaves = hashes(CT_ENTRIES)
    root8 = H(CT_ROOTS[8])
    for index, path in CT_INCLUSION.items():
        assert [p.hex() for p in merkle.inclusion_proof(leaves, index)] == path
        assert merkle.verify_inclusion(leaves[index], index, 8, [H(p) for p in path], root8)
    for (m, n), proof in CT_CONSISTENCY.items():
        assert [p.hex() for p in merkle.consistency_proof(leaves[:n], m)] == proof
        assert merkle.verify_consistency(m, n, H(CT_ROOTS[m]), H(CT_ROOTS[n]), [H(p) for p in proof])


def test_root_and_proofs_match_the_rfc_definitions_written_out():
    for n in range(0, 48):
        data = entries(n)
        leaves = hashes(data)
        assert merkle.root(leaves) == naive_mth(data)
        for i in range(n):
            assert merkle.inclusion_proof(leaves, i) == naive_path(i, data)
        for m in range(1, n):
            assert merkle.consistency_proof(leaves, m) == naive_subproof(m, data, True)


# ---------------------------------------------------------------- inclusion
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.data())
def test_every_inclusion_proof_verifies_and_fails_when_anything_changes(n, data):
    leaves = hashes(entries(n))
    root = merkle.root(leaves)
    other_root = merkle.root(hashes(entries(n, b"other")))
    log = merkle.MerkleLog.from_leaf_hashes(leaves)  # same proofs as the list function (tested below), O(log² n) each
    for i in range(n):
        proof = log.inclusion_proof(i)
        assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"not logged"), i, n, proof, root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof, other_root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof, flip(root, 31))
        assert not merkle.verify_inclusion(leaves[i], n, n, proof, root)
        if n > 1:
            j = (i + 1) % n
            assert not merkle.verify_inclusion(leaves[i], j, n, proof, root)
            assert not merkle.verify_inclusion(leaves[j], i, n, proof, root)
    # tampering with one drawn proof: each flipped byte, each dropped or added element, a wrong tree size
    i = data.draw(st.integers(0, n - 1), label="index")
    proof = merkle.inclusion_proof(leaves, i)
    for k in range(len(proof)):
        at = data.draw(st.integers(0, 31), label="byte")
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:k] + [flip(proof[k], at)] + proof[k + 1:], root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:k] + proof[k + 1:], root)
    assert not merkle.verify_inclusion(leaves[i], i, n, proof + [leaves[i]], root)
    assert not merkle.verify_inclusion(leaves[i], i, n, proof[::-1], root) or len(set(proof)) <= 1
    # (a proof need not fail for another tree size — leaf 0 of 3 and of 4 hash alike — the signed head binds the size)


def test_inclusion_edge_cases():
    leaves = hashes(entries(5))
    root = merkle.root(leaves)
    for bad in (-1, 5, 6):
        with pytest.raises(merkle.LogError):
            merkle.inclusion_proof(leaves, bad)
    with pytest.raises(merkle.LogError):
        merkle.inclusion_proof([], 0)
    assert merkle.inclusion_proof(leaves[:1], 0) == []
    assert merkle.verify_inclusion(leaves[0], 0, 1, [], leaves[0])
    assert not merkle.verify_inclusion(leaves[0], 0, 0, [], merkle.EMPTY_ROOT)
    assert not merkle.verify_inclusion(leaves[0], -1, 5, merkle.inclusion_proof(leaves, 0), root)
    assert not merkle.verify_inclusion(leaves[0], True, 5, merkle.inclusion_proof(leaves, 1), root)  # bool is no index
    proof = merkle.inclusion_proof(leaves, 2)
    assert not merkle.verify_inclusion(leaves[2], 2, 5, [p + b"\0" for p in proof], root)  # not 32 bytes
    assert not merkle.verify_inclusion(leaves[2][:31], 2, 5, proof, root)
    assert issubclass(merkle.LogError, TanjiError)


# ---------------------------------------------------------------- consistency
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.data())
def test_consistency_proofs_verify_and_a_rewritten_or_truncated_history_fails(n, data):
    leaves = hashes(entries(n))
    m = data.draw(st.integers(1, n), label="old size")
    proof = merkle.consistency_proof(leaves, m)
    old, new = merkle.root(leaves[:m]), merkle.root(leaves)
    assert merkle.verify_consistency(m, n, old, new, proof)

    # the old tree rewritten: one of its leaves changed
    j = data.draw(st.integers(0, m - 1), label="rewritten leaf")
    rewritten = leaves[:j] + [merkle.leaf_hash(b"rewritten")] + leaves[j + 1:]
    assert not merkle.verify_consistency(m, n, merkle.root(rewritten[:m]), new, proof)
    assert not merkle.verify_consistency(m, n, old, merkle.root(rewritten), proof)
    if m < n:
        # a history that was rewritten after the old head: its own proof does not reach the new root
        assert not merkle.verify_consistency(m, n, old, merkle.root(rewritten),
                                             merkle.consistency_proof(rewritten, m))
        # truncated: the log shrank, or the proof is claimed for a smaller/larger tree than it is for
        assert not merkle.verify_consistency(n, m, new, old, proof)
        assert not merkle.verify_consistency(m, n - 1, old, merkle.root(leaves[:n - 1]), proof)
        assert not merkle.verify_consistency(m, n, old, merkle.root(leaves[:n - 1]), proof)
        if m > 1:
            assert not merkle.verify_consistency(m - 1, n, merkle.root(leaves[:m - 1]), new, proof)
        # tampered proofs: a flipped byte anywhere, a dropped element, an extra element, nothing at all
        for k in range(len(proof)):
            at = data.draw(st.integers(0, 31), label="byte")
            assert not merkle.verify_consistency(m, n, old, new, proof[:k] + [flip(proof[k], at)] + proof[k + 1:])
            assert not merkle.verify_consistency(m, n, old, new, proof[:k] + proof[k + 1:])
        assert not merkle.verify_consistency(m, n, old, new, proof + [old])
        assert not merkle.verify_consistency(m, n, old, new, [])
    else:
        assert proof == []
        assert not merkle.verify_consistency(m, n, old, flip(new), proof)


def test_consistency_edge_cases():
    leaves = hashes(entries(5))
    root5 = merkle.root(leaves)
    for bad in (-1, 6):
        with pytest.raises(merkle.LogError):
            merkle.consistency_proof(leaves, bad)
    # old_size == 0: the proof is empty; only the old root can be checked (it must be the empty-tree hash)
    assert merkle.consistency_proof(leaves, 0) == [] and merkle.consistency_proof([], 0) == []
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root5, [])
    assert not merkle.verify_consistency(0, 5, root5, root5, [])
    assert not merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, root5, [root5])
    assert merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(0, 0, root5, root5, [])
    # old_size == new_size: the proof is empty and the roots must be equal
    assert merkle.consistency_proof(leaves, 5) == []
    assert merkle.verify_consistency(5, 5, root5, root5, [])
    assert not merkle.verify_consistency(5, 5, root5, flip(root5), [])
    assert not merkle.verify_consistency(5, 5, root5, root5, [root5])
    # old_size > new_size, negative sizes, malformed hashes
    assert not merkle.verify_consistency(6, 5, root5, root5, [])
    assert not merkle.verify_consistency(-1, 5, root5, root5, [])
    proof = merkle.consistency_proof(leaves, 3)
    root3 = merkle.root(leaves[:3])
    assert merkle.verify_consistency(3, 5, root3, root5, proof)
    assert not merkle.verify_consistency(3, 5, root3, root5, [p[:31] for p in proof])
    assert not merkle.verify_consistency(3, 5, root3 + b"\0", root5, proof)


# ---------------------------------------------------------------- signed tree heads
KEY, OTHER_KEY = SigningKey.generate(), SigningKey.generate()


def test_tree_head_encoding_is_the_documented_layout():
    head = merkle.TreeHead(log_id="coördinator", tree_size=7, root=bytes(range(32)), timestamp_ms=1_700_000_000_123)
    name = "coördinator".encode()
    assert head.encode() == (len(name).to_bytes(2, "big") + name + (7).to_bytes(8, "big") + bytes(range(32))
                             + (1_700_000_000_123).to_bytes(8, "big"))
    # log id boundaries cannot shift into the size: "a" + size 0x01.. differs from "a\x00" + ...
    assert merkle.TreeHead("a", 1, bytes(32), 0).encode() != merkle.TreeHead("a\x00", 1, bytes(32), 0).encode()
    size_not_an_int = merkle.TreeHead("log", 1.0, bytes(32), 0)  # type: ignore[arg-type]
    for bad in (merkle.TreeHead("log", -1, bytes(32), 0), merkle.TreeHead("log", 1 << 64, bytes(32), 0),
                merkle.TreeHead("log", 1, bytes(31), 0), merkle.TreeHead("log", 1, bytes(32), -5),
                merkle.TreeHead("x" * 65536, 1, bytes(32), 0), size_not_an_int):
        with pytest.raises(merkle.LogError):
            bad.encode()


@settings(max_examples=25, deadline=None)
@given(log_id=st.text(max_size=40), size=st.integers(0, 2**64 - 1), ts=st.integers(0, 2**64 - 1),
       root=st.binary(min_size=32, max_size=32), field=st.sampled_from(["log_id", "tree_size", "root", "timestamp_ms"]))
def test_signed_tree_head_verifies_and_fails_when_any_field_changes(log_id, size, ts, root, field):
    head = merkle.TreeHead(log_id=log_id, tree_size=size, root=root, timestamp_ms=ts)
    sig = merkle.sign_tree_head(head, KEY)
    merkle.verify_tree_head(head, sig, KEY.public_raw)
    changed = {"log_id": log_id + "x", "tree_size": size ^ 1, "root": flip(root, 7), "timestamp_ms": ts ^ 1}[field]
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(dataclasses.replace(head, **{field: changed}), sig, KEY.public_raw)
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(head, sig, OTHER_KEY.public_raw)
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(head, flip(sig, 3), KEY.public_raw)



def test_tree_head_signature_is_domain_separated():
    head = merkle.TreeHead("coordinator", 3, merkle.root(hashes(entries(3))), 42)
    # a signature over the same bytes under another message type is not a tree-head signature
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(head, KEY.sign("tanji/v1/other", head.encode()), KEY.public_raw)
    assert merkle.sign_tree_head(head, KEY) == KEY.sign(merkle.TREE_HEAD_TAG, head.encode())
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(head, merkle.sign_tree_head(head, KEY), b"short key")


# ---------------------------------------------------------------- MerkleLog
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 120), st.data())
def test_merkle_log_agrees_with_the_list_functions(n, data):
    log = merkle.MerkleLog()
    leaves = []
    for k, d in enumerate(entries(n)):
        assert log.append(d) == k
        leaves.append(merkle.leaf_hash(d))
        assert log.size == len(log) == k + 1
    assert log.root() == merkle.root(leaves)
    if n:
        i = data.draw(st.integers(0, n - 1), label="index")
        assert log.inclusion_proof(i) == merkle.inclusion_proof(leaves, i)
        assert log.leaf_hash(i) == leaves[i]
        size = data.draw(st.integers(i + 1, n), label="earlier size")
        assert log.root(size) == merkle.root(leaves[:size])
        assert log.inclusion_proof(i, size) == merkle.inclusion_proof(leaves[:size], i)
    m = data.draw(st.integers(0, n), label="old size")
    assert log.consistency_proof(m) == merkle.consistency_proof(leaves, m)
    new = data.draw(st.integers(m, n), label="new size")
    proof = log.consistency_proof(m, new)
    assert proof == merkle.consistency_proof(leaves[:new], m)
    assert merkle.verify_consistency(m, new, log.root(m), log.root(new), proof)
    head = log.head("coordinator", 99)
    assert head == merkle.TreeHead("coordinator", n, merkle.root(leaves), 99)
    assert merkle.MerkleLog.from_leaf_hashes(leaves).root() == log.root()


def test_merkle_log_edge_cases():
    log = merkle.MerkleLog()
    assert log.size == 0 and log.root() == merkle.EMPTY_ROOT
    assert log.head("l", 1) == merkle.TreeHead("l", 0, merkle.EMPTY_ROOT, 1)
    assert log.consistency_proof(0) == []
    with pytest.raises(merkle.LogError):
        log.inclusion_proof(0)
    for d in entries(6):
        log.append(d)
    with pytest.raises(merkle.LogError):
        log.inclusion_proof(6)
    with pytest.raises(merkle.LogError):
        log.inclusion_proof(4, 4)  # leaf 4 is not in the tree of the first 4
    with pytest.raises(merkle.LogError):
        log.consistency_proof(7)
    with pytest.raises(merkle.LogError):
        log.consistency_proof(4, 3)
    with pytest.raises(merkle.LogError):
        log.root(7)
    with pytest.raises(merkle.LogError):
        log.leaf_hash(6)
    with pytest.raises(merkle.LogError):
        log.append_leaf_hash(b"short")
    assert log.append_leaf_hash(merkle.leaf_hash(b"x")) == 6


def test_merkle_log_is_fast_for_ten_thousand_leaves():
    start = time.perf_counter()
    log = merkle.MerkleLog()
    for d in entries(10_000):
        log.append(d)
    root = log.root()
    for i in range(0, 10_000, 97):
        assert merkle.verify_inclusion(log.leaf_hash(i), i, 10_000, log.inclusion_proof(i), root)
    for m in range(1, 10_000, 331):
        assert merkle.verify_consistency(m, 10_000, log.root(m), root, log.consistency_proof(m))
    assert root == merkle.root([log.leaf_hash(i) for i in range(10_000)])
    assert time.perf_counter() - start < 5.0
