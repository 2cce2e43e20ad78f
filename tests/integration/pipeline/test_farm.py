"""`generate --batch --executor ray`: a real local Ray instance, tiny models, both engines.

One Ray instance serves the whole module (starting one costs seconds).  A killed actor's
request is retried elsewhere with the same seed; a driver that dies mid-batch is resumed
without redoing what was recorded; outputs are recorded many rows to a transaction, a failed
batch is recorded again row by row, and a ledger that fails leaves no file; every image has
exactly one row and one file, and the hash chain stays intact.  Multi-node runs (workers on
other machines, `--address ray://HOST:10001`) cannot run here; README's farm section says
how to run them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.errors import EXIT_OK, LedgerError
from provenance.ledger import AssetRecord
from provenance.pipeline.farm import FarmOptions, run_farm_batch
from provenance.pipeline.requests import read_batch
from provenance.pipeline.studio import Studio


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    """One local Ray instance (2 CPU slots) for every test of this module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _gan(models: Any, request_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": request_id, "generator": "gan", "model": str(models.gan), **fields}


def _rows(ledger: Any) -> Counter[tuple[str, int]]:
    return Counter(
        (e.record.request_id, e.record.image_index)
        for e in ledger.iter_entries()
        if isinstance(e.record, AssetRecord)
    )


def _each_image_once(ledger: Any, out: Path, images: int, check_consistent: Any) -> None:
    """`images` rows, one per (request, image), the chain intact, files and rows agreeing."""
    rows = _rows(ledger)
    assert len(rows) == images and set(rows.values()) == {1}
    assert ledger.verify_chain().ok
    check_consistent(out, ledger)


@pytest.fixture
def pg_home(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A studio whose ledger is a fresh PostgreSQL database."""
    home = tmp_path / "studio"
    monkeypatch.setenv("PROVENANT_HOME", str(home))
    monkeypatch.setenv("PROVENANT_DATABASE_URL", postgres_url)
    result = CliRunner().invoke(app, ["--home", str(home), "init", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    return home


def test_ray_batch_on_one_worker_matches_the_local_json_and_resumes(
    studio_home, cli, models, blocked_prompt, write_batch, json_lines, open_ledger,
    check_consistent, tmp_path,
) -> None:  # fmt: skip
    lines = [
        _gan(models, "f-one", prompt="a lighthouse", seed=1),
        "{not json",
        _gan(models, "f-blocked", prompt=blocked_prompt, seed=2),
        _gan(models, "f-two", prompt="two boats", n=2, seed=4),
    ]
    batch = write_batch(lines)
    out = tmp_path / "out"
    first = cli("generate", "--batch", batch, "--out", out, "--json", "--executor", "ray",
                "--workers", "1")  # fmt: skip
    assert first.exit_code != EXIT_OK, first.output
    *outcomes, summary = json_lines(first.stdout)
    by_line = {o["line"]: o for o in outcomes}
    assert [by_line[n]["outcome"] for n in (1, 2, 3, 4)] == ["done", "failed", "blocked", "done"]
    assert summary == {
        "summary": {"done": 2, "partial": 0, "skipped": 0, "blocked": 1, "failed": 1},
        "images": 3,
        "requests": 4,
    }
    assert [i["seed"] for i in by_line[4]["images"]] == [4, 5]

    # The same batch locally: the very same JSON shape, line for line.
    renamed = [x if isinstance(x, str) else {**x, "id": "l" + x["id"]} for x in lines]
    local = cli("generate", "--batch", write_batch(renamed, "local.jsonl"), "--out",
                tmp_path / "local", "--json")  # fmt: skip
    *local_outcomes, local_summary = json_lines(local.stdout)
    assert local.exit_code == first.exit_code
    assert [sorted(o) for o in local_outcomes] == [sorted(by_line[n]) for n in (1, 2, 3, 4)]
    assert local_summary == summary

    ledger = open_ledger()
    names = sorted(check_consistent(out, ledger))
    assert names == ["f-one-00.png", "f-two-00.png", "f-two-01.png"]
    again = cli("generate", "--batch", batch, "--out", out, "--json", "--executor", "ray",
                "--workers", "1")  # fmt: skip
    *outcomes, summary = json_lines(again.stdout)
    assert summary["summary"]["skipped"] == 3 and summary["images"] == 0, again.stdout
    assert set(_rows(ledger).values()) == {1}
    assert ledger.verify_chain().ok


def test_killed_actor_is_retried_elsewhere_with_the_same_seed_on_postgres(
    pg_home, models, write_batch, check_consistent, tmp_path
) -> None:
    batch = write_batch([_gan(models, f"k-{i}", prompt=f"boat {i}", seed=10 * i) for i in range(4)])
    out = tmp_path / "out"
    killed: list[str] = []

    def kill_first(actor: Any, request_id: str) -> None:
        if not killed:
            pid = ray.get(actor.pid.remote())
            killed.append(request_id)
            import os
            import signal

            os.kill(pid, signal.SIGKILL)  # the worker process dies mid-request

    with Studio(Settings.load()) as studio:
        summary = run_farm_batch(
            studio, read_batch(batch, None), out, FarmOptions(workers=2), on_dispatch=kill_first
        )
        assert summary.counts["done"] == 4, [o.as_dict() for o in summary.outcomes]
        assert killed
        ledger = studio.ledger
        _each_image_once(ledger, out, 4, check_consistent)
        seeds = {e.record.request_id: e.record.seed for e in ledger.iter_entries()}
        assert seeds == {f"k-{i}": 10 * i for i in range(4)}


def test_a_driver_that_dies_is_resumed_without_redoing_recorded_work(
    pg_home, models, write_batch, check_consistent, tmp_path
) -> None:
    batch = write_batch([_gan(models, f"d-{i}", prompt=f"ship {i}", seed=i) for i in range(5)])
    out = tmp_path / "out"

    class DriverDied(Exception):
        pass

    seen: list[str] = []

    def die_after_two(outcome: Any) -> None:
        seen.append(outcome.request_id)
        if len(seen) == 2:
            raise DriverDied

    with Studio(Settings.load()) as studio, pytest.raises(DriverDied):
        run_farm_batch(studio, read_batch(batch, None), out, FarmOptions(workers=2),
                       on_outcome=die_after_two)  # fmt: skip
    with Studio(Settings.load()) as studio:
        summary = run_farm_batch(studio, read_batch(batch, None), out, FarmOptions(workers=2))
        skipped = {o.request_id for o in summary.outcomes if o.outcome == "skipped"}
        assert set(seen) <= skipped
        assert summary.counts["done"] + summary.counts["skipped"] == 5
        _each_image_once(studio.ledger, out, 5, check_consistent)


def _count_commits(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """Wrap the store's batched and one-row commits to count what each one wrote."""
    store = studio.store
    calls: dict[str, list[int]] = {"many": [], "one": []}
    many, one = store.commit_many, store.commit

    def commit_many(commits: Any) -> Any:
        calls["many"].append(len(commits))
        return many(commits)

    def commit(*args: Any, **kwargs: Any) -> Any:
        calls["one"].append(1)
        return one(*args, **kwargs)

    monkeypatch.setattr(store, "commit_many", commit_many)
    monkeypatch.setattr(store, "commit", commit)
    return calls


def test_outputs_are_recorded_many_rows_to_a_transaction(
    studio_home, models, write_batch, check_consistent, tmp_path, monkeypatch
) -> None:
    batch = write_batch([_gan(models, f"b-{i}", prompt=f"sail {i}", seed=i) for i in range(6)])
    out = tmp_path / "out"
    options = FarmOptions(workers=2, record_batch=4, record_wait_s=60)
    with Studio(Settings.load()) as studio:
        calls = _count_commits(studio, monkeypatch)
        summary = run_farm_batch(studio, read_batch(batch, None), out, options)
        assert summary.counts["done"] == 6, [o.as_dict() for o in summary.outcomes]
        # Four images in the first transaction, the last two at the end; none on its own.
        assert calls == {"many": [4, 2], "one": []}
        assert all("store" in o.result.timings_ms for o in summary.outcomes if o.result)
        _each_image_once(studio.ledger, out, 6, check_consistent)


def test_a_batch_that_fails_is_recorded_again_row_by_row(
    studio_home, models, write_batch, check_consistent, tmp_path, monkeypatch
) -> None:
    batch = write_batch([_gan(models, f"o-{i}", prompt=f"oar {i}", seed=i) for i in range(3)])
    out = tmp_path / "out"
    with Studio(Settings.load()) as studio:
        ledger = studio.ledger
        append_many = ledger.append_many

        def no_batches(records: Any, **kwargs: Any) -> Any:
            records = list(records)
            if len(records) > 1:
                raise LedgerError("appending to the ledger: could not serialize access")
            return append_many(records, **kwargs)

        monkeypatch.setattr(ledger, "append_many", no_batches)
        calls = _count_commits(studio, monkeypatch)
        options = FarmOptions(workers=2, record_batch=3, record_wait_s=60)
        summary = run_farm_batch(studio, read_batch(batch, None), out, options)
        assert summary.counts["done"] == 3, [o.as_dict() for o in summary.outcomes]
        assert calls == {"many": [3], "one": [1, 1, 1]}
        _each_image_once(ledger, out, 3, check_consistent)


def test_a_ledger_that_fails_leaves_no_file_and_the_rerun_records_each_image_once(
    pg_home, models, write_batch, check_consistent, tmp_path
) -> None:
    batch = write_batch([_gan(models, f"p-{i}", prompt=f"pier {i}", seed=i) for i in range(4)])
    batch_lines = [*read_batch(batch, None)]
    out = tmp_path / "out"
    options = FarmOptions(workers=2, record_batch=2, record_wait_s=60)
    with Studio(Settings.load()) as studio:

        def down(records: Any, **kwargs: Any) -> Any:
            raise LedgerError("appending to the ledger: connection refused")

        studio.ledger.append_many = down  # type: ignore[method-assign]
        try:
            summary = run_farm_batch(studio, batch_lines, out, options)
        finally:
            del studio.ledger.append_many  # the class's own again
        assert summary.counts["failed"] == 4
        assert all("connection refused" in (o.error or "") for o in summary.outcomes)
        assert _rows(studio.ledger) == Counter()
        assert not out.exists() or sorted(out.iterdir()) == []  # no file, no partial file
        assert studio.ledger.verify_chain().ok
    with Studio(Settings.load()) as studio:
        summary = run_farm_batch(studio, read_batch(batch, None), out, options)
        assert summary.counts["done"] == 4, [o.as_dict() for o in summary.outcomes]
        _each_image_once(studio.ledger, out, 4, check_consistent)


def test_ray_is_not_imported_by_the_cli_or_the_local_executor(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from provenance.cli import app; import provenance.pipeline.batch; "
        "print(json.dumps('ray' in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--executor", "threads"], "expected local or ray"),
        (["--address", "auto"], "need --executor ray"),
        (["--executor", "ray", "--gpus-per-worker", "4"], "GPUs need more than"),
        (["--executor", "ray", "--workers", "0"], "at least 1"),
        (["--record-batch", "8"], "need --executor ray"),
        (["--executor", "ray", "--record-batch", "0"], "--record-batch must be at least 1"),
    ],
)
def test_bad_farm_options_are_one_line_errors(
    studio_home, cli, models, write_batch, tmp_path, args, message
) -> None:
    batch = write_batch([_gan(models, "x-1", prompt="a boat", seed=1)])
    result = cli("generate", "--batch", batch, "--out", tmp_path / "out", *args)
    assert result.exit_code != EXIT_OK
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
