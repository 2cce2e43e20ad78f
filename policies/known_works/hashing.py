"""Perceptual hashes (pHash + dHash, 64 bits each) that survive re-encoding, resizing and crops.

Why two hashes: pHash (low DCT frequencies) shrugs off JPEG, resizing and colour shifts but
is blind to some low-texture images; dHash (neighbour gradients) sees those.  A match needs
*both* within their distance on the same pair, which on our measurements keeps unrelated
photographs far away (pHash >= 16, both >= 18 bits) while edits stay close (<= 12).

Why crop variants: global hashes are translation-sensitive, so a 90% crop taken from a
corner lands ~15-20 bits away from the original.  At registration we therefore hash a grid of
crops (scales 0.9 and 0.8, offsets every 5% of the side); any crop of at least ~80% then sits
within half a grid step of one variant.  A query is hashed whole and as its centre 90% (which
drops the black corners a small rotation adds), and the closest pair decides.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image, ImageOps

#: Bumped whenever the variants or their order change; stored hashes of another version are
#: recomputed from the reference copy by `works reindex`.
HASH_VERSION = 1
#: Images are reduced to this long side before hashing: the hashes look at 32x32 and 9x8
#: pixels anyway, and cropping a small image is much faster.
HASH_SIDE = 256
CROP_SCALES = (0.9, 0.8)
CROP_STEP = 0.05
QUERY_CENTRE_CROP = 0.9
_SIGN_BIT = 1 << 63
_WORD = 1 << 64


@dataclass(frozen=True)
class ImageHashes:
    """The hashes of one registered image: whole-image pHash/dHash plus every crop variant."""

    phash: int
    dhash: int
    variants: np.ndarray  # (k, 2) uint64 rows of (phash, dhash); row 0 is the whole image

    def packed(self) -> bytes:
        """Variant rows as little-endian bytes, for a database column."""
        return pack_hashes(self.variants)


def registration_hashes(image: Image.Image) -> ImageHashes:
    """Hash a reference image and its grid of crops (see the module docstring)."""
    small = _reduce(image)
    rows = np.array([_hash_pair(crop) for crop in _crop_grid(small)], dtype=np.uint64)
    return ImageHashes(phash=int(rows[0, 0]), dhash=int(rows[0, 1]), variants=rows)


def query_hashes(image: Image.Image, mirrored: bool = False) -> np.ndarray:
    """(2, 2) uint64 rows of (phash, dhash): the whole image, then its centre 90%.

    With `mirrored`, (4, 2): the same two rows of the image mirrored left to right follow,
    so a mirrored copy of a registered picture lands as close as an unmirrored one (hashes
    of registered images are not mirrored: the query side is the cheaper place for it).
    """
    small = _reduce(image)
    views = [small, ImageOps.mirror(small)] if mirrored else [small]
    return np.array(
        [
            pair
            for view in views
            for pair in (_hash_pair(view), _hash_pair(_centre_crop(view, QUERY_CENTRE_CROP)))
        ],
        dtype=np.uint64,
    )


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between uint64 arrays (broadcasting)."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def to_signed(value: int) -> int:
    """Store an unsigned 64-bit hash in a signed BIGINT column (two's complement)."""
    return value - _WORD if value & _SIGN_BIT else value


def to_unsigned(value: int) -> int:
    """Read back a hash stored by `to_signed`."""
    return value + _WORD if value < 0 else value


def pack_hashes(rows: np.ndarray) -> bytes:
    """(k, 2) uint64 rows as little-endian bytes."""
    return np.ascontiguousarray(rows, dtype="<u8").tobytes()


def unpack_hashes(data: bytes) -> np.ndarray:
    """Inverse of `pack_hashes`: a (k, 2) uint64 array."""
    return np.frombuffer(data, dtype="<u8").astype(np.uint64).reshape(-1, 2)


def _reduce(image: Image.Image) -> Image.Image:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    scale = HASH_SIDE / max(rgb.size)
    if scale >= 1:
        return rgb
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.LANCZOS)


def _hash_pair(image: Image.Image) -> tuple[int, int]:
    return _to_int(imagehash.phash(image)), _to_int(imagehash.dhash(image))


def _to_int(h: imagehash.ImageHash) -> int:
    return int.from_bytes(np.packbits(h.hash.flatten()).tobytes(), "big")


def _centre_crop(image: Image.Image, scale: float) -> Image.Image:
    w, h = image.size
    cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
    x, y = (w - cw) // 2, (h - ch) // 2
    return image.crop((x, y, x + cw, y + ch))


def _crop_grid(image: Image.Image) -> list[Image.Image]:
    """The whole image, then for each scale a square grid of offsets CROP_STEP apart."""
    w, h = image.size
    crops = [image]
    for scale in CROP_SCALES:
        steps = round((1 - scale) / CROP_STEP)
        offsets = [i * CROP_STEP for i in range(steps + 1)]
        cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
        for ox in offsets:
            for oy in offsets:
                x, y = int(ox * w), int(oy * h)
                crops.append(image.crop((x, y, x + cw, y + ch)))
    return crops
