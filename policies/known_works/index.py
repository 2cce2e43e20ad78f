"""The known-works index: everything a screen compares against, in memory-mapped files.

Layout under `settings.index_dir / "known_works"`:

    CURRENT                  name of the live build directory (swapped atomically)
    build-<rev>-<rand>/
      meta.json              stamp: registry id + revision, CLIP model, counts, digest
      works.json             id, title, creator, kind, licence and names of every work
      image_ids.npy          database id of every indexed image (the digest covers them)
      images_*.npy           CLIP image embeddings (EmbeddingMatrix; owner = work)
      text_*.npy             CLIP text embeddings of the works (owner = work)
      hash_*.npy             pHash/dHash of every crop variant (HashIndex; owner = work)
      image_works.npy        the work (position) of every indexed image
      features_*.npy         ORB features of every image and their LSH tables (FeatureIndex)
      semantic_*.npy         sentence embeddings of names and descriptions (owner = work)

Why files and not the database: a screen must compare against every registered image in
milliseconds, which means one contiguous matrix and a prebuilt hash index, not a row scan.
The database stays the source of truth; the stamp says which revision of it the files
reflect, so a changed registry (or another database) is noticed with one read and the index
is rebuilt.  A build is written into a fresh directory and published by replacing
`CURRENT`, so readers never see half an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from provenance.errors import LedgerError
from provenance.policies.known_works.featureindex import FeatureIndex
from provenance.policies.known_works.features import FEATURE_VERSION, Features, unpack_features
from provenance.policies.known_works.hashindex import HashIndex
from provenance.policies.known_works.registry import KnownWorksRegistry, RegistryStamp
from provenance.policies.known_works.semantic_text import semantic_from_bytes, work_words
from provenance.policies.known_works.specs import work_names
from provenance.policies.known_works.vectors import EmbeddingMatrix

INDEX_FORMAT = 2
_CURRENT = "CURRENT"
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class IndexedWork:
    """What a verdict needs to name a work."""

    id: str
    title: str
    creator: str
    kind: str
    license: str
    names: tuple[str, ...]
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class IndexStamp:
    """Which registry state an index reflects, and what it holds."""

    format: int
    registry_id: str
    revision: int
    clip_model: str | None
    works: int
    images: int
    hashes: int
    unembedded_images: int
    digest: str
    semantic_model: str | None = None
    semantic_passages: int = 0
    unembedded_works: int = 0
    featured_images: int = 0

    def reflects(
        self, registry: RegistryStamp, clip_model: str | None, semantic_model: str | None = None
    ) -> bool:
        """Whether this index is current for that registry state and those encoders."""
        return (
            self.format == INDEX_FORMAT
            and self.registry_id == registry.registry_id
            and self.revision == registry.revision
            and self.clip_model == clip_model
            and self.semantic_model == semantic_model
        )


class KnownWorksIndex:
    """Works, their CLIP embeddings and their hash index, as of one registry revision."""

    def __init__(
        self,
        stamp: IndexStamp,
        works: list[IndexedWork],
        image_ids: np.ndarray,
        images: EmbeddingMatrix,
        texts: EmbeddingMatrix,
        hashes: HashIndex,
        image_works: np.ndarray | None = None,
        features: FeatureIndex | None = None,
        semantic: np.ndarray | None = None,
        semantic_owners: np.ndarray | None = None,
    ) -> None:
        self.stamp = stamp
        self.works = works
        self.image_ids = image_ids
        self.images = images
        self.texts = texts
        self.hashes = hashes
        self.image_works = image_works if image_works is not None else np.zeros(0, np.int32)
        self.features = features if features is not None else FeatureIndex.build([])
        self.semantic = semantic if semantic is not None else np.zeros((0, 0), np.float32)
        self.semantic_owners = (
            semantic_owners if semantic_owners is not None else np.zeros(0, np.int32)
        )

    @classmethod
    def build(
        cls,
        registry: KnownWorksRegistry,
        clip_model: str | None,
        exact_max: int = 200_000,
        progress: ProgressFn | None = None,
        semantic_model: str | None = None,
    ) -> KnownWorksIndex:
        """Read every work and image row and build the in-memory index.

        Only embeddings made by `clip_model` (and sentence embeddings by `semantic_model`)
        are indexed; images embedded by another model (or none) are counted in
        `stamp.unembedded_images` (works: `unembedded_works`) for `works reindex` to fix.
        """
        stamp = registry.stamp()
        works, position, text_vecs, text_owners = _read_works(registry, clip_model)
        semantic, semantic_owners, unembedded_works = _read_semantic(registry, semantic_model)
        collected = _read_images(registry, clip_model, position, progress)
        texts = EmbeddingMatrix.build(text_vecs, text_owners, exact_max)
        images = EmbeddingMatrix.build(collected.vectors, collected.vector_owners, exact_max)
        hashes = HashIndex.build(collected.hashes, collected.hash_owners)
        index_stamp = IndexStamp(
            format=INDEX_FORMAT,
            registry_id=stamp.registry_id,
            revision=stamp.revision,
            clip_model=clip_model,
            works=len(works),
            images=len(collected.image_ids),
            hashes=len(hashes),
            unembedded_images=collected.unembedded,
            digest=_digest(works, collected.image_ids),
            semantic_model=semantic_model,
            semantic_passages=len(semantic_owners),
            unembedded_works=unembedded_works,
            featured_images=sum(f is not None for f in collected.features),
        )
        return cls(
            index_stamp,
            works,
            collected.image_ids,
            images,
            texts,
            hashes,
            collected.image_works,
            FeatureIndex.build(collected.features),
            semantic,
            semantic_owners,
        )

    def save(self, root: Path) -> Path:
        """Write a new build directory under `root` and make it current; returns it."""
        root.mkdir(parents=True, exist_ok=True)
        name = f"build-{self.stamp.revision}-{uuid.uuid4().hex[:8]}"
        staging = root / f".{name}"
        staging.mkdir()
        (staging / "meta.json").write_text(json.dumps(asdict(self.stamp), indent=2), "utf-8")
        (staging / "works.json").write_text(
            json.dumps([asdict(w) for w in self.works], ensure_ascii=False), "utf-8"
        )
        np.save(staging / "image_ids.npy", self.image_ids)
        self.images.save(staging, "images")
        self.texts.save(staging, "text")
        self.hashes.save(staging)
        np.save(staging / "image_works.npy", self.image_works)
        self.features.save(staging)
        np.save(staging / "semantic_vectors.npy", self.semantic)
        np.save(staging / "semantic_owners.npy", self.semantic_owners)
        os.replace(staging, root / name)
        _publish(root, name)
        _remove_old_builds(root, keep=name)
        return root / name

    @classmethod
    def open(cls, root: Path) -> KnownWorksIndex | None:
        """The current index under `root`, or None when absent, torn or of another format."""
        try:
            build = root / (root / _CURRENT).read_text().strip()
            stamp = IndexStamp(**json.loads((build / "meta.json").read_text("utf-8")))
            if stamp.format != INDEX_FORMAT:
                return None
            works = [
                IndexedWork(**{**w, "names": tuple(w["names"]), "words": tuple(w["words"])})
                for w in json.loads((build / "works.json").read_text("utf-8"))
            ]
            image_ids = np.load(build / "image_ids.npy")
            index = cls(
                stamp,
                works,
                image_ids,
                EmbeddingMatrix.load(build, "images"),
                EmbeddingMatrix.load(build, "text"),
                HashIndex.load(build),
                np.load(build / "image_works.npy"),
                FeatureIndex.load(build),
                np.load(build / "semantic_vectors.npy", mmap_mode="r"),
                np.load(build / "semantic_owners.npy"),
            )
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            return None
        return index if index.consistent() else None

    def consistent(self) -> bool:
        """Whether the files agree with their stamp (sizes and the digest of row ids)."""
        s = self.stamp
        return (
            len(self.works) == s.works
            and len(self.image_ids) == s.images
            and len(self.hashes) == s.hashes
            and len(self.image_works) == s.images
            and self.features.images == s.images
            and len(self.semantic_owners) == s.semantic_passages
            and _digest(self.works, self.image_ids) == s.digest
        )


@dataclass
class _CollectedImages:
    image_ids: np.ndarray
    vectors: np.ndarray
    vector_owners: np.ndarray
    hashes: np.ndarray
    hash_owners: np.ndarray
    unembedded: int
    image_works: np.ndarray
    features: list[Features | None]


def _read_works(
    registry: KnownWorksRegistry, clip_model: str | None
) -> tuple[list[IndexedWork], dict[str, int], np.ndarray, np.ndarray]:
    """Works in id order, their positions, and the text embeddings made by `clip_model`."""
    works: list[IndexedWork] = []
    blobs: list[bytes] = []
    owners: list[int] = []
    for row in registry.iter_works():
        aliases = tuple(row["aliases"] or ())
        names = work_names(row["title"], row["creator"], row["kind"], aliases)
        if clip_model is not None and row["embedding_model"] == clip_model:
            blobs.append(bytes(row["text_embedding"]))
            owners.append(len(works))
        words = work_words(row["title"], row["creator"], aliases, row["description"] or "")
        works.append(
            IndexedWork(
                row["id"],
                row["title"],
                row["creator"],
                row["kind"],
                row["license"],
                names,
                tuple(words),
            )
        )
    position = {w.id: i for i, w in enumerate(works)}
    return works, position, _stack(blobs), np.asarray(owners, dtype=np.int32)


def _read_images(
    registry: KnownWorksRegistry,
    clip_model: str | None,
    position: dict[str, int],
    progress: ProgressFn | None,
) -> _CollectedImages:
    columns = (
        "id", "work_id", "crop_hashes", "clip_embedding", "embedding_model", "features",
        "feature_version",
    )  # fmt: skip
    ids: list[int] = []
    image_works: list[int] = []
    features: list[Features | None] = []
    blobs: list[bytes] = []
    vector_owners: list[int] = []
    hash_blobs: list[bytes] = []
    hash_owners: list[np.ndarray] = []
    unembedded = 0
    for row in registry.iter_images(columns):
        owner = position.get(row["work_id"])
        if owner is None:  # a work removed between our two reads: the revision moved on
            raise LedgerError("the known-works registry changed while indexing; run it again")
        ids.append(int(row["id"]))
        image_works.append(owner)
        current = row["features"] is not None and row["feature_version"] == FEATURE_VERSION
        features.append(unpack_features(bytes(row["features"])) if current else None)
        crop = bytes(row["crop_hashes"])
        hash_blobs.append(crop)
        hash_owners.append(np.full(len(crop) // 16, owner, dtype=np.int32))
        if clip_model is not None and row["embedding_model"] == clip_model:
            blobs.append(bytes(row["clip_embedding"]))
            vector_owners.append(owner)
        elif clip_model is not None:
            unembedded += 1
        if progress is not None:
            progress(1)
    hashes = np.frombuffer(b"".join(hash_blobs), dtype="<u8").astype(np.uint64).reshape(-1, 2)
    return _CollectedImages(
        image_ids=np.asarray(ids, dtype=np.int64),
        vectors=_stack(blobs),
        vector_owners=np.asarray(vector_owners, dtype=np.int32),
        hashes=hashes,
        hash_owners=np.concatenate(hash_owners) if hash_owners else np.zeros(0, np.int32),
        unembedded=unembedded,
        image_works=np.asarray(image_works, dtype=np.int32),
        features=features,
    )


def _read_semantic(
    registry: KnownWorksRegistry, semantic_model: str | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Passage vectors by `semantic_model`, their work positions, and works lacking them.

    Works are read in the same id order as `_read_works`, so positions agree.
    """
    blocks: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    missing = 0
    for position, row in enumerate(registry.iter_works()):
        if semantic_model is None:
            continue
        if row["semantic_model"] != semantic_model or row["semantic_vectors"] is None:
            missing += 1
            continue
        vectors = semantic_from_bytes(bytes(row["semantic_vectors"]))
        blocks.append(vectors)
        owners.append(np.full(len(vectors), position, dtype=np.int32))
    if not blocks:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int32), missing
    if len({b.shape[1] for b in blocks}) != 1:
        raise LedgerError("known-works semantic vectors of different widths share one model tag")
    return np.concatenate(blocks), np.concatenate(owners), missing


