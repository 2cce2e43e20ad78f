"""`screen` fails closed: a configured prompt_safety layer that cannot run refuses, in one
line, unless `[policies] degraded` names it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from provenance.policies import text_embed

SEMANTIC_CONFIG = """\
[policies]
enabled = ["prompt_safety"]
{degraded}
[policies.prompt_safety]
semantic = "auto"
"""


@pytest.fixture
def no_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no text encoder installed."""
    monkeypatch.setattr(text_embed, "minilm_model_dir", lambda: None)
    monkeypatch.setattr(text_embed, "e5_available", lambda: False)


def _configure(home: Path, degraded: str = "") -> None:
    (home / "provenant.toml").write_text(SEMANTIC_CONFIG.format(degraded=degraded))


def test_missing_encoder_refuses_naming_the_layer_and_the_bypass(
    cli_home: Path, cli: Callable[..., Result], no_encoder: None
) -> None:
    _configure(cli_home)
    result = cli("screen", "--prompt", "a lighthouse at dawn")
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.strip().splitlines() if not x.startswith("warning:")]
    assert line.startswith("error: policy layer prompt_safety.semantic cannot run")
    assert 'degraded = ["prompt_safety.semantic"]' in line
    assert result.stdout == ""  # nothing was judged


def test_named_bypass_screens_lexically_and_records_it(
    cli_home: Path, cli: Callable[..., Result], no_encoder: None
) -> None:
    _configure(cli_home, 'degraded = ["prompt_safety.semantic"]')
    result = cli("screen", "--prompt", "a n4k3d woman", "--json")
    assert result.exit_code == 3
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["disabled"][0].startswith("prompt_safety.semantic: no text encoder")
    assert "BYPASSED" in result.stderr or "screened without" in result.stderr


def test_empty_prompt_line_in_jsonl_is_reported_with_its_number(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a kitten"}\n{"prompt": "  "}\n', encoding="utf-8")
    result = cli("screen", "--prompt-file", str(prompts), "--json")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {prompts}:2: prompt is empty; give the text to screen"]
