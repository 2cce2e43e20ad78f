"""`works reindex`: bring derived data up to date, then rebuild the index files.

Derived data can fall behind the registry in three ways: the studio configures (or changes)
the CLIP checkpoint or the sentence encoder after works were added, works were registered
before a schema revision added descriptions and local features, or a new Provenant changes
the crop-hash or feature recipe.
Both are recomputed from the reference copy stored with every image, in batches, so a
reindex never needs the original files.  The index is then rebuilt from scratch and published
atomically (see `index`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.policies.known_works.features import FEATURE_VERSION, extract
from provenance.policies.known_works.hashing import HASH_VERSION, registration_hashes, to_signed
from provenance.policies.known_works.index import KnownWorksIndex
from provenance.policies.known_works.prepare import open_reference, vector_bytes
from provenance.policies.known_works.registry import KnownWorksRegistry
from provenance.policies.known_works.semantic_text import (
    embed_passages,
    encoder_fingerprint,
    semantic_bytes,
)

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.policies.clip import ClipEncoder
    from provenance.policies.text_embed import TextEncoder

#: Images decoded and embedded per batch (bounds memory; CLIP batches internally too).
BATCH = 64
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class RefreshReport:
    """How much derived data a reindex recomputed."""

    images_embedded: int
    works_embedded: int
    images_rehashed: int
    images_described: int = 0
    works_described: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def plan(registry: KnownWorksRegistry, encoder: ClipEncoder | None) -> tuple[list[int], list[int]]:
    """(images to embed, images to re-hash): the work a refresh will do."""
    return registry.stale_image_ids(encoder.fingerprint if encoder else None, HASH_VERSION)


def refresh_derived(
    registry: KnownWorksRegistry,
    encoder: ClipEncoder | None,
    to_embed: Sequence[int],
    to_rehash: Sequence[int],
    progress: ProgressFn | None = None,
) -> RefreshReport:
    """Recompute missing or outdated embeddings and hashes from the reference copies."""
    works_embedded = 0
    if encoder is not None:
        _embed_images(registry, encoder, to_embed, progress)
        works_embedded = _embed_works(registry, encoder)
    _rehash_images(registry, to_rehash, progress)
    return RefreshReport(len(to_embed) if encoder else 0, works_embedded, len(to_rehash))


def refresh_features(registry: KnownWorksRegistry, progress: ProgressFn | None = None) -> int:
    """Describe (ORB) every image whose local features are missing or outdated."""
    ids = registry.stale_feature_ids(FEATURE_VERSION)
    for start in range(0, len(ids), BATCH):
        refs = registry.image_references(ids[start : start + BATCH])
        registry.update_features(
            [
                (image_id, extract(open_reference(data, name)).packed())
                for image_id, data, name in refs
            ]
        )
        if progress is not None:
            progress(len(refs))
    return len(ids)


def refresh_semantic(registry: KnownWorksRegistry, encoder: TextEncoder | None) -> int:
    """Embed names and descriptions of works that lack vectors by `encoder`."""
    if encoder is None:
        return 0
    model = encoder_fingerprint(encoder)
    stale = registry.stale_semantic_works(model)
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        registry.update_semantic(
            [
                (work_id, semantic_bytes(embed_passages(encoder, passages)), model)
                for work_id, passages in batch
            ]
        )
    return len(stale)


def rebuild(
    registry: KnownWorksRegistry,
    root: Path,
    encoder: ClipEncoder | None,
    exact_max: int,
    progress: ProgressFn | None = None,
    text_encoder: TextEncoder | None = None,
) -> KnownWorksIndex:
    """Build the index from the registry as it is and publish it under `root`."""
    semantic = encoder_fingerprint(text_encoder) if text_encoder is not None else None
    index = KnownWorksIndex.build(
        registry, encoder.fingerprint if encoder else None, exact_max, progress, semantic
    )
    index.save(root)
    return index


def rebuild_for_settings(
    settings: Settings,
    registry: KnownWorksRegistry,
    encoder: ClipEncoder | None,
    progress: ProgressFn | None = None,
    text_encoder: TextEncoder | None = None,
    full: bool = True,
) -> KnownWorksIndex:
    """The index in the data dir's index folder, with the policy's configured scan limit.

    `full` rebuilds from every row (`works reindex`); otherwise the saved index is brought
    forward by the registry's change log when it can be (`works add|import|remove`: a
    change to a large registry costs the touched works, not a rebuild).
    """
    from provenance.config import validate_options
    from provenance.policies.known_works.index import index_root
    from provenance.policies.known_works.policy import KnownWorksOptions
    from provenance.policies.known_works.upkeep import current_index

    options = validate_options(
        KnownWorksOptions, settings.policies.options_for("known_works"), "policies.known_works"
    )
    root = index_root(settings.index_dir)
    if full:
        return rebuild(registry, root, encoder, options.exact_scan_max, progress, text_encoder)
    semantic = encoder_fingerprint(text_encoder) if text_encoder is not None else None
    return current_index(
        registry,
        root,
        encoder.fingerprint if encoder else None,
        options.exact_scan_max,
        progress=progress,
        semantic_model=semantic,
    )


def text_encoder_for(settings: Settings) -> tuple[TextEncoder | None, str | None]:
    """The sentence encoder the known-works policy is configured with, or (None, why)."""
    from provenance.config import validate_options
    from provenance.policies.known_works.policy import KnownWorksOptions
    from provenance.policies.text_embed import build_text_encoder, plan_text_encoder

    options = validate_options(
        KnownWorksOptions, settings.policies.options_for("known_works"), "policies.known_works"
    )
    if options.semantic_encoder == "off" or not options.check_prompt:
        return None, None
    plan = plan_text_encoder(settings, options.semantic_encoder)
    encoder = build_text_encoder(settings, plan) if plan.enabled else None
    return encoder, None if encoder is not None else plan.detail


def _embed_images(
    registry: KnownWorksRegistry,
    encoder: ClipEncoder,
    ids: Sequence[int],
    progress: ProgressFn | None,
) -> None:
    for start in range(0, len(ids), BATCH):
        refs = registry.image_references(ids[start : start + BATCH])
        pixels = [open_reference(data, name) for _, data, name in refs]
        vectors = encoder.encode_images(pixels)
        registry.update_embeddings(
            [
                (image_id, vector_bytes(vector), encoder.fingerprint)
                for (image_id, _, _), vector in zip(refs, vectors, strict=True)
            ],
            [],
        )
        if progress is not None:
            progress(len(refs))


def _embed_works(registry: KnownWorksRegistry, encoder: ClipEncoder) -> int:
    stale = registry.stale_works(encoder.fingerprint)
    for start in range(0, len(stale), BATCH * 4):
        batch = stale[start : start + BATCH * 4]
        vectors = encoder.encode_text([text for _, text in batch])
        registry.update_embeddings(
            [],
            [
                (work_id, vector_bytes(vector), encoder.fingerprint)
                for (work_id, _), vector in zip(batch, vectors, strict=True)
            ],
        )
    return len(stale)


def _rehash_images(
    registry: KnownWorksRegistry, ids: Sequence[int], progress: ProgressFn | None
) -> None:
    for start in range(0, len(ids), BATCH):
        rows = []
        for image_id, data, name in registry.image_references(ids[start : start + BATCH]):
            hashes = registration_hashes(open_reference(data, name))
            rows.append(
                {
                    "id": image_id,
                    "phash": to_signed(hashes.phash),
                    "dhash": to_signed(hashes.dhash),
                    "crop_hashes": hashes.packed(),
                    "hash_version": HASH_VERSION,
                }
            )
        registry.update_hashes(rows)
        if progress is not None:
            progress(len(rows))
