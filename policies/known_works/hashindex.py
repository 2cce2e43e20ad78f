"""Multi-index hashing (Norouzi et al.) for near-duplicate lookup among millions of 64-bit hashes.

Each pHash is split into four 16-bit chunks, and each chunk position gets a table: the rows
sorted by that chunk's value, plus the offset where each of the 65,536 values starts (a CSR
layout).  By the pigeonhole principle, two hashes within distance r agree to within
floor(r / 4) bits on at least one chunk, so a query probes each table with every 16-bit value
that close to its own chunk (697 values for r = 12), and only the rows found there are
compared in full.  A probe is two array reads; the final check is vectorised popcount: no
Python loop over stored rows.

A row is a match when its pHash *and* its dHash are both within their limits (see `hashing`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from provenance.policies.known_works.hashing import hamming

CHUNKS = 4
CHUNK_BITS = 16
_CHUNK_MASK = np.uint64((1 << CHUNK_BITS) - 1)


@dataclass(frozen=True)
class HashHit:
    """The closest variant of one owner (registered image) to a query."""

    owner: int
    phash_distance: int
    dhash_distance: int


class HashIndex:
    """pHash/dHash rows with an owner each (the registered image they were computed from)."""

    def __init__(
        self,
        phash: np.ndarray,
        dhash: np.ndarray,
        owners: np.ndarray,
        chunk_offsets: list[np.ndarray],
        chunk_rows: list[np.ndarray],
    ) -> None:
        self.phash = phash
        self.dhash = dhash
        self.owners = owners
        self._chunk_offsets = chunk_offsets
        self._chunk_rows = chunk_rows

    def __len__(self) -> int:
        return int(self.phash.shape[0])

    @classmethod
    def build(cls, hashes: np.ndarray, owners: np.ndarray) -> HashIndex:
        """Index (n, 2) uint64 rows of (phash, dhash); `owners[i]` is row i's image."""
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, 2)
        phash = np.ascontiguousarray(hashes[:, 0])
        owners = np.ascontiguousarray(owners, dtype=np.int32)
        offsets, rows = [], []
        for chunk in range(CHUNKS):
            keys = _chunk(phash, chunk)
            rows.append(np.argsort(keys, kind="stable").astype(np.int32))
            counts = np.bincount(keys, minlength=1 << CHUNK_BITS)
            offsets.append(np.concatenate(([0], np.cumsum(counts))).astype(np.int64))
        return cls(phash, np.ascontiguousarray(hashes[:, 1]), owners, offsets, rows)

    def save(self, directory: Path, prefix: str = "hash") -> None:
        """Write the arrays as .npy files (loaded memory-mapped)."""
        np.save(directory / f"{prefix}_phash.npy", self.phash)
        np.save(directory / f"{prefix}_dhash.npy", self.dhash)
        np.save(directory / f"{prefix}_owners.npy", self.owners)
        for chunk in range(CHUNKS):
            np.save(directory / f"{prefix}_chunk{chunk}_offsets.npy", self._chunk_offsets[chunk])
            np.save(directory / f"{prefix}_chunk{chunk}_rows.npy", self._chunk_rows[chunk])

    @classmethod
    def load(cls, directory: Path, prefix: str = "hash") -> HashIndex:
        """Open arrays written by `save`, memory-mapped (pages load on first touch)."""

        def arr(name: str) -> np.ndarray:
            return np.load(directory / f"{prefix}_{name}.npy", mmap_mode="r")

        return cls(
            arr("phash"),
            arr("dhash"),
            arr("owners"),
            [arr(f"chunk{c}_offsets") for c in range(CHUNKS)],
            [arr(f"chunk{c}_rows") for c in range(CHUNKS)],
        )

    def lookup(self, queries: np.ndarray, max_phash: int, max_dhash: int) -> list[HashHit]:
        """Owners with a row within both limits of any query row, closest first.

        `queries` is (q, 2) uint64 (phash, dhash); each owner is reported once, with its
        closest row (ordered by the larger of the two distances, then their sum).
        """
        owners, dp, dd = [], [], []
        for qp, qd in np.asarray(queries, dtype=np.uint64).reshape(-1, 2):
            rows = self.candidates(qp, max_phash)
            p = hamming(self.phash[rows], qp)
            d = hamming(self.dhash[rows], qd)
            keep = (p <= max_phash) & (d <= max_dhash)
            owners.append(np.asarray(self.owners[rows[keep]], dtype=np.int64))
            dp.append(p[keep])
            dd.append(d[keep])
        return _closest_per_owner(np.concatenate(owners), np.concatenate(dp), np.concatenate(dd))

    def candidates(self, phash: np.uint64, radius: int) -> np.ndarray:
        """Rows whose pHash may be within `radius` of `phash`: a superset of the answer.

        A row can appear once per chunk it agrees on; callers keep the best hit per owner, so
        the repeats cost nothing (de-duplicating them with a sort costs more than checking).
        """
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        masks = _masks(min(radius // CHUNKS, CHUNK_BITS))
        found = []
        for chunk in range(CHUNKS):
            probes = np.bitwise_xor(masks, _chunk(np.asarray([phash]), chunk)[0]).astype(np.int64)
            offsets = self._chunk_offsets[chunk]
            lo, hi = offsets[probes], offsets[probes + 1]
            found.append(np.asarray(self._chunk_rows[chunk])[_ranges(lo, hi)])
        return np.concatenate(found).astype(np.int64)


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


def _chunk(values: np.ndarray, chunk: int) -> np.ndarray:
    shifted = np.right_shift(values.astype(np.uint64), np.uint64(chunk * CHUNK_BITS))
    return np.bitwise_and(shifted, _CHUNK_MASK).astype(np.uint16)


@cache
def _masks(max_bits: int) -> np.ndarray:
    """Every 16-bit value with at most `max_bits` bits set (XORed onto a chunk to probe)."""
    out = [0]
    for bits in range(1, max_bits + 1):
        for positions in itertools.combinations(range(CHUNK_BITS), bits):
            out.append(sum(1 << p for p in positions))
    return np.array(out, dtype=np.uint16)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of `arange(lo[i], hi[i])` for all i, without a Python loop."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
    return starts + np.arange(total)
