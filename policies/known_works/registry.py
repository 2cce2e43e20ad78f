"""The known-works registry in the database: add, list, remove, and stream rows for the index.

All database access of the known-works policy goes through `KnownWorksRegistry`, a small
repository over an SQLAlchemy engine.  It takes the engine of the studio's ledger when the
pipeline hands one over (`PolicyContext.ledger`), or opens its own from `database_url`.

Every change runs in one transaction that also bumps `known_works_revision` and logs what
it changed in `known_works_changes`, so an index built from revision N is known to be stale
the moment anything changes, and can be brought forward by the works added and removed.
Duplicates (a work id, or an image already registered under any work) are refused by name,
before writing and again by the database's unique constraints if another writer raced us.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from provenance.errors import BadInputError, LedgerError, translate_errors
from provenance.ledger.db import begin_immediate, create_engine, redact
from provenance.policies.known_works.features import FEATURE_VERSION
from provenance.policies.known_works.hashing import HASH_VERSION, to_signed
from provenance.policies.known_works.models import (
    REVISION_ROW,
    KnownWorkImageRow,
    KnownWorkRow,
    KnownWorksChangeRow,
    KnownWorksRevisionRow,
)
from provenance.policies.known_works.prepare import PreparedImage, PreparedWork, vector_bytes
from provenance.policies.known_works.semantic_text import passages_for, semantic_bytes
from provenance.policies.known_works.specs import work_text

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.protocols import PolicyContext

WORKS = cast(sa.Table, KnownWorkRow.__table__)
IMAGES = cast(sa.Table, KnownWorkImageRow.__table__)
REVISION = cast(sa.Table, KnownWorksRevisionRow.__table__)
CHANGES = cast(sa.Table, KnownWorksChangeRow.__table__)
_IN_CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class RegistryStamp:
    """Which registry (database) and which state of it: what an index is built from."""

    registry_id: str
    revision: int


@dataclass(frozen=True)
class RegistryChange:
    """What one revision did: "add" or "remove" these works, or "derive" (data recomputed)."""

    revision: int
    change: str
    work_ids: tuple[str, ...]


@dataclass(frozen=True)
class WorkSummary:
    """A registered work as `works list` shows it."""

    id: str
    title: str
    creator: str
    kind: str
    aliases: tuple[str, ...]
    license: str
    images: int
    created_at: datetime
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`works list --json`)."""
        out = asdict(self)
        return out | {"aliases": list(self.aliases), "created_at": self.created_at.isoformat()}