def _stack(blobs: list[bytes]) -> np.ndarray:
    """Embedding blobs as one contiguous (n, d) float32 matrix."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    dim = len(blobs[0]) // 4
    if any(len(b) != dim * 4 for b in blobs):
        raise LedgerError("known-works embeddings of different widths share one model tag")
    return np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(-1, dim)


def _digest(works: list[IndexedWork], image_ids: np.ndarray) -> str:
    """sha256 over the work ids and image ids the index holds."""
    h = hashlib.sha256()
    for work in works:
        h.update(work.id.encode("utf-8") + b"\0")
    h.update(np.ascontiguousarray(image_ids, dtype="<i8").tobytes())
    return h.hexdigest()


def _publish(root: Path, name: str) -> None:
    tmp = root / f".{_CURRENT}.{uuid.uuid4().hex[:8]}"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / _CURRENT)


def _remove_old_builds(root: Path, keep: str) -> None:
    """Delete superseded builds (open memory maps of readers stay valid on POSIX)."""
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith("build-") and path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


def index_root(index_dir: Path) -> Path:
    """Where the known-works index lives inside `settings.index_dir`."""
    return index_dir / "known_works"


def current_index(
    registry: KnownWorksRegistry,
    root: Path,
    clip_model: str | None,
    exact_max: int = 200_000,
    notify: Callable[[str], None] | None = None,
    progress: ProgressFn | None = None,
    semantic_model: str | None = None,
) -> KnownWorksIndex:
    """The index for the registry as it is now: the saved one if current, else rebuilt.

    `notify` hears why a rebuild happens (missing, stale, another CLIP model), so a studio
    learns that a screen paid for an index build instead of wondering why it was slow.
    """
    stamp = registry.stamp()
    found = KnownWorksIndex.open(root)
    if found is not None and found.stamp.reflects(stamp, clip_model, semantic_model):
        return found
    if notify is not None:
        notify(stale_reason(found.stamp if found else None, stamp, clip_model, semantic_model))
    index = KnownWorksIndex.build(registry, clip_model, exact_max, progress, semantic_model)
    index.save(root)
    return index


def stale_reason(
    found: IndexStamp | None,
    stamp: RegistryStamp,
    clip_model: str | None,
    semantic_model: str | None = None,
) -> str:
    """Why an index does not reflect the registry, in words."""
    if found is None:
        return "known-works index is missing or unreadable; building it"
    if found.registry_id != stamp.registry_id:
        return "known-works index was built from another database; rebuilding it"
    if found.clip_model != clip_model:
        return (
            f"known-works index was built for CLIP model {found.clip_model or 'none'}, "
            f"now {clip_model or 'none'}; rebuilding it"
        )
    if found.semantic_model != semantic_model and found.revision == stamp.revision:
        return (
            f"known-works index was built for text encoder {found.semantic_model or 'none'}, "
            f"now {semantic_model or 'none'}; rebuilding it"
        )
    return (
        f"known-works index is stale (built at registry revision {found.revision}, "
        f"registry now at {stamp.revision}); rebuilding it"
    )
