"""Near-duplicate lookup among millions of (pHash, dHash) rows, on faiss's exact binary index.

The pHash of every row is searched by `provenance.binary_index` (a SIMD popcount scan: at a
million rows about 0.7 ms per query image on one busy core, 3.7 times faster than the
multi-index hashing this module used to do itself; `benchmarks/bench_known_works_scale.py`),
and the dHash limit is checked on the rows it returns.  The arrays are saved as .npy files
as before; the faiss index is built from them on the first lookup (a copy of the pHash
column, about a second per million rows), so opening an index stays cheap.

A row is a match when its pHash *and* its dHash are both within their limits (see `hashing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provenance.binary_index import BinaryCodeIndex
from provenance.policies.known_works.hashing import hamming


@dataclass(frozen=True)
class HashHit:
    """The closest variant of one owner (registered image) to a query."""

    owner: int
    phash_distance: int
    dhash_distance: int


class HashIndex:
    """pHash/dHash rows with an owner each (the registered image they were computed from)."""

    def __init__(self, phash: np.ndarray, dhash: np.ndarray, owners: np.ndarray) -> None:
        self.phash = phash
        self.dhash = dhash
        self.owners = owners
        self._codes: BinaryCodeIndex | None = None

    def __len__(self) -> int:
        return int(self.phash.shape[0])

    @classmethod
    def build(cls, hashes: np.ndarray, owners: np.ndarray) -> HashIndex:
        """Index (n, 2) uint64 rows of (phash, dhash); `owners[i]` is row i's image."""
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, 2)
        return cls(
            np.ascontiguousarray(hashes[:, 0]),
            np.ascontiguousarray(hashes[:, 1]),
            np.ascontiguousarray(owners, dtype=np.int32),
        )

    def save(self, directory: Path, prefix: str = "hash") -> None:
        """Write the arrays as .npy files (loaded memory-mapped)."""
        np.save(directory / f"{prefix}_phash.npy", self.phash)
        np.save(directory / f"{prefix}_dhash.npy", self.dhash)
        np.save(directory / f"{prefix}_owners.npy", self.owners)

    @classmethod
    def load(cls, directory: Path, prefix: str = "hash") -> HashIndex:
        """Open arrays written by `save`, memory-mapped (pages load on first touch)."""

        def arr(name: str) -> np.ndarray:
            return np.load(directory / f"{prefix}_{name}.npy", mmap_mode="r")

        return cls(arr("phash"), arr("dhash"), arr("owners"))

    def lookup(self, queries: np.ndarray, max_phash: int, max_dhash: int) -> list[HashHit]:
        """Owners with a row within both limits of any query row, closest first.

        `queries` is (q, 2) uint64 (phash, dhash); each owner is reported once, with its
        closest row (ordered by the larger of the two distances, then their sum).
        """
        queries = np.asarray(queries, dtype=np.uint64).reshape(-1, 2)
        if len(self) == 0:
            return []
        owners, dp, dd = [], [], []
        found = self.codes().within(_as_codes(queries[:, 0]), max_phash)
        for (_, qd), hits in zip(queries, found, strict=True):
            rows = hits.ids
            d = hamming(np.asarray(self.dhash[rows]), qd)
            keep = d <= max_dhash
            owners.append(np.asarray(self.owners[rows[keep]], dtype=np.int64))
            dp.append(hits.distances[keep].astype(np.int64))
            dd.append(d[keep])
        return _closest_per_owner(np.concatenate(owners), np.concatenate(dp), np.concatenate(dd))

    def codes(self) -> BinaryCodeIndex:
        """The faiss index over the pHash column (ids = row numbers), built once."""
        if self._codes is None:
            self._codes = BinaryCodeIndex(8)
            self._codes.add(_as_codes(np.asarray(self.phash)), np.arange(len(self)))
        return self._codes


def brute_force_lookup(
    hashes: np.ndarray, owners: np.ndarray, queries: np.ndarray, max_phash: int, max_dhash: int
) -> list[HashHit]:
    """Reference answer by comparing every row (tests and benchmarks check the index with it)."""
    owners_out, dp_out, dd_out = [], [], []
    for qp, qd in np.asarray(queries, dtype=np.uint64).reshape(-1, 2):
        dp = hamming(hashes[:, 0], qp)
        dd = hamming(hashes[:, 1], qd)
        keep = np.flatnonzero((dp <= max_phash) & (dd <= max_dhash))
        owners_out.append(np.asarray(owners, dtype=np.int64)[keep])
        dp_out.append(dp[keep])
        dd_out.append(dd[keep])
    return _closest_per_owner(
        np.concatenate(owners_out), np.concatenate(dp_out), np.concatenate(dd_out)
    )


def _closest_per_owner(owners: np.ndarray, dp: np.ndarray, dd: np.ndarray) -> list[HashHit]:
    """One hit per owner, its closest row; ordered by (larger distance, sum, owner).

    Vectorised, so a query that lands near thousands of rows (flat, textureless images hash
    alike) costs one sort rather than a Python loop.
    """
    if owners.size == 0:
        return []
    worst = np.maximum(dp, dd)
    order = np.lexsort((owners, dp + dd, worst))
    _, first = np.unique(owners[order], return_index=True)
    best = order[np.sort(first)]
    return [
        HashHit(int(o), int(p), int(d))
        for o, p, d in zip(owners[best], dp[best], dd[best], strict=True)
    ]


def _as_codes(values: np.ndarray) -> np.ndarray:
    """uint64 hashes as 8-byte big-endian codes (bit order does not change distances)."""
    return np.ascontiguousarray(values, dtype=">u8").view(np.uint8).reshape(-1, 8)
