"""`provenant init` and `provenant keys create|show` through the CLI."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.credentials.keys import load_certificate_chain
from provenance.errors import EXIT_ERROR, EXIT_OK

runner = CliRunner()


def _init(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), "init", *args])


def test_init_creates_config_keys_salt_and_ledger(tmp_path: Path) -> None:
    home = tmp_path / "studio"
    result = _init(home)
    assert result.exit_code == EXIT_OK, result.output
    assert "DEVELOPMENT ONLY" in result.output and "[signing] certificate_chain" in result.output
    config = tomllib.loads((home / "provenant.toml").read_text())
    assert config["trust"]["anchors"] == ["keys/dev-root-ca.pem"]
    assert config["signing"]["certificate_chain"] == "keys/signing-chain.pem"
    settings = Settings.load(home=home, env={})
    assert settings.trust.anchors == [home / "keys" / "dev-root-ca.pem"]
    assert settings.chain_path == home / "keys" / "signing-chain.pem"
    for name in ("signing-key.pem", "dev-root-ca-key.pem", "prompt-salt"):
        assert stat.S_IMODE((home / "keys" / name).stat().st_mode) == 0o600, name
    assert (home / "ledger.db").exists()


def test_init_twice_keeps_keys_and_config_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "studio"
    assert _init(home).exit_code == EXIT_OK
    key = (home / "keys" / "signing-key.pem").read_bytes()
    (home / "provenant.toml").write_text(
        (home / "provenant.toml").read_text() + "\n# studio edit\n"
    )
    again = _init(home, "--json")
    assert again.exit_code == EXIT_OK, again.output
    info = json.loads(again.stdout)
    assert info["keys_created"] is False and info["config_written"] is False
    assert (home / "keys" / "signing-key.pem").read_bytes() == key
    assert "# studio edit" in (home / "provenant.toml").read_text()
    human = _init(home)
    assert "kept existing keys (pass --force to replace them)" in human.output
    forced = _init(home, "--force", "--json", "--organisation", "Harbour Films")
    assert json.loads(forced.stdout)["keys_created"] is True
    assert (home / "keys" / "signing-key.pem").read_bytes() != key
    leaf = load_certificate_chain(home / "keys" / "signing-chain.pem")[0]
    assert "O=Harbour Films" in leaf.subject.rfc4514_string()


def test_init_says_when_an_existing_config_does_not_trust_the_dev_root(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "provenant.toml").write_text('[manifest]\nprompt = "salted_hash"\n')
    result = _init(home)
    assert result.exit_code == EXIT_OK, result.output
    assert "will verify as valid_untrusted" in result.output
    assert json.loads(_init(home, "--json").stdout)["dev_root_trusted"] is False


def test_init_json_fields(tmp_path: Path) -> None:
    result = _init(tmp_path / "h", "--json")
    info = json.loads(result.stdout)
    assert info["dev_root_trusted"] is True
    assert set(info) >= {
        "home",
        "config_file",
        "config_written",
        "keys_created",
        "keys",
        "database_url",
        "migrated",
        "development_only",
    }
    assert info["keys"]["signing_key"].endswith("keys/signing-key.pem")


def test_init_refuses_a_malformed_existing_config(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "provenant.toml").write_text("[signing\nbroken")
    result = _init(home)
    assert result.exit_code == EXIT_ERROR
    assert "malformed TOML" in result.output and "Traceback" not in result.output
    assert (home / "provenant.toml").read_text() == "[signing\nbroken"


def test_keys_show_json_fields(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _init(home)
    result = runner.invoke(app, ["--home", str(home), "keys", "show", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    info = json.loads(result.stdout)
    assert info["signing_chain"] == str(home / "keys" / "signing-chain.pem")
    assert info["private_key"] == str(home / "keys" / "signing-key.pem")
    assert info["trust_anchors"] == [str(home / "keys" / "dev-root-ca.pem")]
    assert info["private_key_mode"] == "0600" and info["ok"] is True and info["problems"] == []
    roles = [c["role"] for c in info["certificates"]]
    assert roles == ["signing", "intermediate", "trust_anchor"]
    for cert in info["certificates"]:
        assert {"subject", "issuer", "not_before", "not_after", "valid_now"} <= set(cert)
        assert cert["valid_now"] is True
    key_body = (home / "keys" / "signing-key.pem").read_text().splitlines()[1]
    assert key_body not in result.output


def test_keys_show_reports_problems(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _init(home)
    key = home / "keys" / "signing-key.pem"
    key.chmod(0o644)
    result = runner.invoke(app, ["--home", str(home), "keys", "show", "--json"])
    info = json.loads(result.stdout)
    assert info["ok"] is False and info["private_key_mode"] == "0644"
    assert any(f"chmod 600 {key}" in p for p in info["problems"])
    human = runner.invoke(app, ["--home", str(home), "keys", "show"])
    assert "chmod 600" in human.output


def test_keys_show_without_keys_says_how_to_make_them(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path / "empty"), "keys", "show"])
    assert result.exit_code == EXIT_ERROR
    assert "run `provenant init`" in result.output


def test_keys_create_refuses_to_overwrite(tmp_path: Path) -> None:
    home = tmp_path / "h"
    first = runner.invoke(app, ["--home", str(home), "keys", "create", "--json"])
    assert first.exit_code == EXIT_OK and json.loads(first.stdout)["development_only"] is True
    second = runner.invoke(app, ["--home", str(home), "keys", "create"])
    assert second.exit_code == EXIT_ERROR
    assert "already exist" in second.output and "--force" in second.output
    forced = runner.invoke(app, ["--home", str(home), "keys", "create", "--force"])
    assert forced.exit_code == EXIT_OK and "DEVELOPMENT ONLY" in forced.output


def test_init_writes_a_config_named_with_config(tmp_path: Path) -> None:
    home, config = tmp_path / "data", tmp_path / "etc" / "studio.toml"
    result = runner.invoke(app, ["--home", str(home), "--config", str(config), "init", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["config_file"] == str(config)
    settings = Settings.load(home=home, config_file=config, env={})
    assert [p.resolve() for p in settings.trust.anchors] == [home / "keys" / "dev-root-ca.pem"]
    assert settings.chain_path.resolve() == home / "keys" / "signing-chain.pem"


def test_init_migrates_the_database_the_caller_chose(tmp_path: Path) -> None:
    """A database URL given by override (or env) is the one migrated, not the default."""
    from provenance.ledger import Ledger
    from provenance.pipeline.initialise import initialise

    home, elsewhere = tmp_path / "studio", tmp_path / "other.db"
    url = f"sqlite:///{elsewhere}"
    settings = Settings.load(home=home, env={}, overrides={"database_url": url})
    done = initialise(settings, home / "provenant.toml")
    assert done["database_url"] == url and not (home / "ledger.db").exists()
    ledger = Ledger.from_url(url)
    try:
        assert ledger.verify_chain().ok
    finally:
        ledger.close()
