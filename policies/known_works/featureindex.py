"""Finding which registered images share local features with a query, among tens of thousands.

Verifying a query against every registered image (descriptor matching plus RANSAC) costs
about a millisecond each: fine for a handful of candidates, far too slow for 10,000 works.
So the stored ORB descriptors are indexed by locality-sensitive hashing on bit samples: each
of `TABLES` tables keys every descriptor by a fixed random choice of its bits (CSR layout,
like `hashindex`), a query descriptor looks up its own key in each table, and each stored
descriptor found is a vote for the image it came from.  Two descriptors of the same corner
differ in roughly 10-40 of their 256 bits, so they share a key in at least one table most of
the time; unrelated descriptors share one only by chance, spread thinly over all images.
The images with the most votes are the candidates that `features.verify` then confirms or
rejects, which is what decides a match: votes only choose whom to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from provenance.policies.known_works.features import DESCRIPTOR_BYTES, Features

TABLES = 10
MIN_KEY_BITS = 10
MAX_KEY_BITS = 20
_SEED = 0x0B5E55ED


class FeatureIndex:
    """ORB descriptors of every registered image, with the image each came from."""

    def __init__(
        self,
        descriptors: np.ndarray,
        points: np.ndarray,
        image_offsets: np.ndarray,
        sizes: np.ndarray,
        key_bits: int,
        table_offsets: list[np.ndarray],
        table_rows: list[np.ndarray],
    ) -> None:
        self.descriptors = descriptors
        self.points = points
        self.image_offsets = image_offsets
        self.sizes = sizes
        self.key_bits = key_bits
        self._table_offsets = table_offsets
        self._table_rows = table_rows
        self._image_of: np.ndarray | None = None

    @property
    def images(self) -> int:
        """How many images (with or without features) the index covers."""
        return int(self.image_offsets.shape[0] - 1)

    @classmethod
    def build(cls, features: Sequence[Features | None]) -> FeatureIndex:
        """Index the features of images 0..n-1 (None: an image with no features yet)."""
        counts = [0 if f is None else len(f) for f in features]
        offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        present = [f for f in features if f is not None and len(f)]
        descriptors = (
            np.concatenate([f.descriptors for f in present])
            if present
            else np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
        )
        points = (
            np.concatenate([f.points for f in present]) if present else np.zeros((0, 2), np.float32)
        )
        sizes = np.array(
            [(0, 0) if f is None else (f.width, f.height) for f in features], dtype=np.int32
        ).reshape(-1, 2)
        bits = key_bits_for(len(descriptors))
        table_offsets, table_rows = [], []
        for table in range(TABLES):
            keys = _keys(descriptors, table, bits)
            table_rows.append(np.argsort(keys, kind="stable").astype(np.int32))
            counts_per_key = np.bincount(keys, minlength=1 << bits)
            table_offsets.append(np.concatenate(([0], np.cumsum(counts_per_key))).astype(np.int64))
        return cls(descriptors, points, offsets, sizes, bits, table_offsets, table_rows)

    def features_of(self, image: int) -> Features:
        """The stored features of one image (views into the index arrays)."""
        lo, hi = int(self.image_offsets[image]), int(self.image_offsets[image + 1])
        width, height = (int(v) for v in self.sizes[image])
        return Features(
            np.asarray(self.points[lo:hi]), np.asarray(self.descriptors[lo:hi]), width, height
        )

    def votes(self, query: Features) -> np.ndarray:
        """Votes per image: stored descriptors sharing a key with a query descriptor."""
        if len(query) == 0 or len(self.descriptors) == 0:
            return np.zeros(self.images, dtype=np.int64)
        found = []
        for table in range(TABLES):
            keys = _keys(query.descriptors, table, self.key_bits).astype(np.int64)
            offsets = self._table_offsets[table]
            found.append(
                np.asarray(self._table_rows[table])[_ranges(offsets[keys], offsets[keys + 1])]
            )
        rows = np.concatenate(found)
        return np.bincount(self.image_of()[rows], minlength=self.images)

    def candidates(self, query: Features, top: int, min_votes: int) -> list[tuple[int, int]]:
        """(image, votes) of the `top` images with the most votes (at least `min_votes`)."""
        votes = self.votes(query)
        if votes.size == 0:
            return []
        k = min(top, votes.size)
        best = np.argpartition(-votes, k - 1)[:k]
        best = best[np.argsort(-votes[best], kind="stable")]
        return [(int(i), int(votes[i])) for i in best if votes[i] >= min_votes]

    def image_of(self) -> np.ndarray:
        """Image position of every stored descriptor (computed once)."""
        if self._image_of is None:
            counts = np.diff(self.image_offsets)
            self._image_of = np.repeat(np.arange(self.images, dtype=np.int32), counts)
        return self._image_of

    def save(self, directory: Path, prefix: str = "features") -> None:
        """Write the arrays as .npy files (loaded memory-mapped)."""
        np.save(directory / f"{prefix}_descriptors.npy", self.descriptors)
        np.save(directory / f"{prefix}_points.npy", self.points)
        np.save(directory / f"{prefix}_offsets.npy", self.image_offsets)
        np.save(directory / f"{prefix}_sizes.npy", self.sizes)
        np.save(directory / f"{prefix}_bits.npy", np.array([self.key_bits], dtype=np.int32))
        for table in range(TABLES):
            np.save(directory / f"{prefix}_t{table}_offsets.npy", self._table_offsets[table])
            np.save(directory / f"{prefix}_t{table}_rows.npy", self._table_rows[table])

    @classmethod
    def load(cls, directory: Path, prefix: str = "features") -> FeatureIndex:
        """Open arrays written by `save`, memory-mapped."""

        def arr(name: str) -> np.ndarray:
            return np.load(directory / f"{prefix}_{name}.npy", mmap_mode="r")

        return cls(
            arr("descriptors"),
            arr("points"),
            np.asarray(arr("offsets")),
            np.asarray(arr("sizes")),
            int(arr("bits")[0]),
            [arr(f"t{t}_offsets") for t in range(TABLES)],
            [arr(f"t{t}_rows") for t in range(TABLES)],
        )


def key_bits_for(descriptors: int) -> int:
    """Key width: about four descriptors per key, between 10 and 20 bits."""
    if descriptors <= 0:
        return MIN_KEY_BITS
    return int(np.clip(round(np.log2(descriptors)) - 2, MIN_KEY_BITS, MAX_KEY_BITS))


@cache
def _bit_positions(table: int, bits: int) -> tuple[int, ...]:
    """The descriptor bits table `table` keys on (fixed: the same in every build)."""
    rng = np.random.default_rng(_SEED + table)
    return tuple(int(b) for b in rng.choice(DESCRIPTOR_BYTES * 8, size=bits, replace=False))


def _keys(descriptors: np.ndarray, table: int, bits: int) -> np.ndarray:
    """Each descriptor's key in one table: its sampled bits packed into an integer."""
    keys = np.zeros(len(descriptors), dtype=np.int64)
    if len(descriptors) == 0:
        return keys
    data = np.asarray(descriptors, dtype=np.uint8)
    for position in _bit_positions(table, bits):
        bit = (data[:, position // 8] >> (7 - position % 8)) & 1
        keys = (keys << 1) | bit
    return keys


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of `arange(lo[i], hi[i])` for all i, without a Python loop."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
    return starts + np.arange(total)
