"""The real `provenant` console script: exit codes, stdout/stderr, and `provenant demo`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.config import Settings
from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK
from provenance.ledger import Ledger


def test_batch_then_verify_through_the_console_script(
    studio_home, script, models, blocked_prompt, write_batch, json_lines, tmp_path
) -> None:
    batch = write_batch(
        [
            {"id": "s-ok", "generator": "gan", "model": str(models.gan), "prompt": "a kite"},
            {"id": "s-no", "generator": "gan", "model": str(models.gan), "prompt": blocked_prompt},
        ]
    )
    out = tmp_path / "out"
    generated = script("generate", "--batch", batch, "--out", out, "--json")
    assert generated.returncode == EXIT_BLOCKED, generated.stderr
    ok, blocked, summary = json_lines(generated.stdout)
    assert (ok["outcome"], blocked["outcome"]) == ("done", "blocked")
    assert summary["summary"]["done"] == 1 and summary["summary"]["blocked"] == 1
    assert "Traceback" not in generated.stderr

    verified = script("verify", "--json", "-r", out)
    assert verified.returncode == EXIT_OK, verified.stdout + verified.stderr
    (report,) = json_lines(verified.stdout)
    assert report["path"] == ok["images"][0]["path"] and report["state"] == "trusted"
    assert report["ledger"]["asset_id"] == ok["images"][0]["asset_id"]


def test_errors_are_one_line_on_stderr(studio_home, script, tmp_path) -> None:
    result = script("generate", "-g", "no-such-generator", "-p", "x", "--out", tmp_path / "o")
    assert result.returncode == EXIT_ERROR
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: unknown generator 'no-such-generator'; installed: ")


@pytest.mark.slow
def test_demo_runs_end_to_end(script, cli, json_lines, tmp_path) -> None:
    """`provenant demo --dir DIR --json`: outputs verified, refusals counted, report written."""
    where = tmp_path / "demo"
    result = script("demo", "--dir", where, "--json", timeout=600)
    assert result.returncode == EXIT_OK, result.stderr
    report = json.loads(result.stdout)
    outputs = sorted(Path(report["outputs"]).iterdir())
    made = [i["path"] for r in report["requests"] for i in r.get("images", [])]
    assert sorted(made) == [str(p) for p in outputs] and outputs
    assert report["verified"] == {"ok": len(outputs)}
    expected = {"demo-unsafe", "demo-protected"}
    if report["models"]["gan"] == "gan-face-generate":  # research-only licence: no ad campaign
        expected.add("demo-faces-commercial")
    blocked = {r["request_id"] for r in report["requests"] if r["outcome"] == "blocked"}
    assert blocked == expected and report["summary"]["blocked"] == len(expected)
    assert report["summary"]["failed"] == 0
    assert report["chain_ok"] is True
    # No package ships CLIP weights: the demo bypasses that layer by name, and says so.
    assert "known_works.clip" in report["degraded"]
    assert "policy layer known_works.clip is BYPASSED" in result.stderr
    with Ledger.from_settings(Settings.load(home=report["home"], env={}), read_only=True) as led:
        for entry in led.iter_entries():
            assert "known_works.clip" in (entry.record.degraded_layers or {}), entry.id

    # Its ledger and outputs stand on their own: verify them again from the outside.
    verify = cli("--home", report["home"], "verify", "--json", "-r", report["outputs"])
    assert verify.exit_code == EXIT_OK, verify.output
    assert {r["state"] for r in json_lines(verify.stdout)} == {"trusted"}

    # The collaboration step: a sketch, a render of it, a signed retouch; the lineage complete.
    collaboration = report["collaboration"]
    assert collaboration["clean"] is True, collaboration["problems"]
    assert collaboration["summary"].startswith("3 steps: 1 human sketch, 1 model render, 1 human")
    assert [Path(f).name for f in collaboration["files"]][::2] == ["sketch.png", "retouch-1.png"]
    collab = cli("--home", report["home"], "verify", "--json", *collaboration["files"])
    assert {r["state"] for r in json_lines(collab.stdout)} == {"trusted"}, collab.output

    assert report["report_html"] == str(where / "report.html"), "demo wrote no report.html"
    assert Path(report["report_html"]).is_file(), "demo named a report.html it did not write"
    html = Path(report["report_html"]).read_text(encoding="utf-8")
    assert "<html" in html.lower() and "demo-lighthouse" in html
