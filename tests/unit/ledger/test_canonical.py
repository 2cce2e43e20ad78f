"""The canonical serialisation is exactly what the documentation says, byte for byte."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

from provenance.ledger import canonical
from provenance.ledger.models import Base
from provenance.ledger.rows import entry_rows
from tests.integration.ledger.samples import sample_asset, sample_refusal


def test_refusal_bytes_are_written_out_by_hand() -> None:
    record = sample_refusal(
        1,
        prompt="naïve",
        decisions=(),
        created_at=datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        requester=None,
        project=None,
        use=None,
        generator=None,
        model_name=None,
    )
    rows = entry_rows(record, 7, canonical.GENESIS_HASH)
    expected = (
        '{"kind":"refusal","policy_decisions":[],"row":{"action":"block",'
        '"created_at":"2025-01-02T03:04:05.000006Z","declared_license":null,'
        '"declared_use":null,"generator":null,"image_index":null,"image_sha256":null,'
        '"model_name":null,"project":null,"prompt":"naïve","prompt_hash":null,'
        '"refusal_id":"ref-000001","request_id":"reqx-000001","requester":null,"seq":7,'
        '"stage":"prompt"},"schema":"provenant.ledger/1"}'
    ).encode()
    assert canonical.canonical_bytes("refusal", rows.row, rows.children) == expected
    digest = hashlib.sha256(bytes(32) + expected).hexdigest()
    assert rows.row["row_hash"] == digest


def test_value_encodings() -> None:
    row = {
        "score": 0.1 + 0.2,
        "threshold": 1,
        "position": 3,
        "stage": "image",
    }
    encoded = canonical.encode_row("policy_decisions", row)
    assert encoded["score"] == "0.30000000000000004" and encoded["threshold"] == "1.0"
    assert encoded["position"] == 3 and encoded["detail"] is None
    tokyo = timezone(timedelta(hours=9))
    when = canonical.encode_row("refusals", {"created_at": datetime(2025, 1, 1, 9, tzinfo=tokyo)})
    assert when["created_at"] == "2025-01-01T00:00:00.000000Z"


def test_mistyped_values_never_equal_well_typed_ones() -> None:
    good = canonical.encode_row("assets", {"seq": 1, "created_at": datetime(2025, 1, 1)})
    bad = canonical.encode_row("assets", {"seq": "1", "created_at": "2025-01-01 00:00:00"})
    assert good["seq"] == 1 and bad["seq"] == "!str:'1'"
    assert bad["created_at"].startswith("!str:")
    assert canonical.encode_row("assets", {"seq": True})["seq"].startswith("!bool")
    assert canonical.encode_row("attributions", {"similarity": float("nan")})["similarity"] != (
        "nan"
    )


def test_child_rows_are_hashed_in_position_order() -> None:
    rows = entry_rows(sample_asset(1), 1, canonical.GENESIS_HASH)
    shuffled = {k: list(reversed(v)) for k, v in rows.children.items()}
    assert rows.compute_hash(canonical.GENESIS_HASH) == canonical.row_hash(
        canonical.GENESIS_HASH, "asset", rows.row, shuffled
    )


def test_document_is_compact_sorted_utf8() -> None:
    rows = entry_rows(sample_asset(1), 1, canonical.GENESIS_HASH)
    text = canonical.canonical_bytes("asset", rows.row, rows.children).decode("utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert "café" in text and "\\u" not in text
    assert list(document) == [
        "attributions",
        "ingredients",
        "kind",
        "policy_decisions",
        "row",
        "schema",
    ]


def test_prev_hash_is_part_of_the_hash() -> None:
    rows = entry_rows(sample_asset(1), 1, canonical.GENESIS_HASH)
    assert rows.compute_hash("1" * 64) != rows.compute_hash(canonical.GENESIS_HASH)


def test_every_table_column_is_hashed() -> None:
    """A column added to a ledger table without a new schema version would go unprotected."""
    for table_name, hashed in canonical.COLUMNS.items():
        columns = {c.name for c in Base.metadata.tables[table_name].columns}
        assert columns - {"prev_hash", "row_hash"} == set(hashed), table_name
