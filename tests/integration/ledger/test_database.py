"""Schema, connection failures and hostile input: clear one-line errors, literal storage."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from provenance.errors import LedgerError
from provenance.ledger import Ledger, migrate
from provenance.ledger.db import Base, create_engine
from tests.integration.ledger.samples import sample_asset, sample_refusal

LEDGER_TABLES = {
    "assets",
    "refusals",
    "policy_decisions",
    "attributions",
    "ingredients",
    "signing_keys",
    "ledger_head",
    "checkpoints",
}

HOSTILE = [
    "'; DROP TABLE assets; --",
    "x' OR '1'='1",
    'quote " and \\ backslash',
    "%s %(x)s ? :param $1",
    "ünïcødé ✓ 🎨 \u202e",
]


def test_migration_matches_the_models(ledger: Ledger) -> None:
    def mine(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in LEDGER_TABLES

    def mine_object(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return getattr(table, "name", None) in LEDGER_TABLES

    engine = create_engine(ledger.url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"include_name": mine, "include_object": mine_object, "compare_type": True},
            )
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []
    assert set(Base.metadata.tables) >= LEDGER_TABLES


def test_upgrade_is_idempotent(database_url: str) -> None:
    ledger = Ledger.from_url(database_url)
    ledger.upgrade()
    ledger.append_asset(sample_asset(1))
    ledger.upgrade()
    assert migrate.current_revision(database_url) == migrate.head_revision()
    assert ledger.head()[0] == 1 and ledger.verify_chain().ok
    ledger.close()


def test_unmigrated_database_says_to_run_db_upgrade(database_url: str) -> None:
    ledger = Ledger.from_url(database_url)
    for action in (
        ledger.head,
        ledger.require_current,
        lambda: ledger.append_asset(sample_asset(1)),
    ):
        with pytest.raises(LedgerError, match="run `provenant db upgrade`") as err:
            action()
        assert "\n" not in err.value.diagnostics()
    ledger.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://provenant:s3cret@127.0.0.1:1/ledger",
        "sqlite:////proc/no/such/dir/ledger.db",
    ],
)
def test_unreachable_database_is_a_one_line_error(url: str) -> None:
    with pytest.raises(LedgerError) as err:
        Ledger.from_url(url).head()
    message = err.value.diagnostics()
    assert "\n" not in message and len(message) < 400
    assert "s3cret" not in message
    assert "127.0.0.1" in message or "/proc/no/such/dir" in message


def test_hostile_text_is_stored_and_matched_literally(ledger: Ledger) -> None:
    for index, text in enumerate(HOSTILE):
        request_id = text[:100]
        record = sample_asset(
            index, request_id=request_id, prompt=text, requester=text, asset_id=text
        )
        ledger.append_asset(record)
        ledger.append_refusal(sample_refusal(index, request_id=request_id, prompt=text))
        got = ledger.get_asset(text)
        assert got is not None and got.record.prompt == text
        assert [e.id for e in ledger.assets_for_request(request_id)] == [text]
        assert ledger.refusal_for_request(request_id) is not None
        assert ledger.request_state(request_id).done_indices == frozenset({0})
        assert ledger.find_by_path(text) == [] and ledger.get_asset(text + "'") is None
    assert ledger.verify_chain().ok and ledger.head()[0] == 2 * len(HOSTILE)
    with ledger.engine.connect() as conn:  # the tables are all still there
        names = set(sa.inspect(conn).get_table_names())
    assert {"assets", "refusals", "ledger_head"} <= names


def test_unstorable_text_fails_before_anything_is_written(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="NUL"):
        ledger.append_asset(sample_asset(1, prompt="nul \x00 inside"))
    assert ledger.head()[0] == 0


def test_verify_reads_the_same_schema_head_as_alembic() -> None:
    """`verify` checks the schema without Alembic; both must name the same head."""
    from provenance.ledger import migrate, revision

    assert revision.head_revision() == migrate.head_revision()
