"""Bad input and failing resources: one clear line each, nothing half-written, batch goes on.

After every failure the output dir and the ledger must agree exactly (`check_consistent`):
no `.partial` file, no file without its row, no row without its file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from provenance.errors import EXIT_ERROR
from provenance.ledger import repository
from provenance.pipeline import store
from provenance.pipeline.batch import run_batch
from provenance.pipeline.requests import read_batch
from provenance.pipeline.studio import Studio


def _gan(models: Any, request_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": request_id, "generator": "gan", "model": str(models.gan), **fields}


def _one_error_line(result: Any) -> str:
    """The single `error: ...` line a failed command prints on stderr."""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_unknown_generator_lists_the_installed_ones(
    studio_home, cli, open_ledger, asset_entries, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli("generate", "-g", "no-such-generator", "-p", "a boat", "--out", out)
    assert result.exit_code == EXIT_ERROR
    message = _one_error_line(result)
    assert "unknown generator 'no-such-generator'; installed: " in message
    assert all(name in message for name in ("diffusion", "gan", "style_transfer"))
    assert not out.exists() and asset_entries(open_ledger()) == []


def test_missing_model_path_is_named(
    studio_home, cli, open_ledger, asset_entries, tmp_path
) -> None:
    missing = tmp_path / "models" / "no-such-gan"
    out = tmp_path / "out"
    result = cli("generate", "-g", "gan", "-m", missing, "-p", "a boat", "--out", out)
    assert result.exit_code == EXIT_ERROR
    assert str(missing) in _one_error_line(result)
    assert not out.exists() and asset_entries(open_ledger()) == []


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("-n", "0", "n: Input should be greater than or equal to 1"),
        ("--init", "missing.png", "missing.png: cannot read input image"),
        ("--id", "../up", "request id '../up' is not allowed"),
        ("--param", "steps", "--param 'steps': expected KEY=VALUE"),
    ],
)
def test_bad_options_are_one_line_errors(
    option, value, expected, studio_home, cli, models, tmp_path
) -> None:
    out = tmp_path / "out"
    result = cli("generate", "-g", "gan", "-m", models.gan, "-p", "x", option, value, "--out", out)
    assert result.exit_code == EXIT_ERROR, result.output
    assert expected in _one_error_line(result)
    assert not out.exists()


def test_an_output_dir_under_a_regular_file(
    studio_home, cli, models, open_ledger, asset_entries, tmp_path
) -> None:
    blocker = tmp_path / "some_file"
    blocker.write_text("not a directory")
    result = cli("generate", "-g", "gan", "-m", models.gan, "-p", "x", "--out", blocker / "sub")
    assert result.exit_code == EXIT_ERROR
    message = _one_error_line(result)
    assert str(blocker / "sub") in message and "cannot create output dir" in message
    assert blocker.read_text() == "not a directory"
    assert asset_entries(open_ledger()) == []


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root ignores directory permissions; the file-as-parent test covers this case",
)
def test_a_read_only_output_dir(
    studio_home, cli, models, open_ledger, asset_entries, tmp_path
) -> None:
    out = tmp_path / "read-only"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)  # 0500
    try:
        result = cli("generate", "-g", "gan", "-m", models.gan, "-p", "x", "--out", out)
        assert result.exit_code == EXIT_ERROR
        assert "Permission denied" in _one_error_line(result)
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)
    assert asset_entries(open_ledger()) == []


def test_an_output_dir_that_cannot_be_searched(
    studio_home, cli, models, open_ledger, asset_entries, monkeypatch, tmp_path
) -> None:
    """What a user without search permission on the dir meets (root cannot: simulated)."""
    out = tmp_path / "locked"
    out.mkdir()
    real_exists = Path.exists

    def exists(self: Path, *args: Any, **kwargs: Any) -> bool:
        if self.parent == out:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_exists(self, *args, **kwargs)

    monkeypatch.setattr(Path, "exists", exists)
    result = cli("generate", "-g", "gan", "-m", models.gan, "-p", "x", "--out", out)
    monkeypatch.setattr(Path, "exists", real_exists)
    assert result.exit_code == EXIT_ERROR
    assert f"{out}: cannot use output dir (Permission denied)" in _one_error_line(result)
    assert asset_entries(open_ledger()) == []


def test_bad_batch_lines_are_reported_and_the_rest_runs(
    studio_home, cli, models, write_batch, json_lines, open_ledger, check_consistent, tmp_path
) -> None:
    batch = write_batch(
        [
            "[1, 2, 3]",
            _gan(models, "ok-1", prompt="a boat", seed=1),
            '{"prompt": "no id"}',
            _gan(models, "bad-field", prompt="x", colour="red"),
            _gan(models, "bad-n", prompt="x", n=0),
            _gan(models, "ok-1", prompt="the same id again"),
            "",
            _gan(models, "ok-2", prompt="a kite", seed=2),
        ]
    )
    with batch.open("ab") as fh:
        fh.write(b'{"id": "latin1", "prompt": "caf\xe9"}\n')
    out = tmp_path / "out"
    result = cli("generate", "--batch", batch, "--out", out, "--json")
    assert result.exit_code == EXIT_ERROR
    *outcomes, summary = json_lines(result.stdout)
    errors = {o["line"]: o["error"] for o in outcomes if o["outcome"] == "failed"}
    assert errors == {
        1: "batch.jsonl:1: expected a JSON object",
        3: "batch.jsonl:3: every batch line needs an `id`",
        4: "batch.jsonl:4: colour: unknown field",
        5: "batch.jsonl:5: n: Input should be greater than or equal to 1",
        6: "batch.jsonl:6: duplicate id 'ok-1'",
        9: "batch.jsonl:9: not valid UTF-8",
    }
    assert summary["summary"]["done"] == 2 and summary["summary"]["failed"] == 6
    assert sorted(check_consistent(out, open_ledger())) == ["ok-1-00.png", "ok-2-00.png"]


def test_a_missing_batch_file(studio_home, cli, tmp_path) -> None:
    result = cli("generate", "--batch", tmp_path / "nope.jsonl", "--out", tmp_path / "out")
    assert result.exit_code == EXIT_ERROR
    assert "nope.jsonl: cannot read batch file" in _one_error_line(result)
    assert not (tmp_path / "out").exists()


def _run(batch: Path, out: Path) -> Any:
    with Studio.from_config() as studio:
        return run_batch(studio, list(read_batch(batch, None)), out)


def test_disk_full_during_a_write(
    studio_home, models, write_batch, open_ledger, check_consistent, monkeypatch, tmp_path
) -> None:
    """ENOSPC while the 2nd request's bytes are flushed: that request fails, its partial file
    is removed, nothing is recorded for it, and the next request goes on."""
    batch = write_batch([_gan(models, f"d-{i}", prompt="a boat", seed=i) for i in (1, 2, 3)])
    out = tmp_path / "out"
    real_fsync = os.fsync
    file_syncs = {"n": 0}

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            file_syncs["n"] += 1
            if file_syncs["n"] == 2:
                assert list(out.glob(".d-2-00.png.partial")), "the partial file is being written"
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(store.os, "fsync", fsync)
    summary = _run(batch, out)
    monkeypatch.setattr(store.os, "fsync", real_fsync)
    assert [o.outcome for o in summary.outcomes] == ["done", "failed", "done"]
    error = summary.outcomes[1].error
    assert error is not None and "No space left on device" in error and "\n" not in error
    assert summary.exit_code == EXIT_ERROR
    ledger = open_ledger()
    assert sorted(check_consistent(out, ledger)) == ["d-1-00.png", "d-3-00.png"]

    # Space freed: the rerun finishes the failed request only.
    assert [o.outcome for o in _run(batch, out).outcomes] == ["skipped", "done", "skipped"]
    assert len(check_consistent(out, ledger)) == 3


def test_a_partial_file_that_cannot_be_removed_is_cleaned_up_by_the_rerun(
    studio_home, models, write_batch, open_ledger, check_consistent, monkeypatch, tmp_path
) -> None:
    """The write fails and so does removing the partial file: the write's error is the one
    reported, and the next run's recovery deletes the leftover (it has no row)."""
    batch = write_batch([_gan(models, "r-1", prompt="a boat", seed=1)])
    out = tmp_path / "out"
    real_write, real_unlink = store._write_exclusive, Path.unlink

    def write(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def unlink(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.name.endswith(store.PARTIAL_SUFFIX):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(store, "_write_exclusive", write)
    monkeypatch.setattr(Path, "unlink", unlink)
    (outcome,) = _run(batch, out).outcomes
    monkeypatch.setattr(store, "_write_exclusive", real_write)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert outcome.outcome == "failed"
    assert outcome.error is not None and "No space left on device" in outcome.error
    assert [p.name for p in out.iterdir()] == [".r-1-00.png.partial"]

    assert [o.outcome for o in _run(batch, out).outcomes] == ["done"]
    assert sorted(check_consistent(out, open_ledger())) == ["r-1-00.png"]


def test_database_gone_after_the_first_append(
    engine_home, models, write_batch, open_ledger, check_consistent, monkeypatch, tmp_path
) -> None:
    """Every append after the first fails as a lost connection would: those requests fail
    with a one-line ledger error and leave no file; the rerun completes them."""
    batch = write_batch([_gan(models, f"g-{i}", prompt="a boat", seed=i) for i in (1, 2, 3)])
    out = tmp_path / "out"
    real_append = repository._append_locked
    appends = {"n": 0}

    def append(conn: Any, batch: Any) -> Any:
        appends["n"] += 1
        if appends["n"] > 1:
            raise OperationalError(
                "INSERT INTO assets", {}, Exception("server closed the connection")
            )
        return real_append(conn, batch)

    monkeypatch.setattr(repository, "_append_locked", append)
    summary = _run(batch, out)
    monkeypatch.setattr(repository, "_append_locked", real_append)
    assert [o.outcome for o in summary.outcomes] == ["done", "failed", "failed"]
    for outcome in summary.outcomes[1:]:
        assert outcome.error is not None and "\n" not in outcome.error
        assert "appending to the ledger" in outcome.error
        assert "server closed the connection" in outcome.error
    ledger = open_ledger()
    assert sorted(check_consistent(out, ledger)) == ["g-1-00.png"]

    assert [o.outcome for o in _run(batch, out).outcomes] == ["skipped", "done", "done"]
    assert len(check_consistent(out, ledger)) == 3


def test_an_unreachable_database(cli, models, write_batch, monkeypatch, tmp_path) -> None:
    """A PostgreSQL URL to a closed port: one line naming the database, exit 1, no output."""
    home = tmp_path / "studio"
    assert cli("--home", home, "init").exit_code == 0
    monkeypatch.setenv("PROVENANT_HOME", str(home))
    monkeypatch.setenv("PROVENANT_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/test")
    out = tmp_path / "out"
    single = cli("generate", "-g", "gan", "-m", models.gan, "-p", "a boat", "--out", out)
    assert single.exit_code == EXIT_ERROR
    assert "127.0.0.1:9" in _one_error_line(single)
    batch = write_batch([_gan(models, "u-1", prompt="a"), _gan(models, "u-2", prompt="b")])
    result = cli("generate", "--batch", batch, "--out", out)
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.count("error: ") == 2 and "Traceback" not in result.output
    assert not out.exists()
