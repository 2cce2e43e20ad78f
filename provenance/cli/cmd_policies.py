"""`provenant policies list`: which policy plugins are installed, enabled and able to run.

    provenant policies list
    provenant policies list --json     # one object per policy

Each policy is built with its configured options, so a bad option table shows up here (as
that policy's error) rather than at the first generation; its `status()` tells which layers
run (semantic encoder, Open-NSFW model, CLIP) and which are disabled.  The exit code is 1
when an *enabled* policy cannot be built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_ERROR, ProvenantError

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.plugins import PluginInfo

policies_app = typer.Typer(
    help="Inspect the installed policy plugins.", no_args_is_help=True, add_completion=False
)


def register(app: typer.Typer) -> None:
    """Add the `policies` group to the root app."""
    app.add_typer(policies_app, name="policies")


@policies_app.command("list")
def list_policies(
    ctx: typer.Context,
    json_out: JsonOption = False,
) -> None:
    """Name, version, distribution, enabled? and status of every installed policy."""
    from provenance.plugins import installed

    settings = state(ctx).settings
    rows = [_describe(info, settings) for info in installed("policy")]
    for row in rows:
        if json_out:
            _output.emit_json(row)
        else:
            _print_row(row)
    if any(row["enabled"] and "error" in row["status"] for row in rows):
        raise typer.Exit(EXIT_ERROR)  # an enabled policy cannot run: screening would fail


def _describe(info: PluginInfo, settings: Settings) -> dict[str, Any]:
    enabled = info.name in settings.policies.enabled
    row: dict[str, Any] = {
        "name": info.name,
        "version": info.version,
        "distribution": info.distribution,
        "enabled": enabled,
    }
    try:
        row["status"] = _status(info.name, settings)
    except ProvenantError as exc:  # one broken plugin must not hide the others
        row["status"] = {"error": exc.diagnostics()}
    return row


def _status(name: str, settings: Settings) -> dict[str, str]:
    """Build the policy with its options and ask it how it stands."""
    from provenance.plugins import get_policy
    from provenance.protocols import PolicyContext

    cls = get_policy(name)
    policy = cls(settings.policies.options_for(name), PolicyContext(settings=settings))
    status = getattr(policy, "status", None)
    policy_version = getattr(cls, "version", "?")
    details: dict[str, str] = dict(status()) if callable(status) else {"state": "ready"}
    return {"policy_version": str(policy_version), **details}


def _print_row(row: dict[str, Any]) -> None:
    from rich.markup import escape

    mark = "[green]enabled[/]" if row["enabled"] else "[dim]disabled[/]"
    _output.info(f"[bold]{row['name']}[/] {mark}  ({escape(row['distribution'])} {row['version']})")
    for key, value in row["status"].items():
        colour = "red" if key == "error" else "default"
        _output.info(f"    {key}: [{colour}]{escape(str(value))}[/]")
