"""`provenant audit list|show|export` on the pipeline's ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFICATION_FAILED

if TYPE_CHECKING:
    from conftest import AuditCli, AuditedStudio


REFUSED_BY_PROMPT = "SELECT refusal_id FROM refusals WHERE prompt = :p"
INJECTIONS = (
    "' OR '1'='1",
    "gan' OR 1=1 --",
    "gan'; DROP TABLE assets; --",
    '" OR ""="',
    "%",
    "_",
    "gan%",
    "1) OR (1=1",
)


def _entries(studio: AuditedStudio, where: str = "", **params: Any) -> set[str]:
    """Ids of assets and refusals matching a SQL condition (written here, not by the code
    under test)."""
    condition = f"WHERE {where}" if where else ""
    assets = studio.sql(f"SELECT asset_id FROM assets {condition}", **params)
    refusals = studio.sql(f"SELECT refusal_id FROM refusals {condition}", **params)
    return {row[0] for row in assets + refusals}


def _listed(cli: AuditCli, *args: str) -> list[dict[str, Any]]:
    result = cli("audit", "list", "--json", "--limit", "0", *args)
    assert result.exit_code == EXIT_OK, result.output
    return [json.loads(line) for line in cli.lines(result)]


def test_list_shows_every_entry_newest_first(audited: AuditedStudio, cli: AuditCli) -> None:
    rows = _listed(cli)
    seqs = [r[0] for r in audited.sql("SELECT seq FROM assets UNION ALL SELECT seq FROM refusals")]
    assert [row["seq"] for row in rows] == sorted(seqs, reverse=True)
    assert {row["id"] for row in rows} == _entries(audited)
    by_id = {row["id"]: row for row in rows}
    ((unsafe,),) = audited.sql(REFUSED_BY_PROMPT, p=audited.UNSAFE_PROMPT)
    assert by_id[unsafe]["verdict"] == "block" and by_id[unsafe]["stage"] == "prompt"

    human = cli("audit", "list")
    assert human.exit_code == EXIT_OK, human.output
    assert cli.lines(human)[-1] == f"{len(rows)} of {len(rows)} matching entries"
    assert all(row["id"] in human.stdout for row in rows)
    assert audited.HOSTILE_PROMPT[:40] in human.stdout  # user text printed as text, not markup

    capped = cli("audit", "list", "--limit", "2")
    assert len(cli.lines(capped)) == 2 and f"2 of {len(rows)} matching entries" in capped.stderr


def test_list_filters_select_what_sql_selects(audited: AuditedStudio, cli: AuditCli) -> None:
    def ids(*args: str) -> set[str]:
        return {row["id"] for row in _listed(cli, *args)}

    assert ids("--generator", "torchscript") == _entries(audited, "generator = 'torchscript'")
    gan = _entries(audited, "generator = 'gan'")
    assert ids("--generator", "gan") == gan and len(gan) == 5
    assert ids("--requester", audited.INJECTION_REQUESTER) == _entries(
        audited, "requester = :r", r=audited.INJECTION_REQUESTER
    )
    assert len(ids("--requester", audited.INJECTION_REQUESTER)) == 1
    assert ids("--project", "harbour") == _entries(audited, "project = 'harbour'")
    (model,) = audited.sql("SELECT model_name FROM assets WHERE generator = 'gan' LIMIT 1")[0]
    by_model = _entries(audited, "model_name = :m", m=model)
    assert by_model and ids("--model", model) == by_model
    refusals = {r[0] for r in audited.sql("SELECT refusal_id FROM refusals")}
    assert ids("--kind", "refusal") == refusals
    credited = {r[0] for r in audited.sql("SELECT asset_id FROM attributions")}
    assert ids("--work", audited.LICENSED_WORK[0]) == credited and len(credited) == 2
    named = "SELECT refusal_id FROM policy_decisions WHERE work_id = :w"
    (artist,) = audited.sql(named, w=audited.ARTIST_WORK[0])
    assert ids("--work", audited.ARTIST_WORK[0]) == {artist[0]}
    blocked = audited.sql("SELECT refusal_id FROM refusals WHERE action = 'block'")
    assert ids("--verdict", "block") == {r[0] for r in blocked} and len(blocked) == 2
    assert ids("--verdict", "allow") == _entries(audited, "generator = 'torchscript'")
    assert ids("--verdict", "warn") == ids("--kind", "asset", "--generator", "gan")
    assert ids("--generator", "gan", "--verdict", "warn", "--requester", "bob") == _entries(
        audited, "requester = 'bob'"
    )


def test_time_filters(audited: AuditedStudio, cli: AuditCli) -> None:
    rows = _listed(cli)
    days = sorted({date.fromisoformat(row["created_at"][:10]) for row in rows})
    first, last = days[0].isoformat(), days[-1].isoformat()
    assert len(_listed(cli, "--since", first, "--until", last)) == len(rows)
    assert _listed(cli, "--since", (days[-1] + timedelta(days=1)).isoformat()) == []
    assert _listed(cli, "--until", (days[0] - timedelta(days=1)).isoformat()) == []
    newest = max(rows, key=lambda row: row["seq"])
    since_newest = _listed(cli, "--since", newest["created_at"])
    assert newest["id"] in {row["id"] for row in since_newest}
    assert newest["id"] not in {row["id"] for row in _listed(cli, "--until", first + "T00:00")}


@pytest.mark.parametrize("option", ["--generator", "--requester", "--project", "--work"])
def test_sql_in_filters_is_only_ever_a_value(
    audited: AuditedStudio, cli: AuditCli, option: str
) -> None:
    before = _entries(audited)
    for payload in INJECTIONS:
        assert _listed(cli, option, payload) == [], payload
    assert _entries(audited) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--verdict", "block' OR '1'='1"), "unknown verdict"),
        (("--verdict", "blocked"), "choose one of allow, warn, needs_license, block"),
        (("--since", "2025-01-01' OR 1=1 --"), "is not a date"),
        (("--until", "yesterday"), "is not a date"),
        (("--since", "2026-02-01", "--until", "2026-01-01"), "is not before"),
        (("--kind", "assets"), "unknown entry kind"),
        (("--limit", "-1"), "--limit"),
    ],
)
def test_bad_filter_values_are_one_line_usage_errors(
    cli: AuditCli, args: tuple[str, ...], fragment: str
) -> None:
    for command in (("list",), ("export",), ("report", "--html", "r.html")):
        if args[0] == "--limit" and command[0] == "export":
            continue
        result = cli("audit", *command, *args)
        assert result.exit_code == EXIT_USAGE, (command, result.output)
        assert cli.one_line_error(result, fragment), result.stderr
    assert not Path("r.html").exists()


def _show(cli: AuditCli, key: str | Path) -> tuple[int, list[dict[str, Any]]]:
    result = cli("audit", "show", key, "--json")
    return result.exit_code, [json.loads(line) for line in cli.lines(result)]


def test_show_by_id_and_digest(audited: AuditedStudio, cli: AuditCli) -> None:
    (asset_id, sha256, seed), *_ = audited.sql(
        "SELECT asset_id, sha256, seed FROM assets WHERE prompt = :p ORDER BY seq",
        p=audited.CREDITED_PROMPT,
    )
    code, (document,) = _show(cli, asset_id)
    assert code == EXIT_OK
    assert document["record"]["sha256"] == sha256 and document["record"]["seed"] == seed
    assert document["matched_by"] == ["asset_id"] and document["chain"]["row_verifies"] is True
    assert [a["work_id"] for a in document["record"]["attributions"]] == [audited.LICENSED_WORK[0]]
    code, by_digest = _show(cli, sha256.upper())
    assert code == EXIT_OK and [d["id"] for d in by_digest] == [asset_id]

    human = cli("audit", "show", asset_id)
    assert human.exit_code == EXIT_OK, human.output
    assert f"prompt       {audited.CREDITED_PROMPT}" in human.stdout
    assert "(verifies)" in human.stdout and audited.LICENSED_WORK[2] in human.stdout

    (refusal_id,) = audited.sql(REFUSED_BY_PROMPT, p=audited.UNSAFE_PROMPT)[0]
    code, (refused,) = _show(cli, refusal_id)
    assert code == EXIT_OK and refused["verdict"] == "block"
    assert {d["policy"] for d in refused["record"]["decisions"]} >= {"prompt_safety"}


def test_show_by_path_finds_renamed_copies_and_flags_edits(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    original = cli.outputs()[0]
    (asset_id,) = audited.sql("SELECT asset_id FROM assets WHERE path = :p", p=str(original))[0]
    code, (document,) = _show(cli, original)
    assert code == EXIT_OK and document["id"] == asset_id
    assert document["matched_by"] == ["path", "file_sha256"]
    assert document["file"]["matches_record"] is True

    copy = tmp_path / "renamed.png"
    shutil.copyfile(original, copy)
    code, (found,) = _show(cli, copy)
    assert code == EXIT_OK and found["id"] == asset_id and found["matched_by"] == ["file_sha256"]

    saved = original.read_bytes()
    try:
        original.write_bytes(saved + b"\0")
        code, (edited,) = _show(cli, original)
        assert code == EXIT_VERIFICATION_FAILED and edited["file"]["matches_record"] is False
        human = cli("audit", "show", original)
        assert human.exit_code == EXIT_VERIFICATION_FAILED
        assert cli.one_line_error(human, "file bytes differ from the recorded SHA-256")
        copy.write_bytes(saved + b"\0")
        unknown = cli("audit", "show", copy)
        assert unknown.exit_code == EXIT_ERROR
        assert cli.one_line_error(unknown, "no ledger entry records this path")
    finally:
        original.write_bytes(saved)


def test_show_flags_a_tampered_row(audited: AuditedStudio, cli: AuditCli) -> None:
    (asset_id,) = audited.sql("SELECT asset_id FROM assets ORDER BY seq")[0]
    with audited.changed_row("assets", asset_id, "seed", 999_999):
        code, (document,) = _show(cli, asset_id)
        assert code == EXIT_VERIFICATION_FAILED and document["chain"]["row_verifies"] is False
        human = cli("audit", "show", asset_id)
        assert human.exit_code == EXIT_VERIFICATION_FAILED
        assert "DOES NOT VERIFY" in human.stdout
        assert cli.one_line_error(human, f"asset {asset_id}: row does not verify")
    assert _show(cli, asset_id)[0] == EXIT_OK


@pytest.mark.parametrize("key", ["ast-nothing", "x' OR '1'='1", "x" * 5000, "deadbeef" * 8])
def test_show_unknown_keys_are_one_line_errors(cli: AuditCli, key: str) -> None:
    result = cli("audit", "show", key)
    assert result.exit_code == EXIT_ERROR, result.output
    assert cli.one_line_error(result, "no ledger entry")


def test_export_jsonl_to_stdout_matches_show(audited: AuditedStudio, cli: AuditCli) -> None:
    result = cli("audit", "export")
    assert result.exit_code == EXIT_OK, result.output
    documents = [json.loads(line) for line in cli.lines(result)]
    assert {d["id"] for d in documents} == _entries(audited)
    assert [d["seq"] for d in documents] == sorted(d["seq"] for d in documents)
    for document in documents:
        code, (shown,) = _show(cli, document["id"])
        assert code == EXIT_OK
        assert document["record"] == shown["record"] and document["verdict"] == shown["verdict"]
        assert document["row_hash"] == shown["chain"]["row_hash"]


def test_export_csv_to_file(audited: AuditedStudio, cli: AuditCli, tmp_path: Path) -> None:
    out = tmp_path / "ledger.csv"
    result = cli("audit", "export", "--format", "csv", "--out", out, "--generator", "torchscript")
    assert result.exit_code == EXIT_OK, result.output
    (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert result.stdout.strip() == f"1 entries written to {out} (csv)"
    (asset_id, sha256, requester) = audited.sql(
        "SELECT asset_id, sha256, requester FROM assets WHERE generator = 'torchscript'"
    )[0]
    assert (row["kind"], row["id"], row["sha256"], row["verdict"]) == (
        "asset", asset_id, sha256, "allow",
    )  # fmt: skip
    assert row["prompt"] == audited.HOSTILE_PROMPT and row["requester"] == requester
    assert json.loads(row["model"])["name"] == "tiny-random-torchscript"
    assert row["refusal_id"] == "" and row["stage"] == ""


def test_export_takes_json_like_every_command(
    audited: AuditedStudio, cli: AuditCli, tmp_path: Path
) -> None:
    """To stdout the entries are the JSON Lines; with --out, one JSON summary."""
    plain_lines = cli.lines(cli("audit", "export"))
    as_json = cli("audit", "export", "--json")
    assert as_json.exit_code == EXIT_OK and cli.lines(as_json) == plain_lines
    out = tmp_path / "ledger.csv"
    summary = cli("audit", "export", "--json", "--format", "csv", "--out", out)
    assert summary.exit_code == EXIT_OK, summary.output
    assert json.loads(summary.stdout) == {
        "out": str(out),
        "format": "csv",
        "entries": len(_entries(audited)),
    }
    csv_to_stdout = cli("audit", "export", "--json", "--format", "csv")
    assert csv_to_stdout.exit_code == EXIT_USAGE
    assert cli.one_line_error(csv_to_stdout, "--json writes the entries as JSON Lines")


def test_export_refuses_bad_destinations(cli: AuditCli, tmp_path: Path) -> None:
    wrong = cli("audit", "export", "--format", "xml")
    assert wrong.exit_code == EXIT_USAGE and cli.one_line_error(wrong, "choose one of csv, jsonl")
    missing = cli("audit", "export", "--out", tmp_path / "no" / "such" / "dir.csv")
    assert missing.exit_code == EXIT_ERROR and cli.one_line_error(missing, "does not exist")
    directory = cli("audit", "export", "--out", tmp_path)
    assert directory.exit_code == EXIT_ERROR and cli.one_line_error(directory, "is a directory")
    assert list(tmp_path.iterdir()) == []
