"""Soft bindings: each asset's watermark id, fingerprint and whole manifest store.

Revision ID: 0006_soft_bindings
Revises: 0005_lineage

A new table beside the hash chain (`provenance.ledger.models.SoftBindingRow` says why it is
outside it); no existing row changes, so every stored hash stays as it was.  Assets signed
before this revision have no soft-binding row and are simply not recoverable without their
metadata.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_soft_bindings"
down_revision = "0005_lineage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `soft_bindings` (unique watermark ids)."""
    op.create_table(
        "soft_bindings",
        sa.Column("asset_id", sa.String(128), nullable=False),
        sa.Column("watermark_alg", sa.String(64), nullable=True),
        sa.Column("watermark_id", sa.Integer(), nullable=True),
        sa.Column("fingerprint_alg", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("manifest_store", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.asset_id"], name="fk_soft_bindings_asset_id"
        ),
        sa.PrimaryKeyConstraint("asset_id", name="pk_soft_bindings"),
        sa.UniqueConstraint("watermark_id", name="uq_soft_bindings_watermark_id"),
    )


def downgrade() -> None:
    """Drop the table (the assets themselves are untouched)."""
    op.drop_table("soft_bindings")
