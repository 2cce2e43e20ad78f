"""Turn a `WorkSpec` into what the registry stores: digests, hashes, embeddings, references.

All the slow and fallible work (reading and decoding images, hashing crops, describing local
features, running CLIP and the sentence encoder)
happens here, before any database transaction opens, so a bad file on line 900 of an import
fails the import without a half-written registry, and the write itself is short.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from provenance.imageio import encode_image, open_image, read_file
from provenance.policies.known_works.features import Features, extract
from provenance.policies.known_works.hashing import ImageHashes, registration_hashes
from provenance.policies.known_works.semantic_text import (
    embed_passages,
    encoder_fingerprint,
    work_passages,
)
from provenance.policies.known_works.specs import WorkSpec

if TYPE_CHECKING:
    from provenance.policies.clip import ClipEncoder
    from provenance.policies.text_embed import TextEncoder

#: Long side of the reference copy kept in the database (re-embedding, re-hashing).
REFERENCE_SIDE = 512
REFERENCE_MIME = "image/webp"
REFERENCE_QUALITY = 90


@dataclass(frozen=True)
class PreparedImage:
    """A decoded reference image, ready to insert."""

    sha256: str
    source_name: str
    width: int
    height: int
    hashes: ImageHashes
    reference: bytes
    embedding: np.ndarray | None
    features: Features


@dataclass(frozen=True)
class PreparedWork:
    """A validated work with its images read, hashed and (when CLIP is on) embedded."""

    spec: WorkSpec
    images: tuple[PreparedImage, ...]
    text_embedding: np.ndarray | None
    embedding_model: str | None
    semantic_vectors: np.ndarray | None = None
    semantic_model: str | None = None


def prepare_work(
    spec: WorkSpec,
    encoder: ClipEncoder | None,
    base_dir: Path | None = None,
    text_encoder: TextEncoder | None = None,
) -> PreparedWork:
    """Read, hash, describe and embed a work's images; image paths are relative to
    `base_dir`.  With `text_encoder`, its names and description are embedded too (the
    semantic prompt layer)."""
    decoded = [_read_image(resolve_image_path(path, base_dir)) for path in spec.images]
    image_vectors: list[np.ndarray | None] = [None] * len(decoded)
    text_vector = None
    if encoder is not None:
        text_vector = encoder.encode_text([spec.embedding_text])[0]
        if decoded:
            image_vectors = list(encoder.encode_images([pixels for _, _, pixels in decoded]))
    images = tuple(
        _prepare_image(path, digest, pixels, vector)
        for (path, digest, pixels), vector in zip(decoded, image_vectors, strict=True)
    )
    semantic = None
    if text_encoder is not None:
        semantic = embed_passages(text_encoder, work_passages(spec))
    return PreparedWork(
        spec=spec,
        images=images,
        text_embedding=text_vector,
        embedding_model=encoder.fingerprint if encoder is not None else None,
        semantic_vectors=semantic,
        semantic_model=encoder_fingerprint(text_encoder) if text_encoder is not None else None,
    )


def reference_copy(pixels: Image.Image) -> bytes:
    """A small WebP of the image: enough to re-embed or re-hash it later, a few dozen KB."""
    scale = REFERENCE_SIDE / max(pixels.size)
    small = pixels
    if scale < 1:
        size = (max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale)))
        small = pixels.resize(size, Image.Resampling.LANCZOS)
    return encode_image(small, REFERENCE_MIME, quality=REFERENCE_QUALITY)


def open_reference(data: bytes, name: str) -> Image.Image:
    """Decode a stored reference copy (through the same safe reader as user files)."""
    return open_image(data, name=name).convert("RGB")


def vector_bytes(vector: np.ndarray | None) -> bytes | None:
    """Little-endian float32 bytes of an embedding, for a database column."""
    return None if vector is None else np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of `vector_bytes`."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def resolve_image_path(path: Path, base_dir: Path | None) -> Path:
    """An image path as given, relative paths taken from `base_dir` (the import file's dir)."""
    path = path.expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _read_image(path: Path) -> tuple[Path, str, Image.Image]:
    data = read_file(path)
    pixels = open_image(data, name=str(path)).convert("RGB")
    return path, hashlib.sha256(data).hexdigest(), pixels


def _prepare_image(
    path: Path, digest: str, pixels: Image.Image, vector: np.ndarray | None
) -> PreparedImage:
    reference = reference_copy(pixels)
    return PreparedImage(
        sha256=digest,
        source_name=path.name[:500],
        width=pixels.width,
        height=pixels.height,
        hashes=registration_hashes(pixels),
        reference=reference,
        embedding=vector,
        features=extract(open_reference(reference, path.name)),
    )
