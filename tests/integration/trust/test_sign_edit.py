"""`provenant sign EDITED --parent ORIGINAL --editor NAME`: a person's edit as a new manifest.

Read back with c2pa-python's own `Reader` (trusting the studio's anchors) and with our
verifier: the edit is Trusted, opens its parent, names the person in `actors`, carries the
right digital source type and changed region, and its `parentOf` ingredient names the
parent's active manifest and validation state.  Bad input writes nothing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import c2pa
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.credentials.editing import DIGITAL_CREATION, HUMAN_EDITS, MINOR_HUMAN_EDITS
from provenance.credentials.manifest import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
)
from provenance.credentials.signing import CredentialSigner
from provenance.credentials.trust import verification_settings
from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED
from provenance.ledger import AssetRecord, Ledger

runner = CliRunner()
DECLARED = ("--generator", "othertool", "--model", "other-model-2")


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    home = tmp_path / "studio"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == EXIT_OK
    return home


def _cli(home: Path, *args: Any):
    return runner.invoke(app, ["--home", str(home), *map(str, args)])


def _store(path: Path, home: Path) -> dict[str, Any]:
    roots = [Path(p).read_text() for p in Settings.load(home=home, env={}).trust.anchors]
    context = c2pa.Context.from_dict(verification_settings("".join(roots)))
    with c2pa.Reader("image/png", io.BytesIO(path.read_bytes()), context=context) as reader:
        return json.loads(reader.json())


def _active(store: dict[str, Any]) -> dict[str, Any]:
    return store["manifests"][store["active_manifest"]]


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    (actions,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return actions["data"]["actions"]


def _assets(home: Path) -> list[AssetRecord]:
    with Ledger.from_settings(Settings.load(home=home, env={}), read_only=True) as ledger:
        return [e.record for e in ledger.iter_entries() if isinstance(e.record, AssetRecord)]


def _picture(path: Path, seed: int = 1, size: int = 64) -> Path:
    image = Image.new("RGB", (size, size), (30 + seed * 20, 120, 200 - seed * 10))
    ImageDraw.Draw(image).ellipse((8, 8, size - 8, size - 8), outline=(0, 0, 0), width=2)
    image.save(path)
    return path


def _retouch(source: Path, target: Path, box: tuple[int, int, int, int] = (4, 6, 14, 20)) -> Path:
    image = Image.open(source).convert("RGB")
    ImageDraw.Draw(image).rectangle(box, fill=(250, 10, 10))
    image.save(target)
    return target


def _signed_model_output(home: Path, tmp_path: Path) -> Path:
    """An AI image the studio signed (`sign --generator ...`: trainedAlgorithmicMedia)."""
    raw = _picture(tmp_path / "render.png", 2)
    result = _cli(home, "sign", raw, *DECLARED, "--out", tmp_path / "generated", "--json")
    assert result.exit_code == EXIT_OK, result.output
    return tmp_path / "generated" / "render.png"


def _edit(home: Path, edited: Path, parent: Path, out: Path, *extra: Any):
    return _cli(home, "sign", edited, "--parent", parent, "--editor", "Ana Lima", "--out", out,
                "--json", *extra)  # fmt: skip


def _one_error_line(result: Any) -> str:
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.strip().splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_retouched_model_output_is_a_trusted_edit_naming_the_person(studio, tmp_path) -> None:
    parent = _signed_model_output(studio, tmp_path)
    parent_store = _store(parent, studio)
    edited = _retouch(parent, tmp_path / "retouched.png")
    result = _edit(studio, edited, parent, tmp_path / "out", "--action", "c2pa.drawing",
                   "--tool", "Krita 5.2")  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    out = _store(Path(line["path"]), studio)
    assert out["validation_state"] == "Trusted", out.get("validation_status")
    active = _active(out)
    opened, drawing = _actions(active)
    assert opened["action"] == "c2pa.opened" and drawing["action"] == "c2pa.drawing"
    for action in (opened, drawing):
        assert action["actors"][0]["identifier"] == "Ana Lima"
    assert drawing["softwareAgent"]["name"] == "Krita"
    assert drawing["softwareAgent"]["version"] == "5.2"
    assert drawing["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    shape = drawing["changes"][0]["region"][0]["shape"]
    assert (shape["origin"], shape["width"], shape["height"]) == ({"x": 4, "y": 6}, 11, 15)
    (ingredient,) = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == parent_store["active_manifest"]
    assert not ingredient["validation_results"]["activeManifest"].get("failure")
    assert set(parent_store["manifests"]) < set(out["manifests"])
    assert line["parent"]["validation_state"] == "Trusted"

    verified = _cli(studio, "verify", line["path"], "--json")
    assert verified.exit_code == EXIT_OK, verified.output
    assert json.loads(verified.stdout)["state"] == "trusted"

    row = next(r for r in _assets(studio) if r.asset_id == line["asset_id"])
    assert row.contributors == [{"role": "editor", "name": "Ana Lima",
                                 "actions": ["c2pa.drawing"], "tool": "Krita 5.2"}]  # fmt: skip
    (link,) = row.ingredients
    assert link.manifest_label == parent_store["active_manifest"]
    assert link.validation_state == "Trusted"
    parent_row = next(r for r in _assets(studio) if r.manifest_label == link.manifest_label)
    assert link.source_asset_id == parent_row.asset_id == line["parent_asset_id"]


def test_a_sketch_is_a_human_creation_and_edits_of_it_are_human_edits(studio, tmp_path) -> None:
    sketch = _cli(studio, "sign", _picture(tmp_path / "sketch.png"), "--editor", "Ana Lima",
                  "--out", tmp_path / "s", "--json")  # fmt: skip
    assert sketch.exit_code == EXIT_OK, sketch.output
    signed = tmp_path / "s" / "sketch.png"
    (created,) = _actions(_active(_store(signed, studio)))
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == DIGITAL_CREATION
    assert created["actors"] == [{"identifier": "Ana Lima", "credentials": []}]

    graded = tmp_path / "graded.png"
    Image.eval(Image.open(signed).convert("RGB"), lambda v: min(255, v + 9)).save(graded)
    minor = _edit(studio, graded, signed, tmp_path / "o1", "--action", "c2pa.color_adjustments")
    assert minor.exit_code == EXIT_OK, minor.output
    actions = _actions(_active(_store(tmp_path / "o1" / "graded.png", studio)))
    assert actions[1]["digitalSourceType"] == MINOR_HUMAN_EDITS
    assert "changes" not in actions[1]  # the whole picture changed: not a local edit

    drawn = _retouch(signed, tmp_path / "drawn.png")
    full = _edit(studio, drawn, signed, tmp_path / "o2", "--action", "c2pa.drawing")
    assert full.exit_code == EXIT_OK, full.output
    actions = _actions(_active(_store(tmp_path / "o2" / "drawn.png", studio)))
    assert actions[1]["digitalSourceType"] == HUMAN_EDITS
    assert all(a.get("digitalSourceType") != TRAINED_ALGORITHMIC_MEDIA for a in actions)


def _tampered_parent(home: Path, tmp_path: Path, th: Any) -> Path:
    """A studio-signed AI image whose pixels were changed after signing (store kept)."""
    parent = _signed_model_output(home, tmp_path)
    other = _picture(tmp_path / "other.png", 5)
    parent.write_bytes(th.png_graft(other.read_bytes(), parent.read_bytes()))
    return parent


def test_an_altered_parent_is_refused_or_flagged_never_a_clean_chain(studio, tmp_path, th):
    parent = _tampered_parent(studio, tmp_path, th)
    edited = _retouch(parent, tmp_path / "edited.png")
    refused = _edit(studio, edited, parent, tmp_path / "out")
    assert refused.exit_code == EXIT_ERROR
    assert "assertion.dataHash.mismatch" in _one_error_line(refused)
    assert not (tmp_path / "out").exists()

    kept = _edit(studio, edited, parent, tmp_path / "out", "--accept-invalid-parent")
    assert kept.exit_code == EXIT_OK, kept.output
    path = Path(json.loads(kept.stdout)["path"])
    (ingredient,) = _active(_store(path, studio))["ingredients"]
    failures = {f["code"] for f in ingredient["validation_results"]["activeManifest"]["failure"]}
    assert "assertion.dataHash.mismatch" in failures

    tree = _cli(studio, "verify", "--tree", "--json", path)
    lineage = json.loads(tree.stdout)["lineage"]
    assert lineage["clean"] is False
    assert any("dataHash.mismatch" in p for p in lineage["problems"])
    assert "NOT a clean chain" in lineage["summary"]

    audited = _cli(studio, "audit", "lineage", path)
    assert audited.exit_code == EXIT_VERIFICATION_FAILED, audited.output
    assert "NOT a clean chain" in audited.stdout and "Invalid" in audited.stdout


def test_research_only_ancestor_keeps_the_edit_research_only(studio, tmp_path, th) -> None:
    settings = Settings.load(home=studio, env={})
    card = {"name": "faces-dcgan", "version": "1.0", "license": "DigiFace-1M research only",
            "permitted_uses": ["research"]}  # fmt: skip
    manifest = {
        "claim_generator_info": [{"name": "provenant", "version": "test"}],
        "title": "face.png",
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}]}},
            {"label": "org.provenant.generation", "data": {"model": card}},
        ],
    }  # fmt: skip
    with CredentialSigner.from_settings(settings) as signer:
        data = signer.sign(th.image_bytes("png", 48, 5), "image/png", manifest).data
    parent = tmp_path / "face.png"
    parent.write_bytes(data)
    edited = _retouch(parent, tmp_path / "face-retouched.png")
    before = len(_assets(studio))
    refused = _edit(studio, edited, parent, tmp_path / "out", "--use", "commercial")
    assert refused.exit_code == EXIT_BLOCKED, refused.output
    reason = json.loads(refused.stdout)["error"]
    assert "faces-dcgan" in reason and "face.png" in reason and "research" in reason
    assert len(_assets(studio)) == before and not (tmp_path / "out").exists()

    allowed = _edit(studio, edited, parent, tmp_path / "out", "--use", "research")
    assert allowed.exit_code == EXIT_OK, allowed.output
    assert "faces-dcgan" in json.loads(allowed.stdout)["licence"]


def _bad_cases(tmp_path: Path, home: Path) -> dict[str, tuple[list[Any], str]]:
    parent = _signed_model_output(home, tmp_path)
    edited = _retouch(parent, tmp_path / "edited.png")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    copy = tmp_path / "copy.png"
    copy.write_bytes(parent.read_bytes())

    def edit(*options: str) -> list[Any]:
        return [edited, "--parent", parent, "--editor", "Ana", *options]

    return {
        "parent not an image": ([edited, "--parent", text, "--editor", "Ana"], "--parent"),
        "parent is the file": ([edited, "--parent", edited, "--editor", "Ana"], "edited file"),
        "parent same bytes": ([copy, "--parent", parent, "--editor", "Ana"], "same bytes"),
        "editor 10k chars": ([edited, "--parent", parent, "--editor", "A" * 10_000], "--editor"),
        "editor control": ([edited, "--parent", parent, "--editor", "Ana\x07Lima"], "U+0007"),
        "editor newline": ([edited, "--parent", parent, "--editor", "Ana\nx"], "U+000A"),
        "editor bidi": ([edited, "--parent", parent, "--editor", "Ana\u202eL"], "U+202E"),
        "unknown action": (edit("--action", "c2pa.created"), "--action"),
        "region outside": (edit("--region", "60,60,10,10"), "reaches outside the 64x64"),
        "region malformed": (edit("--region", "1,2,x"), "X,Y,WIDTH,HEIGHT"),
        "region empty": (edit("--region", "0,0,0,5"), "at least 1"),
        "region, no parent": ([edited, "--editor", "Ana", "--region", "1,1,2,2"], "--parent"),
    }


def test_a_stated_region_is_signed_instead_of_the_found_one(studio, tmp_path) -> None:
    parent = _signed_model_output(studio, tmp_path)
    edited = _retouch(parent, tmp_path / "retouched.png")
    result = _edit(studio, edited, parent, tmp_path / "out", "--region", "2,3,40,30")
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    assert line["human"]["region"] == [2, 3, 40, 30]
    _, edit = _actions(_active(_store(Path(line["path"]), studio)))
    shape = edit["changes"][0]["region"][0]["shape"]
    assert (shape["origin"], shape["width"], shape["height"]) == ({"x": 2, "y": 3}, 40, 30)


def test_bad_input_is_one_line_and_writes_nothing(studio, tmp_path) -> None:
    cases = _bad_cases(tmp_path, studio)
    before = len(_assets(studio))
    for name, (args, expected) in cases.items():
        out = tmp_path / f"out-{len(name)}"
        result = _cli(studio, "sign", *args, "--out", out)
        assert result.exit_code == EXIT_ERROR, (name, result.output)
        assert expected in _one_error_line(result), (name, result.stderr)
        assert not out.exists(), name
    assert len(_assets(studio)) == before


def test_an_edit_that_would_close_a_cycle_through_the_ledger_is_refused(studio, tmp_path):
    sketch = _cli(studio, "sign", _picture(tmp_path / "sketch.png"), "--editor", "Ana",
                  "--out", tmp_path / "s")  # fmt: skip
    assert sketch.exit_code == EXIT_OK, sketch.output
    signed_sketch = tmp_path / "s" / "sketch.png"
    edit = _edit(studio, _retouch(signed_sketch, tmp_path / "e.png"), signed_sketch, tmp_path / "e")
    assert edit.exit_code == EXIT_OK, edit.output
    before = len(_assets(studio))
    # The sketch claimed as an edit of its own descendant.
    cycle = _edit(studio, signed_sketch, tmp_path / "e" / "e.png", tmp_path / "c")
    assert cycle.exit_code == EXIT_ERROR
    assert "cycle" in _one_error_line(cycle)
    assert not (tmp_path / "c").exists() and len(_assets(studio)) == before


def test_an_edit_that_reproduces_a_protected_work_is_blocked(studio, tmp_path, th) -> None:
    parent = _signed_model_output(studio, tmp_path)
    work = tmp_path / "protected.png"
    work.write_bytes(th.image_bytes("png", 64, 11))
    added = _cli(studio, "works", "add", work, "--title", "Protected Painting", "--kind",
                 "artwork", "--license", "all-rights-reserved", "--id", "W-1")  # fmt: skip
    assert added.exit_code == EXIT_OK, added.output
    # The "edit" pastes the protected work over the model output.
    pasted = tmp_path / "pasted.png"
    Image.open(work).convert("RGB").save(pasted)
    before = len(_assets(studio))
    blocked = _edit(studio, pasted, parent, tmp_path / "out")
    assert blocked.exit_code == EXIT_BLOCKED, blocked.output
    assert "W-1" in json.loads(blocked.stdout)["error"]
    assert len(_assets(studio)) == before and not (tmp_path / "out").exists()


def test_an_edit_of_a_file_without_credentials_still_names_its_parent(studio, tmp_path) -> None:
    photo = _picture(tmp_path / "photo.png", 3)
    edited = _retouch(photo, tmp_path / "photo-edited.png")
    result = _edit(studio, edited, photo, tmp_path / "out")
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    assert line["parent"] is None and line["parent_path"] == str(photo)
    out = _store(Path(line["path"]), studio)
    assert out["validation_state"] == "Trusted"
    (ingredient,) = _active(out)["ingredients"]
    assert ingredient["relationship"] == "parentOf" and "active_manifest" not in ingredient
    assert _actions(_active(out))[1]["digitalSourceType"] == HUMAN_EDITS
    (link,) = next(r for r in _assets(studio) if r.asset_id == line["asset_id"]).ingredients
    assert link.manifest_label is None and link.validation_state is None
