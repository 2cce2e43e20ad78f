"""Known-works registry tables (SQLAlchemy 2 declarative, on `provenance.ledger.db.Base`).

* `known_works` — one row per protected work, keyed by the studio's own id (shown in every
  verdict), with its licence and the CLIP text embedding of its names.
* `known_work_images` — reference images of a work: content digest (one image belongs to one
  work), pHash/dHash of the whole image as signed 64-bit integers, the hashes of its crop
  grid, the CLIP image embedding, and a small reference copy so `works reindex` can
  re-embed or re-hash after the CLIP model or the hash recipe changes.
* `known_works.description` and `semantic_vectors` (revision 0004): what a prompt may
  describe the work by, and the multilingual sentence embeddings of its names and
  description; `known_work_images.features`: ORB keypoints and descriptors for geometric
  verification (see `features`).
* `known_works_revision` — a single row bumped in the same transaction as every change;
  the on-disk index records the revision it was built from, which is how a stale index is
  noticed with one primary-key read.
* `known_works_changes` (branch `known_works`, revision kw_0001): what each revision
  changed, so an index can be brought forward by applying the difference.

Embeddings are little-endian float32 bytes, tagged with the model that made them
(`ClipEncoder.fingerprint`), so vectors of different models are never compared.
The schema is created by `migrations/versions/0002_known_works.py` and extended by
`0004_work_descriptions.py`.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from provenance.ledger.coltypes import UTCDateTime
from provenance.ledger.db import Base

KINDS = ("character", "artwork", "artist_style")
WORK_ID = sa.String(200)
REVISION_ROW = 1


class KnownWorkRow(Base):
    """A protected work: character, artwork or artist style."""

    __tablename__ = "known_works"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('character', 'artwork', 'artist_style')", name="known_works_kind"
        ),
    )

    id: Mapped[str] = mapped_column(WORK_ID, primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(500))
    creator: Mapped[str] = mapped_column(sa.String(500), default="")
    kind: Mapped[str] = mapped_column(sa.String(20))
    aliases: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    license: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text_embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    semantic_vectors: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    semantic_model: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)


class KnownWorkImageRow(Base):
    """One reference image of a work, with everything the image checks compare against."""

    __tablename__ = "known_work_images"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    work_id: Mapped[str] = mapped_column(
        WORK_ID, sa.ForeignKey("known_works.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    source_name: Mapped[str] = mapped_column(sa.String(500))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    phash: Mapped[int] = mapped_column(sa.BigInteger)
    dhash: Mapped[int] = mapped_column(sa.BigInteger)
    hash_version: Mapped[int] = mapped_column(sa.Integer)
    crop_hashes: Mapped[bytes] = mapped_column(sa.LargeBinary)
    clip_embedding: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    embedding_model: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    reference: Mapped[bytes] = mapped_column(sa.LargeBinary)
    features: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    feature_version: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnownWorksRevisionRow(Base):
    """The registry's change counter and identity (one row, id 1)."""

    __tablename__ = "known_works_revision"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    registry_id: Mapped[str] = mapped_column(sa.String(32))
    revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KnownWorksChangeRow(Base):
    """What one registry revision changed: works added or removed, or derived data rewritten.

    Written in the same transaction as the revision bump, so a saved index at revision N can
    be brought to revision M by applying the changes of N+1..M (`delta`) instead of being
    rebuilt from every row.  `change` is "add" or "remove" (with the work ids), or "derive"
    (embeddings, hashes or features recomputed: only a full rebuild reflects that).
    """

    __tablename__ = "known_works_changes"
    __table_args__ = (
        sa.CheckConstraint(
            "change IN ('add', 'remove', 'derive')", name="known_works_changes_change"
        ),
    )

    revision: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    change: Mapped[str] = mapped_column(sa.String(10))
    work_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
