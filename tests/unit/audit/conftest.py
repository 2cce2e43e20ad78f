"""Audit unit fixtures: small SQLite ledgers holding records with known filters and verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provenance.ledger import DecisionRecord, Ledger, LedgerRecord
from tests.integration.ledger.samples import sample_asset, sample_refusal

LAST_MICROSECOND = datetime(2025, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)


def _at(month: int, day: int, hour: int = 12, *rest: int) -> datetime:
    return datetime(2025, month, day, hour, *rest, tzinfo=UTC)


def _decision(action: str, policy: str = "known_works", **extra: str) -> DecisionRecord:
    stage = extra.pop("stage", "prompt")
    return DecisionRecord(
        stage=stage, policy=policy, rule="name", action=action, score=1.0, **extra
    )


def verdict_records() -> dict[str, LedgerRecord]:
    """Seven entries in seq order, named by what a test expects of them.

    a1 warn (credits W1), r1 block, a2 allow (requester is SQL), a3 needs_license (names W2),
    a4 allow (no decisions, last microsecond of 1 March), r2 needs_license (names W2, no
    generator), r3 block (image stage, a disabled layer recorded as warn).
    """
    return {
        "a1": sample_asset(1, requester="alice", project="p1", created_at=_at(1, 2, 10)),
        "r1": sample_refusal(1, requester="bob", created_at=_at(1, 2, 11)),
        "a2": sample_asset(
            2,
            generator="diffusion",
            requester="x' OR '1'='1",
            project=None,
            decisions=(_decision("allow", "prompt_safety"),),
            attributions=(),
            created_at=_at(1, 5),
        ),
        "a3": sample_asset(
            3,
            requester="bob",
            decisions=(_decision("needs_license", work_id="W2", work_title="Tower"),),
            attributions=(),
            created_at=_at(2, 1),
        ),
        "a4": sample_asset(
            4,
            requester="carol",
            decisions=(),
            attributions=(),
            created_at=_at(3, 1, 23, 59, 59, 999_999),
        ),
        "r2": sample_refusal(
            2,
            action="needs_license",
            generator=None,
            requester="dave",
            decisions=(_decision("needs_license", work_id="W2", work_title="Tower"),),
            created_at=_at(3, 2),
        ),
        "r3": sample_refusal(
            3,
            stage="image",
            image_index=0,
            generator="gan",
            requester="erin",
            decisions=(
                _decision("block", "output_safety", stage="image"),
                DecisionRecord(
                    stage="image",
                    policy="known_works.clip_image",
                    rule="disabled",
                    action="warn",
                    score=0.0,
                    detail="no CLIP checkpoint",
                ),
            ),
            created_at=_at(3, 3),
        ),
    }


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """An empty, migrated SQLite ledger."""
    opened = Ledger.sqlite(tmp_path / "ledger.db")
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="module")
def verdict_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """The `verdict_records` in a SQLite ledger shared by one module (read-only)."""
    opened = Ledger.sqlite(tmp_path_factory.mktemp("audit") / "ledger.db")
    opened.upgrade()
    opened.append_many(verdict_records().values())
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def records() -> dict[str, LedgerRecord]:
    """The records in `verdict_ledger`, by name (a1, r1, ...)."""
    return verdict_records()
