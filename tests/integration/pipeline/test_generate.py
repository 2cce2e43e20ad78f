"""`provenant generate` for one request, per generator family, on tiny models.

Each output must verify as trusted, match its ledger row (bytes, id, seed, who asked), and
carry the right C2PA semantics: text-to-image and GAN samples are `created`, image-to-image
and style transfer name their input pictures as ingredients.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from provenance.errors import EXIT_BLOCKED, EXIT_OK
from provenance.ledger import AssetRecord, RefusalRecord

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gan_outputs_verify_and_match_their_rows(
    engine_home, cli, models, open_ledger, json_lines, check_consistent, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli(
        "generate", "--generator", "gan", "--model", models.gan,
        "--prompt", "a lighthouse at dusk", "-n", 2, "--seed", 41, "--id", "lighthouse",
        "--requester", "alice", "--project", "harbour", "--license", "LIC-7",
        "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    (line,) = json_lines(result.stdout)
    assert line["outcome"] == "done" and line["request_id"] == "lighthouse"
    images = line["images"]
    assert [Path(i["path"]).name for i in images] == ["lighthouse-00.png", "lighthouse-01.png"]
    assert images[0]["seed"] == 41 and images[0]["seed"] != images[1]["seed"]

    rows = check_consistent(out, open_ledger())
    for image in images:
        entry = rows[Path(image["path"]).name]
        record = entry.record
        assert isinstance(record, AssetRecord)
        assert entry.id == image["asset_id"] and record.sha256 == image["sha256"]
        assert (record.seed, record.request_id) == (image["seed"], "lighthouse")
        assert (record.requester, record.project, record.license) == ("alice", "harbour", "LIC-7")
        assert record.prompt == "a lighthouse at dusk" and record.generator == "gan"
        assert record.model_name is not None and record.model_name.startswith("tiny-random-")

    verify = cli("verify", "--json", *(i["path"] for i in images))
    assert verify.exit_code == EXIT_OK, verify.output
    reports = json_lines(verify.stdout)
    for report, image in zip(reports, images, strict=True):
        assert report["state"] == "trusted" and report["ok"] is True
        assert report["ledger"]["ok"] is True
        assert report["ledger"]["asset_id"] == image["asset_id"]
        assert report["seed"] == image["seed"] and report["generator"] == "gan"
        assert report["digital_source_type"] == TRAINED and report["ingredients"] == []
        assert report["actions"][0] == "c2pa.created"


def test_a_recorded_seed_reproduces_the_pixels(
    studio_home, cli, models, json_lines, pixels, tmp_path
) -> None:
    def generate(request_id: str, seed: int, n: int = 1) -> list[Path]:
        result = cli(
            "generate", "-g", "gan", "-m", models.gan, "-p", "harbour", "-n", n,
            "--seed", seed, "--id", request_id, "--out", tmp_path / "out", "--json",
        )  # fmt: skip
        assert result.exit_code == EXIT_OK, result.output
        return [Path(i["path"]) for i in json_lines(result.stdout)[0]["images"]]

    first, second = generate("pair", 100, n=2)
    (again,) = generate("again", 100)
    (recorded_second,) = generate("second", 101)
    assert first.read_bytes() != again.read_bytes()  # new credentials, new asset id
    assert (pixels(first) == pixels(again)).all()
    assert (pixels(second) == pixels(recorded_second)).all()
    assert not (pixels(first) == pixels(second)).all()


def test_diffusion_text_to_image(
    studio_home, cli, models, open_ledger, json_lines, check_consistent, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli(
        "generate", "-g", "diffusion", "-m", models.diffusion, "-p", "a red bicycle",
        "--seed", 5, "--param", "steps=2", "--param", "width=32", "--param", "height=32",
        "--negative-prompt", "blurry", "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    (image,) = json_lines(result.stdout)[0]["images"]
    record = check_consistent(out, open_ledger())[Path(image["path"]).name].record
    assert isinstance(record, AssetRecord)
    assert record.params["steps"] == 2 and (record.params["width"], record.params["height"]) == (
        32,
        32,
    )
    assert record.negative_prompt == "blurry" and record.seed == 5
    verify = cli("verify", "--json", image["path"])
    assert verify.exit_code == EXIT_OK, verify.output
    (report,) = json_lines(verify.stdout)
    assert report["state"] == "trusted" and report["ledger"]["asset_id"] == image["asset_id"]
    assert report["digital_source_type"] == TRAINED and report["ingredients"] == []
    assert report["generation"]["params"]["steps"] == 2


def test_diffusion_image_to_image_names_the_init_image(
    studio_home, cli, models, inputs, open_ledger, json_lines, check_consistent, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli(
        "generate", "-g", "diffusion", "-m", models.diffusion, "-p", "the same, at night",
        "--init", inputs["content"], "--seed", 3,
        "--param", "steps=2", "--param", "strength=0.5", "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    (image,) = json_lines(result.stdout)[0]["images"]
    record = check_consistent(out, open_ledger())[Path(image["path"]).name].record
    assert isinstance(record, AssetRecord)
    assert [(i.title, i.relationship, i.sha256) for i in record.ingredients] == [
        ("content.png", "parentOf", _sha256(inputs["content"]))
    ]
    verify = cli("verify", "--json", image["path"])
    assert verify.exit_code == EXIT_OK, verify.output
    (report,) = json_lines(verify.stdout)
    assert report["state"] == "trusted" and report["ledger"]["ok"] is True
    assert [(i["title"], i["relationship"]) for i in report["ingredients"]] == [
        ("content.png", "parentOf")
    ]
    assert report["actions"][0] == "c2pa.opened" and "c2pa.edited" in report["actions"]
    assert report["digital_source_type"] == COMPOSITE


def test_style_transfer_credits_the_style_image(
    studio_home, cli, models, inputs, open_ledger, json_lines, check_consistent, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli(
        "generate", "-g", "style_transfer", "-m", models.adain, "--seed", 9,
        "--init", inputs["content"], "--style", inputs["style"], "--out", out, "--json",
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    (image,) = json_lines(result.stdout)[0]["images"]
    record = check_consistent(out, open_ledger())[Path(image["path"]).name].record
    assert isinstance(record, AssetRecord)
    assert {(i.title, i.relationship, i.sha256) for i in record.ingredients} == {
        ("content.png", "parentOf", _sha256(inputs["content"])),
        ("style.png", "inputTo", _sha256(inputs["style"])),
    }
    verify = cli("verify", "--json", image["path"])
    assert verify.exit_code == EXIT_OK, verify.output
    (report,) = json_lines(verify.stdout)
    assert report["state"] == "trusted" and report["ledger"]["asset_id"] == image["asset_id"]
    ingredients = {i["title"]: i["relationship"] for i in report["ingredients"]}
    assert ingredients == {"content.png": "parentOf", "style.png": "inputTo"}


def test_a_blocked_prompt_generates_nothing_and_records_a_refusal(
    engine_home, cli, models, blocked_prompt, open_ledger, asset_entries, json_lines, tmp_path
) -> None:
    out = tmp_path / "out"
    args = ("generate", "-g", "gan", "-m", models.gan, "-p", blocked_prompt, "--id", "beach")
    result = cli(*args, "--out", out)
    assert result.exit_code == EXIT_BLOCKED, result.output
    assert "blocked" in result.stdout and "prompt_safety" in result.stdout
    assert not out.exists() or not any(out.iterdir())
    ledger = open_ledger()
    entry = ledger.refusal_for_request("beach")
    assert entry is not None and isinstance(entry.record, RefusalRecord)
    refusal = entry.record
    assert refusal.stage == "prompt" and refusal.action == "block"
    assert refusal.prompt == blocked_prompt
    blocking = [d for d in refusal.decisions if d.action == "block"]
    assert blocking and blocking[0].policy == "prompt_safety" and blocking[0].detail
    assert asset_entries(ledger) == []

    again = cli(*args, "--out", out, "--json")  # the same request id: not recorded twice
    assert again.exit_code == EXIT_OK, again.output
    (line,) = json_lines(again.stdout)
    assert line["outcome"] == "skipped" and "refused earlier" in line["note"]
    assert [e.kind for e in ledger.iter_entries()] == ["refusal"]
