"""The ledger cross-check of `verify` on both engines: recorded, other bytes, not recorded.

Each file is looked up by its SHA-256 and by what its credentials claim (manifest label,
asset id in `org.provenant.generation`); lookups are batched, and the ledger is only read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from provenance.cli import app
from provenance.credentials.manifest import build_manifest
from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED
from provenance.ledger import (
    AssetRecord,
    AttributionRecord,
    DecisionRecord,
    IngredientRecord,
    Ledger,
)
from provenance.ledger.lookup import AssetLookup
from provenance.verify.verifier import State, Verifier, default_ledger_check, exit_code


@pytest.fixture
def studio(settings: Any, database_url: str) -> Any:
    """Settings whose ledger (SQLite or PostgreSQL) is migrated and empty."""
    with Ledger.from_url(database_url) as ledger:
        ledger.upgrade()
    return settings.model_copy(update={"database_url": database_url})


def _sign(credential_signer: Any, th: Any, asset_id: str, seed: int, fmt: str = "png") -> Any:
    manifest = build_manifest(th.spec(asset_id=asset_id, seed=seed))
    return credential_signer.sign(th.image_bytes(fmt, 64, seed), th.MIME[fmt], manifest)


def _record(signed: Any, asset_id: str, path: Path) -> AssetRecord:
    """A ledger row with child rows of every kind (floats, text, an ingredient)."""
    return AssetRecord(
        asset_id=asset_id,
        request_id=f"req-{asset_id}",
        image_index=0,
        sha256=signed.sha256,
        path=str(path),
        mime="image/png",
        generator="gan",
        model={"name": "tiny-dcgan", "version": "1", "params": {"z": 0.1}},
        seed=7,
        prompt="a lighthouse at dusk",
        params={"steps": 2, "guidance": 7.5},
        manifest_label=signed.manifest_label,
        decisions=(
            DecisionRecord(
                stage="prompt",
                policy="prompt_safety",
                rule="lexical",
                action="allow",
                score=0.125,
                threshold=0.5,
            ),
        ),
        attributions=(
            AttributionRecord(
                work_id="w-1",
                title="A Work",
                creator="Someone",
                license="cc-by",
                similarity=0.93,
                method="clip",
            ),
        ),
        ingredients=(
            IngredientRecord(sha256="ab" * 32, relationship="inputTo", title="style.png"),
        ),
        degraded_layers={"known_works.clip": "no checkpoint"},
    )


@pytest.fixture
def files(studio: Any, credential_signer: Any, th: Any, tmp_path: Path) -> dict[str, Path]:
    """Signed files in every ledger relation, and the ledger that knows some of them."""
    out = tmp_path / "files"
    out.mkdir()
    recorded = _sign(credential_signer, th, "ast-rec", 1)
    edited_source = _sign(credential_signer, th, "ast-edit", 2)
    resigned_source = _sign(credential_signer, th, "ast-resign", 3)
    resigned = _sign(credential_signer, th, "ast-resign", 4)  # same asset id, new label
    stranger = _sign(credential_signer, th, "ast-never", 5)
    paths = {
        "recorded": out / "recorded.png",
        "edited": out / "edited.png",
        "resigned": out / "resigned.png",
        "stranger": out / "stranger.png",
        "stripped": out / "stripped.png",
    }
    paths["recorded"].write_bytes(recorded.data)
    # Pixels changed under the original manifest: same label, other bytes.
    changed = th.reencode(edited_source.data, "png", change_pixel=True)
    paths["edited"].write_bytes(th.GRAFT["png"](changed, edited_source.data))
    paths["resigned"].write_bytes(resigned.data)
    paths["stranger"].write_bytes(stranger.data)
    paths["stripped"].write_bytes(th.reencode(recorded.data, "png"))
    with Ledger.from_url(studio.database_url) as ledger:
        ledger.append_many(
            [
                _record(recorded, "ast-rec", paths["recorded"]),
                _record(edited_source, "ast-edit", paths["edited"]),
                _record(resigned_source, "ast-resign", paths["resigned"]),
            ]
        )
    return paths


def _verify(studio: Any, paths: list[Path]) -> list[Any]:
    check = default_ledger_check(studio)
    assert check is not None
    try:
        return list(Verifier(studio, ledger_check=check).verify_many(paths))
    finally:
        check.close()  # type: ignore[attr-defined]


def test_each_file_gets_its_ledger_state(studio, files) -> None:
    reports = {r.path.stem: r for r in _verify(studio, list(files.values()))}

    recorded = reports["recorded"]
    assert recorded.ok and recorded.state is State.TRUSTED
    assert recorded.ledger.status == "recorded" and recorded.ledger.matched_by == "sha256"
    assert recorded.ledger.hash_match and recorded.ledger.chain_ok
    assert recorded.ledger.asset_id == "ast-rec"

    edited = reports["edited"]
    assert edited.state is State.INVALID  # c2pa: the pixels no longer match the manifest
    assert edited.ledger.status == "different_bytes"
    assert edited.ledger.matched_by == "manifest_label" and edited.ledger.asset_id == "ast-edit"
    assert not edited.ledger.hash_match and edited.ledger.chain_ok and not edited.ledger.ok
    assert edited.ledger.recorded_sha256 != edited.sha256
    assert "recorded asset, different bytes" in edited.reason

    resigned = reports["resigned"]
    assert resigned.state is State.TRUSTED and not resigned.ok and resigned.failed_verification
    assert resigned.ledger.status == "different_bytes"
    assert resigned.ledger.matched_by == "asset_id" and resigned.ledger.asset_id == "ast-resign"

    for name in ("stranger", "stripped"):
        report = reports[name]
        assert report.ledger.status == "not_recorded" and not report.ledger.found, name
        assert not report.ledger.hash_match and "not recorded" in report.reason
    assert reports["stripped"].state is State.NO_CREDENTIALS
    assert exit_code(list(reports.values())) == EXIT_VERIFICATION_FAILED
    assert exit_code([recorded]) == EXIT_OK


def test_an_edited_ledger_row_fails_the_chain_check(studio, files) -> None:
    engine = sa.create_engine(studio.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE assets SET prompt = 'edited' WHERE asset_id = 'ast-rec'"))
    engine.dispose()
    (report,) = _verify(studio, [files["recorded"]])
    assert report.ledger.status == "recorded" and not report.ledger.chain_ok
    assert not report.ok and report.failed_verification
    assert "fails the hash-chain check" in report.reason


def test_lookups_are_batched_not_per_file(studio, files, monkeypatch) -> None:
    executed: list[str] = []
    original = AssetLookup._cursor

    def counting(self: AssetLookup, sql: str, params: Any = ()) -> Any:
        executed.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(AssetLookup, "_cursor", counting)
    three = [files["recorded"], files["resigned"], files["stranger"]]
    _verify(studio, three)
    few = len(executed)
    executed.clear()
    reports = _verify(studio, three * 20)
    assert [r.ledger.status for r in reports[:3]] == ["recorded", "different_bytes", "not_recorded"]
    assert len(executed) == few <= 12  # schema check, then a fixed set of queries per batch


def test_an_unmigrated_ledger_is_an_error_on_every_file(settings, files, tmp_path) -> None:
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    unmigrated = settings.model_copy(update={"database_url": f"sqlite:///{empty}"})
    reports = _verify(unmigrated, [files["recorded"], files["stranger"]])
    for report in reports:
        assert report.ledger is None and "not initialised" in report.ledger_error
        assert "provenant db upgrade" in report.ledger_error
    assert exit_code(reports) == EXIT_ERROR


def test_cli_text_json_and_exit_codes(studio, files, dev_home, monkeypatch) -> None:
    monkeypatch.setenv("PROVENANT_DATABASE_URL", studio.database_url)
    runner = CliRunner()
    root = str(dev_home / "keys" / "dev-root-ca.pem")
    base = ["--home", str(dev_home), "verify", "--trust-anchors", root]
    ok = runner.invoke(app, [*base, str(files["recorded"]), "--json"])
    assert ok.exit_code == EXIT_OK, ok.output
    assert json.loads(ok.stdout)["ledger"]["status"] == "recorded"
    mixed = runner.invoke(app, [*base, str(files["recorded"]), str(files["resigned"]), "--json"])
    assert mixed.exit_code == EXIT_VERIFICATION_FAILED
    statuses = [json.loads(line)["ledger"]["status"] for line in mixed.stdout.splitlines()]
    assert statuses == ["recorded", "different_bytes"]
    text = runner.invoke(app, [*base, str(files["resigned"]), str(files["stranger"])])
    assert text.exit_code == EXIT_VERIFICATION_FAILED
    assert "recorded asset, different bytes" in text.output and "not recorded" in text.output
