"""`provenant db ...` and `provenant audit verify-chain|checkpoint`: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from provenance.cli import app, cmd_audit
from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED
from provenance.ledger import Ledger
from tests.integration.ledger.samples import sample_asset

if TYPE_CHECKING:
    from conftest import KeySigner, RawSQL

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI pointed at this test's database and data dir."""
    env = {"PROVENANT_DATABASE_URL": database_url, "PROVENANT_HOME": str(home)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_db_upgrade_is_idempotent(cli_env: dict[str, str]) -> None:
    first = invoke("db", "upgrade", "--json")
    assert first.exit_code == EXIT_OK, first.output
    document = json.loads(first.stdout)
    assert document["from"] is None and document["changed"] is True
    second = invoke("db", "upgrade", "--json")
    assert json.loads(second.stdout)["changed"] is False
    human = invoke("db", "upgrade")
    assert "up to date" in human.stdout
    current = invoke("db", "current", "--json")
    assert json.loads(current.stdout)["up_to_date"] is True
    assert "password" not in current.stdout


def test_db_current_on_an_empty_database(cli_env: dict[str, str]) -> None:
    result = invoke("db", "current")
    assert result.exit_code == EXIT_OK
    assert "not initialised" in result.stdout and "provenant db upgrade" in result.stdout


def test_verify_chain_intact(cli_env: dict[str, str], mixed_ledger: Ledger) -> None:
    result = invoke("audit", "verify-chain", "--json")
    assert result.exit_code == EXIT_OK, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["chain"]["count"] == 6
    human = invoke("audit", "verify-chain")
    assert human.exit_code == EXIT_OK and human.stdout.startswith("chain intact: 6 entries")


def test_verify_chain_broken_names_the_row(
    cli_env: dict[str, str], mixed_ledger: Ledger, raw: RawSQL
) -> None:
    raw.run("UPDATE assets SET seed = 7 WHERE asset_id = 'ast-000002'")
    result = invoke("audit", "verify-chain", "--json")
    assert result.exit_code == EXIT_VERIFICATION_FAILED
    bad = json.loads(result.stdout)["chain"]["first_bad"]
    assert (bad["seq"], bad["kind"], bad["id"], bad["reason"]) == (
        3,
        "asset",
        "ast-000002",
        "hash mismatch",
    )
    human = invoke("audit", "verify-chain")
    assert human.exit_code == EXIT_VERIFICATION_FAILED
    assert human.stderr.count("\n") == 1
    assert "chain broken at seq 3 (asset ast-000002): hash mismatch" in human.stderr


def test_verify_chain_on_unmigrated_database(cli_env: dict[str, str]) -> None:
    result = invoke("audit", "verify-chain")
    assert result.exit_code == EXIT_ERROR
    assert "provenant db upgrade" in result.stderr and "Traceback" not in result.output


def test_checkpoint_then_verify(
    cli_env: dict[str, str],
    mixed_ledger: Ledger,
    signer: KeySigner,
    raw: RawSQL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cmd_audit, "_open_signer", lambda settings: signer)
    key = tmp_path / "signer.pem"
    key.write_bytes(signer.pem)
    note = tmp_path / "cp.txt"
    made = invoke("audit", "checkpoint", "--out", str(note), "--origin", "example.com/l", "--json")
    assert made.exit_code == EXIT_OK, made.output
    document = json.loads(made.stdout)
    assert document["tree_size"] == 6 and document["verifier_key"].startswith("example.com/l+")
    assert note.read_text().startswith("example.com/l\n6\n")
    again = invoke("audit", "checkpoint", "--out", str(note))
    assert again.exit_code == EXIT_ERROR and "refusing to overwrite" in again.stderr
    default = invoke("audit", "checkpoint")
    assert default.exit_code == EXIT_OK and "checkpoint of 6 entries" in default.stdout

    ok = invoke("audit", "verify-chain", "--checkpoint", str(note), "--key", str(key), "--json")
    assert ok.exit_code == EXIT_OK, ok.output
    assert json.loads(ok.stdout)["checkpoint"]["ok"] is True

    raw.run("DELETE FROM policy_decisions WHERE refusal_id = 'ref-000002'")
    raw.run("DELETE FROM refusals WHERE refusal_id = 'ref-000002'")
    raw.run(
        "UPDATE ledger_head SET seq = 5, head_hash = (SELECT row_hash FROM assets WHERE seq = 5)"
    )
    cut = invoke("audit", "verify-chain", "--checkpoint", str(note), "--key", str(key))
    assert cut.exit_code == EXIT_VERIFICATION_FAILED
    assert "ledger truncated" in cut.stderr


def test_verify_chain_with_bad_checkpoint_inputs(
    cli_env: dict[str, str], mixed_ledger: Ledger, signer: KeySigner, tmp_path: Path
) -> None:
    garbage = tmp_path / "cp.txt"
    garbage.write_text("not a note")
    key = tmp_path / "signer.pem"
    key.write_bytes(signer.pem)
    cases = {
        ("--key", str(tmp_path / "missing.pem")): "missing.pem",
        ("--key", str(key)): "checkpoint: no blank line",
    }
    for extra, message in cases.items():
        result = invoke("audit", "verify-chain", "--checkpoint", str(garbage), *extra)
        assert result.exit_code == EXIT_ERROR and message in result.stderr, result.output
    result = invoke("audit", "verify-chain", "--checkpoint", str(tmp_path / "none.txt"))
    assert result.exit_code == EXIT_ERROR and "none.txt: cannot read checkpoint" in result.stderr


def _provenant(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("provenant")
    return subprocess.run(
        [str(script), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_script_end_to_end(cli_env: dict[str, str], raw: RawSQL) -> None:
    upgraded = _provenant("db", "upgrade", env=cli_env)
    assert upgraded.returncode == EXIT_OK, upgraded.stderr
    ledger = Ledger.from_url(cli_env["PROVENANT_DATABASE_URL"])
    ledger.append_many([sample_asset(i) for i in range(3)])
    ledger.close()
    intact = _provenant("audit", "verify-chain", "--json", env=cli_env)
    assert intact.returncode == EXIT_OK and json.loads(intact.stdout)["chain"]["count"] == 3
    raw.run("UPDATE ingredients SET title = 'swapped.png' WHERE asset_id = 'ast-000001'")
    broken = _provenant("audit", "verify-chain", env=cli_env)
    assert broken.returncode == EXIT_VERIFICATION_FAILED
    assert broken.stderr.startswith("error: chain broken at seq 2 (asset ast-000001)")
    assert "Traceback" not in broken.stderr
