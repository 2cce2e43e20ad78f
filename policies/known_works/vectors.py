"""Cosine search over unit embeddings: one contiguous float32 matrix, batched matrix products.

Up to `exact_max` rows the whole matrix is scanned (in row blocks, so the score matrix stays
small) and the answer is exact.  Above it, the rows are grouped at build time into
`~sqrt(n)/2` partitions by spherical k-means and stored partition by partition; a query then
scans only the `nprobe` partitions whose centroids are closest (an inverted-file scan).  That
trades a little recall for a scan ~n/(nprobe * n/lists) times smaller; near-duplicates, the
case this index exists for, sit very close to their original and are found reliably (the
benchmark reports the measured recall).  `nprobe >= lists` makes it exact again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Rows scored per block in an exact scan: bounds the (block x queries) score matrix.
SCAN_BLOCK = 65_536
KMEANS_ITERATIONS = 12
KMEANS_SAMPLE_PER_LIST = 64


@dataclass(frozen=True)
class VectorHits:
    """Matches of one query: owner ids and cosine scores, best first."""

    owners: np.ndarray  # int32
    scores: np.ndarray  # float32


class EmbeddingMatrix:
    """Unit vectors with an owner each, searchable by cosine similarity."""

    def __init__(
        self,
        vectors: np.ndarray,
        owners: np.ndarray,
        centroids: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> None:
        self.vectors = vectors
        self.owners = owners
        self.centroids = centroids
        self.offsets = offsets

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        """Embedding width (0 for an empty matrix)."""
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 else 0

    @property
    def partitioned(self) -> bool:
        """Whether queries scan only the closest partitions."""
        return self.centroids is not None

    @classmethod
    def build(
        cls, vectors: np.ndarray, owners: np.ndarray, exact_max: int, seed: int = 0
    ) -> EmbeddingMatrix:
        """Store `vectors` (n, d) as-is, or grouped into partitions when n > exact_max."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        owners = np.ascontiguousarray(owners, dtype=np.int32)
        lists = min(len(vectors), int(np.sqrt(len(vectors)) / 2))
        if len(vectors) <= exact_max or lists < 2:
            return cls(vectors, owners)
        centroids = spherical_kmeans(vectors, lists, seed)
        assignment = assign(vectors, centroids)
        order = np.argsort(assignment, kind="stable")
        counts = np.bincount(assignment, minlength=lists)
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        return cls(vectors[order], owners[order], centroids, offsets)

    def save(self, directory: Path, prefix: str) -> None:
        """Write the matrix (and partitions) as .npy files, loaded memory-mapped."""
        np.save(directory / f"{prefix}_vectors.npy", self.vectors)
        np.save(directory / f"{prefix}_owners.npy", self.owners)
        if self.centroids is not None and self.offsets is not None:
            np.save(directory / f"{prefix}_centroids.npy", self.centroids)
            np.save(directory / f"{prefix}_offsets.npy", self.offsets)

    @classmethod
    def load(cls, directory: Path, prefix: str) -> EmbeddingMatrix:
        """Open a matrix written by `save`; the vectors stay on disk until touched."""
        centroids_path = directory / f"{prefix}_centroids.npy"
        partitioned = centroids_path.is_file()
        return cls(
            np.load(directory / f"{prefix}_vectors.npy", mmap_mode="r"),
            np.load(directory / f"{prefix}_owners.npy"),
            np.load(centroids_path) if partitioned else None,
            np.load(directory / f"{prefix}_offsets.npy") if partitioned else None,
        )

    def query(
        self, queries: np.ndarray, threshold: float, top_k: int, nprobe: int = 16
    ) -> list[VectorHits]:
        """For each query row, up to `top_k` rows with cosine >= threshold, best first."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0 or len(q) == 0:
            return [_empty() for _ in range(len(q))]
        if self.centroids is None or self.offsets is None or nprobe >= len(self.centroids):
            return self._scan(q, threshold, top_k)
        return self._probe(q, threshold, top_k, nprobe)

    def _scan(self, q: np.ndarray, threshold: float, top_k: int) -> list[VectorHits]:
        """Exact: every row, in blocks; keep each query's best `top_k` above threshold."""
        best_rows: list[list[np.ndarray]] = [[] for _ in q]
        best_scores: list[list[np.ndarray]] = [[] for _ in q]
        for start in range(0, len(self), SCAN_BLOCK):
            scores = q @ np.asarray(self.vectors[start : start + SCAN_BLOCK]).T
            for i in range(len(q)):
                rows, vals = _top(scores[i], threshold, top_k)
                best_rows[i].append(rows + start)
                best_scores[i].append(vals)
        return [
            self._hits(np.concatenate(r), np.concatenate(s), top_k)
            for r, s in zip(best_rows, best_scores, strict=True)
        ]

    def _probe(self, q: np.ndarray, threshold: float, top_k: int, nprobe: int) -> list[VectorHits]:
        """Approximate: each query scans only the `nprobe` partitions closest to it.

        Queries are grouped by partition, so a partition probed by several queries of the
        batch is read once and scored with one matrix product.
        """
        assert self.centroids is not None and self.offsets is not None
        closest = np.argpartition(-(q @ self.centroids.T), nprobe - 1, axis=1)[:, :nprobe]
        rows_parts: list[list[np.ndarray]] = [[] for _ in q]
        score_parts: list[list[np.ndarray]] = [[] for _ in q]
        for part in np.unique(closest):
            lo, hi = int(self.offsets[part]), int(self.offsets[part + 1])
            if hi == lo:
                continue
            askers = np.flatnonzero((closest == part).any(axis=1))
            scores = q[askers] @ np.asarray(self.vectors[lo:hi]).T
            for i, asker in enumerate(askers):
                rows, vals = _top(scores[i], threshold, top_k)
                rows_parts[asker].append(rows + lo)
                score_parts[asker].append(vals)
        return [
            self._hits(np.concatenate(r), np.concatenate(s), top_k) if r else _empty()
            for r, s in zip(rows_parts, score_parts, strict=True)
        ]

    def _hits(self, rows: np.ndarray, scores: np.ndarray, top_k: int) -> VectorHits:
        order = np.argsort(-scores, kind="stable")[:top_k]
        return VectorHits(self.owners[rows[order]], scores[order].astype(np.float32))


