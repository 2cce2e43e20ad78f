"""Settings: defaults, file, env overrides, and one-line errors for bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.config import Settings
from provenance.errors import ConfigError


def test_defaults_put_everything_in_the_data_dir(home: Path) -> None:
    s = Settings.load(home=home, env={})
    assert s.home == home.absolute()
    assert s.database_url == f"sqlite:///{home.absolute() / 'ledger.db'}"
    assert s.manifest.training_mining["cawg.ai_training"] == "notAllowed"
    assert s.key_path == home.absolute() / "keys" / "signing-key.pem"
    assert s.trust.fetch_remote_manifests is False


def test_file_then_env_then_overrides(home: Path) -> None:
    (home / "provenant.toml").write_text(
        '[manifest]\nprompt = "salted_hash"\nthumbnail = true\n'
        '[trust]\nanchors = ["keys/root.pem"]\n'
        "[policies.known_works]\nimage_threshold = 0.9\n"
    )
    s = Settings.load(
        home=home,
        env={"PROVENANT_MANIFEST__THUMBNAIL": "false", "PROVENANT_DATABASE_URL": "sqlite:///x.db"},
    )
    assert s.manifest.prompt == "salted_hash"
    assert s.manifest.thumbnail is False  # env wins over file
    assert s.database_url == "sqlite:///x.db"
    assert s.trust.anchors == [home.absolute() / "keys" / "root.pem"]
    assert s.policies.options_for("known_works") == {"image_threshold": 0.9}
    assert s.policies.options_for("prompt_safety") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[manifest\nprompt=1", "malformed TOML"),
        ('[manifest]\npromt = "full"\n', "manifest.promt: unknown setting"),
        ('[manifest]\nprompt = "clear"\n', "manifest.prompt"),
        ('[signing]\ntsa_url = "ftp://x"\n', "signing.tsa_url"),
        ('[manifest.training_mining]\n"cawg.foo" = "allowed"\n', "unknown entries"),
    ],
)
def test_bad_config_is_one_clear_line(home: Path, text: str, fragment: str) -> None:
    (home / "provenant.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        Settings.load(home=home, env={})
    message = err.value.diagnostics()
    assert fragment in message
    assert "\n" not in message
    assert str(home / "provenant.toml") in message


def test_missing_explicit_config_file_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        Settings.load(home=home, config_file=home / "nope.toml", env={})
