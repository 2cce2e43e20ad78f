"""`lookup` (audit show) and `reconcile` against real files recorded in a SQLite ledger."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from provenance.audit.reconcile import reconcile
from provenance.audit.show import lookup
from provenance.errors import BadInputError
from provenance.ledger import Ledger, canonical_path
from tests.integration.ledger.samples import sample_asset, sample_refusal


def _png(colour: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (colour, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _record(ledger: Ledger, path: Path, index: int) -> str:
    """Write an image at `path` and record it; returns its asset id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png(index))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = ledger.append_asset(sample_asset(index, path=canonical_path(path), sha256=digest))
    return entry.id


def test_lookup_by_every_kind_of_key(ledger: Ledger, tmp_path: Path) -> None:
    image = tmp_path / "out" / "one.png"
    asset_id = _record(ledger, image, 1)
    refusal = ledger.append_refusal(sample_refusal(1))
    digest = hashlib.sha256(image.read_bytes()).hexdigest()

    assert lookup(ledger, asset_id).entries[0].matched_by == ["asset_id"]
    assert lookup(ledger, refusal.id).entries[0].entry.kind == "refusal"
    assert lookup(ledger, digest.upper()).entries[0].matched_by == ["sha256"]
    by_path = lookup(ledger, "out/one.png")  # relative to the working directory
    assert by_path.entries[0].matched_by == ["path", "file_sha256"]
    (document,) = by_path.as_dicts()
    assert document["file"] == {
        "path": "out/one.png",
        "exists": True,
        "sha256": digest,
        "matches_record": True,
    }
    assert document["chain"] == {
        "seq": 1, "head_seq": 2, "prev_hash": "0" * 64,
        "row_hash": by_path.entries[0].entry.row_hash, "row_verifies": True,
    }  # fmt: skip

    copy = tmp_path / "renamed.png"
    shutil.copyfile(image, copy)
    assert lookup(ledger, str(copy)).entries[0].matched_by == ["file_sha256"]

    image.write_bytes(b"edited")
    edited = lookup(ledger, str(image)).as_dicts()[0]
    assert edited["matched_by"] == ["path"] and edited["file"]["matches_record"] is False
    image.unlink()
    gone = lookup(ledger, str(image)).as_dicts()[0]
    assert gone["file"]["exists"] is False and gone["file"]["sha256"] is None


def test_lookup_misses_are_bad_input(ledger: Ledger, tmp_path: Path) -> None:
    _record(ledger, tmp_path / "one.png", 1)
    stranger = tmp_path / "stranger.png"
    stranger.write_bytes(_png(99))
    with pytest.raises(BadInputError, match="no ledger entry records this path or this file's"):
        lookup(ledger, str(stranger))
    for key in ("ast-404", "x' OR '1'='1", "a" * 5000, "f" * 64):
        with pytest.raises(BadInputError, match="no ledger entry has this asset id"):
            lookup(ledger, key)
    for key in ("", "one\x00.png", "line\nbreak"):
        with pytest.raises(BadInputError, match="not an asset id, refusal id, SHA-256 or path"):
            lookup(ledger, key)


def test_lookup_reports_a_row_that_no_longer_verifies(ledger: Ledger, tmp_path: Path) -> None:
    asset_id = _record(ledger, tmp_path / "one.png", 1)
    second = _record(ledger, tmp_path / "two.png", 2)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("UPDATE assets SET seed = 5 WHERE asset_id = :a"), {"a": asset_id})
    assert lookup(ledger, asset_id).entries[0].verifies is False
    assert lookup(ledger, second).entries[0].verifies is True  # links to the stored hash


@pytest.fixture
def outputs(ledger: Ledger, tmp_path: Path) -> dict[str, Path]:
    """Recorded files: top level, in a subdirectory, in a hidden directory, in a sibling."""
    root = tmp_path / "out"
    paths = {
        "top": root / "top.png",
        "nested": root / "sub" / "nested.png",
        "hidden": root / ".cache" / "hidden.png",
        "sibling": tmp_path / "out2" / "sibling.png",
    }
    for index, path in enumerate(paths.values(), start=1):
        _record(ledger, path, index)
    return {"root": root, **paths}


def test_recursion_and_prefixes(ledger: Ledger, outputs: dict[str, Path]) -> None:
    flat = reconcile(ledger, outputs["root"])
    assert (flat.recorded, flat.files, flat.matched, flat.findings) == (1, 1, 1, [])
    deep = reconcile(ledger, outputs["root"], recursive=True, workers=2)
    # the hidden directory is never walked, but what is recorded inside it is still checked
    assert (deep.recorded, deep.files, deep.matched, deep.findings) == (3, 2, 3, [])
    assert deep.ok() and deep.summary()["ok"] is True


def test_findings_name_what_is_wrong(ledger: Ledger, outputs: dict[str, Path]) -> None:
    root = outputs["root"]
    outputs["top"].write_bytes(_png(200))
    outputs["hidden"].unlink()
    (root / "stray.png").write_bytes(_png(201))
    (root / "no-suffix").write_bytes(_png(202))  # an image by its bytes
    (root / "notes.txt").write_text("not an image")
    shutil.copyfile(outputs["sibling"], root / "sub" / "copy.png")
    (root / ".top.png.partial").write_bytes(b"half")
    (root / ".lost.png.partial").write_bytes(b"half")
    report = reconcile(ledger, root, recursive=True)
    found = {(f.status, Path(f.path).relative_to(root).as_posix()): f for f in report.findings}
    assert set(found) == {
        ("modified", "top.png"),
        ("missing", ".cache/hidden.png"),
        ("unknown", "stray.png"),
        ("unknown", "no-suffix"),
        ("unknown", "sub/copy.png"),
        ("partial", ".top.png.partial"),
        ("partial", ".lost.png.partial"),
    }
    assert found[("unknown", "sub/copy.png")].detail.endswith(str(outputs["sibling"]))
    assert "interrupted commit" in found[("partial", ".top.png.partial")].detail
    assert found[("partial", ".top.png.partial")].asset_ids
    assert "never recorded" in found[("partial", ".lost.png.partial")].detail
    assert report.counts() == {"missing": 1, "modified": 1, "unknown": 3, "partial": 2}
    assert not report.ok() and not report.ok(allow_unknown=True)
    assert report.summary()["ok"] is False


def test_like_wildcards_in_a_directory_name_are_literal(ledger: Ledger, tmp_path: Path) -> None:
    _record(ledger, tmp_path / "o%t_" / "a.png", 1)
    _record(ledger, tmp_path / "oXtY" / "b.png", 2)
    report = reconcile(ledger, tmp_path / "o%t_")
    assert (report.recorded, report.matched, report.findings) == (1, 1, [])


def test_bad_directories(ledger: Ledger, tmp_path: Path) -> None:
    (tmp_path / "file.png").write_bytes(_png(1))
    with pytest.raises(BadInputError, match="no such directory"):
        reconcile(ledger, tmp_path / "missing")
    with pytest.raises(BadInputError, match="not a directory"):
        reconcile(ledger, tmp_path / "file.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list any directory")
def test_an_unlistable_subdirectory_fails(ledger: Ledger, outputs: dict[str, Path]) -> None:
    locked = outputs["nested"].parent
    locked.chmod(0)
    try:
        with pytest.raises(BadInputError, match="cannot read directory"):
            reconcile(ledger, outputs["root"], recursive=True)
    finally:
        locked.chmod(0o700)
