"""The faiss binary index answers exactly what comparing every bit would, through adds and
removes, for 8-byte perceptual hashes and 32-byte PDQ-sized codes alike."""

from __future__ import annotations

import numpy as np
import pytest

from provenance.binary_index import BinaryCodeIndex, CodeHits, brute_force_within


def _planted(n: int, code_bytes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random codes with sparse ids, and queries a few bits away from some of them."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, size=(n, code_bytes), dtype=np.uint8)
    ids = rng.choice(10 * n, n, replace=False).astype(np.int64)
    queries = codes[rng.choice(n, 12, replace=False)].copy()
    bits = np.unpackbits(queries, axis=1)
    for row, flips in zip(bits, rng.integers(0, code_bytes * 2, 12), strict=True):
        row[rng.choice(code_bytes * 8, flips, replace=False)] ^= 1
    return codes, ids, np.packbits(bits, axis=1)


def _same(got: list[CodeHits], want: list[CodeHits]) -> int:
    for a, b in zip(got, want, strict=True):
        assert a.ids.tolist() == b.ids.tolist()
        assert a.distances.tolist() == b.distances.tolist()
    return sum(len(b.ids) for b in want)


@pytest.mark.parametrize(("code_bytes", "radius"), [(8, 12), (16, 24), (32, 31)])
def test_radius_search_equals_brute_force(code_bytes: int, radius: int) -> None:
    codes, ids, queries = _planted(20_000, code_bytes, seed=code_bytes)
    index = BinaryCodeIndex(code_bytes)
    index.add(codes, ids)
    found = _same(index.within(queries, radius), brute_force_within(codes, ids, queries, radius))
    assert found >= 3  # planted neighbours were within reach


def test_nearest_is_the_closest_k_and_respects_the_radius() -> None:
    codes, ids, queries = _planted(5_000, 8, seed=3)
    index = BinaryCodeIndex(8)
    index.add(codes, ids)
    every = brute_force_within(codes, ids, queries, 64)
    for hits, reference in zip(index.nearest(queries, 5), every, strict=True):
        assert hits.distances.tolist() == reference.distances[:5].tolist()
    bounded = index.nearest(queries, 5, radius=10)
    assert all((h.distances <= 10).all() for h in bounded)


def test_add_and_remove_by_id_without_a_rebuild() -> None:
    codes, ids, queries = _planted(6_000, 32, seed=5)
    index = BinaryCodeIndex(32)
    index.add(codes[:4_000], ids[:4_000])
    index.add(codes[4_000:], ids[4_000:])
    gone = ids[::3]
    assert index.remove(np.concatenate([gone, [-1]])) == len(gone)
    keep = ~np.isin(ids, gone)
    assert len(index) == int(keep.sum())
    assert sorted(index.ids.tolist()) == sorted(ids[keep].tolist())
    _same(index.within(queries, 40), brute_force_within(codes[keep], ids[keep], queries, 40))
    np.testing.assert_array_equal(index.codes()[np.argsort(index.ids)],
                                  codes[keep][np.argsort(ids[keep])])  # fmt: skip


def test_bad_input_is_refused() -> None:
    index = BinaryCodeIndex(8)
    index.add(np.zeros((1, 8), np.uint8), np.array([7]))
    with pytest.raises(ValueError, match="already"):
        index.add(np.zeros((1, 8), np.uint8), np.array([7]))
    with pytest.raises(ValueError, match=r"\(n, 8\)"):
        index.within(np.zeros((1, 4), np.uint8), 3)
    assert [len(h.ids) for h in BinaryCodeIndex(8).within(np.zeros((2, 8), np.uint8), 5)] == [0, 0]
