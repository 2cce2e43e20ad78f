"""Multi-index hashing returns exactly what comparing every row would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.policies.known_works.hashindex import HashIndex, brute_force_lookup


def _flip(value: np.uint64, bits: np.ndarray) -> np.uint64:
    for b in bits:
        value ^= np.uint64(1) << np.uint64(b)
    return value


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random rows, owners with several rows each, and queries near some rows."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, 2**64, size=(n, 2), dtype=np.uint64)
    owners = rng.integers(0, n // 3 + 1, size=n).astype(np.int32)
    queries = []
    for i in rng.choice(n, 20, replace=False):
        p = _flip(rows[i, 0], rng.choice(64, rng.integers(0, 16), replace=False))
        d = _flip(rows[i, 1], rng.choice(64, rng.integers(0, 16), replace=False))
        queries.append((p, d))
    queries += [tuple(rng.integers(0, 2**64, size=2, dtype=np.uint64)) for _ in range(5)]
    return rows, owners, np.array(queries, dtype=np.uint64)


@pytest.mark.parametrize(("n", "limits"), [(5_000, (12, 12)), (20_000, (8, 14)), (3_000, (19, 19))])
def test_lookup_equals_brute_force(n: int, limits: tuple[int, int]) -> None:
    rows, owners, queries = _planted(n, seed=n)
    index = HashIndex.build(rows, owners)
    hits_total = 0
    for q in queries:
        expected = brute_force_lookup(rows, owners, q[None, :], *limits)
        assert index.lookup(q[None, :], *limits) == expected
        hits_total += len(expected)
    assert hits_total >= 5  # the planted neighbours were within reach


def test_many_query_rows_keep_the_closest_hit_per_owner() -> None:
    rows, owners, queries = _planted(4_000, seed=7)
    index = HashIndex.build(rows, owners)
    assert index.lookup(queries, 12, 12) == brute_force_lookup(rows, owners, queries, 12, 12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), min_size=1, max_size=60
    ),
    st.integers(0, 2**64 - 1),
    st.integers(0, 24),
)
def test_lookup_equals_brute_force_on_arbitrary_hashes(
    pairs: list[tuple[int, int]], query: int, radius: int
) -> None:
    rows = np.array(pairs, dtype=np.uint64)
    rows[0, 0] = np.uint64(query) ^ np.uint64(0b101)  # at least one close row
    owners = np.arange(len(rows), dtype=np.int32) % 7
    q = np.array([[query, rows[0, 1]]], dtype=np.uint64)
    index = HashIndex.build(rows, owners)
    assert index.lookup(q, radius, 64) == brute_force_lookup(rows, owners, q, radius, 64)


def test_save_and_load_memory_mapped(tmp_path: Path) -> None:
    rows, owners, queries = _planted(2_000, seed=3)
    HashIndex.build(rows, owners).save(tmp_path)
    loaded = HashIndex.load(tmp_path)
    assert len(loaded) == 2_000
    assert isinstance(loaded.phash, np.memmap)
    assert loaded.lookup(queries, 12, 12) == brute_force_lookup(rows, owners, queries, 12, 12)


def test_empty_index_finds_nothing() -> None:
    index = HashIndex.build(np.zeros((0, 2), np.uint64), np.zeros(0, np.int32))
    assert index.lookup(np.array([[1, 2]], dtype=np.uint64), 12, 12) == []
