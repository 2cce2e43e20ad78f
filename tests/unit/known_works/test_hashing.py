"""Perceptual hashes: storage round trips, the crop grid, and what distances edits produce."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from provenance.policies.known_works import hashing


@pytest.mark.parametrize("value", [0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 0xDEADBEEF << 30])
def test_signed_storage_round_trips(value: int) -> None:
    stored = hashing.to_signed(value)
    assert -(1 << 63) <= stored < (1 << 63)
    assert hashing.to_unsigned(stored) == value


def test_packed_variants_round_trip() -> None:
    rows = np.array([[1, (1 << 64) - 1], [1 << 63, 42]], dtype=np.uint64)
    assert np.array_equal(hashing.unpack_hashes(hashing.pack_hashes(rows)), rows)


def _photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def test_registration_hashes_cover_the_crop_grid() -> None:
    hashes = hashing.registration_hashes(_photo())
    steps = [round((1 - s) / hashing.CROP_STEP) + 1 for s in hashing.CROP_SCALES]
    assert hashes.variants.shape == (1 + sum(n * n for n in steps), 2)
    assert (hashes.phash, hashes.dhash) == tuple(int(v) for v in hashes.variants[0])
    assert len({tuple(r) for r in hashes.variants.tolist()}) > len(hashes.variants) // 2


def test_query_hashes_are_whole_image_then_centre_crop() -> None:
    photo = _photo()
    q = hashing.query_hashes(photo)
    assert q.shape == (2, 2)
    assert int(q[0, 0]) == hashing.registration_hashes(photo).phash
    assert int(q[0, 0]) != int(q[1, 0])


def test_hashes_ignore_size_and_mode() -> None:
    photo = _photo()
    small = photo.resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(hashing.query_hashes(photo), hashing.query_hashes(photo.convert("RGBA")))
    distance = hashing.hamming(hashing.query_hashes(photo), hashing.query_hashes(small))
    assert distance.max() <= 4  # far below the match limits (12)
