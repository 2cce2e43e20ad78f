"""Known works: a change log of the registry, one row per revision.

Revision ID: kw_0001_changes
Branch: known_works (depends on 0004_work_descriptions)

`known_works_changes` records what each registry revision did (works added or removed, or
derived data rewritten), written in the same transaction as the revision bump.  A saved
known-works index at revision N is then brought to revision M by applying the works added and
removed since N, instead of being rebuilt from every row.  Revisions made before this table
existed have no entry, so an index older than it is rebuilt once, as before.

The first table of the plugin's own branch: plugin tables no longer lengthen the core chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "kw_0001_changes"
down_revision = None
branch_labels = ("known_works",)
depends_on = "0004_work_descriptions"


def upgrade() -> None:
    """Create the change log (empty: earlier revisions are not reconstructed)."""
    op.create_table(
        "known_works_changes",
        sa.Column("revision", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("change", sa.String(10), nullable=False),
        sa.Column("work_ids", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "change IN ('add', 'remove', 'derive')",
            name=op.f("ck_known_works_changes_known_works_changes_change"),
        ),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_known_works_changes")),
    )


def downgrade() -> None:
    """Drop the change log (indexes then rebuild on every change, as before)."""
    op.drop_table("known_works_changes")
