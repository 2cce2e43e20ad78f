"""`provenant init`: a data dir with config, development CA, prompt salt and a migrated ledger.

Safe to re-run: an existing config is never rewritten and existing keys are kept unless
`--force` is given, and both are said plainly (`provenance.pipeline.initialise`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.credentials.trust import DEFAULT_ORGANISATION


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
    json: JsonOption = False,
) -> None:
    """Create the data dir: config, development CA + signing certificate, ledger database."""
    from provenance.credentials.keys import DEV_CA_NOTICE
    from provenance.pipeline.initialise import initialise

    settings, config_path = _settings_for_init(ctx)
    result = initialise(settings, config_path, organisation, force=force)
    if json:
        _output.emit_json(result)
    else:
        _print_result(result)
        _output.warn(DEV_CA_NOTICE)
    _warn_layers(result, config_path)
    if json:
        return
    if not result["dev_root_trusted"]:
        _output.warn(
            f"{config_path} does not list {result['keys']['root_cert']} under [trust] anchors: "
            "files signed with the development key will verify as valid_untrusted"
        )


def _warn_layers(result: dict[str, Any], config_path: Path) -> None:
    """Say which policy layers cannot run here: bypassed by the new config, or blocking."""
    for layer, why in result["degraded"].items():
        _output.warn(
            f"policy layer {layer} cannot run here ({why}); {config_path} bypasses it under "
            "[policies] degraded, and every manifest and ledger row will say so"
        )
    for layer, why in result["blocking"].items():
        _output.warn(
            f"policy layer {layer} cannot run here ({why}): generate and sign will refuse "
            f'until the model is provided or {config_path} lists "{layer}" under '
            "[policies] degraded"
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
