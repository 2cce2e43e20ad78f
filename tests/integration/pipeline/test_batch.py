"""`provenant generate --batch`: progress, failures contained, summary, and resuming.

A batch goes past bad lines and failed requests, names its outputs from request ids only,
and can be run again (after finishing, or after an interruption at any point) without
generating or recording anything twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK
from provenance.ledger import AssetRecord
from provenance.pipeline.batch import run_batch
from provenance.pipeline.requests import read_batch
from provenance.pipeline.store import AssetStore
from provenance.pipeline.studio import Studio


def _gan(models: Any, request_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": request_id, "generator": "gan", "model": str(models.gan), **fields}


def _recorded(ledger: Any) -> Counter[tuple[str, int]]:
    """How many rows each (request id, image index) has."""
    return Counter(
        (e.record.request_id, e.record.image_index)
        for e in ledger.iter_entries()
        if isinstance(e.record, AssetRecord)
    )


def test_a_batch_goes_on_past_failures_and_resumes_without_duplicates(
    engine_home, cli, models, blocked_prompt, write_batch, json_lines, open_ledger,
    check_consistent, tmp_path,
) -> None:  # fmt: skip
    batch = write_batch(
        [
            _gan(models, "b-one", prompt="a lighthouse", seed=1),
            "{this is not json",
            _gan(models, "b-blocked", prompt=blocked_prompt, seed=2),
            _gan(models, "b-slashes", prompt="../../etc/passwd a/b\\c /tmp/x", seed=3),
            _gan(models, "../escape", prompt="a boat"),
            _gan(models, "b/slash", prompt="a boat"),
            _gan(models, ".hidden", prompt="a boat"),
            _gan(models, "b one", prompt="a boat"),
            _gan(models, "caf\u00e9", prompt="a boat"),
            _gan(models, "x" * 129, prompt="a boat"),
            _gan(models, "b-two", prompt="two boats", n=2, seed=4),
            {"id": "b-unknown", "generator": "no-such-generator", "prompt": "a boat"},
        ]
    )
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    first = cli("generate", "--batch", batch, "--out", out, "--json")
    assert first.exit_code == EXIT_ERROR, first.output  # failed lines win over the refusal
    *outcomes, summary = json_lines(first.stdout)
    assert [o["line"] for o in outcomes] == list(range(1, 13))
    by_line = {o["line"]: o for o in outcomes}
    assert [by_line[n]["outcome"] for n in (1, 3, 4, 11)] == ["done", "blocked", "done", "done"]
    assert "not JSON" in by_line[2]["error"]
    for line_no in range(5, 11):
        assert by_line[line_no]["outcome"] == "failed"
        assert "is not allowed" in by_line[line_no]["error"], by_line[line_no]
    assert "installed: " in by_line[12]["error"] and "gan" in by_line[12]["error"]
    assert summary["summary"] == {
        "done": 3, "partial": 0, "skipped": 0, "blocked": 1, "failed": 8
    }  # fmt: skip
    assert summary["images"] == 4 and summary["requests"] == 12

    # Names come from ids only: nothing outside `out`, nothing named after a prompt.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out"])
    expected = ["b-one-00.png", "b-slashes-00.png", "b-two-00.png", "b-two-01.png"]
    ledger = open_ledger()
    rows = check_consistent(out, ledger)
    assert sorted(rows) == expected
    assert rows["b-slashes-00.png"].record.prompt == "../../etc/passwd a/b\\c /tmp/x"
    contents = {p.name: p.read_bytes() for p in out.iterdir()}
    entries = len(list(ledger.iter_entries()))

    again = cli("generate", "--batch", batch, "--out", out, "--json")
    assert again.exit_code == EXIT_ERROR
    *outcomes, summary = json_lines(again.stdout)
    assert summary["summary"] == {
        "done": 0, "partial": 0, "skipped": 4, "blocked": 0, "failed": 8
    }  # fmt: skip
    assert len(list(ledger.iter_entries())) == entries
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents
    assert set(_recorded(ledger).values()) == {1}


def test_human_output_reports_each_request_and_a_summary(
    studio_home, cli, models, blocked_prompt, write_batch, tmp_path
) -> None:
    batch = write_batch(
        [
            _gan(models, "h-ok", prompt="a harbour", seed=1),
            _gan(models, "h-blocked", prompt=blocked_prompt),
        ]
    )
    out = tmp_path / "out"
    result = cli("generate", "--batch", batch, "--out", out)
    assert result.exit_code == EXIT_BLOCKED, result.output
    assert f"signed h-ok #0 -> {out.resolve() / 'h-ok-00.png'}" in result.stdout
    assert "blocked h-blocked: prompt_safety" in result.stdout
    assert "2 requests: 1 done, 1 blocked; 1 images in" in result.stdout
    assert "Traceback" not in result.output


def test_a_batch_cut_short_then_rerun_does_each_request_once(
    studio_home, cli, models, write_batch, json_lines, open_ledger, check_consistent, tmp_path
) -> None:
    lines = [
        _gan(models, "p-1", prompt="one", seed=1),
        _gan(models, "p-2", prompt="two", seed=2, n=2),
        _gan(models, "p-3", prompt="three", seed=3),
        _gan(models, "p-4", prompt="four", seed=4),
    ]
    out = tmp_path / "out"
    prefix = cli("generate", "--batch", write_batch(lines[:2], "prefix.jsonl"), "--out", out)
    assert prefix.exit_code == EXIT_OK, prefix.output
    full = cli("generate", "--batch", write_batch(lines), "--out", out, "--json")
    assert full.exit_code == EXIT_OK, full.output
    *outcomes, summary = json_lines(full.stdout)
    assert [o["outcome"] for o in outcomes] == ["skipped", "skipped", "done", "done"]
    assert summary["images"] == 2
    ledger = open_ledger()
    assert _recorded(ledger) == Counter(
        {("p-1", 0): 1, ("p-2", 0): 1, ("p-2", 1): 1, ("p-3", 0): 1, ("p-4", 0): 1}
    )
    assert len(check_consistent(out, ledger)) == 5


class _Crash(BaseException):
    """Stands for the process being killed: nothing in the pipeline may catch it."""


def _run(batch: Path, out: Path) -> Any:
    with Studio.from_config() as studio:
        return run_batch(studio, list(read_batch(batch, None)), out)


#: Where the 3rd image's commit is cut short: (AssetStore method, crash after calling it?).
CRASH_POINTS = {
    "before-write": ("commit", False),  # nothing written for it
    "after-write": ("_write_partial", True),  # partial file on disk, no row
    "after-row": ("_publish", False),  # row recorded, file not renamed into place
}


@pytest.mark.parametrize("crash_at", list(CRASH_POINTS))
def test_an_interrupted_batch_completes_each_request_exactly_once(
    crash_at, studio_home, models, write_batch, open_ledger, check_consistent, monkeypatch,
    tmp_path,
) -> None:  # fmt: skip
    batch = write_batch(
        [
            _gan(models, "k-1", prompt="one", seed=1),
            _gan(models, "k-2", prompt="two", seed=2, n=2),
            _gan(models, "k-3", prompt="three", seed=3),
        ]
    )
    out = tmp_path / "out"
    name, after = CRASH_POINTS[crash_at]
    original = getattr(AssetStore, name)
    calls = {"n": 0}

    def crashing(self: AssetStore, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] != 3:
            return original(self, *args, **kwargs)
        if after:
            original(self, *args, **kwargs)
        raise _Crash

    monkeypatch.setattr(AssetStore, name, crashing)
    with pytest.raises(_Crash):
        _run(batch, out)
    monkeypatch.setattr(AssetStore, name, original)
    ledger = open_ledger()
    row_recorded = crash_at == "after-row"
    assert _recorded(ledger)[("k-2", 1)] == int(row_recorded)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == (
        [] if crash_at == "before-write" else [".k-2-01.png.partial"]
    )

    summary = _run(batch, out)
    if row_recorded:  # k-2's rows all exist: recovery renames its file into place
        assert [o.outcome for o in summary.outcomes] == ["skipped", "skipped", "done"]
    else:  # only k-2's missing image is generated and recorded
        assert [o.outcome for o in summary.outcomes] == ["skipped", "done", "done"]
        resumed = summary.outcomes[1].result
        assert resumed is not None and [i.index for i in resumed.images] == [1]
    assert _recorded(ledger) == Counter(
        {("k-1", 0): 1, ("k-2", 0): 1, ("k-2", 1): 1, ("k-3", 0): 1}
    )
    rows = check_consistent(out, ledger)
    assert sorted(rows) == ["k-1-00.png", "k-2-00.png", "k-2-01.png", "k-3-00.png"]


def test_a_crash_on_the_last_image_is_recovered_by_the_rerun(
    studio_home, models, write_batch, open_ledger, check_consistent, monkeypatch, tmp_path
) -> None:
    """Row recorded, file not yet renamed, and nothing left to generate: the rerun still
    finishes the commit instead of leaving a recorded asset without its file."""
    batch = write_batch([_gan(models, "z-1", prompt="one", seed=1)])
    out = tmp_path / "out"
    original = AssetStore._publish

    def crashing(self: AssetStore, *args: Any, **kwargs: Any) -> Any:
        raise _Crash

    monkeypatch.setattr(AssetStore, "_publish", crashing)
    with pytest.raises(_Crash):
        _run(batch, out)
    monkeypatch.setattr(AssetStore, "_publish", original)
    assert [p.name for p in out.iterdir()] == [".z-1-00.png.partial"]

    summary = _run(batch, out)
    assert [o.outcome for o in summary.outcomes] == ["skipped"]
    assert sorted(check_consistent(out, open_ledger())) == ["z-1-00.png"]
