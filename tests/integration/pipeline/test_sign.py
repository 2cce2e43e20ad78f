"""`provenant sign`: images made elsewhere get signed copies and ledger rows.

Originals are never touched unless `--in-place`; an existing signed copy is never
overwritten; `verify` of a signed copy finds its row, and of a file this studio never
recorded says so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from provenance.errors import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFICATION_FAILED,
)
from provenance.ledger import AssetRecord

DECLARED = ("--generator", "othertool", "--model", "other-model-2")


def _jpeg(source: Path, target: Path) -> Path:
    with Image.open(source) as image:
        image.convert("RGB").save(target, "JPEG", quality=90)
    return target


def test_sign_writes_signed_copies_that_verify_against_the_ledger(
    engine_home, cli, inputs, json_lines, open_ledger, check_consistent, tmp_path
) -> None:
    photo = shutil.copy(inputs["photo"], tmp_path / "photo.png")
    jpeg = _jpeg(inputs["content"], tmp_path / "content.jpg")
    originals = {p: Path(p).read_bytes() for p in (photo, jpeg)}
    out = tmp_path / "signed"
    result = cli(
        "sign", photo, jpeg, *DECLARED, "--prompt", "a harbour at noon",
        "--requester", "bob", "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    lines = json_lines(result.stdout)
    assert [line["status"] for line in lines] == ["signed", "signed"]
    assert [Path(line["path"]).name for line in lines] == ["photo.png", "content.jpg"]
    assert {Path(p): data for p, data in originals.items()} == {
        Path(p): Path(p).read_bytes() for p in originals
    }

    rows = check_consistent(out, open_ledger())
    for line in lines:
        record = rows[Path(line["path"]).name].record
        assert isinstance(record, AssetRecord)
        assert record.asset_id == line["asset_id"] and record.sha256 == line["sha256"]
        assert (record.generator, record.model_name) == ("othertool", "other-model-2")
        assert record.prompt == "a harbour at noon" and record.requester == "bob"

    verify = cli("verify", "--json", *(line["path"] for line in lines))
    assert verify.exit_code == EXIT_OK, verify.output
    for report, line in zip(json_lines(verify.stdout), lines, strict=True):
        assert report["state"] == "trusted" and report["ok"] is True
        assert report["ledger"]["found"] and report["ledger"]["asset_id"] == line["asset_id"]
        assert report["ai_generated"] is True


def test_short_options_as_the_readme_writes_them(
    studio_home, cli, inputs, open_ledger, check_consistent, tmp_path
) -> None:
    out = tmp_path / "signed"
    result = cli("sign", inputs["photo"], "-g", "external", "-m", "vendor model 2", "--out", out)
    assert result.exit_code == EXIT_OK, result.output
    record = check_consistent(out, open_ledger())["photo.png"].record
    assert isinstance(record, AssetRecord)
    assert (record.generator, record.model_name) == ("external", "vendor model 2")


def test_sign_never_overwrites_a_signed_copy(
    studio_home, cli, inputs, open_ledger, asset_entries, tmp_path
) -> None:
    out = tmp_path / "signed"
    assert cli("sign", inputs["photo"], *DECLARED, "--out", out).exit_code == EXIT_OK
    signed = (out / "photo.png").read_bytes()
    again = cli("sign", inputs["photo"], *DECLARED, "--out", out)
    assert again.exit_code == EXIT_ERROR
    assert "already exists; refusing to overwrite it" in again.stderr
    assert "Traceback" not in again.output
    assert (out / "photo.png").read_bytes() == signed
    assert len(asset_entries(open_ledger())) == 1


def test_sign_in_place_replaces_the_original_atomically(
    studio_home, cli, inputs, json_lines, open_ledger, check_consistent, tmp_path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    photo = Path(shutil.copy(inputs["photo"], folder / "photo.png"))
    before = photo.read_bytes()
    result = cli("sign", photo, *DECLARED, "--in-place", "--json")
    assert result.exit_code == EXIT_OK, result.output
    (line,) = json_lines(result.stdout)
    assert Path(line["path"]) == photo.resolve()
    assert photo.read_bytes() != before
    check_consistent(folder, open_ledger())
    verify = cli("verify", photo)
    assert verify.exit_code == EXIT_OK, verify.output


def test_sign_needs_exactly_one_of_out_or_in_place(studio_home, cli, inputs, tmp_path) -> None:
    neither = cli("sign", inputs["photo"], *DECLARED)
    both = cli("sign", inputs["photo"], *DECLARED, "--out", tmp_path / "o", "--in-place")
    assert neither.exit_code == EXIT_USAGE and "--out" in neither.output
    assert both.exit_code == EXIT_USAGE and "not both" in both.output
    assert not (tmp_path / "o").exists()


def test_a_bad_file_fails_and_the_others_are_signed(
    studio_home, cli, inputs, json_lines, open_ledger, check_consistent, tmp_path
) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    missing = tmp_path / "missing.png"
    out = tmp_path / "signed"
    result = cli("sign", notes, inputs["photo"], missing, *DECLARED, "--out", out, "--json")
    assert result.exit_code == EXIT_ERROR
    lines = json_lines(result.stdout)
    assert [line["status"] for line in lines] == ["failed", "signed", "failed"]
    assert all("\n" not in line.get("error", "") for line in lines)
    assert str(missing) in lines[2]["error"]
    assert sorted(check_consistent(out, open_ledger())) == ["photo.png"]


def test_a_refused_prompt_signs_nothing(
    studio_home, cli, inputs, blocked_prompt, open_ledger, tmp_path
) -> None:
    out = tmp_path / "signed"
    result = cli("sign", inputs["photo"], *DECLARED, "--prompt", blocked_prompt, "--out", out)
    assert result.exit_code == EXIT_BLOCKED, result.output
    assert "blocked" in result.stdout
    assert not out.exists() or not any(out.iterdir())
    kinds = [e.kind for e in open_ledger().iter_entries()]
    assert kinds == ["refusal"]


def test_verify_reports_a_signed_file_the_ledger_does_not_hold(
    cli, inputs, json_lines, monkeypatch, tmp_path
) -> None:
    """Signed by studio A (and recorded there); verified by studio B, which trusts A's root
    but has no row for the file: the credentials are fine, the ledger check fails."""
    studio_a, studio_b = tmp_path / "a", tmp_path / "b"
    for home in (studio_a, studio_b):
        assert cli("--home", home, "init").exit_code == EXIT_OK
    out = tmp_path / "signed"
    signed = cli("--home", studio_a, "sign", inputs["photo"], *DECLARED, "--out", out)
    assert signed.exit_code == EXIT_OK, signed.output
    path = out / "photo.png"
    in_a = cli("--home", studio_a, "verify", "--json", path)
    assert in_a.exit_code == EXIT_OK and json_lines(in_a.stdout)[0]["ledger"]["ok"] is True

    root_a = studio_a / "keys" / "dev-root-ca.pem"
    args = ("--home", studio_b, "verify", path, "--trust-anchors", root_a)
    in_b = cli(*args, "--json")
    assert in_b.exit_code == EXIT_VERIFICATION_FAILED, in_b.output
    (report,) = json_lines(in_b.stdout)
    assert report["state"] == "trusted" and report["ok"] is False
    assert report["ledger"]["found"] is False
    assert "no ledger record has this file's SHA-256" in report["ledger"]["detail"]
    human = cli(*args)
    assert human.exit_code == EXIT_VERIFICATION_FAILED
    assert "no ledger record" in human.stdout
