"""Creating a studio's data dir: config, development CA, prompt salt, migrated ledger.

Safe to re-run: an existing config is never rewritten and existing keys are kept unless
`force` is given (a new root would leave everything signed so far verifiable only against
the old one).  `provenant init` and `provenant demo` both call `initialise`.

Policy layers that cannot run on this machine (no CLIP checkpoint, no Open-NSFW model) are
written into the new config's `[policies] degraded` list, with a comment naming each
missing model: a fresh studio can sign at once, while every manifest and ledger row says
which layers were bypassed, and removing an entry without providing the model makes
`generate` and `sign` refuse.  The caller warns about each (`degraded` in the result);
an existing config is left alone, and layers it does not bypass are returned as `blocking`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.config import Settings
from provenance.credentials.trust import DEFAULT_ORGANISATION
from provenance.errors import ConfigError

if TYPE_CHECKING:
    from provenance.protocols import LayerStatus

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
# Roots for CAWG identity credentials (`cawg.identity` assertions naming a person or
# organisation), kept apart from the claim signers' above (add more with --cawg-trust-anchors).
cawg_anchors = []
fetch_remote_manifests = false
ocsp_fetch = false

[manifest]
prompt = "full"  # or "salted_hash": HMAC-SHA256 with keys/prompt-salt instead of the text
thumbnail = false

[policies]
# Policy layers bypassed BY NAME because they cannot run on this machine.  Every run warns,
# and every signed manifest and ledger row lists them.  Remove an entry once its model is
# installed; without the model, generate and sign then refuse, naming what is missing.
{degraded}
"""


def initialise(
    settings: Settings,
    config_path: Path,
    organisation: str = DEFAULT_ORGANISATION,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Create or complete the data dir; returns what was done (the `init --json` object)."""
    from provenance.credentials.keys import DevCredentials, create_dev_ca, ensure_prompt_salt
    from provenance.ledger.db import redact
    from provenance.ledger.migrate import upgrade

    home = settings.home
    _make_dir(home)
    creds = DevCredentials.at(settings.keys_dir)
    missing = missing_layers(settings)
    config_written = _write_config(config_path, creds, missing)
    kept_keys = bool(creds.existing()) and not force
    if not kept_keys:
        create_dev_ca(settings.keys_dir, organisation, force=force)
    ensure_prompt_salt(settings.keys_dir)
    database_url = settings.database_url  # as the caller resolved it (env, overrides)
    upgrade(database_url)
    settings = Settings.load(home=home, config_file=config_path)  # the config just written
    anchors = {p.resolve() for p in settings.trust.anchors}
    bypassed = set(settings.policies.degraded)
    return {
        "home": str(home),
        "config_file": str(config_path),
        "config_written": config_written,
        "keys_created": not kept_keys,
        "keys": creds.as_dict(),
        "database_url": redact(database_url),
        "migrated": True,
        "development_only": True,
        "dev_root_trusted": creds.root_cert.resolve() in anchors,
        "degraded": {s.layer: s.describe() for s in missing if s.layer in bypassed},
        "blocking": {s.layer: s.describe() for s in missing if s.layer not in bypassed},
    }


def missing_layers(settings: Settings) -> list[LayerStatus]:
    """Layers of the enabled policies that cannot run here (their models are missing)."""
    from provenance.pipeline.policyset import PolicySet

    return [status for status in PolicySet.from_settings(settings).layers() if not status.ready]


def _make_dir(home: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{home}: cannot create data dir ({exc.strerror})") from exc


def _toml_path(path: Path, base: Path) -> str:
    """A TOML string for `path`, relative to the config file's folder."""
    return json.dumps(os.path.relpath(path, base))  # JSON strings are valid TOML strings


def _degraded_lines(missing: list[LayerStatus]) -> str:
    """The `degraded = [...]` line, after one comment line per layer saying what is missing."""
    notes = [f"#   {s.layer}: {s.describe()}" for s in missing]
    names = ", ".join(json.dumps(s.layer) for s in missing)
    return "\n".join([*notes, f"degraded = [{names}]"])


def _write_config(config_path: Path, creds: Any, missing: list[LayerStatus]) -> bool:
    """Write the config unless one exists; True when written."""
    if config_path.exists():
        return False
    base = config_path.parent
    text = CONFIG_TEMPLATE.format(
        chain=_toml_path(creds.signing_chain, base),
        key=_toml_path(creds.signing_key, base),
        root=_toml_path(creds.root_cert, base),
        degraded=_degraded_lines(missing),
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
