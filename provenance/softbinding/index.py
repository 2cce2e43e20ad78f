"""Nearest stored fingerprint among the ledger's PDQ hashes.

`FingerprintIndex` keeps the stored 256-bit hashes in the project's exact binary index
(`provenance.binary_index`, a faiss `IndexBinaryFlat` scan shared with the known-works hash
layer): about 1 ms for one query and 3 ms for a flipped copy's eight dihedral variants
among 1,000,000 hashes on two cores (benchmarks/bench_softbinding.py measures it).
Positions are the order in which hashes were added, which is how `recovery` maps a hit
back to its ledger row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from provenance.binary_index import BinaryCodeIndex

BITS = 256


@dataclass(frozen=True)
class Neighbour:
    """A stored hash near the query: its position in the index and the Hamming distance."""

    position: int
    distance: int


class FingerprintIndex:
    """An exact Hamming-radius search over packed 256-bit fingerprints."""

    def __init__(self, hashes: Sequence[bytes] | np.ndarray = ()) -> None:
        self._codes = BinaryCodeIndex(BITS // 8)
        self.add(hashes)

    def add(self, hashes: Sequence[bytes] | np.ndarray) -> None:
        """Append hashes (32 bytes each, or an Nx32 uint8 array); positions follow on."""
        array = _as_array(hashes)
        if len(array):
            start = len(self._codes)
            self._codes.add(array, np.arange(start, start + len(array), dtype=np.int64))

    def __len__(self) -> int:
        return len(self._codes)

    def nearest(self, queries: Sequence[bytes], radius: int) -> Neighbour | None:
        """The stored hash nearest to any of `queries`, if within `radius`."""
        if not len(self) or not queries:
            return None
        hits = [h for h in self._codes.nearest(_as_array(queries), 1, radius) if len(h.ids)]
        if not hits:
            return None
        best = min(hits, key=lambda h: (int(h.distances[0]), int(h.ids[0])))
        return Neighbour(int(best.ids[0]), int(best.distances[0]))


def _as_array(hashes: Sequence[bytes] | np.ndarray) -> np.ndarray:
    if isinstance(hashes, np.ndarray):
        return np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, BITS // 8)
    raw = b"".join(hashes)
    if len(raw) % (BITS // 8):
        raise ValueError("fingerprints must be 32 bytes each")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, BITS // 8)
