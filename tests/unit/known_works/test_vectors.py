"""Embedding search on faiss: flat equals brute force; IVF finds near-duplicates, keeps recall
against the exact answer, and changes in place (add, remove) without retraining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from provenance.policies.known_works.vectors import EmbeddingIndex, VectorHits, brute_force_query


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def _near(rng: np.random.Generator, rows: np.ndarray, cosine: float) -> np.ndarray:
    noise = _unit(rng, len(rows), rows.shape[1])
    noise -= (noise * rows).sum(axis=1, keepdims=True) * rows  # orthogonal to each row
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (cosine * rows + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def _same(a: VectorHits, b: VectorHits) -> None:
    assert a.owners.tolist() == b.owners.tolist()
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


@pytest.mark.parametrize(("threshold", "top_k"), [(-1.0, 10), (0.1, 50), (0.5, 5)])
def test_exact_scan_equals_brute_force(threshold: float, top_k: int) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 70_000, 48)
    owners = np.arange(70_000, dtype=np.int32) // 2
    queries = np.vstack([_near(rng, vectors[[5, 69_999]], 0.7), _unit(rng, 3, 48)])
    matrix = EmbeddingIndex.build(vectors, owners, exact_max=100_000)
    assert not matrix.partitioned
    got = matrix.query(queries, threshold, top_k)
    want = brute_force_query(vectors, owners, queries, threshold, top_k)
    for a, b in zip(got, want, strict=True):
        _same(a, b)


def test_partitioned_with_every_partition_probed_is_exact() -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 8_000, 32)
    owners = np.arange(8_000, dtype=np.int32)
    matrix = EmbeddingIndex.build(vectors, owners, exact_max=1_000)
    assert matrix.partitioned and matrix.lists > 1
    queries = _unit(rng, 6, 32)
    got = matrix.query(queries, -1.0, 7, nprobe=matrix.lists)
    for a, b in zip(got, brute_force_query(vectors, owners, queries, -1.0, 7), strict=True):
        _same(a, b)


def test_partitioned_finds_near_duplicates() -> None:
    rng = np.random.default_rng(3)
    vectors = _unit(rng, 40_000, 64)
    owners = np.arange(40_000, dtype=np.int32)
    matrix = EmbeddingIndex.build(vectors, owners, exact_max=1_000)
    sources = rng.choice(40_000, 200, replace=False)
    hits = matrix.query(_near(rng, vectors[sources], 0.9), 0.8, 1, nprobe=16)
    recall = np.mean([h.owners.tolist() == [s] for h, s in zip(hits, sources, strict=True)])
    assert recall >= 0.97
    assert all(h.scores[0] >= 0.8 for h in hits if len(h.owners))


def test_threshold_filters_and_order_is_best_first() -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 500, 16)
    matrix = EmbeddingIndex.build(vectors, np.arange(500, dtype=np.int32), exact_max=10_000)
    (hits,) = matrix.query(vectors[42], 0.999, 5)
    assert hits.owners.tolist() == [42]
    (hits,) = matrix.query(vectors[42], -1.0, 20)
    assert list(hits.scores) == sorted(hits.scores, reverse=True)


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = _unit(rng, 3_000, 24)
    owners = np.arange(3_000, dtype=np.int32)
    for exact_max, prefix in ((10_000, "exact"), (100, "parts")):
        EmbeddingIndex.build(vectors, owners, exact_max).save(tmp_path, prefix)
        loaded = EmbeddingIndex.load(tmp_path, prefix)
        assert loaded.partitioned == (exact_max == 100)
        (hits,) = loaded.query(vectors[7], 0.99, 3, nprobe=4)
        assert hits.owners.tolist() == [7]


def test_empty_matrix() -> None:
    matrix = EmbeddingIndex.build(np.zeros((0, 0), np.float32), np.zeros(0, np.int32), 10)
    assert [len(h.owners) for h in matrix.query(np.ones((2, 8), np.float32), 0.0, 3)] == [0, 0]


def _clustered(rng: np.random.Generator, n: int, d: int, topics: int) -> np.ndarray:
    centres = _unit(rng, topics, d)
    rows = centres[rng.integers(0, topics, n)] + 1.5 * rng.standard_normal((n, d)) / np.sqrt(d)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_partitioned_recall_at_10_against_exact() -> None:
    rng = np.random.default_rng(6)
    data = _clustered(rng, 20_100, 64, 200)
    vectors, queries = data[:20_000], data[20_000:]
    owners = np.arange(20_000, dtype=np.int32)
    matrix = EmbeddingIndex.build(vectors, owners, exact_max=1_000)
    assert matrix.partitioned
    got = matrix.query(queries, -1.0, 10, nprobe=32)
    want = brute_force_query(vectors, owners, queries, -1.0, 10)
    recall = np.mean(
        [len(set(a.owners) & set(b.owners)) / 10 for a, b in zip(got, want, strict=True)]
    )
    assert recall >= 0.9  # a wrong metric or untrained lists give well under 0.5


@pytest.mark.parametrize("exact_max", [100_000, 1_000])
def test_remove_and_add_in_place_match_a_fresh_build(exact_max: int) -> None:
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 6_000, 32)
    owners = np.arange(6_000, dtype=np.int32) // 3  # three rows per work
    matrix = EmbeddingIndex.build(vectors[:5_000], owners[:5_000], exact_max)
    gone = np.array([0, 7, 1_500], dtype=np.int32)
    assert matrix.remove(gone) == 9
    matrix.add(vectors[5_000:], owners[5_000:])
    keep = ~np.isin(owners, gone)
    queries = np.vstack([vectors[[0, 21, 4_500, 5_999]], _unit(rng, 4, 32)])
    got = matrix.query(queries, -1.0, 6, nprobe=max(matrix.lists, 1))
    want = brute_force_query(vectors[keep], owners[keep], queries, -1.0, 6)
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    assert len(matrix) == int(keep.sum())


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    EmbeddingIndex.build(_unit(rng, 300, 8), np.arange(300), 10_000).save(tmp_path, "x")
    path = tmp_path / "x.faiss"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="unreadable embedding index"):
        EmbeddingIndex.load(tmp_path, "x")
