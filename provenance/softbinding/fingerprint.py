"""Perceptual fingerprints: Meta's PDQ (256 bits) through `pdqhash`.

PDQ is computed on the pixels as they are; a flipped or rotated copy is matched by hashing
the query's eight dihedral variants (`pdqhash.compute_dihedral`) and keeping the nearest.
`MATCH_DISTANCE` is PDQ's published match threshold (31 of 256 bits).
"""

from __future__ import annotations

import numpy as np

ALG = "org.provenant.pdq.1"
BITS = 256
#: Hamming distance at or below which two PDQ hashes name the same picture.
MATCH_DISTANCE = 31
#: Below this quality PDQ itself says the hash is unreliable (flat or tiny images).
MIN_QUALITY = 50


def pdq(rgb: np.ndarray) -> tuple[bytes, int]:
    """The PDQ hash of RGB uint8 pixels as 32 bytes, and PDQ's quality score (0-100)."""
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return pack(bits), int(quality)


def pdq_dihedral(rgb: np.ndarray) -> list[bytes]:
    """The PDQ hashes of the eight flips and rotations of the pixels (original first)."""
    import pdqhash

    hashes, _qualities = pdqhash.compute_dihedral(np.ascontiguousarray(rgb, dtype=np.uint8))
    return [pack(h) for h in hashes]


def pack(bits: np.ndarray) -> bytes:
    """256 0/1 values as 32 bytes."""
    return np.packbits(np.asarray(bits, dtype=np.uint8).ravel()[:BITS]).tobytes()


def distance(a: bytes, b: bytes) -> int:
    """Hamming distance between two packed hashes of equal length."""
    return int.from_bytes(a, "big").__xor__(int.from_bytes(b, "big")).bit_count()
