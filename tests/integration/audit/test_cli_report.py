"""`provenant audit report --html`: numbers equal the ledger's, the page is self-contained and
escaped, a broken chain exits 4; and no audit command imports torch."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFICATION_FAILED

if TYPE_CHECKING:
    from conftest import AuditCli, AuditedStudio


def _report(cli: AuditCli, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("audit", "report", "--html", out, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def test_report_numbers_are_the_ledgers(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    code, summary = _report(cli, out)
    assert code == EXIT_OK and summary["html"] == str(out) and out.is_file()
    assets = audited.count("SELECT count(*) FROM assets")
    refusals = audited.count("SELECT count(*) FROM refusals")
    assert summary["totals"] == {"entries": assets + refusals, "asset": assets, "refusal": refusals}
    per_generator: Counter[tuple[str, str]] = Counter()
    for table, kind in (("assets", "assets"), ("refusals", "refusals")):
        for generator, n in audited.sql(f"SELECT generator, count(*) FROM {table} GROUP BY 1"):
            per_generator[(generator, kind)] += n
    shown = {
        (row["generator"], kind): row[kind]
        for row in summary["by_generator"]
        for kind in ("assets", "refusals")
        if row[kind]
    }
    assert shown == dict(per_generator)
    reasons = audited.sql(
        "SELECT policy, rule, count(*) FROM policy_decisions "
        "WHERE refusal_id IS NOT NULL AND action IN ('block', 'needs_license') "
        "GROUP BY policy, rule"
    )
    assert {(r["policy"], r["rule"], r["count"]) for r in summary["refusal_reasons"]} == {
        tuple(row) for row in reasons
    }
    (work,) = summary["attributions"]
    work_id, title, licence = audited.LICENSED_WORK
    assert (work["work_id"], work["title"], work["license"]) == (work_id, title, licence)
    assert work["assets"] == audited.count("SELECT count(*) FROM attributions")
    assert summary["chain"]["ok"] is True
    assert summary["chain"]["count"] == assets + refusals

    human = cli("audit", "report", "--html", out)
    assert human.exit_code == EXIT_OK, human.output
    assert f"{assets + refusals} entries ({assets} signed outputs, {refusals} refusals)" in (
        human.stdout
    )
    assert "chain intact" in human.stdout


def test_page_is_self_contained_and_escaped(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    assert _report(cli, out)[0] == EXIT_OK
    page = out.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?!data:)[a-z]+:""", page, re.I)
    assert "@import" not in page and "url(" not in page
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert len(sources) == audited.count("SELECT count(*) FROM assets")
    assert all(s.startswith("data:image/jpeg;base64,") for s in sources)
    for text in (audited.HOSTILE_PROMPT, audited.HOSTILE_REQUESTER, audited.LICENSED_WORK[1]):
        assert text not in page and html.escape(text, quote=True) in page
    assert html.escape(audited.INJECTION_REQUESTER, quote=True) in page


def test_filters_narrow_the_report(audited: AuditedStudio, cli: AuditCli, tmp_path: Path) -> None:
    out = tmp_path / "torchscript.html"
    code, summary = _report(cli, out, "--generator", "torchscript")
    assert code == EXIT_OK
    assert summary["filters"] == {"generator": "torchscript"}
    made = audited.count("SELECT count(*) FROM assets WHERE generator = 'torchscript'")
    assert summary["totals"] == {"entries": made, "asset": made, "refusal": 0}
    assert summary["chain"]["count"] == audited.count(
        "SELECT (SELECT count(*) FROM assets) + (SELECT count(*) FROM refusals)"
    )  # integrity covers the whole ledger whatever the filter
    page = out.read_text(encoding="utf-8")
    assert page.count("<tr data-asset=") == made and "Filters: generator=torchscript." in page

    capped = tmp_path / "capped.html"
    assert _report(cli, capped, "--limit", "1")[0] == EXIT_OK
    text = capped.read_text(encoding="utf-8")
    assets = audited.count("SELECT count(*) FROM assets")
    assert text.count("<tr data-asset=") == 1 and f"newest 1 of {assets}" in text


def test_broken_chain_still_writes_the_report_and_exits_4(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    (refusal_id, seq) = audited.sql("SELECT refusal_id, seq FROM refusals ORDER BY seq")[0]
    out = tmp_path / "broken.html"
    with audited.changed_row("refusals", refusal_id, "prompt", "a harmless prompt"):
        code, summary = _report(cli, out)
        human = cli("audit", "report", "--html", out)
    assert code == EXIT_VERIFICATION_FAILED
    bad = summary["chain"]["first_bad"]
    assert (bad["seq"], bad["id"], bad["reason"]) == (seq, refusal_id, "hash mismatch")
    assert human.exit_code == EXIT_VERIFICATION_FAILED
    assert cli.one_line_error(human, f"chain broken at seq {seq} (refusal {refusal_id})")
    assert 'data-chain="broken"' in out.read_text(encoding="utf-8")


def test_unwritable_destinations_fail_before_any_work(cli: AuditCli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for target, fragment in (
        (tmp_path / "missing" / "r.html", "does not exist"),
        (tmp_path / "file" / "r.html", "is not a directory"),
        (tmp_path, "is a directory"),
    ):
        result = cli("audit", "report", "--html", target)
        assert result.exit_code == EXIT_ERROR, result.output
        assert cli.one_line_error(result, fragment), result.stderr
    assert cli("audit", "report").exit_code == EXIT_USAGE  # --html is required
    assert cli("audit", "report", "--html", tmp_path / "r.html", "--limit", "0").exit_code == (
        EXIT_USAGE
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


NO_HEAVY_IMPORTS = """
import importlib, json, pkgutil, sys
import provenance.cli.app
import provenance.audit
for info in pkgutil.iter_modules(provenance.audit.__path__):
    importlib.import_module("provenance.audit." + info.name)
import provenance.cli.cmd_audit_query
from typer.testing import CliRunner
from provenance.cli import app
runner = CliRunner()
codes = {}
for args in (["audit", "--help"], ["audit", "list"], ["audit", "show", sys.argv[1]],
             ["audit", "export", "-f", "csv"], ["audit", "reconcile", sys.argv[2]],
             ["audit", "report", "--html", sys.argv[3]], ["audit", "verify-chain"]):
    codes[args[1]] = runner.invoke(app, args).exit_code
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "open_clip", "onnxruntime")
               if m in sys.modules)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_audit_commands_never_import_torch(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    output = cli.outputs()[0]
    env = {**audited.env, "PATH": "/usr/bin:/bin"}
    args = [str(output), str(audited.outputs), str(tmp_path / "r.html")]
    run = subprocess.run(
        [sys.executable, "-c", NO_HEAVY_IMPORTS, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert set(result["codes"].values()) == {EXIT_OK}, result
    assert result["heavy"] == []
