"""Every field survives a round trip on both engines, and the lookups find what was written."""

from __future__ import annotations

import itertools
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from provenance.errors import LedgerError
from provenance.ledger import (
    GENESIS_HASH,
    AssetRecord,
    Ledger,
    RefusalRecord,
    signing_key_info,
)
from provenance.ledger.models import signing_keys
from tests.integration.ledger.samples import sample_asset, sample_refusal

if TYPE_CHECKING:
    from conftest import KeySigner


def _assert_same_record(got: object, want: object) -> None:
    for f in fields(want):  # type: ignore[arg-type]
        assert getattr(got, f.name) == getattr(want, f.name), f.name
    assert got == want


def test_asset_round_trips_every_field(ledger: Ledger) -> None:
    record = sample_asset(7)
    entry = ledger.append_asset(record)
    got = ledger.get_asset(record.asset_id)
    assert got is not None
    assert isinstance(got.record, AssetRecord)
    _assert_same_record(got.record, record)
    assert (got.kind, got.id, got.seq) == ("asset", record.asset_id, 1)
    assert (got.prev_hash, got.row_hash) == (GENESIS_HASH, entry.row_hash)
    assert got.record.created_at.tzinfo is not None
    assert got.record.params["eta"] == 1e-07 and isinstance(got.record.params["guidance"], float)


def test_refusal_round_trips_every_field(ledger: Ledger) -> None:
    ledger.append_asset(sample_asset(1))
    record = sample_refusal(4, stage="image", image_index=2, image_sha256="ab" * 32)
    entry = ledger.append_refusal(record)
    got = ledger.get_refusal(record.refusal_id)
    assert got is not None and isinstance(got.record, RefusalRecord)
    _assert_same_record(got.record, record)
    assert got.seq == 2 and got.row_hash == entry.row_hash


def test_non_utc_timestamp_is_stored_as_the_same_instant(ledger: Ledger) -> None:
    tokyo = timezone(timedelta(hours=9))
    when = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=tokyo)
    ledger.append_asset(sample_asset(1, created_at=when))
    got = ledger.get_asset("ast-000001")
    assert got is not None
    assert got.record.created_at == when
    assert got.record.created_at.utcoffset() == timedelta(0)
    assert ledger.verify_entry("ast-000001")


def test_minimal_record_with_nulls_round_trips(ledger: Ledger) -> None:
    record = sample_asset(
        2,
        seed=None,
        prompt=None,
        prompt_hash="sha256:" + "c" * 64,
        negative_prompt=None,
        params={},
        manifest_label=None,
        requester=None,
        project=None,
        use=None,
        license=None,
        signer_fingerprint=None,
        decisions=(),
        attributions=(),
        ingredients=(),
        model={},
    )
    ledger.append_asset(record)
    got = ledger.get_asset(record.asset_id)
    assert got is not None
    _assert_same_record(got.record, record)
    assert got.record.model_name is None


def test_lookups(shared_mixed_ledger: Ledger) -> None:
    asset = sample_asset(2)
    assert [e.id for e in shared_mixed_ledger.find_by_sha256(asset.sha256)] == [asset.asset_id]
    assert [e.id for e in shared_mixed_ledger.find_by_sha256(asset.sha256.upper())] == [
        asset.asset_id
    ]
    assert [e.id for e in shared_mixed_ledger.find_by_path(asset.path)] == [asset.asset_id]
    assert shared_mixed_ledger.find_by_sha256("0" * 64) == []
    assert [e.id for e in shared_mixed_ledger.assets_for_request("req-000003")] == [
        "ast-000003",
        "ast-000003-b",
    ]
    refusal = shared_mixed_ledger.refusal_for_request("reqx-000001")
    assert refusal is not None and refusal.id == "ref-000001"
    assert shared_mixed_ledger.refusal_for_request("req-000001") is None
    assert shared_mixed_ledger.get_asset("nope") is None


def test_request_state_for_resuming(shared_mixed_ledger: Ledger) -> None:
    state = shared_mixed_ledger.request_state("req-000003")
    assert state.done_indices == frozenset({0, 1}) and not state.refused
    assert state.is_done(1) and not state.is_done(2)
    image_refused = shared_mixed_ledger.request_state("reqx-000002")
    assert not image_refused.refused  # only image 0 was refused, not the whole request
    assert image_refused.refused_indices == frozenset({0})
    assert image_refused.is_done(0) and not image_refused.is_done(1)
    whole = shared_mixed_ledger.request_state("reqx-000001")
    assert whole.refused and whole.refusal_stage == "prompt"
    unknown = shared_mixed_ledger.request_state("never-seen")
    assert unknown.done_indices == frozenset() and not unknown.refused


def test_iter_entries_streams_in_seq_order(shared_mixed_ledger: Ledger) -> None:
    entries = list(shared_mixed_ledger.iter_entries(page_size=2))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.kind for e in entries] == ["asset", "refusal", "asset", "asset", "asset", "refusal"]
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.row_hash
    assert shared_mixed_ledger.head() == (6, entries[-1].row_hash)


def test_append_many_is_one_chained_batch(ledger: Ledger) -> None:
    batch = [sample_asset(i) for i in range(1, 4)] + [sample_refusal(1)]
    entries = ledger.append_many(batch)
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert [e.record for e in entries] == batch
    assert ledger.verify_chain().ok
    assert ledger.append_many([]) == []


def test_same_bytes_from_two_requests_are_both_found(ledger: Ledger) -> None:
    first = sample_asset(1)
    second = replace(sample_asset(2), sha256=first.sha256)
    ledger.append_many([first, second])
    assert [e.id for e in ledger.find_by_sha256(first.sha256)] == ["ast-000001", "ast-000002"]


def test_signing_keys_first_use_wins(ledger: Ledger) -> None:
    info = {
        "fingerprint": "ab" * 32,
        "subject": "CN=Studio Signing",
        "issuer": "CN=Studio Dev CA",
        "not_before": "2025-01-01T00:00:00+00:00",
        "not_after": datetime(2026, 1, 1, tzinfo=UTC),
    }
    assert ledger.record_signing_key(info) is True
    assert ledger.record_signing_key({**info, "subject": "CN=Other"}) is False
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(signing_keys)).all()
    assert len(rows) == 1 and rows[0].subject == "CN=Studio Signing"
    assert rows[0].not_before == datetime(2025, 1, 1, tzinfo=UTC)


def test_signing_key_info_from_a_certificate(ledger: Ledger, signer: KeySigner) -> None:
    info = signing_key_info(signer.pem)
    assert info["subject"] == info["issuer"] == "CN=Ledger Test Signer"
    assert len(info["fingerprint"]) == 64 and info["not_before"] < info["not_after"]
    assert ledger.record_signing_key(info) is True
    with pytest.raises(LedgerError, match="not a PEM certificate"):
        signing_key_info(b"junk")
    with pytest.raises(LedgerError, match="missing subject"):
        ledger.record_signing_key({"fingerprint": "f", "issuer": "i"})
