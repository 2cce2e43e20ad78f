"""`provenant sign`: sign and record images made elsewhere (imports from other tools)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK, PolicyBlocked, ProvenantError

if TYPE_CHECKING:
    from provenance.pipeline.external import ImportResult


def register(app: typer.Typer) -> None:
    """Add `sign` to the app."""
    app.command("sign")(sign)


def sign(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, WebP).")],
    generator: Annotated[
        str | None, typer.Option("--generator", "-g", help="Tool that made the images.")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model that made the images.")
    ] = None,
    parent: Annotated[
        Path | None,
        typer.Option("--parent", help="The file this one was edited from (with --editor)."),
    ] = None,
    editor: Annotated[
        str | None,
        typer.Option("--editor", help="The person who made or edited the image (signed)."),
    ] = None,
    actions: Annotated[
        list[str] | None,
        typer.Option("--action", help="C2PA edit action (repeatable; default c2pa.edited)."),
    ] = None,
    tool: Annotated[
        str | None, typer.Option("--tool", help='Editing tool, e.g. "Krita 5.2".')
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="X,Y,W,H: the pixels the edit changed (default: found by comparing with "
            "--parent).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory for the signed copies.")
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Sign the original files themselves.")
    ] = False,
    prompt: Annotated[str | None, typer.Option(help="Prompt the images were made from.")] = None,
    model_license: Annotated[
        str, typer.Option("--model-license", help="Licence of the model, if known.")
    ] = "unknown",
    requester: Annotated[str | None, typer.Option(help="Who asks (recorded).")] = None,
    project: Annotated[str | None, typer.Option(help="Project id (recorded).")] = None,
    license_id: Annotated[str | None, typer.Option("--license", help="Licence id held.")] = None,
    use: Annotated[str | None, typer.Option(help="Declared use.")] = None,
    accept_invalid_parent: Annotated[
        bool,
        typer.Option(
            "--accept-invalid-parent",
            help="Sign files whose own C2PA credentials fail validation (the new manifest "
            "records the failure); refused by default.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Screen, sign (C2PA) and record images generated elsewhere; originals stay untouched.

    A file that already carries C2PA credentials keeps them: it becomes the parent
    ingredient of the new manifest, whose first action is `c2pa.opened`.  With --editor
    the images are a person's work: `--parent ORIGINAL` signs an edit of ORIGINAL (which
    becomes the parent ingredient), without it a new work such as a sketch.
    """
    from provenance.pipeline.external import ImportSpec, sign_external
    from provenance.pipeline.studio import Studio

    if editor is not None or parent is not None or actions or tool or region is not None:
        _sign_human(
            ctx,
            images,
            parent,
            editor,
            actions or [],
            tool,
            region,
            out,
            in_place,
            requester,
            project,
            license_id,
            use,
            accept_invalid_parent,
            as_json,
        )
        return
    if generator is None or model is None:
        raise typer.BadParameter("give --generator and --model (or --editor for a person's work)")
    if out is not None and in_place:
        raise typer.BadParameter("give either --out or --in-place, not both")
    if out is None and not in_place:
        raise typer.BadParameter("give --out DIR for signed copies (or --in-place)")
    spec = ImportSpec(generator, model, prompt, model_license, requester, project, license_id, use)
    codes = []
    with (
        Studio(state(ctx).settings) as studio,
        _output.progress("signing", len(images), enabled=not as_json) as bar,
    ):
        _ = studio.policies  # a policy layer that cannot run stops the command, once
        for source in images:
            # Each file's failure is reported and the batch goes on (a bad file never stops it).
            try:
                result = sign_external(
                    studio,
                    source,
                    spec,
                    out,
                    in_place=in_place,
                    accept_invalid_parent=accept_invalid_parent,
                )
            except PolicyBlocked as exc:
                codes.append(EXIT_BLOCKED)
                _report_problem(source, "blocked", exc.diagnostics(), as_json)
            except ProvenantError as exc:
                codes.append(EXIT_ERROR)
                _report_problem(source, "failed", exc.diagnostics(), as_json)
            else:
                codes.append(EXIT_OK)
                if as_json:
                    _output.emit_json({"status": "signed", **result.as_dict()})
                else:
                    _report_signed(source, result)
            bar.advance(1)
    raise typer.Exit(EXIT_ERROR if EXIT_ERROR in codes else max(codes, default=EXIT_OK))


def _sign_human(
    ctx: typer.Context,
    images: list[Path],
    parent: Path | None,
    editor: str | None,
    actions: list[str],
    tool: str | None,
    region: str | None,
    out: Path | None,
    in_place: bool,
    requester: str | None,
    project: str | None,
    license_id: str | None,
    use: str | None,
    accept_invalid_parent: bool,
    as_json: bool,
) -> None:
    """`sign EDITED --parent ORIGINAL --editor NAME`, or `sign SKETCH --editor NAME`."""
    from provenance.credentials.editing import parse_region
    from provenance.pipeline.edits import EditRequest, sign_human_work
    from provenance.pipeline.studio import Studio

    if editor is None:
        raise typer.BadParameter("--parent, --action, --tool and --region need --editor NAME")
    if in_place or out is None:
        raise typer.BadParameter("a person's work is signed into --out DIR (never in place)")
    if len(images) != 1:
        raise typer.BadParameter(f"sign one edited file at a time (got {len(images)})")
    spec = EditRequest(
        editor,
        tuple(actions),
        tool,
        requester,
        project,
        license_id,
        use,
        accept_invalid_parent,
        parse_region(region) if region is not None else None,
    )
    (source,) = images
    with Studio(state(ctx).settings) as studio:
        _ = studio.policies  # a policy layer that cannot run stops the command first
        try:
            result = sign_human_work(studio, source, parent, spec, out)
        except PolicyBlocked as exc:
            _report_problem(source, "blocked", exc.diagnostics(), as_json)
            raise typer.Exit(EXIT_BLOCKED) from None
    if as_json:
        _output.emit_json({"status": "signed", **result.as_dict()})
        return
    from rich.markup import escape

    _output.info(f"[green]signed[/] {escape(str(source))} -> {result.path} ({result.asset_id})")
    what = "edit" if parent else "new work"
    _output.info(f"  {what} by {escape(result.human.editor)}: {', '.join(result.human.actions)}")
    if result.parent is not None:
        found = result.as_dict()["parent"]
        kept = escape(result.parent.credentials.summary()) if found else "no credentials"
        _output.info(f"  parent {escape(str(parent))}: {kept}")


def _report_signed(source: Path, result: ImportResult) -> None:
    from rich.markup import escape

    _output.info(f"[green]signed[/] {escape(str(source))} -> {result.path} ({result.asset_id})")
    if result.parent is not None:
        kept = escape(result.parent.credentials.summary())
        _output.info(f"  kept its credentials as the parent ingredient: {kept}")


def _report_problem(source: Path, status: str, message: str, as_json: bool) -> None:
    if as_json:
        _output.emit_json({"source": str(source), "status": status, "error": message})
    elif status == "failed":
        _output.error(message if str(source) in message else f"{source}: {message}")
    else:
        _output.info(f"[red]blocked[/] {source}: {message}")
