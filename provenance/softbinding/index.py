"""Nearest stored fingerprint: one small class, so it can move onto a shared index later.

`FingerprintIndex` holds the stored 256-bit hashes in a faiss `IndexBinaryFlat`: an exact
Hamming search with SIMD popcounts and no build step, about 1.3 ms for one query and 6 ms
for a flipped copy's eight dihedral variants (one pass) among 1,000,000 hashes on two cores
(benchmarks/bench_softbinding.py measures it).  A shared binary index, when the project has
one, replaces the inside of this class and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BITS = 256


@dataclass(frozen=True)
class Neighbour:
    """A stored hash near the query: its position in the index and the Hamming distance."""

    position: int
    distance: int


class FingerprintIndex:
    """An exact Hamming-radius search over packed 256-bit fingerprints."""

    def __init__(self, hashes: Sequence[bytes] | np.ndarray = ()) -> None:
        import faiss

        self._index = faiss.IndexBinaryFlat(BITS)
        self.add(hashes)

    def add(self, hashes: Sequence[bytes] | np.ndarray) -> None:
        """Append hashes (32 bytes each, or an Nx32 uint8 array); positions follow on."""
        array = _as_array(hashes)
        if len(array):
            self._index.add(array)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def nearest(self, queries: Sequence[bytes], radius: int) -> Neighbour | None:
        """The stored hash nearest to any of `queries`, if within `radius`."""
        if not len(self) or not queries:
            return None
        distances, positions = self._index.search(_as_array(queries), 1)
        best = int(np.argmin(distances[:, 0]))
        distance, position = int(distances[best, 0]), int(positions[best, 0])
        if position < 0 or distance > radius:
            return None
        return Neighbour(position, distance)


def _as_array(hashes: Sequence[bytes] | np.ndarray) -> np.ndarray:
    if isinstance(hashes, np.ndarray):
        return np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, BITS // 8)
    raw = b"".join(hashes)
    if len(raw) % (BITS // 8):
        raise ValueError("fingerprints must be 32 bytes each")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, BITS // 8)
