"""The README's examples run, so they cannot rot (STYLE: examples that run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"
PROVENANT = str(Path(sys.executable).parent / "provenant")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_exactly_two_setup_commands() -> None:
    setup = README.read_text(encoding="utf-8").split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = [
        line.split("#", 1)[0].strip()
        for block in re.findall(r"```sh\n(.*?)```", setup, re.S)
        for line in block.splitlines()
        if line.strip()
    ]
    assert commands == ["make demo", "make test"]


def test_python_example_generates_signs_and_records(tiny_models: object, tmp_path: Path) -> None:
    """Run the README's Python block in a data dir made by `provenant init`."""
    (example,) = _blocks("python")
    work = tmp_path / "readme"
    work.mkdir()
    shutil.copytree(tiny_models.gan, work / "models" / "gan")  # type: ignore[attr-defined]
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    init = subprocess.run(
        [PROVENANT, "init"],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    ran = subprocess.run(
        [sys.executable, "-c", example],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("done [(PosixPath(")
    outputs = list((work / "out").glob("*.png"))
    assert len(outputs) == 1 and outputs[0].name in ran.stdout
    verified = subprocess.run(
        [PROVENANT, "verify", str(outputs[0])],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("command", ["generate", "verify", "sign", "audit", "demo"])
def test_commands_named_in_readme_exist(command: str) -> None:
    from typer.testing import CliRunner

    from provenance.cli.app import app

    assert f"provenant {command}" in README.read_text(encoding="utf-8")
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
