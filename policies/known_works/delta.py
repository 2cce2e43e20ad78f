"""Bringing a saved known-works index forward by the works added and removed since it was built.

A registry of a million works changes a few at a time; rebuilding the index for each change
would re-read every row and retrain the IVF lists.  Every registry write logs what it did
(`known_works_changes`), so an index at revision N reaches revision M by:

1. reading the change log for N+1..M: it must cover every revision, and hold only "add" and
   "remove" (a "derive", such as re-embedding after a model change, needs a full rebuild);
2. removing every row owned by a touched work (a removed work, or one removed and added
   again), and marking its position removed (positions are the owner ids of every vector and
   hash row, so they stay stable; a tombstone has no names and no vectors);
3. reading the touched works that exist now, with their images, and appending them.

The embeddings change in place in faiss (`EmbeddingIndex.add` / `remove`, no retraining);
the hash, semantic and feature arrays are filtered and appended in memory (the feature
index's lookup tables are re-sorted from the descriptors it holds).  Nothing is re-read from
the database but the touched works.  When tombstones pile up past `MAX_REMOVED_SHARE` of
the positions, a full rebuild compacts them instead.
"""

from __future__ import annotations

import numpy as np

from provenance.policies.known_works.featureindex import FeatureIndex
from provenance.policies.known_works.features import Features
from provenance.policies.known_works.hashindex import HashIndex
from provenance.policies.known_works.index import (
    IMAGE_COLUMNS,
    CollectedImages,
    KnownWorksIndex,
    read_images,
    read_semantic,
    read_works,
)
from provenance.policies.known_works.registry import KnownWorksRegistry, RegistryChange

#: Above this share of removed positions, a full rebuild compacts the index instead.
MAX_REMOVED_SHARE = 0.25
#: ...but never for fewer removed positions than this (a small registry rebuilds in no time).
MIN_REMOVED_FOR_COMPACTION = 1_000


def logged_changes(
    registry: KnownWorksRegistry, since: int, until: int
) -> list[RegistryChange] | None:
    """The changes of revisions since+1..until, or None when the log misses one of them."""
    changes = [c for c in registry.changes_since(since) if c.revision <= until]
    if [c.revision for c in changes] != list(range(since + 1, until + 1)):
        return None
    return changes


def forward(
    index: KnownWorksIndex, registry: KnownWorksRegistry, changes: list[RegistryChange]
) -> KnownWorksIndex | None:
    """`index` with `changes` applied (it is changed in place), or None if only a rebuild can.

    `index` must be a freshly opened one: its embeddings are modified in place.
    """
    if any(c.change not in ("add", "remove") for c in changes) or not changes:
        return None
    touched = {work_id for change in changes for work_id in change.work_ids}
    gone = np.asarray(
        [i for i, w in enumerate(index.works) if w.id in touched and not w.removed],
        dtype=np.int64,
    )
    rows = registry.works_by_ids(sorted(touched))
    removed_after = sum(w.removed for w in index.works) + len(gone)
    positions_after = len(index.works) + len(rows)
    if removed_after > max(MIN_REMOVED_FOR_COMPACTION, MAX_REMOVED_SHARE * positions_after):
        return None
    stamp = index.stamp
    first = len(index.works)
    works, position, text_vecs, text_owners = read_works(rows, stamp.clip_model, first)
    semantic, semantic_owners = read_semantic(rows, stamp.semantic_model, first)
    images = registry.images_of_works(IMAGE_COLUMNS, list(position))
    added = read_images(images, stamp.clip_model, position)

    index.images.remove(gone)
    index.images.add(added.vectors, added.vector_owners)
    index.texts.remove(gone)
    index.texts.add(text_vecs, text_owners)
    keep_images = ~np.isin(index.image_works, gone)
    keep_passages = ~np.isin(index.semantic_owners, gone)
    gone_set = {int(i) for i in gone}
    return KnownWorksIndex(
        stamp,
        [w.tombstone() if i in gone_set else w for i, w in enumerate(index.works)] + works,
        np.concatenate([index.image_ids[keep_images], added.image_ids]),
        index.images,
        index.texts,
        _hashes(index.hashes, gone, added),
        np.concatenate([index.image_works[keep_images], added.image_works]),
        _features(index.features, keep_images, added.features),
        _stacked(np.asarray(index.semantic)[keep_passages], semantic),
        np.concatenate([np.asarray(index.semantic_owners)[keep_passages], semantic_owners]),
    )


def _hashes(hashes: HashIndex, gone: np.ndarray, added: CollectedImages) -> HashIndex:
    keep = ~np.isin(hashes.owners, gone)
    kept = np.stack([np.asarray(hashes.phash)[keep], np.asarray(hashes.dhash)[keep]], axis=1)
    return HashIndex.build(
        np.concatenate([kept.reshape(-1, 2), added.hashes]),
        np.concatenate([np.asarray(hashes.owners)[keep], added.hash_owners]),
    )


def _features(
    features: FeatureIndex, keep: np.ndarray, added: list[Features | None]
) -> FeatureIndex:
    """The feature index of the kept images then the added ones (None: no features)."""
    kept: list[Features | None] = [
        features.features_of(int(i)) if np.asarray(features.sizes[i]).any() else None
        for i in np.flatnonzero(keep)
    ]
    return FeatureIndex.build(kept + added)


def _stacked(kept: np.ndarray, added: np.ndarray) -> np.ndarray:
    """Two (n, d) blocks as one, either of which may be the empty (0, 0) placeholder."""
    blocks = [b for b in (kept, added) if b.size]
    if not blocks:
        return np.zeros((0, 0), np.float32)
    return np.ascontiguousarray(np.concatenate(blocks), dtype=np.float32)
