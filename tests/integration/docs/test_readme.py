"""The README's examples run, so they cannot rot (STYLE: examples that run).

The shell block of "## Use" runs command by command, as written, through bash (globs and
quotes as a user's shell treats them) in a new directory with the venv's `provenant` on
PATH.  Only what exists on a studio's machine alone is mapped (`SUBSTITUTIONS`): model
paths under `/models/` become the tiny models its own `models make-tiny models/` writes,
and image sizes and step counts shrink to what a CPU runs in seconds.  The inputs the
commands name are made first (`_inputs`): `photo.jpg` (a demo photograph),
`requests.jsonl` (the README's own batch line) and `imported/*.png` (images from elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

README = Path(__file__).resolve().parents[3] / "README.md"
PROVENANT = str(Path(sys.executable).parent / "provenant")
#: The checkout under test, when it is not the one the venv was installed from.
PYTHONPATH = os.environ.get("PYTHONPATH", "")

#: README text -> what runs here (documented above; nothing else in a command changes).
SUBSTITUTIONS = {
    "/models/my-sd15": "models/diffusion",
    "/models/sd15": "models/diffusion",
    "--param steps=25 --param width=512 --param height=512": (
        "--param steps=2 --param width=32 --param height=32"
    ),
    '"params": {"steps": 25}': '"params": {"steps": 2, "width": 32, "height": 32}',
}


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
    env = _env(tmp_path)
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


def _env(home: Path) -> dict[str, str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home)}
    return {**env, "PYTHONPATH": PYTHONPATH} if PYTHONPATH else env


def _section(title: str) -> str:
    return README.read_text(encoding="utf-8").split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _commands(block: str) -> list[str]:
    """The block's commands: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = [line.split("  #", 1)[0].strip() for line in joined.splitlines()]
    return [c for c in commands if c and not c.startswith("#")]


def _mapped(text: str) -> str:
    for written, here in SUBSTITUTIONS.items():
        text = text.replace(written, here)
    return text


def _inputs(work: Path) -> None:
    """What the commands read: a photograph, the README's batch file, outside images."""
    photos = resources.files("provenance.demo") / "assets"
    with resources.as_file(photos / "chelsea.jpg") as photo:
        shutil.copyfile(photo, work / "photo.jpg")
    use = _section("Use")
    (line,) = re.findall(r"`(\{\"id\": \"poster-7\".*?\})`", use, re.S)
    request = json.loads(_mapped(" ".join(line.split())))
    (work / "requests.jsonl").write_text(json.dumps(request) + "\n", encoding="utf-8")
    (work / "imported").mkdir()
    for index, colour in enumerate(("teal", "orange")):
        Image.new("RGB", (48, 40), colour).save(work / "imported" / f"vendor-{index}.png")


@pytest.mark.slow
def test_use_section_commands_run_as_written(tmp_path: Path) -> None:
    """Every command of "## Use" exits 0, and together they leave what the README says."""
    (block,) = re.findall(r"```sh\n(.*?)```", _section("Use"), re.S)
    commands = _commands(block)
    assert commands[0] == "provenant init" and len(commands) >= 10
    work = tmp_path / "readme-use"
    work.mkdir()
    _inputs(work)
    for command in map(_mapped, commands):
        ran = subprocess.run(
            ["bash", "-c", command],
            cwd=work, env=_env(tmp_path), capture_output=True, text=True, check=False,
            timeout=600,
        )  # fmt: skip
        assert ran.returncode == 0, f"{command}\n{ran.stdout}\n{ran.stderr}"
        assert "Traceback" not in ran.stderr, command
    outputs = sorted((work / "out").glob("*.png"))
    assert len(outputs) == 4 + 1 + 1 + 2  # gan -n 4, diffusion, style transfer, batch n=2
    assert any(p.name.startswith("poster-7") for p in outputs)
    assert sorted(p.name for p in (work / "signed").iterdir()) == ["vendor-0.png", "vendor-1.png"]
    assert "<html" in (work / "report.html").read_text(encoding="utf-8").lower()


def test_every_command_takes_json() -> None:
    """The README says so; a command added without `--json` fails here."""
    import typer

    from provenance.cli.app import app

    def leaves(command: Any, path: str) -> list[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)  # a group (typer's own click)
        if subcommands is not None:
            return [
                leaf
                for name, sub in subcommands.items()
                for leaf in leaves(sub, f"{path} {name}".strip())
            ]
        return [(path, command)]

    assert "Every command takes `--json`." in README.read_text(encoding="utf-8")
    commands = leaves(typer.main.get_command(app), "")
    assert len(commands) > 20
    missing = [
        path
        for path, command in commands
        if not any("--json" in getattr(param, "opts", ()) for param in command.params)
    ]
    assert missing == []
