"""Fixtures for the `screen` and `policies` commands: a configured data dir and a runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

#: prompt_safety with its lexical layer only (fast), plus the licence check.
LEXICAL_CONFIG = """\
[policies]
enabled = ["prompt_safety", "model_license"]

[policies.prompt_safety]
semantic = "off"
"""


@pytest.fixture
def cli_home(home: Path) -> Path:
    """A data dir whose config enables the text policies, semantic layer off."""
    (home / "provenant.toml").write_text(LEXICAL_CONFIG, encoding="utf-8")
    return home


@pytest.fixture
def cli(cli_home: Path) -> Callable[..., Result]:
    """`cli(*args, input=None)`: run `provenant --home HOME ...` in-process."""
    from provenance.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, ["--home", str(cli_home), *args], input=input)

    return run


@pytest.fixture
def provenant_exe() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`provenant_exe(*args, home=...)`: run the installed console script in a subprocess."""
    exe = shutil.which("provenant") or str(Path(sys.executable).with_name("provenant"))

    def run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
        env.update({"PROVENANT_HOME": str(home), "HF_HUB_OFFLINE": "1"})
        return subprocess.run(
            [exe, *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )

    return run
