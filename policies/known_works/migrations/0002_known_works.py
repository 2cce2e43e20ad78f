"""Known-works registry: works, reference images, and the revision counter.

Revision ID: 0002_known_works
Revises: 0001_ledger

Shipped by the known-works plugin and found through its `provenant.migrations` entry point.
It stays on the core chain (0001 -> 0002 -> 0003), because every existing database and
revision 0003 descend from it; tables that a plugin adds from now on start their own branch
(`branch_labels`, `depends_on` a core revision), as a third-party plugin's do.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from provenance.ledger.coltypes import UTCDateTime

revision = "0002_known_works"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

_IMAGE_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create the registry tables and the single revision row (with a new registry id)."""
    op.create_table(
        "known_works",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("creator", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("license", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("text_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(200), nullable=True),
        sa.CheckConstraint(
            "kind IN ('character', 'artwork', 'artist_style')",
            name=op.f("ck_known_works_known_works_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_works")),
    )
    op.create_table(
        "known_work_images",
        sa.Column("id", _IMAGE_ID, autoincrement=True, nullable=False),
        sa.Column("work_id", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source_name", sa.String(500), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("phash", sa.BigInteger(), nullable=False),
        sa.Column("dhash", sa.BigInteger(), nullable=False),
        sa.Column("hash_version", sa.Integer(), nullable=False),
        sa.Column("crop_hashes", sa.LargeBinary(), nullable=False),
        sa.Column("clip_embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedding_model", sa.String(200), nullable=True),
        sa.Column("reference", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_id"],
            ["known_works.id"],
            name=op.f("fk_known_work_images_work_id_known_works"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_work_images")),
        sa.UniqueConstraint("sha256", name=op.f("uq_known_work_images_sha256")),
    )
    op.create_index(
        op.f("ix_known_work_images_work_id"), "known_work_images", ["work_id"], unique=False
    )
    revision_table = op.create_table(
        "known_works_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registry_id", sa.String(32), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_works_revision")),
    )
    op.bulk_insert(
        revision_table,
        [
            {
                "id": 1,
                "registry_id": uuid.uuid4().hex,
                "revision": 0,
                "changed_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    """Drop the registry (the ledger's own tables are untouched)."""
    op.drop_table("known_works_revision")
    op.drop_index(op.f("ix_known_work_images_work_id"), table_name="known_work_images")
    op.drop_table("known_work_images")
    op.drop_table("known_works")
