"""`provenant models make-tiny DIR` and `provenant models info PATH|PRESET`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state

models_app = typer.Typer(help="Make tiny test models; show model cards.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `models` group to the app."""
    app.add_typer(models_app, name="models")


@models_app.command("make-tiny")
def make_tiny(
    directory: Annotated[Path, typer.Argument(help="Where to write the tiny models.")],
    json: JsonOption = False,
) -> None:
    """Write tiny random-weight models for every generator family (tests, demos)."""
    from provenance.catalog import make_sample_models

    with _output.progress("making tiny models", total=None, enabled=not json):
        made = make_sample_models(directory)
    paths = {label: str(path) for samples in made.values() for label, path in samples.items()}
    if json:
        _output.emit_json({"root": str(directory.absolute()), **paths})
        return
    from rich.markup import escape

    for family, path in paths.items():
        _output.info(f"{family:<12} {escape(path)}")


@models_app.command("info")
def info(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A model path or a preset name.")],
    generator: Annotated[
        str | None,
        typer.Option("--generator", "-g", help="Generator to read it with (default: detect)."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Show a model's card: licence, training data, permitted uses, weights digest."""
    from provenance.catalog import describe_model

    described = describe_model(model, state(ctx).settings, generator)
    if json:
        _output.emit_json(described.as_dict())
        return
    from rich.markup import escape

    card = described.card
    lines = [
        ("name", card.name),
        ("version", card.version),
        ("generator", described.generator),
        ("architecture", card.architecture),
        ("licence", card.license),
        ("training data", card.training_data),
        ("permitted uses", ", ".join(card.permitted_uses)),
        ("weights sha256", card.weights_sha256),
        ("source", card.source or "-"),
        ("weights", described.weights.detail),
    ]
    for label, value in lines:
        _output.info(f"[bold]{label:<15}[/] {escape(value)}")
