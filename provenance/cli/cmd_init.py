"""`provenant init`: a data dir with config, development CA, prompt salt and a migrated ledger.

Safe to re-run: an existing config is never rewritten and existing keys are kept unless
`--force` is given (a new root would leave everything signed so far verifiable only
against the old one), and both are said plainly.
"""

from __future__ import annotations

import json as jsonlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._state import state
from provenance.trust import DEFAULT_ORGANISATION

CONFIG_TEMPLATE = """\
# Provenant settings, written by `provenant init`.  Relative paths are relative to this file.
# PROVENANT_<SECTION>__<KEY> environment variables override any value here.

[signing]
# The certificate below comes from the DEVELOPMENT ONLY CA that `init` created.  For
# production, point these at a chain and key from a CA your verifiers trust, or set
# signer = "<plugin>" for a KMS/HSM signer plugin.
signer = "local"
certificate_chain = {chain}
private_key = {key}
passphrase_env = "PROVENANT_KEY_PASSPHRASE"

[trust]
# Roots whose credentials `provenant verify` trusts (add more with --trust-anchors).
anchors = [{root}]
fetch_remote_manifests = false
ocsp_fetch = false

[manifest]
prompt = "full"  # or "salted_hash": HMAC-SHA256 with keys/prompt-salt instead of the text
thumbnail = false
"""


def register(app: typer.Typer) -> None:
    """Add `init` to the app."""
    app.command("init")(init)


def init(
    ctx: typer.Context,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing development keys.")
    ] = False,
    organisation: Annotated[
        str, typer.Option("--organisation", help="Organisation named in the certificates.")
    ] = DEFAULT_ORGANISATION,
    json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Create the data dir: config, development CA + signing certificate, ledger database."""
    from provenance.config import Settings
    from provenance.db import redact
    from provenance.keys import DEV_CA_NOTICE, DevCredentials, create_dev_ca, ensure_prompt_salt
    from provenance.migrate import upgrade

    settings, config_path = _settings_for_init(ctx)
    home = settings.home
    _make_dir(home)
    creds = DevCredentials.at(settings.keys_dir)
    config_written = _write_config(config_path, creds)
    kept_keys = bool(creds.existing()) and not force
    if not kept_keys:
        create_dev_ca(settings.keys_dir, organisation, force=force)
    ensure_prompt_salt(settings.keys_dir)
    settings = Settings.load(home=home, config_file=config_path)
    upgrade(settings.database_url)
    anchors = {p.resolve() for p in settings.trust.anchors}
    result = {
        "home": str(home),
        "config_file": str(config_path),
        "config_written": config_written,
        "keys_created": not kept_keys,
        "keys": creds.as_dict(),
        "database_url": redact(settings.database_url),
        "migrated": True,
        "development_only": True,
        "dev_root_trusted": creds.root_cert.resolve() in anchors,
    }
    if json:
        _output.emit_json(result)
        return
    _print_result(result)
    _output.warn(_escape(DEV_CA_NOTICE))
    if not result["dev_root_trusted"]:
        _output.warn(
            _escape(
                f"{config_path} does not list {creds.root_cert} under [trust] anchors: files "
                "signed with the development key will verify as valid_untrusted"
            )
        )


def _settings_for_init(ctx: typer.Context) -> tuple[Any, Path]:
    """Settings, and where the config file goes: `--config PATH` may name a file to create."""
    from provenance.config import CONFIG_NAME, Settings

    cli = state(ctx)
    if cli.config is not None and not cli.config.exists():
        env = {k: v for k, v in os.environ.items() if k != "PROVENANT_CONFIG"}
        return Settings.load(home=cli.home, env=env), cli.config.expanduser().absolute()
    settings = cli.settings
    return settings, settings.config_file or settings.home / CONFIG_NAME


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _make_dir(home: Path) -> None:
    from provenance.errors import ConfigError

    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{home}: cannot create data dir ({exc.strerror})") from exc


def _toml_path(path: Path, base: Path) -> str:
    """A TOML string for `path`, relative to the config file's folder."""
    return jsonlib.dumps(os.path.relpath(path, base))  # JSON strings are valid TOML strings


def _write_config(config_path: Path, creds: Any) -> bool:
    """Write the config unless one exists; True when written."""
    from provenance.errors import ConfigError

    if config_path.exists():
        return False
    base = config_path.parent
    text = CONFIG_TEMPLATE.format(
        chain=_toml_path(creds.signing_chain, base),
        key=_toml_path(creds.signing_key, base),
        root=_toml_path(creds.root_cert, base),
    )
    try:
        base.mkdir(parents=True, exist_ok=True)
        with config_path.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot write config ({exc.strerror})") from exc
    return True


def _print_result(result: dict[str, Any]) -> None:
    from rich.markup import escape

    config_note = "written" if result["config_written"] else "kept existing file"
    keys = result["keys"]
    keys_note = (
        "created" if result["keys_created"] else "kept existing keys (pass --force to replace them)"
    )
    _output.info(f"initialised Provenant in {escape(result['home'])}")
    _output.info(f"  config:         {escape(result['config_file'])} ({config_note})")
    _output.info(f"  development CA: {escape(keys['root_cert'])} ({keys_note})")
    _output.info(f"  signing chain:  {escape(keys['signing_chain'])}")
    _output.info(f"  signing key:    {escape(keys['signing_key'])} (mode 0600)")
    _output.info(f"  ledger:         {escape(result['database_url'])} (migrated)")
