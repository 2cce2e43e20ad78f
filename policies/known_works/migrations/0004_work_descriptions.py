"""Known works: descriptions, semantic embeddings of names and descriptions, local features.

Revision ID: 0004_work_descriptions
Revises: 0003_degraded_and_parents

* `known_works.description`: visual traits, setting and signature elements as the studio
  writes them; prompts that describe a work without naming it are matched against it.
* `known_works.semantic_vectors`, `known_works.semantic_model`: the multilingual sentence
  embeddings of the work's names and description (a (k, d) float32 block), tagged with the
  encoder that made them, so vectors of different encoders are never compared.
* `known_work_images.features`, `known_work_images.feature_version`: ORB keypoints and
  descriptors of the reference copy, for geometric verification of mirrored, rotated and
  heavily cropped copies.

Every column is nullable: rows registered before this revision get their embeddings and
features from `provenant works reindex` (which reads the stored reference copies).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_work_descriptions"
down_revision = "0003_degraded_and_parents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable columns (no table is rebuilt)."""
    op.add_column("known_works", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("known_works", sa.Column("semantic_vectors", sa.LargeBinary(), nullable=True))
    op.add_column("known_works", sa.Column("semantic_model", sa.String(200), nullable=True))
    op.add_column("known_work_images", sa.Column("features", sa.LargeBinary(), nullable=True))
    op.add_column("known_work_images", sa.Column("feature_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Drop them again (descriptions are lost; names, images and hashes stay)."""
    with op.batch_alter_table("known_work_images") as batch:
        batch.drop_column("feature_version")
        batch.drop_column("features")
    with op.batch_alter_table("known_works") as batch:
        batch.drop_column("semantic_model")
        batch.drop_column("semantic_vectors")
        batch.drop_column("description")
