"""A studio data dir for hardening runs: `initialise` as `provenant init` does, plus config.

Policies are chosen per use: the hostile-file runs screen with the image policies a studio
runs (known works by perceptual hash, output safety, model licence); the process-level runs
(kills, concurrency) keep to the lexical prompt screen so that each process start costs
Python and torch, not a text encoder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from provenance.config import CONFIG_NAME, Settings
from provenance.pipeline.initialise import initialise

#: Image screening as `screen --image` and `sign` run it (no CLIP checkpoint: hash layers).
IMAGE_POLICIES = """
[policies]
enabled = ["prompt_safety", "known_works", "output_safety", "model_license"]
[policies.prompt_safety]
semantic = "off"
"""
#: What a `generate` process needs to start fast: lexical prompt screen and the licence check.
LIGHT_POLICIES = """
[policies]
enabled = ["prompt_safety", "model_license"]
[policies.prompt_safety]
semantic = "off"
"""
#: A prompt the lexical prompt screen refuses (a refusal row per request that carries it).
BLOCKED_PROMPT = "explicit gore, a beheading"


def make_home(
    home: Path,
    *,
    policies: str = LIGHT_POLICIES,
    gan_model: Path | None = None,
    database_url: str | None = None,
    extra: str = "",
) -> Path:
    """Create a data dir (config, dev CA, salt, migrated ledger) and append our settings."""
    if database_url:
        settings = Settings.load(home=home, env={}, overrides={"database_url": database_url})
    else:
        settings = Settings.load(home=home, env={})
    config = home / CONFIG_NAME
    initialise(settings, config)
    text = policies + extra
    if database_url:
        text = f"database_url = {json.dumps(database_url)}\n" + text
    if gan_model is not None:
        model = json.dumps(str(gan_model))
        text += f'\n[generators]\ndefault = "gan"\n[generators.gan]\nmodel = {model}\n'
    existing = config.read_text()
    if "[policies]" in text:  # ours replaces the one `init` wrote (TOML defines a table once)
        existing = _without_table(existing, "policies")
    config.write_text(_top_level_first(existing, text))
    return home


def _without_table(text: str, name: str) -> str:
    """`text` without the `[name]` table (its header up to the next table header)."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("["):
            skipping = line.strip() == f"[{name}]"
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def _top_level_first(existing: str, added: str) -> str:
    """TOML keys before the first table belong to the root: keep `database_url` there."""
    lines = added.splitlines()
    top = [ln for ln in lines if ln.startswith("database_url")]
    rest = [ln for ln in lines if not ln.startswith("database_url")]
    return "\n".join(top) + "\n" + existing + "\n" + "\n".join(rest) + "\n"


def settings_for(home: Path) -> Settings:
    """Settings exactly as the CLI reads them for this data dir (no PROVENANT_* env)."""
    return Settings.load(home=home, env={})


def provenant_command() -> list[str]:
    """The console script of the running interpreter's environment."""
    script = Path(sys.executable).with_name("provenant")
    if script.exists():
        return [str(script)]
    found = shutil.which("provenant")
    if found is None:
        raise RuntimeError("the provenant console script is not installed")
    return [found]


def process_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a `provenant` subprocess: this data dir, nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env.update(
        PROVENANT_HOME=str(home),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env