class KnownWorksRegistry:
    """Repository over the registry tables (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def from_settings(cls, settings: Settings) -> KnownWorksRegistry:
        """Open the registry in the settings' database."""
        engine = create_engine(
            settings.database_url,
            busy_timeout_ms=settings.ledger.busy_timeout_ms,
            pool_size=settings.ledger.pool_size,
        )
        return cls(engine)

    @classmethod
    def from_context(cls, context: PolicyContext) -> KnownWorksRegistry:
        """Share the ledger's engine when the pipeline passed a ledger; else open our own."""
        engine = getattr(context.ledger, "engine", None)
        if isinstance(engine, Engine):
            return cls(engine)
        return cls.from_settings(context.settings)

    @property
    def display_url(self) -> str:
        """The database URL with its password hidden."""
        return redact(self._engine.url)

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    # -- reads -------------------------------------------------------------------------

    def stamp(self) -> RegistryStamp:
        """The registry's identity and revision (one primary-key read)."""
        stmt = sa.select(REVISION.c.registry_id, REVISION.c.revision).where(
            REVISION.c.id == REVISION_ROW
        )
        try:
            with self._reading("reading the known-works revision") as conn:
                row = conn.execute(stmt).one_or_none()
        except LedgerError as exc:
            if not self._has_registry_tables():
                raise LedgerError(
                    f"the known-works registry is not set up in {self.display_url}; "
                    "run `provenant db upgrade`"
                ) from exc
            raise
        if row is None:
            raise LedgerError(
                f"known-works registry in {self.display_url} has no revision row; "
                "run `provenant db upgrade`"
            )
        return RegistryStamp(row.registry_id, int(row.revision))

    def _has_registry_tables(self) -> bool:
        with self._reading("inspecting the known-works registry") as conn:
            return sa.inspect(conn).has_table(REVISION.name)

    def count_works(self) -> int:
        """How many works are registered."""
        with self._reading("counting known works") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(WORKS)).scalar_one())

    def list_works(self) -> list[WorkSummary]:
        """Every work, ordered by id, with its image count."""
        with self._reading("listing known works") as conn:
            return [_summary(row._mapping) for row in conn.execute(_summaries())]

    def get(self, work_id: str) -> WorkSummary | None:
        """One work by the studio's id, or None."""
        return next(iter(self.list_works_by_ids([work_id])), None)

    def list_works_by_ids(self, ids: Sequence[str]) -> list[WorkSummary]:
        """The works among `ids` that are registered, ordered by id."""
        found: list[WorkSummary] = []
        with self._reading("reading known works") as conn:
            for chunk in _chunks(list(ids)):
                stmt = _summaries().where(WORKS.c.id.in_(chunk))
                found.extend(_summary(row._mapping) for row in conn.execute(stmt))
        return sorted(found, key=lambda w: w.id)

    def registered_digests(self, digests: Sequence[str]) -> dict[str, str]:
        """sha256 -> work id, for the given image digests that are already registered."""
        out: dict[str, str] = {}
        with self._reading("checking registered images") as conn:
            for chunk in _chunks(list(digests)):
                stmt = sa.select(IMAGES.c.sha256, IMAGES.c.work_id).where(
                    IMAGES.c.sha256.in_(chunk)
                )
                out.update({row.sha256: row.work_id for row in conn.execute(stmt)})
        return out

    def iter_works(self, batch: int = 1000) -> Iterator[sa.RowMapping]:
        """Every work row, in id order, streamed (the index builder reads millions)."""
        yield from self._stream(sa.select(WORKS).order_by(WORKS.c.id), batch)

    def iter_images(self, columns: Sequence[str], batch: int = 1000) -> Iterator[sa.RowMapping]:
        """The chosen columns of every image row, in id order, streamed."""
        stmt = sa.select(*(IMAGES.c[name] for name in columns)).order_by(IMAGES.c.id)
        yield from self._stream(stmt, batch)

    def works_by_ids(self, ids: Sequence[str]) -> list[sa.RowMapping]:
        """The work rows of those ids that exist, in id order (an index update reads them)."""
        return self._rows_in(sa.select(WORKS), WORKS.c.id, ids, "reading known works")

    def images_of_works(self, columns: Sequence[str], ids: Sequence[str]) -> list[sa.RowMapping]:
        """The chosen columns (`id` among them) of the image rows of those works, in id order."""
        stmt = sa.select(*(IMAGES.c[name] for name in columns))
        return self._rows_in(stmt, IMAGES.c.work_id, ids, "reading known-work images")

    def changes_since(self, revision: int) -> list[RegistryChange]:
        """The logged changes after `revision`, oldest first (gaps mean: not logged)."""
        stmt = sa.select(CHANGES).where(CHANGES.c.revision > revision).order_by(CHANGES.c.revision)
        return [
            RegistryChange(int(r["revision"]), r["change"], tuple(r["work_ids"] or ()))
            for r in self._stream(stmt, 1000)
        ]

    def stale_image_ids(
        self, clip_model: str | None, hash_version: int
    ) -> tuple[list[int], list[int]]:
        """Ids of images lacking an embedding by `clip_model`, and of images hashed by an
        older recipe (what `works reindex` recomputes from the reference copies)."""
        embed: list[int] = []
        rehash: list[int] = []
        stmt = sa.select(IMAGES.c.id, IMAGES.c.embedding_model, IMAGES.c.hash_version)
        for row in self._stream(stmt.order_by(IMAGES.c.id), 5000):
            if clip_model is not None and row["embedding_model"] != clip_model:
                embed.append(int(row["id"]))
            if row["hash_version"] != hash_version:
                rehash.append(int(row["id"]))
        return embed, rehash

    def stale_feature_ids(self, feature_version: int) -> list[int]:
        """Ids of images without local features of `feature_version` (`works reindex`)."""
        stmt = sa.select(IMAGES.c.id).where(
            IMAGES.c.feature_version.is_distinct_from(feature_version)
        )
        return [int(r["id"]) for r in self._stream(stmt.order_by(IMAGES.c.id), 5000)]

    def stale_semantic_works(self, model: str) -> list[tuple[str, list[str]]]:
        """(id, passages) of works whose semantic vectors are not by `model`."""
        stmt = sa.select(
            WORKS.c.id, WORKS.c.title, WORKS.c.creator, WORKS.c.aliases, WORKS.c.description
        ).where(WORKS.c.semantic_model.is_distinct_from(model))
        return [
            (
                r["id"],
                passages_for(r["title"], r["creator"], r["aliases"] or (), r["description"] or ""),
            )
            for r in self._stream(stmt.order_by(WORKS.c.id), 5000)
        ]

    def update_semantic(self, works: Sequence[tuple[str, bytes, str]]) -> None:
        """Store re-computed semantic vectors: (work id, packed vectors, model)."""
        if not works:
            return
        with self._writing("storing semantic embeddings", "derive") as conn:
            for work_id, vectors, model in works:
                conn.execute(
                    WORKS.update()
                    .where(WORKS.c.id == work_id)
                    .values(semantic_vectors=vectors, semantic_model=model)
                )

    def update_features(self, images: Sequence[tuple[int, bytes]]) -> None:
        """Store re-computed local features: (image id, packed features)."""
        if not images:
            return
        with self._writing("storing local features", "derive") as conn:
            for image_id, features in images:
                conn.execute(
                    IMAGES.update()
                    .where(IMAGES.c.id == image_id)
                    .values(features=features, feature_version=FEATURE_VERSION)
                )

    def image_references(self, ids: Sequence[int]) -> list[tuple[int, bytes, str]]:
        """(id, reference copy, source name) of the given images."""
        out: list[tuple[int, bytes, str]] = []
        with self._reading("reading reference images") as conn:
            for chunk in _chunks(list(ids)):
                stmt = sa.select(IMAGES.c.id, IMAGES.c.reference, IMAGES.c.source_name).where(
                    IMAGES.c.id.in_(chunk)
                )
                out.extend(
                    (int(r.id), bytes(r.reference), r.source_name) for r in conn.execute(stmt)
                )
        return sorted(out)

    def stale_works(self, clip_model: str) -> list[tuple[str, str]]:
        """(id, embedding text) of works whose text embedding is not by `clip_model`."""
        stmt = sa.select(WORKS.c.id, WORKS.c.title, WORKS.c.creator, WORKS.c.aliases).where(
            WORKS.c.embedding_model.is_distinct_from(clip_model)
        )
        return [
            (r["id"], work_text(r["title"], r["creator"], tuple(r["aliases"] or ())))
            for r in self._stream(stmt.order_by(WORKS.c.id), 5000)
        ]

    # -- writes ------------------------------------------------------------------------

    def add(self, works: Sequence[PreparedWork]) -> None:
        """Insert works and their images in one transaction (all or nothing)."""
        if not works:
            return
        self._refuse_duplicates(works)
        now = datetime.now(UTC)
        work_rows = [_work_row(w, now) for w in works]
        image_rows = [_image_row(w, img, now) for w in works for img in w.images]
        try:
            with self._writing(
                "registering known works", "add", [w.spec.id for w in works]
            ) as conn:
                conn.execute(WORKS.insert(), work_rows)
                if image_rows:
                    conn.execute(IMAGES.insert(), image_rows)
        except LedgerError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise BadInputError(
                    "a work id or image was registered by someone else meanwhile; "
                    "nothing was added, run the command again"
                ) from exc
            raise

    def remove(self, work_id: str) -> WorkSummary:
        """Delete a work and its images; raises `BadInputError` if the id is unknown."""
        work = self.get(work_id)
        if work is None:
            raise BadInputError(f"no known work with id {work_id!r}")
        with self._writing(f"removing known work {work_id!r}", "remove", [work_id]) as conn:
            conn.execute(IMAGES.delete().where(IMAGES.c.work_id == work_id))
            conn.execute(WORKS.delete().where(WORKS.c.id == work_id))
        return work

    def update_embeddings(
        self,
        images: Sequence[tuple[int, bytes | None, str | None]],
        works: Sequence[tuple[str, bytes | None, str | None]],
    ) -> None:
        """Store re-computed embeddings: (image id | work id, vector bytes, model)."""
        if not images and not works:
            return
        with self._writing("storing re-computed embeddings", "derive") as conn:
            for image_id, vector, model in images:
                conn.execute(
                    IMAGES.update()
                    .where(IMAGES.c.id == image_id)
                    .values(clip_embedding=vector, embedding_model=model)
                )
            for work_id, vector, model in works:
                conn.execute(
                    WORKS.update()
                    .where(WORKS.c.id == work_id)
                    .values(text_embedding=vector, embedding_model=model)
                )

    def update_hashes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store re-computed hashes: dicts of id, phash, dhash, crop_hashes, hash_version."""
        if not rows:
            return
        with self._writing("storing re-computed hashes", "derive") as conn:
            for row in rows:
                values = {k: v for k, v in row.items() if k != "id"}
                conn.execute(IMAGES.update().where(IMAGES.c.id == row["id"]).values(**values))

    # -- plumbing ----------------------------------------------------------------------

    def _refuse_duplicates(self, works: Sequence[PreparedWork]) -> None:
        """Name the first id or image that is taken, here or earlier in the same batch."""
        ids = [w.spec.id for w in works]
        if len(set(ids)) != len(ids):
            twice = next(i for n, i in enumerate(ids) if i in ids[:n])
            raise BadInputError(f"work id {twice!r} is given twice")
        existing = self.list_works_by_ids(ids)
        if existing:
            raise BadInputError(f"work id {existing[0].id!r} is already registered")
        images = [(w.spec.id, img) for w in works for img in w.images]
        taken = self.registered_digests([img.sha256 for _, img in images])
        seen: dict[str, str] = {}
        for work_id, img in images:
            if img.sha256 in taken:
                owner = taken[img.sha256]
                raise BadInputError(
                    f"image {img.source_name} is already registered to work {owner!r}"
                )
            if img.sha256 in seen:
                raise BadInputError(
                    f"image {img.source_name} is given twice (works {seen[img.sha256]!r} "
                    f"and {work_id!r})"
                )
            seen[img.sha256] = work_id

    @contextmanager
    def _reading(self, action: str) -> Iterator[Connection]:
        with translate_errors(action, override=LedgerError), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _writing(
        self, action: str, change: str, work_ids: Sequence[str] = ()
    ) -> Iterator[Connection]:
        """A write transaction that bumps the revision and logs `change` under it.

        The bump comes first: on PostgreSQL it locks the revision row, so concurrent writers
        queue there and each logs its change under its own revision (SQLite: BEGIN
        IMMEDIATE already serialises them).
        """
        with translate_errors(action, override=LedgerError), self._engine.connect() as conn:
            begin_immediate(conn)
            with conn.begin():
                conn.execute(
                    REVISION.update()
                    .where(REVISION.c.id == REVISION_ROW)
                    .values(revision=REVISION.c.revision + 1, changed_at=datetime.now(UTC))
                )
                revision = conn.execute(
                    sa.select(REVISION.c.revision).where(REVISION.c.id == REVISION_ROW)
                ).scalar_one()
                conn.execute(
                    CHANGES.insert().values(
                        revision=revision, change=change, work_ids=list(work_ids)
                    )
                )
                yield conn

    def _rows_in(
        self,
        stmt: sa.Select[Any],
        column: sa.ColumnElement[Any],
        values: Sequence[Any],
        action: str,
    ) -> list[sa.RowMapping]:
        """The rows of `stmt` whose `column` is one of `values`, in `id` order: IN lists of
        `_IN_CHUNK` values, all read over one connection."""
        out: list[sa.RowMapping] = []
        with self._reading(action) as conn:
            for chunk in _chunks(sorted(set(values))):
                out.extend(row._mapping for row in conn.execute(stmt.where(column.in_(chunk))))
        return sorted(out, key=lambda row: row["id"])

    def _stream(self, stmt: sa.Select[Any], batch: int) -> Iterator[sa.RowMapping]:
        with (
            translate_errors("reading the known-works registry", override=LedgerError),
            self._engine.connect() as conn,
        ):
            result = conn.execution_options(yield_per=batch).execute(stmt)
            for row in result:
                yield row._mapping


def _summaries() -> sa.Select[Any]:
    """Works with their image counts, ordered by id."""
    counts = (
        sa.select(IMAGES.c.work_id, sa.func.count().label("n"))
        .group_by(IMAGES.c.work_id)
        .subquery()
    )
    return (
        sa.select(WORKS, sa.func.coalesce(counts.c.n, 0).label("n"))
        .outerjoin(counts, counts.c.work_id == WORKS.c.id)
        .order_by(WORKS.c.id)
    )


def _summary(m: sa.RowMapping) -> WorkSummary:
    return WorkSummary(
        id=m["id"],
        title=m["title"],
        creator=m["creator"],
        kind=m["kind"],
        aliases=tuple(m["aliases"] or ()),
        license=m["license"],
        images=int(m["n"]),
        created_at=m["created_at"],
        description=m["description"] or "",
    )


def _work_row(work: PreparedWork, now: datetime) -> dict[str, Any]:
    spec = work.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "creator": spec.creator,
        "kind": spec.kind,
        "aliases": list(spec.aliases),
        "license": spec.license,
        "created_at": now,
        "text_embedding": vector_bytes(work.text_embedding),
        "embedding_model": work.embedding_model if work.text_embedding is not None else None,
        "description": spec.description or None,
        "semantic_vectors": (
            semantic_bytes(work.semantic_vectors) if work.semantic_vectors is not None else None
        ),
        "semantic_model": work.semantic_model if work.semantic_vectors is not None else None,
    }


def _image_row(work: PreparedWork, image: PreparedImage, now: datetime) -> dict[str, Any]:
    return {
        "work_id": work.spec.id,
        "sha256": image.sha256,
        "source_name": image.source_name,
        "width": image.width,
        "height": image.height,
        "phash": to_signed(image.hashes.phash),
        "dhash": to_signed(image.hashes.dhash),
        "hash_version": HASH_VERSION,
        "crop_hashes": image.hashes.packed(),
        "clip_embedding": vector_bytes(image.embedding),
        "embedding_model": work.embedding_model if image.embedding is not None else None,
        "reference": image.reference,
        "features": image.features.packed(),
        "feature_version": FEATURE_VERSION,
        "created_at": now,
    }


def _chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]
