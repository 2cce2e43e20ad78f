"""Migration 0003 (ledger schema `/2`): a ledger written before it still verifies after it.

Rows are written at revision 0002 exactly as Provenant wrote them then (only the `/1`
columns exist), the database is upgraded, and every row hash must still recompute; entries
appended afterwards carry the new columns and verify too.  Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from provenance.ledger import GENESIS_HASH, Ledger, migrate
from provenance.ledger._read import TABLES
from provenance.ledger.canonical import ADDED_IN_2, ADDED_IN_3, SCHEMA_1, SCHEMA_2, entry_schema
from provenance.ledger.db import create_engine
from provenance.ledger.rows import entry_rows
from tests.integration.ledger.samples import sample_asset, sample_refusal

BEFORE = "0002_known_works"


def _write_as_revision_0002(url: str, records: list) -> list[str]:
    """Append `records` with raw SQL, leaving out the columns 0003 adds; their row hashes."""
    engine = create_engine(url)
    hashes, prev = [], GENESIS_HASH
    try:
        with engine.begin() as conn:
            for seq, record in enumerate(records, start=1):
                rows = entry_rows(record, seq, prev)
                assert entry_schema(rows.kind, rows.row, rows.children) == SCHEMA_1
                parent = "assets" if rows.kind == "asset" else "refusals"
                conn.execute(TABLES[parent].insert(), [_old_columns(parent, rows.row)])
                for table, children in rows.children.items():
                    if children:
                        conn.execute(
                            TABLES[table].insert(), [_old_columns(table, c) for c in children]
                        )
                prev = rows.row["row_hash"]
                hashes.append(prev)
            conn.execute(
                sa.text("UPDATE ledger_head SET seq = :s, head_hash = :h"),
                {"s": len(records), "h": prev},
            )
    finally:
        engine.dispose()
    return hashes


def _old_columns(table: str, row: dict) -> dict:
    later = ADDED_IN_2.get(table, frozenset()) | ADDED_IN_3.get(table, frozenset())
    return {k: v for k, v in row.items() if k not in later}


def test_rows_from_before_0003_keep_their_hashes(database_url: str) -> None:
    migrate.upgrade(database_url, BEFORE)
    old = [sample_asset(1), sample_refusal(1), sample_asset(2)]
    hashes = _write_as_revision_0002(database_url, old)

    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
    with Ledger.from_url(database_url) as ledger:
        report = ledger.verify_chain()
        assert report.ok, report.describe()
        assert [e.row_hash for e in ledger.iter_entries()] == hashes
        got = ledger.get_asset("ast-000001")
        assert got is not None and got.record.degraded_layers is None

        parent = replace(
            sample_asset(3).ingredients[0],
            relationship="parentOf",
            manifest_label="urn:c2pa:00000000-0000-4000-8000-000000000003",
            validation_state="Invalid",
        )
        new = sample_asset(
            3, degraded_layers={"output_safety.nsfw": "no Open-NSFW model"}, ingredients=(parent,)
        )
        entry = ledger.append_asset(new)
        rows = entry_rows(new, entry.seq, hashes[-1])
        assert entry_schema(rows.kind, rows.row, rows.children) == SCHEMA_2
        assert entry.row_hash == rows.row["row_hash"]
        assert ledger.verify_chain().ok
        read = ledger.get_asset("ast-000003")
        assert read is not None and read.record == new


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    from alembic import command

    migrate.upgrade(database_url)
    command.downgrade(migrate._config(database_url), BEFORE)
    assert migrate.current_revision(database_url) == BEFORE
    migrate.upgrade(database_url)
    assert migrate.current_revision(database_url) == migrate.head_revision()
