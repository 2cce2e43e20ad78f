"""Lineage links between ledger rows: which asset an ingredient is, and what lies below one.

`ingredients.source_asset_id` (migration 0005) is filled when an entry is appended, by the
ingredient's manifest label first (it names one signing exactly), else by the SHA-256 of
its bytes.  These queries run inside a caller's read snapshot and load ids and digests
only, so a lineage check costs a few index lookups, whatever the rows hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provenance.ledger import models

if TYPE_CHECKING:
    from provenance.ledger.records import IngredientRecord

#: `UNION` (not `UNION ALL`): the recursion stops on a cycle of hand-edited rows.
_ANCESTORS = sa.text(
    "WITH RECURSIVE anc(id) AS ("
    " SELECT source_asset_id FROM ingredients"
    " WHERE asset_id = :root AND source_asset_id IS NOT NULL"
    " UNION SELECT i.source_asset_id FROM ingredients i JOIN anc ON i.asset_id = anc.id"
    " WHERE i.source_asset_id IS NOT NULL) SELECT id FROM anc"
)


def linked_ancestors(conn: Connection, asset_id: str) -> set[str]:
    """Ids of every asset reachable from `asset_id` through ingredient links (one query)."""
    return {str(row[0]) for row in conn.execute(_ANCESTORS, {"root": asset_id})}


def source_of(conn: Connection, item: IngredientRecord) -> str | None:
    """The oldest asset whose manifest label (else SHA-256) is the ingredient's, or None."""
    table = models.assets
    for column, value in (
        (table.c.manifest_label, item.manifest_label),
        (table.c.sha256, item.sha256),
    ):
        if value:
            stmt = sa.select(table.c.asset_id).where(column == value).order_by(table.c.seq)
            found = conn.execute(stmt.limit(1)).scalar()
            if found is not None:
                return str(found)
    return None


def ancestry_hashes(conn: Connection, sha256: str) -> set[str]:
    """SHA-256s of the assets with these bytes and of every asset linked below them."""
    table = models.assets
    stmt = sa.select(table.c.asset_id).where(table.c.sha256 == sha256.lower())
    ids = {str(v) for v in conn.execute(stmt).scalars()}
    for asset_id in list(ids):
        ids |= linked_ancestors(conn, asset_id)
    if not ids:
        return set()
    digests = sa.select(table.c.sha256).where(table.c.asset_id.in_(sorted(ids)))
    return {str(v) for v in conn.execute(digests).scalars()}
