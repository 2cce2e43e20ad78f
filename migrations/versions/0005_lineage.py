"""Lineage: the people behind an asset, and the ledger asset each ingredient is.

Revision ID: 0005_lineage
Revises: 0003_degraded_and_parents

Ledger schema `provenant.ledger/3` (see `provenance.ledger.canonical`): both new columns are
nullable; rows written before this revision keep NULL there and keep their `/1` or `/2`
hashes.

* `assets.contributors`: the people who made or edited the image, as
  `[{"role": "editor" | "author", "name": ..., "tool": ...}]` (a signed human edit,
  `provenant sign --editor`).
* `ingredients.source_asset_id`: the asset row this ingredient is, found when the entry was
  appended (by the ingredient's manifest label first, else by its SHA-256), so that
  `provenant audit lineage` walks from a file back to its first input without searching.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from provenance.ledger.coltypes import LedgerJSON

revision = "0005_lineage"
down_revision = "0004_work_descriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable columns and the index lineage walks use (no table is rebuilt)."""
    op.add_column("assets", sa.Column("contributors", LedgerJSON(), nullable=True))
    op.add_column("ingredients", sa.Column("source_asset_id", sa.String(128), nullable=True))
    op.create_index("ix_ingredients_source_asset_id", "ingredients", ["source_asset_id"])


def downgrade() -> None:
    """Drop the columns again (rows that used them no longer verify: they were `/3`)."""
    op.drop_index("ix_ingredients_source_asset_id", table_name="ingredients")
    with op.batch_alter_table("ingredients") as batch:
        batch.drop_column("source_asset_id")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("contributors")
