"""The known-works index: everything a screen compares against, in memory-mapped files.

Layout under `settings.index_dir / "known_works"`:

    CURRENT                  name of the live build directory (swapped atomically)
    build-<rev>-<rand>/
      meta.json              stamp: registry id + revision, models, counts, digests
      works.json             id, title, creator, kind, licence and names of every work
      image_ids.npy          database id of every indexed image (the digest covers them)
      images.faiss           CLIP image embeddings (EmbeddingIndex; owner = work)
      text.faiss             CLIP text embeddings of the works (owner = work)
      hash_*.npy             pHash/dHash of every crop variant (HashIndex; owner = work)
      image_works.npy        the work (position) of every indexed image
      features_*.npy         ORB features of every image and their LSH tables (FeatureIndex)
      semantic_*.npy         sentence embeddings of names and descriptions (owner = work)

Why files and not the database: a screen must compare against every registered image in
milliseconds, which means one contiguous matrix and a prebuilt hash index, not a row scan.
The database stays the source of truth; the stamp says which revision of it the files
reflect, so a changed registry (or another database) is noticed with one read.  A build is
written into a fresh directory and published by replacing `CURRENT`, so readers never see
half an index.

Never trusted blindly: `meta.json` holds the sha256 of every other file of the build, and
`open` checks them all (and that no file is missing or extra) before using any.  A flipped
byte, a truncated or swapped file, is reported as corrupt and the index rebuilt from the
database.  An index that is merely behind the registry is brought forward by applying the
works added and removed since (`delta`), without re-reading every row.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from provenance.errors import LedgerError
from provenance.policies.known_works.featureindex import FeatureIndex
from provenance.policies.known_works.features import FEATURE_VERSION, Features, unpack_features
from provenance.policies.known_works.hashindex import HashIndex
from provenance.policies.known_works.registry import KnownWorksRegistry, RegistryStamp
from provenance.policies.known_works.semantic_text import semantic_from_bytes, work_words
from provenance.policies.known_works.specs import work_names
from provenance.policies.known_works.vectors import EmbeddingIndex

if TYPE_CHECKING:
    from sqlalchemy import RowMapping

INDEX_FORMAT = 3
_META = "meta.json"
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
    removed: bool = False

    def tombstone(self) -> IndexedWork:
        """This position after its work left the registry: no names, no words, no vectors.

        Positions are the owner ids of every vector and hash row, so an index brought
        forward keeps them stable and marks removed works instead of renumbering.
        """
        return IndexedWork(self.id, "", "", self.kind, "", (), (), removed=True)


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
        images: EmbeddingIndex,
        texts: EmbeddingIndex,
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
        works, position, text_vecs, text_owners = read_works(registry.iter_works(), clip_model)
        semantic, semantic_owners = read_semantic(registry.iter_works(), semantic_model)
        collected = read_images(registry.iter_images(IMAGE_COLUMNS), clip_model, position, progress)
        index = cls(
            _blank_stamp(stamp, clip_model, semantic_model),
            works,
            collected.image_ids,
            EmbeddingIndex.build(collected.vectors, collected.vector_owners, exact_max),
            EmbeddingIndex.build(text_vecs, text_owners, exact_max),
            HashIndex.build(collected.hashes, collected.hash_owners),
            collected.image_works,
            FeatureIndex.build(collected.features),
            semantic,
            semantic_owners,
        )
        return index.restamped(stamp.revision)

    def restamped(self, revision: int) -> KnownWorksIndex:
        """This index with its stamp recounted from what it holds, at `revision`."""
        live = [w for w in self.works if not w.removed]
        s = self.stamp
        embedded = {int(o) for o in np.unique(np.asarray(self.semantic_owners))}
        self.stamp = IndexStamp(
            format=INDEX_FORMAT,
            registry_id=s.registry_id,
            revision=revision,
            clip_model=s.clip_model,
            works=len(live),
            images=len(self.image_ids),
            hashes=len(self.hashes),
            unembedded_images=len(self.image_ids) - len(self.images) if s.clip_model else 0,
            digest=_digest(self.works, self.image_ids),
            semantic_model=s.semantic_model,
            semantic_passages=len(self.semantic_owners),
            unembedded_works=(
                sum(1 for i, w in enumerate(self.works) if not w.removed and i not in embedded)
                if s.semantic_model
                else 0
            ),
            featured_images=int(np.count_nonzero(np.asarray(self.features.sizes).any(axis=1))),
        )
        return self

    def save(self, root: Path) -> Path:
        """Write a new build directory under `root` and make it current; returns it."""
        root.mkdir(parents=True, exist_ok=True)
        name = f"build-{self.stamp.revision}-{uuid.uuid4().hex[:8]}"
        staging = root / f".{name}"
        staging.mkdir()
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
        meta = {**asdict(self.stamp), "files": _file_digests(staging)}
        (staging / _META).write_text(json.dumps(meta, indent=2), "utf-8")
        os.replace(staging, root / name)
        _publish(root, name)
        _remove_old_builds(root, keep=name)
        return root / name

    @classmethod
    def open(cls, root: Path) -> KnownWorksIndex | None:
        """The current index under `root`, or None when absent, torn, corrupt or outdated."""
        return cls.inspect(root)[0]

    @classmethod
    def inspect(cls, root: Path) -> tuple[KnownWorksIndex | None, str | None]:
        """(the current index, None), or (None, why it cannot be used) in words."""
        try:
            build = root / (root / _CURRENT).read_text().strip()
            meta = json.loads((build / _META).read_text("utf-8"))
            if meta.get("format") != INDEX_FORMAT:
                return None, "known-works index is of an older format; rebuilding it"
            damaged = _damaged_files(build, meta.pop("files"))
            if damaged:
                return None, f"known-works index file {damaged} is corrupt; rebuilding it"
            stamp = IndexStamp(**meta)
            works = [
                IndexedWork(**{**w, "names": tuple(w["names"]), "words": tuple(w["words"])})
                for w in json.loads((build / "works.json").read_text("utf-8"))
            ]
            image_ids = np.load(build / "image_ids.npy")
            index = cls(
                stamp,
                works,
                image_ids,
                EmbeddingIndex.load(build, "images"),
                EmbeddingIndex.load(build, "text"),
                HashIndex.load(build),
                np.load(build / "image_works.npy"),
                FeatureIndex.load(build),
                np.load(build / "semantic_vectors.npy", mmap_mode="r"),
                np.load(build / "semantic_owners.npy"),
            )
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None, "known-works index is missing or unreadable; building it"
        if not index.consistent():
            return None, "known-works index does not match its stamp; rebuilding it"
        return index, None

    def consistent(self) -> bool:
        """Whether the files agree with their stamp (sizes and the digest of row ids)."""
        s = self.stamp
        return (
            sum(not w.removed for w in self.works) == s.works
            and len(self.image_ids) == s.images
            and len(self.hashes) == s.hashes
            and len(self.image_works) == s.images
            and self.features.images == s.images
            and len(self.semantic_owners) == s.semantic_passages
            and _digest(self.works, self.image_ids) == s.digest
        )


#: The image columns an index reads.
IMAGE_COLUMNS = (
    "id", "work_id", "crop_hashes", "clip_embedding", "embedding_model", "features",
    "feature_version",
)  # fmt: skip


@dataclass
class CollectedImages:
    """What an index keeps of a run of image rows (owners are work positions)."""

    image_ids: np.ndarray
    vectors: np.ndarray
    vector_owners: np.ndarray
    hashes: np.ndarray
    hash_owners: np.ndarray
    image_works: np.ndarray
    features: list[Features | None]


def read_works(
    rows: Iterable[RowMapping], clip_model: str | None, first: int = 0
) -> tuple[list[IndexedWork], dict[str, int], np.ndarray, np.ndarray]:
    """Works of `rows`, their positions (from `first`), and text embeddings by `clip_model`."""
    works: list[IndexedWork] = []
    blobs: list[bytes] = []
    owners: list[int] = []
    for row in rows:
        aliases = tuple(row["aliases"] or ())
        names = work_names(row["title"], row["creator"], row["kind"], aliases)
        if clip_model is not None and row["embedding_model"] == clip_model:
            blobs.append(bytes(row["text_embedding"]))
            owners.append(first + len(works))
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
    position = {w.id: first + i for i, w in enumerate(works)}
    return works, position, _stack(blobs), np.asarray(owners, dtype=np.int32)


def read_images(
    rows: Iterable[RowMapping],
    clip_model: str | None,
    position: dict[str, int],
    progress: ProgressFn | None = None,
) -> CollectedImages:
    """The hashes, embeddings and features of image `rows` (`IMAGE_COLUMNS`), by work."""
    ids: list[int] = []
    image_works: list[int] = []
    features: list[Features | None] = []
    blobs: list[bytes] = []
    vector_owners: list[int] = []
    hash_blobs: list[bytes] = []
    hash_owners: list[np.ndarray] = []
    for row in rows:
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
        if progress is not None:
            progress(1)
    hashes = np.frombuffer(b"".join(hash_blobs), dtype="<u8").astype(np.uint64).reshape(-1, 2)
    return CollectedImages(
        image_ids=np.asarray(ids, dtype=np.int64),
        vectors=_stack(blobs),
        vector_owners=np.asarray(vector_owners, dtype=np.int32),
        hashes=hashes,
        hash_owners=np.concatenate(hash_owners) if hash_owners else np.zeros(0, np.int32),
        image_works=np.asarray(image_works, dtype=np.int32),
        features=features,
    )


def read_semantic(
    rows: Iterable[RowMapping], semantic_model: str | None, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Passage vectors by `semantic_model` of work `rows`, and their positions (from `first`).

    `rows` are the same works in the same order as `read_works` saw, so positions agree.
    """
    blocks: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for position, row in enumerate(rows, start=first):
        if semantic_model is None:
            continue
        if row["semantic_model"] != semantic_model or row["semantic_vectors"] is None:
            continue
        vectors = semantic_from_bytes(bytes(row["semantic_vectors"]))
        blocks.append(vectors)
        owners.append(np.full(len(vectors), position, dtype=np.int32))
    if not blocks:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int32)
    if len({b.shape[1] for b in blocks}) != 1:
        raise LedgerError("known-works semantic vectors of different widths share one model tag")
    return np.concatenate(blocks), np.concatenate(owners)


