"""Lineage in the ledger: asset rows link to their ingredients' rows; walks on both engines.

A 5-step chain (sketch, model, retouch, model, retouch) comes out complete; a middle file
gone from disk or a middle row missing from the ledger is named as missing; a cycle made by
hand-editing a row is an error, never an endless walk; rows from before the links (no
`source_asset_id`) are still matched by manifest label or SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from provenance.credentials.lineage import (
    HUMAN_RETOUCH,
    HUMAN_SKETCH,
    MISSING,
    MODEL_RENDER,
    ledger_lineage,
)
from provenance.errors import LedgerError
from provenance.ledger import IngredientRecord, Ledger
from tests.integration.ledger.samples import sample_asset

KINDS = [HUMAN_SKETCH, MODEL_RENDER, HUMAN_RETOUCH, MODEL_RENDER, HUMAN_RETOUCH]


def _chain(ledger: Ledger, folder: Path, *, link: bool = True) -> list[str]:
    """Five assets, each made from the one before, with files on disk; their ids."""
    ids: list[str] = []
    previous = None
    for n, kind in enumerate(KINDS, start=1):
        data = f"pixels of step {n}".encode()
        path = folder / f"step-{n}.png"
        path.write_bytes(data)
        ingredients: tuple[IngredientRecord, ...] = ()
        if previous is not None:
            by_label = kind == HUMAN_RETOUCH  # edits name the parent's manifest, renders its bytes
            ingredients = (
                IngredientRecord(
                    sha256=previous.sha256,
                    relationship="parentOf",
                    title=Path(previous.path).name,
                    mime="image/png",
                    manifest_label=previous.manifest_label if by_label else None,
                    validation_state="Trusted" if by_label else None,
                ),
            )
        people = None
        if kind != MODEL_RENDER:
            role = "author" if kind == HUMAN_SKETCH else "editor"
            people = [{"role": role, "name": "Ana Lima", "actions": ["c2pa.drawing"]}]
        record = sample_asset(
            n,
            sha256=hashlib.sha256(data).hexdigest(),
            path=str(path),
            generator="human" if people else "gan",
            ingredients=ingredients,
            contributors=people,
            use="research",
        )
        if link:
            record = replace(record, ingredients=ledger.link_ingredients(record.ingredients))
        ledger.append_asset(record)
        ids.append(record.asset_id)
        previous = record
    return ids


def test_a_five_step_chain_comes_out_complete(ledger: Ledger, tmp_path: Path) -> None:
    ids = _chain(ledger, tmp_path)
    last = ledger.get_asset(ids[-1])
    assert last is not None
    assert last.record.ingredients[0].source_asset_id == ids[3]  # type: ignore[union-attr]
    lineage = ledger_lineage(ledger, last)
    assert [s.kind for s in lineage.steps] == KINDS
    assert [s.asset_id for s in lineage.steps] == ids
    assert lineage.clean, lineage.problems
    assert lineage.summary() == "5 steps: 1 human sketch, 2 model renders, 2 human retouches"
    first, render = lineage.steps[0], lineage.steps[1]
    assert first.actor == "Ana Lima" and first.actions == ("c2pa.drawing",)
    assert render.actor == "tiny-dcgan 1.0" and render.actions == ("c2pa.opened", "c2pa.edited")
    assert render.licence is not None and "research" in render.licence
    assert lineage.steps[2].actions == ("c2pa.opened", "c2pa.drawing")
    assert all(s.verdict and s.time for s in lineage.steps)
    assert ledger.verify_chain().ok


def test_rows_without_links_are_matched_when_read(ledger: Ledger, tmp_path: Path) -> None:
    ids = _chain(ledger, tmp_path, link=False)
    last = ledger.get_asset(ids[-1])
    assert last is not None and last.record.ingredients[0].source_asset_id is None  # type: ignore[union-attr]
    assert [s.asset_id for s in ledger_lineage(ledger, last).steps] == ids


def test_a_missing_middle_file_is_named(ledger: Ledger, tmp_path: Path) -> None:
    ids = _chain(ledger, tmp_path)
    (tmp_path / "step-3.png").unlink()
    lineage = ledger_lineage(ledger, ledger.get_asset(ids[-1]))  # type: ignore[arg-type]
    assert [s.asset_id for s in lineage.steps] == ids  # nothing skipped
    assert not lineage.clean
    assert lineage.problems == [f"step-3.png: missing: the file {tmp_path / 'step-3.png'} is gone"]
    assert lineage.summary().endswith("(NOT a clean chain)")


def test_a_middle_row_missing_from_the_ledger_is_named(ledger: Ledger, tmp_path: Path) -> None:
    record = sample_asset(
        9,
        ingredients=(
            IngredientRecord(
                sha256="ab" * 32,
                relationship="parentOf",
                title="lost-retouch.png",
                manifest_label="urn:c2pa:00000000-dead-4000-8000-000000000000",
                validation_state="Trusted",
            ),
        ),
    )
    ledger.append_asset(record)
    lineage = ledger_lineage(ledger, ledger.get_asset(record.asset_id))  # type: ignore[arg-type]
    missing = lineage.steps[0]
    assert missing.kind == MISSING and missing.title == "lost-retouch.png"
    assert "not in the ledger" in missing.problems[0] and not lineage.clean


def test_a_cycle_through_the_ledger_is_an_error(ledger: Ledger, tmp_path: Path) -> None:
    ids = _chain(ledger, tmp_path)
    # By hand: the first step now claims the last one as its ingredient.
    with ledger.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO ingredients (ingredient_id, asset_id, position, sha256, "
                "relationship, source_asset_id) VALUES (:i, :a, 0, :s, 'parentOf', :src)"
            ),
            {"i": f"{ids[0]}/0", "a": ids[0], "s": "cd" * 32, "src": ids[-1]},
        )
    with pytest.raises(LedgerError, match="cycle through the ledger"):
        ledger_lineage(ledger, ledger.get_asset(ids[-1]))  # type: ignore[arg-type]
    assert not ledger.verify_chain().ok  # and the chain says the row was edited
