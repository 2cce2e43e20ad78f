"""Read-only commands never create a ledger: `verify`, `audit ...` and `screen` only look.

Each runs in an empty data dir (one that does not exist, and one that exists but holds
nothing) and must leave no file behind, saying plainly that no ledger exists where it
needs one.  On an initialised studio the same commands leave the ledger file's bytes as
they were.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED

#: (command, needs a ledger): the ones that do say so and exit 1 when there is none;
#: `verify` checks credentials without a ledger (the photo has none: exit 4).
COMMANDS: list[tuple[tuple[str, ...], bool]] = [
    (("verify", "{photo}"), False),
    (("verify", "-r", "{folder}", "--json"), False),
    (("audit", "verify-chain"), True),
    (("audit", "list"), True),
    (("audit", "list", "--json"), True),
    (("audit", "show", "ast-0"), True),
    (("audit", "export", "--format", "jsonl"), True),
    (("audit", "report", "--html", "{report}"), True),
    (("audit", "reconcile", "{folder}"), True),
    (("screen", "--prompt", "a lighthouse at dawn"), True),
    (("screen", "--image", "{photo}"), True),
]


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _args(command: tuple[str, ...], photo: Path, folder: Path, report: Path) -> list[str]:
    values = {"photo": str(photo), "folder": str(folder), "report": str(report)}
    return [part.format(**values) for part in command]


@pytest.mark.parametrize("exists", [False, True], ids=["no-dir", "empty-dir"])
@pytest.mark.parametrize(
    ("command", "needs_ledger"), COMMANDS, ids=[" ".join(c) for c, _ in COMMANDS]
)
def test_read_only_commands_create_nothing_in_an_empty_data_dir(
    cli: Callable[..., Result],
    inputs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: tuple[str, ...],
    needs_ledger: bool,
    exists: bool,
) -> None:
    home = tmp_path / "empty-home"
    if exists:
        home.mkdir()
    monkeypatch.setenv("PROVENANT_HOME", str(home))
    folder = tmp_path / "files"
    folder.mkdir()
    photo = folder / "photo.png"
    photo.write_bytes(inputs["photo"].read_bytes())
    before = _files(tmp_path)
    result = cli(*_args(command, photo, folder, tmp_path / "report.html"))
    assert "Traceback" not in result.output
    assert _files(tmp_path) == before, result.output  # no ledger, no data dir, no report
    assert home.exists() is exists
    if needs_ledger:
        assert result.exit_code == EXIT_ERROR, result.output
        (line,) = result.stderr.strip().splitlines()[-1:]
        assert line.startswith(f"error: no ledger database at {home / 'ledger.db'}")
        assert "provenant init" in line
    else:
        assert result.exit_code == EXIT_VERIFICATION_FAILED, result.output
        assert "no content credentials" in result.output


def test_read_only_commands_leave_an_existing_ledger_unchanged(
    studio_home: Path, cli: Callable[..., Result], inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "signed"
    signed = cli("sign", inputs["photo"], "-g", "external", "-m", "m1", "--out", out)
    assert signed.exit_code == EXIT_OK, signed.output
    ledger = studio_home / "ledger.db"
    digest = hashlib.sha256(ledger.read_bytes()).hexdigest()
    for command, _ in COMMANDS:
        result = cli(*_args(command, out / "photo.png", out, tmp_path / "report.html"))
        assert "Traceback" not in result.output, command
        assert hashlib.sha256(ledger.read_bytes()).hexdigest() == digest, command