def _stack(blobs: list[bytes]) -> np.ndarray:
    """Embedding blobs as one contiguous (n, d) float32 matrix."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    dim = len(blobs[0]) // 4
    if any(len(b) != dim * 4 for b in blobs):
        raise LedgerError("known-works embeddings of different widths share one model tag")
    return np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(-1, dim)


def _digest(works: list[IndexedWork], image_ids: np.ndarray) -> str:
    """sha256 over the ids of the works (not removed ones) and images the index holds."""
    h = hashlib.sha256()
    for work in works:
        if work.removed:
            continue
        h.update(work.id.encode("utf-8") + b"\0")
    h.update(np.ascontiguousarray(image_ids, dtype="<i8").tobytes())
    return h.hexdigest()


def _blank_stamp(
    stamp: RegistryStamp, clip_model: str | None, semantic_model: str | None
) -> IndexStamp:
    """A stamp naming the registry and models, its counts filled in by `restamped`."""
    return IndexStamp(
        INDEX_FORMAT, stamp.registry_id, stamp.revision, clip_model, 0, 0, 0, 0, "",
        semantic_model,
    )  # fmt: skip


def _file_digests(build: Path) -> dict[str, str]:
    """sha256 of every file of a build (but `meta.json`, which holds them)."""
    return {
        path.name: _sha256(path)
        for path in sorted(build.iterdir())
        if path.is_file() and path.name != _META
    }


def _damaged_files(build: Path, expected: dict[str, str]) -> str | None:
    """The name of a missing, extra or altered file of `build`, or None when all match."""
    present = {p.name for p in build.iterdir() if p.is_file() and p.name != _META}
    for name in sorted(present ^ set(expected)):
        return name
    for name, digest in expected.items():
        if _sha256(build / name) != digest:
            return name
    return None


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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
