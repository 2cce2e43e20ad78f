"""Cosine search over unit embeddings, on faiss: exact up to `exact_max` rows, IVF above.

Up to `exact_max` rows the vectors sit in a flat inner-product index (`IndexFlatIP`), which
scans every row and is exact.  Above it they go into an inverted-file index
(`IndexIVFFlat`, inner product, `4 * sqrt(n)` lists, fewer for small n, trained by faiss's
k-means on a sample): a query scans only the `nprobe` lists whose centroids are closest.
`benchmarks/bench_known_works_scale.py` measures latency and recall@10 against the flat scan
at a million vectors (results in `benchmarks/results/known_works_scale.json`); near
duplicates, the case this index exists for, sit next to their original and are found
reliably.  `nprobe >= lists` makes it exact again.  HNSW was not chosen: faiss's HNSW cannot
remove rows, and a registry removes works.

Every row carries its owner (the position of its work) as its faiss id, so a query answers
owners directly, and `add` / `remove` change the index in place without retraining: new
rows join the lists of their closest existing centroids, removed works' rows leave them.

Files: the index is serialised by faiss into one `<prefix>.faiss` file; its integrity is
the index directory's business (`index` checks a digest of every file before trusting it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Rows per k-means training sample per list, at most and at least (faiss warns below 39).
TRAIN_PER_LIST = 64
MIN_TRAIN_PER_LIST = 39
#: faiss k-means iterations when training the IVF lists.
TRAIN_ITERATIONS = 12


@dataclass(frozen=True)
class VectorHits:
    """Matches of one query: owner ids and cosine scores, best first."""

    owners: np.ndarray  # int32
    scores: np.ndarray  # float32


def _faiss() -> Any:
    """faiss, with one OpenMP thread: a query is one short scan (see `binary_index`)."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


class EmbeddingIndex:
    """Unit vectors with an owner each, searchable by cosine similarity (inner product)."""

    def __init__(self, index: Any, dim: int) -> None:
        self._index = index
        self._dim = dim

    def __len__(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    @property
    def dim(self) -> int:
        """Embedding width (0 for an index that never held a vector)."""
        return self._dim

    @property
    def partitioned(self) -> bool:
        """Whether queries scan only the closest lists (an IVF index)."""
        return self._index is not None and hasattr(self._index, "nlist")

    @property
    def lists(self) -> int:
        """How many inverted lists the index has (0 for a flat index)."""
        return int(self._index.nlist) if self.partitioned else 0

    @classmethod
    def build(
        cls, vectors: np.ndarray, owners: np.ndarray, exact_max: int, seed: int = 0
    ) -> EmbeddingIndex:
        """Index `vectors` (n, d) flat, or in trained IVF lists when n > exact_max."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.size == 0:
            return cls(None, 0)
        n, dim = vectors.shape
        lists = min(int(4 * np.sqrt(n)), n // MIN_TRAIN_PER_LIST)
        flat = n <= exact_max or lists < 2
        found = cls(cls._flat(dim) if flat else cls._ivf(vectors, lists, seed), dim)
        found.add(vectors, owners)
        return found

    @staticmethod
    def _flat(dim: int) -> Any:
        faiss = _faiss()
        return faiss.IndexIDMap(faiss.IndexFlatIP(dim))

    @staticmethod
    def _ivf(vectors: np.ndarray, lists: int, seed: int) -> Any:
        faiss = _faiss()
        dim = vectors.shape[1]
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = TRAIN_ITERATIONS
        index.cp.spherical = True  # unit centroids: the lists are cones, as cosine wants
        index.cp.seed = seed
        rng = np.random.default_rng(seed)
        size = min(len(vectors), lists * TRAIN_PER_LIST)
        sample = vectors[np.sort(rng.choice(len(vectors), size, replace=False))]
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # one long job: every core helps
        try:
            index.train(sample)
        finally:
            faiss.omp_set_num_threads(1)
        return index  # faiss's Python wrapper keeps the quantizer alive with the index

    def add(self, vectors: np.ndarray, owners: np.ndarray) -> None:
        """Add rows (n, d) owned by `owners`; an IVF index files them under its lists."""
        vectors = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
        owners = np.ascontiguousarray(owners, dtype=np.int64).reshape(-1)
        if len(vectors) != len(owners):
            raise ValueError(f"{len(vectors)} vectors but {len(owners)} owners")
        if vectors.size == 0:
            return
        if self._index is None:
            self._index, self._dim = self._flat(vectors.shape[1]), vectors.shape[1]
        if vectors.shape[1] != self._dim:
            raise ValueError(f"vectors are {vectors.shape[1]}-d, the index holds {self._dim}-d")
        self._index.add_with_ids(vectors, owners)

    def remove(self, owners: np.ndarray) -> int:
        """Remove every row owned by one of `owners`; returns how many rows went."""
        if self._index is None or len(owners) == 0:
            return 0
        faiss = _faiss()
        selector = faiss.IDSelectorBatch(np.ascontiguousarray(owners, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def save(self, directory: Path, prefix: str) -> None:
        """Write the index as `<prefix>.faiss` (absent when the index is empty)."""
        if self._index is not None:
            _faiss().write_index(self._index, str(directory / f"{prefix}.faiss"))

    @classmethod
    def load(cls, directory: Path, prefix: str) -> EmbeddingIndex:
        """Open an index written by `save` (an empty one when no file was written)."""
        path = directory / f"{prefix}.faiss"
        if not path.is_file():
            return cls(None, 0)
        try:
            index = _faiss().read_index(str(path))
        except RuntimeError as exc:  # faiss reports a malformed file as a RuntimeError
            raise ValueError(f"unreadable embedding index {path.name}: {exc}") from exc
        return cls(index, int(index.d))

    def query(
        self, queries: np.ndarray, threshold: float, top_k: int, nprobe: int = 16
    ) -> list[VectorHits]:
        """For each query row, up to `top_k` rows with cosine >= threshold, best first."""
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if len(self) == 0 or len(q) == 0:
            return [_empty() for _ in range(len(q))]
        if q.shape[1] != self._dim:
            raise ValueError(f"queries are {q.shape[1]}-d, the index holds {self._dim}-d")
        if self.partitioned:
            self._index.nprobe = min(nprobe, self.lists)
        scores, owners = self._index.search(q, min(top_k, len(self)))
        out = []
        for row_s, row_o in zip(scores, owners, strict=True):
            keep = (row_o >= 0) & (row_s >= threshold)
            out.append(VectorHits(row_o[keep].astype(np.int32), row_s[keep].astype(np.float32)))
        return out


def brute_force_query(
    vectors: np.ndarray, owners: np.ndarray, queries: np.ndarray, threshold: float, top_k: int
) -> list[VectorHits]:
    """Reference answer: full float64 products, no index (tests compare the index with it)."""
    scores = np.atleast_2d(queries).astype(np.float64) @ vectors.astype(np.float64).T
    out = []
    for row in scores:
        keep = np.flatnonzero(row >= threshold)
        order = keep[np.argsort(-row[keep], kind="stable")][:top_k]
        out.append(VectorHits(owners[order].astype(np.int32), row[order].astype(np.float32)))
    return out


def _empty() -> VectorHits:
    return VectorHits(np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))