def brute_force_query(
    vectors: np.ndarray, owners: np.ndarray, queries: np.ndarray, threshold: float, top_k: int
) -> list[VectorHits]:
    """Reference answer: full float64 products, no blocks (tests compare the index with it)."""
    scores = np.atleast_2d(queries).astype(np.float64) @ vectors.astype(np.float64).T
    out = []
    for row in scores:
        keep = np.flatnonzero(row >= threshold)
        order = keep[np.argsort(-row[keep], kind="stable")][:top_k]
        out.append(VectorHits(owners[order].astype(np.int32), row[order].astype(np.float32)))
    return out


def spherical_kmeans(vectors: np.ndarray, lists: int, seed: int) -> np.ndarray:
    """Unit centroids of `lists` clusters, trained on a sample (cosine k-means)."""
    rng = np.random.default_rng(seed)
    size = min(len(vectors), lists * KMEANS_SAMPLE_PER_LIST)
    sample = np.asarray(vectors[np.sort(rng.choice(len(vectors), size, replace=False))])
    centroids = sample[rng.choice(size, lists, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        labels = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, sample)
        empty = np.flatnonzero(np.bincount(labels, minlength=lists) == 0)
        sums[empty] = sample[rng.choice(size, len(empty), replace=False)]
        centroids = _unit(sums)
    return centroids


def assign(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the closest centroid for every row (in blocks, bounding memory)."""
    out = np.empty(len(vectors), dtype=np.int32)
    for start in range(0, len(vectors), SCAN_BLOCK):
        block = np.asarray(vectors[start : start + SCAN_BLOCK])
        out[start : start + len(block)] = np.argmax(block @ centroids.T, axis=1)
    return out


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1)).astype(np.float32)


def _top(scores: np.ndarray, threshold: float, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (and scores) of the best `top_k` entries at or above threshold, unordered."""
    rows = np.flatnonzero(scores >= threshold)
    if len(rows) > top_k:
        rows = rows[np.argpartition(-scores[rows], top_k - 1)[:top_k]]
    return rows, scores[rows]


def _empty() -> VectorHits:
    return VectorHits(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
