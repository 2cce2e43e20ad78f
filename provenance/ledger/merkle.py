"""RFC 6962 Merkle tree hashing, streamed: the root of n leaves in O(log n) memory.

    leaf hash  = SHA-256(0x00 || leaf data)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

The accumulator keeps one subtree root per set bit of the leaf count (a binary counter):
adding a leaf merges equal-sized subtrees, and the root folds the remaining ones from the
right, which is exactly the RFC's split at the largest power of two.  For the ledger, the
leaf data of entry `seq` is its 32-byte row hash, leaf index `seq - 1`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """Add leaves one at a time; `root()` at any point is the RFC 6962 root so far."""

    def __init__(self) -> None:
        self._subtrees: list[tuple[int, bytes]] = []  # (height, hash), heights decreasing
        self.size = 0

    def add(self, data: bytes) -> None:
        """Append one leaf (its data, not its hash)."""
        height, digest = 0, leaf_hash(data)
        while self._subtrees and self._subtrees[-1][0] == height:
            _, left = self._subtrees.pop()
            height, digest = height + 1, node_hash(left, digest)
        self._subtrees.append((height, digest))
        self.size += 1

    def root(self) -> bytes:
        """The tree head over the leaves added so far."""
        if not self._subtrees:
            return EMPTY_ROOT
        digest = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            digest = node_hash(left, digest)
        return digest


def merkle_root(leaves: Iterable[bytes]) -> tuple[int, bytes]:
    """(number of leaves, RFC 6962 root) of a stream of leaf data."""
    acc = MerkleAccumulator()
    for data in leaves:
        acc.add(data)
    return acc.size, acc.root()
