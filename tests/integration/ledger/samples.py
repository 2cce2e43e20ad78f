"""Example records with every field filled: for tests, benchmarks and demos of the ledger.

They exercise what a real output carries (a model card, parameters with floats, non-ASCII
prompt text, decisions from both stages, an attribution, an ingredient), so code built on
the ledger can be tested against realistic rows without generating or signing anything.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from provenance.ledger.records import (
    AssetRecord,
    AttributionRecord,
    DecisionRecord,
    IngredientRecord,
    RefusalRecord,
)

if TYPE_CHECKING:
    from provenance.ledger.repository import Ledger

_EPOCH = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def sample_sha256(label: str) -> str:
    """A stable, distinct SHA-256 hex digest for `label`."""
    return hashlib.sha256(label.encode("utf-8")).hexdigest()


def sample_asset(index: int = 0, **overrides: Any) -> AssetRecord:
    """Asset `index` of a sample request (`req-<index>`), every field and child row filled."""
    fields: dict[str, Any] = {
        "asset_id": f"ast-{index:06d}",
        "request_id": f"req-{index:06d}",
        "image_index": 0,
        "sha256": sample_sha256(f"asset {index}"),
        "path": f"/srv/out/req-{index:06d}-00.png",
        "mime": "image/png",
        "generator": "gan",
        "model": {
            "name": "tiny-dcgan",
            "version": "1.0",
            "license": "CC-BY-NC-4.0",
            "training_data": "DigiFace-1M (non-commercial research)",
            "weights_sha256": sample_sha256("weights"),
            "permitted_uses": ["research"],
        },
        "seed": 1_000 + index,
        "prompt": f"a café portrait № {index} — ünïcode ✓",
        "prompt_hash": None,
        "negative_prompt": "blurry",
        "params": {"steps": 20, "guidance": 7.5, "size": [64, 64], "eta": 1e-07},
        "manifest_label": f"urn:c2pa:{index:08d}-0000-4000-8000-000000000000",
        "requester": "alice@studio.example",
        "project": "launch",
        "use": "research",
        "license": "internal-only",
        "signer_fingerprint": sample_sha256("signer"),
        "decisions": (
            DecisionRecord(
                stage="prompt", policy="prompt_safety", rule="lexical", action="allow", score=0.0
            ),
            DecisionRecord(
                stage="image",
                policy="known_works",
                rule="image_similarity",
                action="warn",
                score=0.8125,
                threshold=0.75,
                category="artwork",
                detail="close to W1",
                work_id="W1",
                work_title="Sunflowers",
            ),
        ),
        "attributions": (
            AttributionRecord(
                work_id="W1",
                title="Sunflowers",
                creator="V. van Gogh",
                license="licensed:agreement-7",
                similarity=0.8125,
                method="clip_image",
            ),
        ),
        "ingredients": (
            IngredientRecord(
                sha256=sample_sha256(f"style {index}"),
                relationship="inputTo",
                title="style.png",
                mime="image/png",
            ),
        ),
        "created_at": _EPOCH + timedelta(seconds=index),
    }
    fields.update(overrides)
    return AssetRecord(**fields)


def sample_refusal(index: int = 0, **overrides: Any) -> RefusalRecord:
    """A prompt-stage block for sample request `reqx-<index>`, with its deciding reason."""
    fields: dict[str, Any] = {
        "refusal_id": f"ref-{index:06d}",
        "request_id": f"reqx-{index:06d}",
        "stage": "prompt",
        "action": "block",
        "prompt": f"forbidden thing {index}",
        "prompt_hash": None,
        "generator": "diffusion",
        "model_name": "tiny-sd",
        "image_sha256": None,
        "image_index": None,
        "requester": "bob@studio.example",
        "project": "launch",
        "use": "commercial",
        "license": None,
        "decisions": (
            DecisionRecord(
                stage="prompt",
                policy="prompt_safety",
                rule="lexical",
                action="block",
                score=1.0,
                threshold=0.5,
                category="violence",
                span="forbidden",
            ),
        ),
        "created_at": _EPOCH + timedelta(seconds=index, microseconds=1),
    }
    fields.update(overrides)
    return RefusalRecord(**fields)


def write_samples(target: str | Ledger, writer: int, count: int, batch: int = 1) -> int:
    """Append `count` sample assets as writer number `writer` (ids never collide across writers).

    `target` is an open `Ledger` (threads share one) or a URL (opened and closed here, as a
    spawned process must).  `batch` > 1 appends through `append_many`, `batch` records per
    transaction.  A module-level function so that it can run in a spawned process
    (concurrency tests, benchmarks).  Returns the number of entries written.
    """
    from provenance.ledger.repository import Ledger

    ledger = Ledger.from_url(target) if isinstance(target, str) else target
    try:
        first = writer * 1_000_000
        records = [sample_asset(first + i) for i in range(count)]
        for start in range(0, count, batch):
            ledger.append_many(records[start : start + batch])
    finally:
        if isinstance(target, str):
            ledger.close()
    return count
