"""Any edit, deletion, insertion or reordering done behind the ledger's back is detected.

Tampering uses raw SQL with foreign keys switched off, as someone with the database file or
a superuser login would; the report must name the first bad entry and say why.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from provenance.errors import LedgerError
from provenance.ledger import Ledger
from provenance.ledger.chain import DUPLICATE, GAP, HEAD, LINK, MISMATCH, ORPHAN
from provenance.ledger.coltypes import LedgerJSON, UTCDateTime
from provenance.ledger.models import (
    assets,
    attributions,
    ingredients,
    policy_decisions,
    refusals,
)
from provenance.ledger.rows import entry_rows
from tests.integration.ledger.samples import sample_asset, sample_refusal

if TYPE_CHECKING:
    from conftest import RawSQL

#: (table, primary key of the row to edit, seq and kind of the entry that row belongs to).
TARGETS: dict[str, tuple[sa.Table, str, int, str]] = {
    "assets": (assets, "ast-000002", 3, "asset"),
    "refusals": (refusals, "ref-000001", 2, "refusal"),
    "policy_decisions": (policy_decisions, "ast-000002/1", 3, "asset"),
    "attributions": (attributions, "ast-000002/0", 3, "asset"),
    "ingredients": (ingredients, "ast-000002/0", 3, "asset"),
}
#: The refusal_id of a decision only exists on refusal-owned decisions.
REFUSAL_DECISION = (policy_decisions, "ref-000001/0", 2, "refusal")

EVERY_COLUMN = [
    (name, column.name) for name, (table, *_) in TARGETS.items() for column in table.columns
]


def _tampered(column: sa.Column[Any], old: Any) -> Any:
    """A different value of the same type that violates no constraint."""
    if isinstance(column.type, UTCDateTime):
        return old + timedelta(seconds=1)
    if isinstance(column.type, LedgerJSON):
        return {**(old or {}), "tampered": True}
    if isinstance(column.type, sa.Double):
        return (old or 0.0) + 0.125
    if isinstance(column.type, sa.Integer):  # BigInteger too
        return (old or 0) + 100
    return old[:-1] + ("~" if old[-1] != "~" else "!") if old else "x"


def _set(raw: RawSQL, table: sa.Table, key: str, column: str, value: Any) -> None:
    pk = table.primary_key.columns.values()[0]
    stmt = sa.text(f"UPDATE {table.name} SET {column} = :v WHERE {pk.name} = :k").bindparams(
        sa.bindparam("v", type_=table.c[column].type)
    )
    raw.run_statement(stmt, v=value, k=key)


def _get(raw: RawSQL, table: sa.Table, key: str, column: str) -> Any:
    pk = table.primary_key.columns.values()[0]
    with raw.engine.connect() as conn:
        return conn.execute(sa.select(table.c[column]).where(pk == key)).scalar_one()


@pytest.mark.parametrize(("table_name", "column"), EVERY_COLUMN)
def test_editing_any_column_of_any_row_is_detected(
    shared_mixed_ledger: Ledger, shared_raw: RawSQL, table_name: str, column: str
) -> None:
    ledger = shared_mixed_ledger
    assert ledger.verify_chain().ok
    target = TARGETS[table_name]
    if (table_name, column) == ("policy_decisions", "refusal_id"):
        target = REFUSAL_DECISION
    table, key, seq, kind = target
    old = _get(shared_raw, table, key, column)
    new = _tampered(table.c[column], old)
    _set(shared_raw, table, key, column, new)
    edited_key = new if column == table.primary_key.columns.values()[0].name else key
    try:
        report = ledger.verify_chain()
    finally:
        _set(shared_raw, table, edited_key, column, old)

    assert not report.ok and report.first_bad is not None
    bad = report.first_bad
    if column == "seq" and table_name in ("assets", "refusals"):
        assert (bad.reason, bad.seq) == (GAP, seq + 1)  # the entry moved; its place is empty
    else:
        assert (bad.seq, bad.kind) == (seq, kind)
        assert bad.reason == (LINK if column == "prev_hash" else MISMATCH)
    assert bad.describe().startswith(f"seq {bad.seq} ")
    assert ledger.verify_chain().ok  # restoring the value restores the chain


def _first_bad(ledger: Ledger) -> tuple[int | None, str, str]:
    report = ledger.verify_chain()
    assert not report.ok and report.first_bad is not None
    return report.first_bad.seq, report.first_bad.kind, report.first_bad.reason


def test_mixed_chain_verifies(shared_mixed_ledger: Ledger) -> None:
    seen: list[int] = []
    report = shared_mixed_ledger.verify_chain(progress=seen.append)
    assert report.ok and report.first_bad is None
    assert report.count == report.head_seq == 6 and sum(seen) == 6
    assert report.head_hash == shared_mixed_ledger.head()[1]
    assert all(
        shared_mixed_ledger.verify_entry(e.id)
        for e in shared_mixed_ledger.iter_entries()
        if e.kind == "asset"
    )


def test_empty_ledger_verifies(ledger: Ledger) -> None:
    report = ledger.verify_chain()
    assert report.ok and report.count == 0 and report.head_seq == 0


def test_deleting_an_entry_is_a_gap(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run("DELETE FROM assets WHERE asset_id = :a", a="ast-000002")
    assert _first_bad(mixed_ledger) == (4, "asset", GAP)


def test_deleting_the_last_entry_is_a_head_mismatch(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run("DELETE FROM policy_decisions WHERE refusal_id = :r", r="ref-000002")
    raw.run("DELETE FROM refusals WHERE refusal_id = :r", r="ref-000002")
    assert _first_bad(mixed_ledger) == (6, "head", HEAD)


@pytest.mark.parametrize("table", ["policy_decisions", "attributions", "ingredients"])
def test_deleting_a_child_row_is_detected(mixed_ledger: Ledger, raw: RawSQL, table: str) -> None:
    id_column = table.rstrip("s").replace("policy_", "") + "_id"
    raw.run(f"DELETE FROM {table} WHERE {id_column} = :k", k="ast-000002/0")
    assert _first_bad(mixed_ledger) == (3, "asset", MISMATCH)


def test_forged_row_with_made_up_hash(mixed_ledger: Ledger, raw: RawSQL) -> None:
    _insert_forged(raw, mixed_ledger, seq=7, prev_hash=mixed_ledger.head()[1], row_hash="f" * 64)
    assert _first_bad(mixed_ledger) == (7, "asset", MISMATCH)


def test_forged_row_with_recomputed_hash_is_a_head_mismatch(
    mixed_ledger: Ledger, raw: RawSQL
) -> None:
    _insert_forged(raw, mixed_ledger, seq=7, prev_hash=mixed_ledger.head()[1])
    assert _first_bad(mixed_ledger) == (6, "head", HEAD)


def test_forged_row_reusing_a_seq_is_a_duplicate(mixed_ledger: Ledger, raw: RawSQL) -> None:
    _insert_forged(raw, mixed_ledger, seq=3, prev_hash="0" * 64, kind="refusal")
    bad = _first_bad(mixed_ledger)
    assert bad[0] == 3 and bad[2] in (DUPLICATE, LINK)


def test_forged_child_row_is_detected(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run(
        "INSERT INTO attributions (attribution_id, asset_id, position, work_id, title, "
        "similarity, method) VALUES ('ast-000002/9', 'ast-000002', 9, 'W9', 'T', 0.5, 'name')"
    )
    assert _first_bad(mixed_ledger) == (3, "asset", MISMATCH)


def test_swapping_two_rows_seq_is_detected(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run("UPDATE assets SET seq = -1 WHERE seq = 3")
    raw.run("UPDATE assets SET seq = 3 WHERE seq = 4")
    raw.run("UPDATE assets SET seq = 4 WHERE seq = -1")
    assert _first_bad(mixed_ledger) == (3, "asset", LINK)


def test_rewriting_the_head_is_detected(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run("UPDATE ledger_head SET seq = 5")
    assert _first_bad(mixed_ledger)[1:] == ("head", HEAD)


def test_orphan_child_rows_are_reported(mixed_ledger: Ledger, raw: RawSQL) -> None:
    raw.run(
        "INSERT INTO ingredients (ingredient_id, asset_id, position, sha256, relationship) "
        "VALUES ('ghost/0', 'ghost', 0, :s, 'inputTo')",
        s="a" * 64,
    )
    report = mixed_ledger.verify_chain()
    assert report.first_bad is not None
    assert (report.first_bad.kind, report.first_bad.id, report.first_bad.reason) == (
        "ingredients",
        "ghost/0",
        ORPHAN,
    )


def test_verify_entry(mixed_ledger: Ledger, raw: RawSQL) -> None:
    assert mixed_ledger.verify_entry("ast-000002")
    raw.run("UPDATE assets SET prompt = 'edited' WHERE asset_id = 'ast-000002'")
    assert not mixed_ledger.verify_entry("ast-000002")
    assert mixed_ledger.verify_entry("ast-000003")
    raw.run("UPDATE refusals SET row_hash = :h WHERE refusal_id = 'ref-000001'", h="e" * 64)
    assert not mixed_ledger.verify_entry("ast-000002")
    with pytest.raises(LedgerError, match="no asset"):
        mixed_ledger.verify_entry("missing")


def test_garbage_values_are_reported_not_crashed_on(ledger: Ledger, raw: RawSQL) -> None:
    ledger.append_asset(sample_asset(1))
    if raw.engine.dialect.name == "sqlite":  # SQLite lets any text into any column
        raw.run("UPDATE assets SET created_at = 'yesterday', params = '{oops', seed = 'x'")
    else:
        raw.run("UPDATE assets SET params = '\"not an object\"'")
    assert _first_bad(ledger) == (1, "asset", MISMATCH)
    with pytest.raises(LedgerError, match="seq 1"):
        list(ledger.iter_entries())


def _insert_forged(
    raw: RawSQL,
    ledger: Ledger,
    *,
    seq: int,
    prev_hash: str,
    row_hash: str | None = None,
    kind: str = "asset",
) -> None:
    record = sample_asset(99) if kind == "asset" else sample_refusal(99)
    rows = entry_rows(record, seq, prev_hash)
    if row_hash is not None:
        rows.row["row_hash"] = row_hash
    table = assets if kind == "asset" else refusals
    raw.run_statement(table.insert().values(**rows.row))
    for child_table, children in rows.children.items():
        for child in children:
            raw.run_statement(
                {
                    "policy_decisions": policy_decisions,
                    "attributions": attributions,
                    "ingredients": ingredients,
                }[child_table]
                .insert()
                .values(**child)
            )


def test_clearing_every_schema_2_value_of_an_entry_is_detected(
    shared_mixed_ledger: Ledger, shared_raw: RawSQL
) -> None:
    """Without its `/2` values an entry hashes as a `/1` document: not the one it carries."""
    ledger = shared_mixed_ledger
    edits = [
        (assets, "ast-000002", "degraded_layers"),
        (ingredients, "ast-000002/0", "manifest_label"),
        (ingredients, "ast-000002/0", "validation_state"),
    ]
    kept = [
        (table, key, column, _get(shared_raw, table, key, column)) for table, key, column in edits
    ]
    assert all(value is not None for *_, value in kept)
    for table, key, column, _ in kept:
        _set(shared_raw, table, key, column, None)
    try:
        report = ledger.verify_chain()
    finally:
        for table, key, column, value in kept:
            _set(shared_raw, table, key, column, value)
    assert not report.ok and report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.reason) == (3, MISMATCH)
    assert ledger.verify_chain().ok
