"""Bypassed policy layers on assets and refusals; an ingredient's own C2PA credentials.

Revision ID: 0003_degraded_and_parents
Revises: 0002_known_works

Ledger schema `provenant.ledger/2` (see `provenance.ledger.canonical`): every new column is
nullable, and rows written before this revision keep NULL there and hash as `/1`.

* `assets.degraded_layers`, `refusals.degraded_layers`: the policy layers that could not
  run and were bypassed by name in `[policies] degraded` ({layer: why it could not run}).
* `ingredients.manifest_label`, `ingredients.validation_state`: the active manifest of an
  ingredient that carried C2PA credentials (for example the file `provenant sign` was
  given), and c2pa's validation state of it (Trusted, Valid, Invalid).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from provenance.ledger.coltypes import LedgerJSON

revision = "0003_degraded_and_parents"
down_revision = "0002_known_works"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable columns (existing rows are unchanged; no table is rebuilt)."""
    op.add_column("assets", sa.Column("degraded_layers", LedgerJSON(), nullable=True))
    op.add_column("refusals", sa.Column("degraded_layers", LedgerJSON(), nullable=True))
    op.add_column("ingredients", sa.Column("manifest_label", sa.Text(), nullable=True))
    op.add_column("ingredients", sa.Column("validation_state", sa.String(32), nullable=True))
    op.create_index("ix_ingredients_manifest_label", "ingredients", ["manifest_label"])


def downgrade() -> None:
    """Drop the columns again (rows that used them no longer verify: they were `/2`)."""
    op.drop_index("ix_ingredients_manifest_label", table_name="ingredients")
    with op.batch_alter_table("ingredients") as batch:
        batch.drop_column("validation_state")
        batch.drop_column("manifest_label")
    with op.batch_alter_table("refusals") as batch:
        batch.drop_column("degraded_layers")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("degraded_layers")
