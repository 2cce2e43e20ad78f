"""An asset's lineage as far as the ledger knows it: ingredients, and the assets they were.

Each ingredient the ledger recorded (style image, init image, a signed parent) is looked up
by its SHA-256; when the studio recorded that image itself, its own ingredients follow, up
to `MAX_DEPTH` steps.  A reader who may not see an asset (an artist, someone else's asset)
gets its id only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provenance.audit.query import verdict_of
from provenance.ledger import Ledger
from provenance.ledger.records import AssetRecord, LedgerEntry

MAX_DEPTH = 16


def asset_summary(entry: LedgerEntry) -> dict[str, Any]:
    """The fields a lineage node shows about a recorded asset."""
    record = entry.record
    assert isinstance(record, AssetRecord)
    return {
        "asset_id": entry.id,
        "sha256": record.sha256,
        "created_at": record.created_at.isoformat(),
        "generator": record.generator,
        "model": record.model_name,
        "seed": record.seed,
        "requester": record.requester,
        "project": record.project,
        "verdict": verdict_of(entry),
        "manifest_label": record.manifest_label,
    }


def lineage(
    ledger: Ledger, entry: LedgerEntry, may_read: Callable[[LedgerEntry], bool]
) -> dict[str, Any]:
    """The lineage tree rooted at `entry` (JSON-ready)."""
    return _node(ledger, entry, may_read, depth=0, seen={entry.id})


def _node(
    ledger: Ledger,
    entry: LedgerEntry,
    may_read: Callable[[LedgerEntry], bool],
    depth: int,
    seen: set[str],
) -> dict[str, Any]:
    if not may_read(entry):
        return {"asset_id": entry.id, "hidden": True, "ingredients": []}
    record = entry.record
    assert isinstance(record, AssetRecord)
    node = asset_summary(entry)
    ingredients = []
    for ingredient in record.ingredients:
        item: dict[str, Any] = {
            "relationship": ingredient.relationship,
            "title": ingredient.title,
            "sha256": ingredient.sha256,
            "manifest_label": ingredient.manifest_label,
            "validation_state": ingredient.validation_state,
            "asset": None,
        }
        parent = _recorded_asset(ledger, ingredient.sha256)
        if parent is not None and parent.id not in seen and depth < MAX_DEPTH:
            item["asset"] = _node(ledger, parent, may_read, depth + 1, seen | {parent.id})
        ingredients.append(item)
    node["ingredients"] = ingredients
    return node


def _recorded_asset(ledger: Ledger, sha256: str) -> LedgerEntry | None:
    found = [e for e in ledger.find_by_sha256(sha256) if isinstance(e.record, AssetRecord)]
    return found[0] if found else None
