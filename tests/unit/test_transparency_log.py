"""RFC 6962 Merkle log: known answers, inclusion and consistency proofs, signed tree heads."""
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanji.protocol import merkle
from tanji.protocol.signing import SigningKey


def naive_root(leaves):
    """RFC 6962 §2.1 written out directly, to cross-check the implementation."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


def leaves_of(n, salt=b""):
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def test_known_answers():
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    one = leaves_of(1)
    assert merkle.root(one) == one[0]
    for n in range(2, 40):
        assert merkle.root(leaves_of(n)) == naive_root(leaves_of(n))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.data())
def test_inclusion_proofs_verify_and_fail_when_anything_changes(n, data):
    leaves = leaves_of(n)
    root = merkle.root(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(leaves, i)
    assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), i, n, proof, root)
    assert not merkle.verify_inclusion(leaves[i], i, n, proof, hashlib.sha256(b"x").digest())
    if n > 1:
        assert not merkle.verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], root)
        flipped = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
        assert not merkle.verify_inclusion(leaves[i], i, n, flipped, root)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 200), st.data())
def test_consistency_proofs_verify_and_a_rewritten_or_truncated_history_fails(n, data):
    leaves = leaves_of(n)
    m = data.draw(st.integers(1, n))
    proof = merkle.consistency_proof(leaves, m)
    old, new = merkle.root(leaves[:m]), merkle.root(leaves)
    assert merkle.verify_consistency(m, n, old, new, proof)
    rewritten = leaves_of(m, salt=b"rewritten")
    if m < n:
        assert not merkle.verify_consistency(m, n, merkle.root(rewritten), new, proof)
        assert not merkle.verify_consistency(n, m, new, old, proof)  # the log shrank
        if proof:
            assert not merkle.verify_consistency(m, n, old, new, proof[:-1])


def test_edge_cases():
    leaves = leaves_of(5)
    with pytest.raises(merkle.LogError):
        merkle.inclusion_proof(leaves, 5)
    with pytest.raises(merkle.LogError):
        merkle.consistency_proof(leaves, 6)
    assert merkle.consistency_proof(leaves, 0) == [] and merkle.consistency_proof(leaves, 5) == []
    assert merkle.verify_consistency(0, 5, merkle.root([]), merkle.root(leaves), [])
    assert merkle.verify_consistency(5, 5, merkle.root(leaves), merkle.root(leaves), [])


def test_signed_tree_heads():
    key, other = SigningKey.generate(), SigningKey.generate()
    head = merkle.TreeHead(log_id="coordinator", tree_size=7, root=merkle.root(leaves_of(7)), timestamp_ms=1)
    sig = merkle.sign_tree_head(head, key)
    merkle.verify_tree_head(head, sig, key.public_raw)
    for changed in (merkle.TreeHead("coordinator", 8, head.root, 1), merkle.TreeHead("coordinator", 7, head.root, 2),
                    merkle.TreeHead("other", 7, head.root, 1), merkle.TreeHead("coordinator", 7, b"\0" * 32, 1)):
        with pytest.raises(merkle.LogError):
            merkle.verify_tree_head(changed, sig, key.public_raw)
    with pytest.raises(merkle.LogError):
        merkle.verify_tree_head(head, sig, other.public_raw)
