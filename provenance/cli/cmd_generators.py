"""`provenant generators list`: the installed generator plugins and their weights."""

from __future__ import annotations

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state

generators_app = typer.Typer(help="Inspect installed generator plugins.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `generators` group to the app."""
    app.add_typer(generators_app, name="generators")


@generators_app.command("list")
def list_command(ctx: typer.Context, json: JsonOption = False) -> None:
    """List generator plugins: name, version, distribution, configured model, weights."""
    from rich.markup import escape

    from provenance.catalog import list_generators

    rows = list_generators(state(ctx).settings)
    if json:
        _output.emit_json_lines(row.as_dict() for row in rows)
        return
    for row in rows:
        mark = "[green]ok[/]" if row.weights.present else "[yellow]--[/]"
        default = " (default)" if row.is_default else ""
        model = escape(row.model) if row.model else "(none configured)"
        _output.info(
            f"{mark} [bold]{escape(row.name)}[/]{default}  "
            f"{escape(row.distribution)} {escape(row.version)}"
        )
        _output.info(f"     model: {model}")
        _output.info(f"     weights: {escape(row.weights.detail)}")
