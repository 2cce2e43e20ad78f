"""Exact Hamming search over fixed-length binary codes (perceptual hashes, PDQ), on faiss.

Any code length (in bytes), stable int64 ids chosen by the caller, radius queries ("every
code within r bits") and k-nearest queries, and add and remove by id without a rebuild.
Nothing here knows what the codes mean, so the known-works hash layer and a lookup of
256-bit PDQ fingerprints can share it.

Why a flat scan (`faiss.IndexBinaryFlat`) and not faiss's multi-index hashing: measured on
two cores at a million codes, the SIMD popcount scan answers a radius query in 0.5 ms
(8-byte codes, r = 12) and 0.9 ms (32-byte codes, r = 31), while `IndexBinaryMultiHash`
took 9.9 ms and 1.3 ms for the same answers; the scan is also exact at every radius.
faiss's flat index has no ids of its own, so positions are mapped to ids here; removal
compacts the flat index (`remove_ids` on positions), which costs one pass over the codes.

faiss runs one OpenMP thread here: a query is a single short scan, and with faiss's default
(one thread per core) a query on two busy cores took 6.2 ms instead of 0.08 ms.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CodeHits:
    """Matches of one query: ids and Hamming distances, closest first (ties by id)."""

    ids: np.ndarray  # int64
    distances: np.ndarray  # int32


class BinaryCodeIndex:
    """Codes of `code_bytes` bytes each, with an int64 id each, searchable by Hamming distance."""

    def __init__(self, code_bytes: int) -> None:
        import faiss

        if code_bytes <= 0:
            raise ValueError("code_bytes must be positive")
        faiss.omp_set_num_threads(1)  # see the module docstring
        self.code_bytes = code_bytes
        self._faiss = faiss
        self._index = faiss.IndexBinaryFlat(code_bytes * 8)
        self._ids = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """The ids held, in storage order (a copy)."""
        return self._ids.copy()

    def add(self, codes: np.ndarray, ids: np.ndarray) -> None:
        """Add (n, code_bytes) uint8 codes under `ids` (ids must be new and distinct)."""
        codes = self._check_codes(codes)
        ids = np.ascontiguousarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(codes):
            raise ValueError(f"{len(codes)} codes but {len(ids)} ids")
        if len(np.unique(ids)) != len(ids) or np.isin(ids, self._ids).any():
            raise ValueError("ids must be distinct and not already in the index")
        if len(ids):
            self._index.add(codes)
            self._ids = np.concatenate([self._ids, ids])

    def remove(self, ids: np.ndarray) -> int:
        """Remove the codes stored under `ids` (unknown ids are ignored); returns how many."""
        positions = np.flatnonzero(np.isin(self._ids, np.asarray(ids, dtype=np.int64)))
        if len(positions) == 0:
            return 0
        selector = self._faiss.IDSelectorBatch(positions.astype(np.int64))
        removed = int(self._index.remove_ids(selector))
        self._ids = np.delete(self._ids, positions)
        return removed

    def codes(self) -> np.ndarray:
        """Every stored code, in storage order, as an (n, code_bytes) uint8 array."""
        stored = self._index.xb  # type: ignore[attr-defined]
        return self._faiss.vector_to_array(stored).reshape(-1, self.code_bytes)

    def within(self, queries: np.ndarray, radius: int) -> list[CodeHits]:
        """For each query, every stored code at Hamming distance <= `radius`."""
        queries = self._check_codes(queries)
        if len(self) == 0 or radius < 0:
            return [_empty() for _ in queries]
        lims, distances, positions = self._index.range_search(queries, radius + 1)
        return [
            _ordered(self._ids[positions[lo:hi]], distances[lo:hi])
            for lo, hi in itertools.pairwise(lims)
        ]

    def nearest(self, queries: np.ndarray, k: int, radius: int | None = None) -> list[CodeHits]:
        """For each query, its `k` closest codes (only those within `radius` when given)."""
        queries = self._check_codes(queries)
        k = min(k, len(self))
        if k <= 0:
            return [_empty() for _ in queries]
        distances, positions = self._index.search(queries, k)
        out = []
        for row_d, row_p in zip(distances, positions, strict=True):
            keep = row_p >= 0
            if radius is not None:
                keep &= row_d <= radius
            out.append(_ordered(self._ids[row_p[keep]], row_d[keep]))
        return out

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim == 1 and codes.size == self.code_bytes:
            codes = codes.reshape(1, -1)
        if codes.ndim != 2 or codes.shape[1] != self.code_bytes:
            raise ValueError(f"codes must be (n, {self.code_bytes}) uint8, got {codes.shape}")
        return codes


def brute_force_within(
    codes: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int
) -> list[CodeHits]:
    """Reference answer by unpacking every bit (tests and benchmarks compare with it)."""
    bits = np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1)
    out = []
    for query in np.atleast_2d(np.asarray(queries, dtype=np.uint8)):
        distances = (bits != np.unpackbits(query)).sum(axis=1)
        keep = np.flatnonzero(distances <= radius)
        out.append(_ordered(np.asarray(ids, dtype=np.int64)[keep], distances[keep]))
    return out


def _ordered(ids: np.ndarray, distances: np.ndarray) -> CodeHits:
    order = np.lexsort((ids, distances))
    return CodeHits(ids[order].astype(np.int64), distances[order].astype(np.int32))


def _empty() -> CodeHits:
    return CodeHits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))
