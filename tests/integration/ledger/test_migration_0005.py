"""Migration 0005 (ledger schema `/3`, lineage): a ledger written at 0003 still verifies after it.

Rows appended at revision 0003 (including `/2` entries with bypassed layers and parent
credentials) keep their row hashes; a `/3` entry (contributors, a linked ingredient)
appended afterwards verifies, reads back equal, and is hashed with the new columns.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from provenance.ledger import Ledger, migrate
from provenance.ledger._read import TABLES
from provenance.ledger.canonical import ADDED_IN_3, GENESIS_HASH, SCHEMA, SCHEMA_2, entry_schema
from provenance.ledger.db import create_engine
from provenance.ledger.rows import entry_rows
from tests.integration.ledger.samples import sample_asset, sample_refusal

BEFORE = "0004_work_descriptions"
DEGRADED = {"output_safety.nsfw": "no Open-NSFW model"}


def _write_at_0003(url: str, records: list) -> list[str]:
    engine = create_engine(url)
    hashes, prev = [], GENESIS_HASH
    try:
        with engine.begin() as conn:
            for seq, record in enumerate(records, start=1):
                rows = entry_rows(record, seq, prev)
                assert entry_schema(rows.kind, rows.row, rows.children) != SCHEMA
                parent = "assets" if rows.kind == "asset" else "refusals"
                conn.execute(TABLES[parent].insert(), [_old(parent, rows.row)])
                for table, children in rows.children.items():
                    if children:
                        conn.execute(TABLES[table].insert(), [_old(table, c) for c in children])
                prev = rows.row["row_hash"]
                hashes.append(prev)
            conn.execute(
                sa.text("UPDATE ledger_head SET seq = :s, head_hash = :h"),
                {"s": len(records), "h": prev},
            )
    finally:
        engine.dispose()
    return hashes


def _old(table: str, row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ADDED_IN_3.get(table, ())}


def test_rows_from_before_0005_keep_their_hashes(database_url: str) -> None:
    migrate.upgrade(database_url, BEFORE)
    old = [sample_asset(1), sample_refusal(1), sample_asset(2, degraded_layers=DEGRADED)]
    hashes = _write_at_0003(database_url, old)

    migrate.upgrade(database_url)
    assert "0006_soft_bindings" in migrate.current_revisions(database_url)  # the head after 0005
    with Ledger.from_url(database_url) as ledger:
        assert ledger.verify_chain().ok
        assert [e.row_hash for e in ledger.iter_entries()] == hashes
        second = ledger.get_asset("ast-000002")
        assert second is not None
        rows = entry_rows(second.record, second.seq, hashes[1])
        assert entry_schema(rows.kind, rows.row, rows.children) == SCHEMA_2

        made_from = replace(sample_asset(3).ingredients[0], relationship="parentOf",
                            sha256=old[0].sha256)  # fmt: skip
        new = sample_asset(
            3,
            contributors=[{"role": "editor", "name": "Ana Lima", "actions": ["c2pa.drawing"]}],
            ingredients=ledger.link_ingredients([made_from]),
        )
        assert new.ingredients[0].source_asset_id == "ast-000001"
        entry = ledger.append_asset(new)
        rows = entry_rows(new, entry.seq, hashes[-1])
        assert entry_schema(rows.kind, rows.row, rows.children) == SCHEMA
        assert entry.row_hash == rows.row["row_hash"]
        assert ledger.verify_chain().ok
        read = ledger.get_asset("ast-000003")
        assert read is not None and read.record == new


def test_downgrade_to_0003_and_upgrade_again(database_url: str) -> None:
    from alembic import command

    migrate.upgrade(database_url)
    command.downgrade(migrate._config(database_url), BEFORE)
    revisions = migrate.current_revisions(database_url)  # the known-works branch stays
    assert "0005_lineage" not in revisions and "0006_soft_bindings" not in revisions
    assert revisions in ((BEFORE,), ("kw_0001_changes",))
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
