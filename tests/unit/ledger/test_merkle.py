"""RFC 6962 Merkle roots, checked against values computed by hand from the definition."""

from __future__ import annotations

import hashlib

import pytest

from provenance.ledger.merkle import EMPTY_ROOT, MerkleAccumulator, leaf_hash, merkle_root


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _leaf(d: bytes) -> bytes:
    return _h(b"\x00" + d)


def _node(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


def _reference(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1 (recursive split at the largest power of 2)."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _leaf(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _node(_reference(leaves[:k]), _reference(leaves[k:]))


D = [bytes([i]) * 32 for i in range(16)]


def test_hand_computed_small_trees() -> None:
    a, b, c, d, e = (_leaf(x) for x in D[:5])
    assert merkle_root([]) == (0, _h(b""))
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle_root(D[:1]) == (1, a)
    assert merkle_root(D[:2]) == (2, _node(a, b))
    assert merkle_root(D[:3]) == (3, _node(_node(a, b), c))
    assert merkle_root(D[:4]) == (4, _node(_node(a, b), _node(c, d)))
    assert merkle_root(D[:5]) == (5, _node(_node(_node(a, b), _node(c, d)), e))


def test_leaf_and_node_prefixes_differ() -> None:
    """Domain separation: a leaf never hashes like a node over the same bytes."""
    assert leaf_hash(D[0] + D[1]) != _node(D[0], D[1])


@pytest.mark.parametrize("n", range(17))
def test_matches_the_rfc_definition_for_every_size(n: int) -> None:
    assert merkle_root(D[:n]) == (n, _reference(D[:n]))


def test_root_can_be_read_while_adding() -> None:
    acc = MerkleAccumulator()
    for i, data in enumerate(D):
        acc.add(data)
        assert acc.root() == _reference(D[: i + 1]) and acc.size == i + 1


def test_memory_is_logarithmic() -> None:
    acc = MerkleAccumulator()
    for i in range(1000):
        acc.add(i.to_bytes(4, "big"))
        assert len(acc._subtrees) == bin(i + 1).count("1")
