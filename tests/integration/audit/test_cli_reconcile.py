"""`provenant audit reconcile DIR`: the pipeline's outputs against its ledger, on both engines.

Each test changes the output directory (edits, removals, strays) and puts it back, so the
shared studio stays as the pipeline left it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFICATION_FAILED

if TYPE_CHECKING:
    from conftest import AuditCli, AuditedStudio


Document = dict[str, Any]


def _reconcile(cli: AuditCli, *args: str | Path) -> tuple[int, list[Document], Document]:
    """Exit code, findings and summary of `audit reconcile ... --json`."""
    result = cli("audit", "reconcile", *args, "--json")
    documents = [json.loads(line) for line in cli.lines(result)]
    assert documents and documents[-1]["status"] == "summary", result.output
    return result.exit_code, documents[:-1], documents[-1]


@contextmanager
def _edited(path: Path) -> Iterator[None]:
    saved = path.read_bytes()
    path.write_bytes(saved + b"edited")
    try:
        yield
    finally:
        path.write_bytes(saved)


@contextmanager
def _removed(path: Path, keep: Path) -> Iterator[None]:
    shutil.move(path, keep / path.name)
    try:
        yield
    finally:
        shutil.move(keep / path.name, path)


@contextmanager
def _added(path: Path, data: bytes) -> Iterator[Path]:
    path.write_bytes(data)
    try:
        yield path
    finally:
        path.unlink()


def _png(colour: tuple[int, int, int]) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_untouched_outputs_reconcile(audited: AuditedStudio, cli: AuditCli) -> None:
    recorded = audited.count("SELECT count(*) FROM assets")
    code, findings, summary = _reconcile(cli, audited.outputs)
    assert code == EXIT_OK and findings == []
    assert (summary["recorded"], summary["files"], summary["matched"]) == (recorded,) * 3
    assert summary["ok"] is True
    human = cli("audit", "reconcile", audited.outputs)
    assert human.exit_code == EXIT_OK, human.output
    assert f"{recorded} recorded, {recorded} image files, {recorded} match" in human.stdout


def test_every_kind_of_finding(audited: AuditedStudio, cli: AuditCli, tmp_path: Path) -> None:
    first, second, *_ = cli.outputs()
    partial = audited.outputs / f".{first.stem}-99.png.partial"
    stray = audited.outputs / "stray.png"
    with ExitStack() as changes:
        changes.enter_context(_edited(first))
        changes.enter_context(_removed(second, tmp_path))
        changes.enter_context(_added(stray, _png((255, 0, 0))))
        changes.enter_context(_added(partial, b"half a png"))
        code, findings, summary = _reconcile(cli, audited.outputs)
        human = cli("audit", "reconcile", audited.outputs)
    assert code == EXIT_VERIFICATION_FAILED and summary["ok"] is False
    found = {(f["status"], Path(f["path"]).name) for f in findings}
    assert found == {
        ("modified", first.name),
        ("missing", second.name),
        ("unknown", stray.name),
        ("partial", partial.name),
    }
    (modified,) = [f for f in findings if f["status"] == "modified"]
    sha = audited.sql("SELECT sha256 FROM assets WHERE path = :p", p=str(first))[0][0]
    assert modified["recorded_sha256"] == [sha] and modified["actual_sha256"] != sha
    assert (summary["missing"], summary["modified"], summary["unknown"], summary["partial"]) == (
        1, 1, 1, 1,
    )  # fmt: skip
    assert human.exit_code == EXIT_VERIFICATION_FAILED
    assert cli.one_line_error(human, "does not reconcile: 4 findings")
    assert f"modified {first}" in human.stdout and "missing" in human.stdout
    assert _reconcile(cli, audited.outputs)[0] == EXIT_OK  # everything put back


def test_unknown_files_and_allow_unknown(audited: AuditedStudio, cli: AuditCli) -> None:
    original = cli.outputs()[0]
    copy = audited.outputs / "copy-of-an-output.png"
    with _added(copy, original.read_bytes()):
        code, (finding,), _ = _reconcile(cli, audited.outputs)
        assert code == EXIT_VERIFICATION_FAILED and finding["status"] == "unknown"
        assert finding["detail"].endswith(f"the same bytes are recorded at {original}")
        allowed, findings, summary = _reconcile(cli, audited.outputs, "--allow-unknown")
        assert allowed == EXIT_OK and summary["ok"] is True and findings == [finding]


def test_recursive_looks_into_subdirectories(audited: AuditedStudio, cli: AuditCli) -> None:
    nested = audited.outputs / "nested" / "new.png"
    hidden = audited.outputs / ".cache" / "hidden.png"
    with ExitStack() as changes:
        for path, colour in ((nested, (0, 0, 255)), (hidden, (0, 255, 0))):
            path.parent.mkdir()
            changes.callback(path.parent.rmdir)
            changes.enter_context(_added(path, _png(colour)))
        flat, _, _ = _reconcile(cli, audited.outputs)
        deep, findings, _ = _reconcile(cli, audited.outputs, "-r")
    assert flat == EXIT_OK
    assert deep == EXIT_VERIFICATION_FAILED
    assert [(f["status"], f["path"]) for f in findings] == [("unknown", str(nested))]


@pytest.mark.parametrize(
    ("target", "code", "fragment"),
    [
        ("missing-dir", EXIT_ERROR, "no such directory"),
        ("a-file.txt", EXIT_ERROR, "not a directory"),
    ],
)
def test_bad_directories_are_one_line_errors(
    cli: AuditCli, tmp_path: Path, target: str, code: int, fragment: str
) -> None:
    (tmp_path / "a-file.txt").write_text("not a directory")
    result = cli("audit", "reconcile", tmp_path / target)
    assert result.exit_code == code and cli.one_line_error(result, fragment)


def test_bad_worker_count_is_a_usage_error(audited: AuditedStudio, cli: AuditCli) -> None:
    result = cli("audit", "reconcile", audited.outputs, "--workers", "0")
    assert result.exit_code == EXIT_USAGE and cli.one_line_error(result, "--workers")
