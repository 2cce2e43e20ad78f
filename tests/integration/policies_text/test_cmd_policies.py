"""`provenant policies list`: what is installed, enabled, and how each policy stands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import Result


def test_policies_list_json(cli: Callable[..., Result]) -> None:
    result = cli("policies", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert {"prompt_safety", "output_safety", "model_license"} <= set(rows)
    prompt = rows["prompt_safety"]
    assert prompt["enabled"] is True
    assert prompt["distribution"] == "provenant"
    assert prompt["status"]["policy_version"] == "1.0.0"
    assert prompt["status"]["semantic"].startswith("disabled (turned off by configuration")
    assert "terms" in prompt["status"]["lexicon"]
    assert rows["output_safety"]["enabled"] is False
    assert set(rows["output_safety"]["status"]) >= {"open_nsfw", "thresholds", "clip_zero_shot"}
    assert rows["model_license"]["status"]["on_conflict"] == "block"
    for row in rows.values():  # every row has the same shape, even a policy that cannot run
        assert set(row) == {"name", "version", "distribution", "enabled", "status"}


def test_policies_list_human(cli: Callable[..., Result]) -> None:
    result = cli("policies", "list")
    assert result.exit_code == 0
    assert "prompt_safety enabled" in result.stdout
    assert "output_safety disabled" in result.stdout


def test_a_broken_option_table_shows_as_that_policys_error(
    cli_home: Path, cli: Callable[..., Result]
) -> None:
    config = cli_home / "provenant.toml"
    config.write_text(config.read_text() + "[policies.model_license]\non_conflict = 'shrug'\n")
    result = cli("policies", "list", "--json")
    assert result.exit_code == 1
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert "on_conflict" in rows["model_license"]["status"]["error"]
    assert "lexicon" in rows["prompt_safety"]["status"]  # the others are still shown


def test_policies_list_in_a_subprocess(provenant_exe: Callable[..., Any], cli_home: Path) -> None:
    result = provenant_exe("policies", "list", "--json", home=cli_home)
    assert result.returncode == 0, result.stderr
    names = [json.loads(line)["name"] for line in result.stdout.splitlines()]
    assert names == sorted(names)
    assert "prompt_safety" in names
