"""Payload check bits, watermark round trips, PDQ fingerprints and the fingerprint index."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from provenance.softbinding import fingerprint, payload, watermark
from provenance.softbinding.index import FingerprintIndex


def _photo(name: str = "astronaut", side: int = 512) -> np.ndarray:
    return np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side)))


def test_payload_round_trips_and_rejects_flipped_bits() -> None:
    for wid in (1, 12345, payload.MAX_ID):
        bits = payload.encode(wid)
        assert len(bits) == 32 and payload.decode(bits) == wid
        for i in range(32):
            flipped = list(bits)
            flipped[i] ^= 1
            assert payload.decode(flipped) != wid
    with pytest.raises(ValueError):
        payload.encode(0)


def test_random_decodes_are_rejected_almost_always() -> None:
    rng = np.random.default_rng(7)
    accepted = sum(payload.decode(list(rng.integers(0, 2, 32))) is not None for _ in range(4000))
    assert accepted < 4000 * 3 / 256  # 1/256 expected


#: DWT-DCT-SVD's fixed embedding strength costs more PSNR than RivaGAN (measured 37.6 dB here).
@pytest.mark.parametrize(("name", "min_psnr"), [("rivagan", 38.0), ("dwtdctsvd", 36.0)])
def test_watermark_round_trip_is_invisible(name: str, min_psnr: float) -> None:
    rgb = _photo()
    marker = watermark.get_watermarker(name)
    marked = marker.embed(rgb, payload.encode(424242))
    mse = np.mean((marked.astype(float) - rgb) ** 2)
    assert 10 * np.log10(255**2 / mse) >= min_psnr
    assert payload.decode(marker.decode(marked)) == 424242


def test_rivagan_survives_resize_to_half() -> None:
    marker = watermark.RivaGan()
    marked = Image.fromarray(marker.embed(_photo("coffee"), payload.encode(77)))
    half = np.asarray(marked.resize((256, 256), Image.Resampling.BILINEAR))
    assert payload.decode(marker.decode(half)) == 77


def test_unmarked_photos_decode_to_no_payload() -> None:
    marker = watermark.RivaGan()
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        assert payload.decode(marker.decode(_photo(name))) is None


def test_fingerprint_matches_re_encoded_and_flipped_copies_not_other_photos() -> None:
    rgb = _photo()
    stored, quality = fingerprint.pdq(rgb)
    assert len(stored) == 32 and quality >= fingerprint.MIN_QUALITY
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=50)
    jpeg = np.asarray(Image.open(buf).convert("RGB"))
    flipped = rgb[:, ::-1]
    for copy in (jpeg, flipped):
        best = min(fingerprint.distance(stored, h) for h in fingerprint.pdq_dihedral(copy))
        assert best <= fingerprint.MATCH_DISTANCE
    other, _ = fingerprint.pdq(_photo("coffee"))
    assert fingerprint.distance(stored, other) > fingerprint.MATCH_DISTANCE


def test_index_finds_the_nearest_within_radius_only() -> None:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    index = FingerprintIndex(hashes)
    target = hashes[1234].copy()
    target[0] ^= 0b0000_0111  # 3 bits away
    found = index.nearest([bytes(rng.integers(0, 256, 32, dtype=np.uint8)), bytes(target)], 31)
    assert found is not None and found.position == 1234 and found.distance == 3
    assert index.nearest([bytes(rng.integers(0, 256, 32, dtype=np.uint8))], 31) is None
    assert FingerprintIndex().nearest([bytes(target)], 31) is None
