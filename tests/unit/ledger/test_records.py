"""Records are checked and normalised when made, before anything reaches the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

import pytest

from provenance.errors import LedgerError
from provenance.ledger import (
    AttributionRecord,
    DecisionRecord,
    IngredientRecord,
    LedgerEntry,
    decisions_from_verdict,
)
from provenance.types import Attribution, InputImage
from provenance.verdict import Action, Reason, Verdict
from tests.integration.ledger.samples import sample_asset, sample_refusal


class Colour(Enum):
    RED = "red"


def test_params_become_plain_json() -> None:
    record = sample_asset(
        1, params={"size": (64, 64), "path": Path("/m"), "c": Colour.RED, "tags": {"b", "a"}}
    )
    assert record.params == {"size": [64, 64], "path": "/m", "c": "red", "tags": ["a", "b"]}
    assert record.model_name == "tiny-dcgan"


def test_timestamps_become_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    record = sample_asset(1, created_at=datetime(2025, 1, 1, 9, tzinfo=tokyo))
    assert record.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert record.created_at.tzinfo is UTC
    naive = sample_refusal(1, created_at=datetime(2025, 1, 1))
    assert naive.created_at == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sha256": "ABC"}, "sha256 must be 64 lowercase hex"),
        ({"asset_id": ""}, "asset_id must be a non-empty"),
        ({"request_id": "r" * 129}, "request_id must be"),
        ({"seed": 2**63}, "seed must be a 64-bit integer"),
        ({"image_index": True}, "image_index must be"),
        ({"prompt": "a\x00b"}, "NUL"),
        ({"prompt": "\ud800"}, "not valid Unicode"),
        ({"params": {"x": float("nan")}}, "cannot be stored as JSON"),
        ({"params": {"x": object()}}, "cannot be stored as JSON"),
        ({"model": ["not", "a", "dict"]}, "model must be a mapping"),
        ({"decisions": ["nope"]}, "expected DecisionRecord"),
        ({"created_at": "yesterday"}, "created_at must be a datetime"),
    ],
)
def test_bad_asset_fields_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(LedgerError, match=message):
        sample_asset(1, **overrides)


def test_bad_child_and_refusal_fields() -> None:
    with pytest.raises(LedgerError, match="score must be finite"):
        DecisionRecord(stage="image", policy="p", rule="r", action="block", score=float("inf"))
    with pytest.raises(LedgerError, match="stage must be one of"):
        DecisionRecord(stage="later", policy="p", rule="r", action="block", score=1)
    with pytest.raises(LedgerError, match="similarity must be a number"):
        AttributionRecord(
            work_id="w", title="t", creator=None, license=None, similarity="hi", method="name"
        )
    with pytest.raises(LedgerError, match="stage must be one of"):
        sample_refusal(1, stage="nowhere")


def test_builders_from_pipeline_types(tmp_path: Path) -> None:
    reason = Reason(
        policy="known_works",
        rule="image_similarity",
        action=Action.NEEDS_LICENSE,
        score=0.93,
        threshold=0.9,
        work_id="W1",
        work_title="Sunflowers",
        detail="close",
    )
    verdict = Verdict.from_reasons([reason], disabled=["output_safety/open_nsfw: no weights"])
    decisions = decisions_from_verdict(verdict, "image")
    assert decisions[0] == DecisionRecord(
        stage="image",
        policy="known_works",
        rule="image_similarity",
        action="needs_license",
        score=0.93,
        threshold=0.9,
        detail="close",
        work_id="W1",
        work_title="Sunflowers",
    )
    assert (decisions[1].policy, decisions[1].rule, decisions[1].action) == (
        "output_safety",
        "disabled",
        "warn",
    )
    attribution = AttributionRecord.from_attribution(
        Attribution(
            work_id="W1",
            title="Sunflowers",
            creator="",
            license="licensed:a",
            score=0.5,
            method="phash",
        )
    )
    assert attribution.creator is None and attribution.similarity == 0.5
    image = tmp_path / "style.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    ingredient = IngredientRecord.from_input_image(InputImage.from_path(image, "inputTo"))
    assert (ingredient.relationship, ingredient.mime, ingredient.title) == (
        "inputTo",
        "image/png",
        "style.png",
    )


def test_entry_as_dict_is_json_ready() -> None:
    entry = LedgerEntry("asset", "ast-000001", 1, "0" * 64, "1" * 64, sample_asset(1))
    document = json.loads(json.dumps(entry.as_dict()))
    assert document["record"]["decisions"][1]["work_id"] == "W1"
    assert document["record"]["created_at"].endswith("+00:00")
